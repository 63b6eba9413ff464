/** Shared fixtures for the data tests: temp folders, tiny files in each format, a local HTTP server, error expectations. */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../src/errors.js';

export async function tempDir(prefix = 'cl-data-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');

/** A tiny CIFAR image: expected HWC pixels and labels, generated from a simple formula. */
export interface CifarImage {
  coarse: number;
  fine: number;
  /** 32*32*3 bytes, HWC. */
  hwc: Uint8Array;
}

export function makeCifarImages(n: number, seed: number): CifarImage[] {
  const out: CifarImage[] = [];
  for (let i = 0; i < n; i++) {
    const hwc = new Uint8Array(32 * 32 * 3);
    for (let y = 0; y < 32; y++) {
      for (let x = 0; x < 32; x++) {
        for (let c = 0; c < 3; c++) hwc[(y * 32 + x) * 3 + c] = (seed * 31 + i * 17 + y * 7 + x * 3 + c * 101) & 255;
      }
    }
    out.push({ coarse: (i + seed) % 20, fine: (i * 7 + seed) % 100, hwc });
  }
  return out;
}

/** Encodes images the way CIFAR-100's binary files store them: labels, then the R, G, B planes. */
export function encodeCifar(images: CifarImage[]): Buffer {
  const buf = Buffer.alloc(images.length * 3074);
  images.forEach((im, r) => {
    const s = r * 3074;
    buf[s] = im.coarse;
    buf[s + 1] = im.fine;
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) buf[s + 2 + c * 1024 + p] = im.hwc[p * 3 + c];
    }
  });
  return buf;
}

export const FINE_NAMES = Array.from({ length: 100 }, (_, i) => `class_${i}`);

/** Writes `<dir>/cifar-100-binary/{train,test}.bin` (+ names); returns the inner folder. */
export async function writeCifarFolder(dir: string, train: CifarImage[], test: CifarImage[], names = FINE_NAMES): Promise<string> {
  const inner = path.join(dir, 'cifar-100-binary');
  await fs.mkdir(inner, { recursive: true });
  await fs.writeFile(path.join(inner, 'train.bin'), encodeCifar(train));
  await fs.writeFile(path.join(inner, 'test.bin'), encodeCifar(test));
  await fs.writeFile(path.join(inner, 'fine_label_names.txt'), names.join('\n') + '\n');
  await fs.writeFile(path.join(inner, 'coarse_label_names.txt'), Array.from({ length: 20 }, (_, i) => `super_${i}`).join('\n') + '\n');
  return inner;
}

/** An IDX file of unsigned bytes. */
export function encodeIdx(dims: number[], data: Uint8Array, magicOverride?: number): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(magicOverride ?? 0x800 + dims.length, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

export interface RecordedRequest {
  url: string;
  range?: string;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, index: number) => void;

/** An HTTP server on 127.0.0.1 with an ephemeral port that records every request. */
export async function startServer(handler: Handler): Promise<{ base: string; requests: RecordedRequest[]; close: () => Promise<void> }> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    requests.push({ url: req.url ?? '', range: req.headers.range });
    handler(req, res, requests.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Serves `body` honouring `Range: bytes=N-` with 206 (unless ignoreRange). */
export function serveBody(res: http.ServerResponse, req: http.IncomingMessage, body: Buffer, opts: { ignoreRange?: boolean; cutAfter?: number } = {}): void {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  let start = 0;
  if (m && !opts.ignoreRange) {
    start = Number(m[1]);
    res.writeHead(206, { 'Content-Length': body.length - start, 'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}` });
  } else {
    res.writeHead(200, { 'Content-Length': body.length });
  }
  const rest = body.subarray(start);
  if (opts.cutAfter !== undefined && opts.cutAfter < rest.length) {
    // send a prefix, let it reach the client, then drop the connection mid-body
    res.write(rest.subarray(0, opts.cutAfter), () => setTimeout(() => res.socket?.destroy(), 50));
    return;
  }
  res.end(rest);
}

/** Runs `fn` with CL_DATA_DIR unset (tests choose their sources explicitly). */
export function withoutDataDirEnv(): { restore: () => void } {
  const saved = process.env.CL_DATA_DIR;
  delete process.env.CL_DATA_DIR;
  return {
    restore: () => {
      if (saved !== undefined) process.env.CL_DATA_DIR = saved;
    },
  };
}

/** The UserError that `fn` throws (a test failure if it throws nothing or something else). */
export function thrownUserError(fn: () => unknown): UserError {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(UserError);
    return e as UserError;
  }
  throw new Error('expected a UserError');
}

/** The UserError that `p` (or the promise `p()` returns) rejects with. */
export async function rejectedUserError(p: Promise<unknown> | (() => unknown)): Promise<UserError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(UserError);
    return e as UserError;
  }
  throw new Error('expected a UserError');
}

/**
 * Mocha hooks for a data test: a fresh temp folder per test (removed after it) with CL_DATA_DIR
 * unset; call inside a describe and read the folder with `dir()`.
 */
export function freshDataDir(): { dir: () => string } {
  let dir = '';
  let env: { restore: () => void } | null = null;
  beforeEach(async () => {
    dir = await tempDir();
    env = withoutDataDirEnv();
  });
  afterEach(async () => {
    env?.restore();
    await fs.rm(dir, { recursive: true, force: true });
  });
  return { dir: () => dir };
}

/** A local server answering GET <path> with the given bodies (Range honoured) and 404 otherwise. */
export function serveFiles(byPath: Map<string, Buffer>): ReturnType<typeof startServer> {
  return startServer((req, res) => {
    const body = byPath.get(req.url ?? '');
    if (body) serveBody(res, req, body);
    else {
      res.writeHead(404);
      res.end();
    }
  });
}
