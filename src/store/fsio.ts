/**
 * Durable file primitives of the results store (docs/store.md "Durability and failures"):
 *
 * - a file counts as written only once its bytes and its directory entry are fsynced;
 * - new content is written to a temp file first and *published* with link(2), which fails when
 *   the target name exists: publishing is a compare-and-swap on the name, with no window between
 *   "check" and "write" that a paused process could fall into;
 * - a temp file is removed when its write fails (ENOSPC leaves nothing behind);
 * - environment errors (full disk, read-only file system, permissions) become one UserError that
 *   names the file and the cause; they are never retried.
 */
import { constants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { ownedTempName, sweepLeftovers } from '../leftovers.js';

/** errno codes that describe the machine, not a bug: reported as UserErrors naming the file. */
const ENVIRONMENT: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EIO: 'input/output error',
  EFBIG: 'file too large',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENOTDIR: 'a path component is not a folder',
  ENAMETOOLONG: 'file name too long',
  ELOOP: 'too many symbolic links',
};

function hintFor(code: string, store: string): string {
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      return `free some space on that disk, or pass another --store (env CL_STORE); ${store} is unchanged up to the last completed write`;
    case 'EROFS':
      return 'the folder is on a read-only file system: pass a --store (env CL_STORE) on a writable disk';
    case 'EACCES':
    case 'EPERM':
      return 'check the owner and permissions of that file and its folder, or pass another --store (env CL_STORE)';
    case 'EMFILE':
    case 'ENFILE':
      return 'raise the open-file limit (ulimit -n) or run fewer processes at once';
    default:
      return 'check the disk and the path, or pass another --store (env CL_STORE)';
  }
}

/** The errno code of an error thrown by node:fs, if any. */
export const errCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

/** An environment error of node:fs as a UserError naming the store, the file and the cause; anything else unchanged. */
export function storeIoError(e: unknown, what: 'read' | 'write', store: string, file: string): unknown {
  const code = errCode(e);
  if (!code || !(code in ENVIRONMENT)) return e;
  const where = file === store ? store : `${store} (${file})`;
  return new UserError(`cannot ${what} results store ${where}: ${ENVIRONMENT[code]} (${code})`, hintFor(code, store));
}

/** Is `code` an environment error (see storeIoError)? */
export const isEnvironmentError = (e: unknown): boolean => {
  const code = errCode(e);
  return code !== undefined && code in ENVIRONMENT;
};

/**
 * A fresh temp file name in `dir` that names its owner (`store~<host>~<pid>~<hex>.tmp`,
 * src/leftovers.ts), so that the temp of a writer that died is recognisable and swept.
 */
export function tempName(dir: string): string {
  return path.join(dir, ownedTempName('store', '.tmp'));
}

/** fsync a directory, so that entries created, renamed or linked in it survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Write a new file (must not exist) and fsync it; on any failure the partial file is removed. */
export async function writeNewFile(file: string, data: string | Uint8Array, durable = true): Promise<void> {
  const fh = await fsp.open(file, 'wx');
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.rm(file, { force: true });
    throw e;
  }
}

/**
 * Publish `tmp` under the name `target` if and only if no file has that name yet (link(2) is
 * atomic and fails with EEXIST): true when published (target's folder fsynced), false when the
 * name was taken. The temp name is removed either way.
 */
export async function publishExclusive(tmp: string, target: string, durable = true): Promise<boolean> {
  try {
    await fsp.link(tmp, target);
  } catch (e) {
    if (errCode(e) !== 'EEXIST') throw e;
    // NFS may answer a retransmitted, successful link with EEXIST: then the temp file has two
    // names (the classic check of NFS lock files). Otherwise the name was someone else's.
    const st = await fsp.stat(tmp).catch(() => null);
    if (!st || st.nlink < 2) return false;
  } finally {
    await fsp.rm(tmp, { force: true });
  }
  if (durable) await fsyncDir(path.dirname(target));
  return true;
}

/** Name `file` in an error of a write on a file descriptor (which says only "write"). */
export function naming<T>(file: string, e: T): T {
  const err = e as NodeJS.ErrnoException | null;
  if (err && typeof err === 'object' && err.code && !err.path) err.path = file;
  return e;
}

/** Write `data` to a temp file in `tmpDir` and publish it as `target` (see publishExclusive). */
export async function createExclusive(tmpDir: string, target: string, data: string, durable = true): Promise<boolean> {
  const tmp = tempName(tmpDir);
  try {
    await writeNewFile(tmp, data, durable);
  } catch (e) {
    throw naming(target, e);
  }
  return publishExclusive(tmp, target, durable);
}

/** Replace `target` atomically with `data` (temp file beside it, fsync, rename, fsync folder). */
export async function replaceFile(target: string, data: string): Promise<void> {
  const tmp = tempName(path.dirname(target));
  try {
    await writeNewFile(tmp, data);
  } catch (e) {
    throw naming(target, e);
  }
  try {
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(path.dirname(target));
}

/**
 * mkdir -p that reports the real cause: a recursive mkdir under a missing parent on a read-only or
 * forbidden folder says ENOENT; creating the missing folders one by one says EROFS / EACCES.
 */
export async function makeDirs(dir: string): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true });
  } catch (e) {
    if (errCode(e) !== 'ENOENT') throw e;
    const missing: string[] = [];
    for (let d = dir; !(await fsp.stat(d).catch(() => null)); d = path.dirname(d)) {
      missing.unshift(d);
      if (path.dirname(d) === d) break;
    }
    for (const d of missing) await fsp.mkdir(d).catch((err: unknown) => (errCode(err) === 'EEXIST' ? undefined : Promise.reject(err)));
    throw e;
  }
}

/**
 * Remove temp files in `dir` left by processes that died mid-write: made on this host by a pid
 * that is gone, or older than `maxAgeMs` whoever made them (also the `<host>-<pid>-<hex>.tmp`
 * names of the first file-per-record store, which carry no owner src/leftovers.ts can read). A
 * writer that finds its temp file gone (it was paused for longer than that) simply writes a new one.
 */
export async function sweepTemps(dir: string, maxAgeMs = 24 * 3600 * 1000): Promise<number> {
  return (await sweepLeftovers(dir, { prefix: '', suffix: '.tmp', staleMs: maxAgeMs })).length;
}
