/**
 * Archive extraction into the dataset cache, made atomic: entries go into a fresh temporary folder
 * next to the target, a marker describing the source is written, and only then is the folder renamed
 * onto its final name. A killed extraction leaves a stray temp folder, never a target that looks
 * valid; the next extraction removes it once its owner is gone (see removeStale).
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import { UserError } from '../errors.js';
import { forgetTemp, ownedTempName, sweepLeftovers, trackTemp } from '../leftovers.js';
import { progressReporter } from './progress.js';

/** Written into every committed cache folder: where its content came from and how it was checked. */
export interface CacheMarker {
  /** Absolute path of the archive or URL it came from. */
  origin: string;
  /** Size and mtime of the archive at extraction time (the reuse key for local archives). */
  archiveSize: number;
  archiveMtimeMs: number;
  verified: 'checksum' | 'structure';
  createdAt: string;
}

export const MARKER_FILE = '.cl-source.json';

export async function readMarker(dir: string): Promise<CacheMarker | undefined> {
  try {
    const m = JSON.parse(await fs.readFile(path.join(dir, MARKER_FILE), 'utf8')) as Partial<CacheMarker>;
    if (typeof m.origin !== 'string' || typeof m.archiveSize !== 'number' || typeof m.archiveMtimeMs !== 'number') return undefined;
    if (m.verified !== 'checksum' && m.verified !== 'structure') return undefined;
    return m as CacheMarker;
  } catch {
    return undefined;
  }
}

export async function writeMarker(dir: string, marker: CacheMarker): Promise<void> {
  await fs.writeFile(path.join(dir, MARKER_FILE), JSON.stringify(marker, null, 2) + '\n');
}

/**
 * Extracts the entries of `archive` (tar, gzipped or not) whose base name is in `members` into a new
 * temporary folder inside `parent`; returns that folder. The caller commits it with `commitDir` or
 * removes it.
 */
export async function extractToTemp(
  archive: string,
  parent: string,
  members: ReadonlySet<string>,
  opts: { quiet?: boolean; label?: string } = {},
): Promise<string> {
  await fs.mkdir(parent, { recursive: true });
  await removeStale(parent);
  // Named after its owner (host, pid): removed on exit, and by the next extraction once the owner is dead.
  const tmp = path.join(parent, ownedTempName(EXTRACT_PREFIX));
  trackTemp(tmp);
  await fs.mkdir(tmp);
  const size = (await fs.stat(archive)).size;
  const reporter = progressReporter(opts.label ?? `Extracting ${path.basename(archive)}`, size, { quiet: opts.quiet, unit: 'B' });
  let done = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      reporter.update(done);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(
      createReadStream(archive),
      counter,
      tar.x({
        cwd: tmp,
        strict: true,
        filter: (p) => members.has(path.posix.basename(p.replace(/\\/g, '/'))),
      }),
    );
  } catch (e) {
    reporter.stop();
    await new Promise((resolve) => setTimeout(resolve, 100)); // let the unpacker's last writes land
    await removeDir(tmp);
    throw new UserError(
      `Cannot extract ${archive}: ${(e as Error).message}. The archive is probably truncated or corrupt.`,
      'Copy or download the archive again (a complete CIFAR-100 binary archive is about 168 MB).',
    );
  }
  reporter.stop();
  return tmp;
}

/**
 * Deletes a folder, retrying while it is still being written (after a failed extraction the unpacker
 * may finish a file write or two after the error).
 */
export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
  forgetTemp(dir);
}

const STALE_MS = 60 * 60 * 1000;
const EXTRACT_PREFIX = '.extract';

/**
 * Removes temp folders of extractions that died: at once when the owner named in the folder is
 * gone from this host, else (another host, or an older cl's `.extract-XXXXXX`) an hour after it
 * was last written (a live one takes seconds); and folders set aside by commitDir an hour ago.
 */
async function removeStale(parent: string): Promise<void> {
  await sweepLeftovers(parent, { prefix: EXTRACT_PREFIX, staleMs: STALE_MS });
  for (const e of await fs.readdir(parent, { withFileTypes: true })) {
    if (!e.isDirectory() || !e.name.includes('.old-')) continue;
    const p = path.join(parent, e.name);
    try {
      if (Date.now() - (await fs.stat(p)).mtimeMs > STALE_MS) await removeDir(p);
    } catch {
      // gone already
    }
  }
}

/** Finds the folder under `root` (root itself or one level down) that holds `file`. */
export async function findFolderWith(root: string, file: string): Promise<string | undefined> {
  const candidates = [root];
  for (const e of await fs.readdir(root, { withFileTypes: true })) if (e.isDirectory()) candidates.push(path.join(root, e.name));
  for (const dir of candidates) {
    try {
      if ((await fs.stat(path.join(dir, file))).isFile()) return dir;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Renames folder `src` onto `target`, replacing an older `target`. If another process committed the
 * same target at the same moment, its folder wins and `src` is deleted.
 */
export async function commitDir(src: string, target: string): Promise<void> {
  const old = `${target}.old-${process.pid}-${Date.now()}`;
  let moved = false;
  try {
    await fs.rename(target, old);
    moved = true;
  } catch {
    // no older folder
  }
  try {
    await fs.rename(src, target);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    await fs.rm(src, { recursive: true, force: true }); // lost a race: keep the other process's folder
  }
  if (moved) await removeDir(old);
}
