/** Small file helpers shared by the dataset readers. */
import fs from 'node:fs/promises';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { UserError } from '../errors.js';

const gunzip = promisify(zlib.gunzip);

export async function pathKind(p: string): Promise<'file' | 'dir' | undefined> {
  try {
    const st = await fs.stat(p);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : undefined;
  } catch {
    return undefined;
  }
}

/** Reads a whole file, naming it in the error when it cannot be read. */
export async function readFileOrFail(file: string, what: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (e) {
    throw new UserError(`Cannot read ${what} ${file}: ${(e as Error).message}.`, 'Check that the file exists and is readable.');
  }
}

/** True when the buffer starts with the gzip magic bytes 1f 8b. */
export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Reads a file that may be gzip-compressed (detected by its magic bytes, not its name). */
export async function readMaybeGzip(file: string, what: string): Promise<Buffer> {
  const raw = await readFileOrFail(file, what);
  if (!isGzip(raw)) return raw;
  try {
    return await gunzip(raw);
  } catch (e) {
    throw new UserError(
      `${what} ${file} is not a valid gzip file (${(e as Error).message}); it is probably truncated or corrupt.`,
      'Delete it and download or copy it again.',
    );
  }
}
