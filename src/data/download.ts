/**
 * Verified, resumable downloads over http/https.
 *
 * The body streams into `dest + '.part'`. When a `.part` is already there (an earlier run was cut off),
 * the request carries `Range: bytes=<size>-`: a 206 answer is appended, a 200 answer (server ignores
 * Range) restarts the file. After the body, size and checksum are verified and the file is renamed
 * onto `dest`, so `dest` only ever holds a complete, verified file.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { UserError } from '../errors.js';
import { progressReporter, type ProgressReporter } from './progress.js';

export interface DownloadOptions {
  md5?: string;
  sha256?: string;
  expectedSize?: number;
  onProgress?: (done: number, total: number | undefined) => void;
  /** Label of the progress bar (default: the file name of `dest`). */
  label?: string;
  /** No progress output. */
  quiet?: boolean;
  /** Automatic retries after a connection cut mid-body (each resumes the .part); default 1. */
  retries?: number;
  /** Idle socket timeout in ms (default 60 s). */
  timeoutMs?: number;
}

export type HashAlgorithm = 'md5' | 'sha256';

const OFFLINE_HINT =
  'If this machine cannot reach the internet, download the file elsewhere and point cl at the local copy with --data-dir <path> (or the CL_DATA_DIR environment variable).';
const MAX_REDIRECTS = 10;

/** Hex digest of a file, streamed. */
export async function hashFile(file: string, algorithm: HashAlgorithm): Promise<string> {
  const hash = createHash(algorithm);
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** The body ended before all bytes arrived (connection cut, reset, timeout): the .part is kept. */
class InterruptedError extends Error {}

export async function downloadFile(url: string, dest: string, opts: DownloadOptions = {}): Promise<void> {
  const part = `${dest}.part`;
  await fs.mkdir(path.dirname(dest), { recursive: true });
  const retries = opts.retries ?? 1;
  for (let attempt = 0; ; attempt++) {
    try {
      await fetchIntoPart(url, part, opts);
      break;
    } catch (e) {
      if (!(e instanceof InterruptedError)) throw e;
      if (attempt >= retries) {
        const have = await fileSize(part);
        throw new UserError(
          `Download of ${url} was interrupted (${e.message}); ${have ?? 0} bytes are kept in ${part}.`,
          `Run the command again to resume the download, or ${OFFLINE_HINT.charAt(0).toLowerCase()}${OFFLINE_HINT.slice(1)}`,
        );
      }
    }
  }
  await verify(url, part, opts);
  await fs.rename(part, dest);
}

async function fileSize(file: string): Promise<number | undefined> {
  try {
    return (await fs.stat(file)).size;
  } catch {
    return undefined;
  }
}

async function verify(url: string, part: string, opts: DownloadOptions): Promise<void> {
  const size = (await fs.stat(part)).size;
  if (opts.expectedSize !== undefined && size !== opts.expectedSize) {
    await fs.rm(part, { force: true });
    throw new UserError(
      `Download of ${url} has ${size} bytes, expected ${opts.expectedSize}; the partial file was deleted.`,
      `Run the command again to download it afresh. ${OFFLINE_HINT}`,
    );
  }
  for (const algorithm of ['md5', 'sha256'] as const) {
    const expected = opts[algorithm]?.toLowerCase();
    if (!expected) continue;
    const actual = await hashFile(part, algorithm);
    if (actual !== expected) {
      await fs.rm(part, { force: true });
      throw new UserError(
        `Checksum mismatch for ${url}: expected ${algorithm} ${expected}, got ${actual}; the downloaded file was deleted.`,
        `The file on the server or in transit is corrupt or has changed. Try again later, or ${OFFLINE_HINT.charAt(0).toLowerCase()}${OFFLINE_HINT.slice(1)}`,
      );
    }
  }
}

/** Brings `part` to the full body: resumes from its current size when it exists. */
async function fetchIntoPart(url: string, part: string, opts: DownloadOptions): Promise<void> {
  let have = (await fileSize(part)) ?? 0;
  if (opts.expectedSize !== undefined) {
    if (have === opts.expectedSize) return; // complete from an earlier run: only verification is left
    if (have > opts.expectedSize) {
      await fs.rm(part, { force: true });
      have = 0;
    }
  }
  const res = await request(url, have > 0 ? { Range: `bytes=${have}-` } : {}, opts.timeoutMs ?? 60_000);
  let start: number;
  let total: number | undefined;
  const length = headerNumber(res.headers['content-length']);
  if (res.statusCode === 206 && have > 0) {
    const range = parseContentRange(res.headers['content-range']);
    if (!range || range.start !== have) {
      // Not the range we asked for: start over without Range.
      res.resume();
      await fs.rm(part, { force: true });
      return fetchIntoPart(url, part, opts);
    }
    start = have;
    total = range.total ?? (length !== undefined ? have + length : undefined);
  } else if (res.statusCode === 200) {
    start = 0; // no .part, or the server ignored Range: (re)write from the first byte
    total = length;
  } else if (res.statusCode === 416 && have > 0) {
    res.resume();
    const range = parseContentRange(res.headers['content-range']);
    if (range?.total === have) return; // the .part already holds the whole body
    await fs.rm(part, { force: true });
    return fetchIntoPart(url, part, opts);
  } else {
    res.resume();
    throw new UserError(
      `Download of ${url} failed: HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trimEnd() + '.',
      OFFLINE_HINT,
    );
  }
  const expectedBody = total !== undefined ? total - start : length;

  const reporter: ProgressReporter = progressReporter(opts.label ?? path.basename(part, '.part'), total, {
    quiet: opts.quiet,
    unit: 'B',
  });
  let done = start;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      reporter.update(done);
      opts.onProgress?.(done, total);
      cb(null, chunk);
    },
  });
  opts.onProgress?.(done, total);
  try {
    await pipeline(res, counter, createWriteStream(part, { flags: start > 0 ? 'a' : 'w' }));
  } catch (e) {
    reporter.stop();
    throw new InterruptedError(e instanceof Error ? e.message : String(e));
  }
  reporter.stop();
  if (expectedBody !== undefined && done - start < expectedBody) {
    throw new InterruptedError(`connection closed after ${done - start} of ${expectedBody} bytes`);
  }
}

function headerNumber(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v);
}

/** `bytes 100-199/1000`, `bytes 100-199/*` or `bytes *\/1000`. */
function parseContentRange(v: string | undefined): { start?: number; total?: number } | undefined {
  if (!v) return undefined;
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(v.trim());
  if (!m) return undefined;
  return {
    start: m[1] !== undefined ? Number(m[1]) : undefined,
    total: m[3] !== '*' ? Number(m[3]) : undefined,
  };
}

/** GET `url` following redirects; resolves with the final response (body not consumed). */
function request(url: string, headers: Record<string, string>, timeoutMs: number, redirects = 0): Promise<http.IncomingMessage> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.reject(new UserError(`Cannot download "${url}": not a valid URL.`));
  }
  const client = parsed.protocol === 'https:' ? https : parsed.protocol === 'http:' ? http : undefined;
  if (!client) return Promise.reject(new UserError(`Cannot download ${url}: only http and https URLs are supported.`));
  return new Promise((resolve, reject) => {
    const req = client.get(parsed, { headers: { 'User-Agent': 'cl-dataset-downloader', ...headers } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) {
          reject(new UserError(`Download of ${url} failed: more than ${MAX_REDIRECTS} redirects.`, OFFLINE_HINT));
          return;
        }
        const next = new URL(res.headers.location, parsed).toString();
        request(next, headers, timeoutMs, redirects + 1).then(resolve, reject);
        return;
      }
      resolve(res);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no data for ${timeoutMs / 1000} s`)));
    req.on('error', (e) => {
      reject(new UserError(`Download of ${url} failed: ${e.message}.`, OFFLINE_HINT));
    });
  });
}
