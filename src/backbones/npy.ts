/**
 * NumPy .npy files (format version 1.0, https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 * magic "\x93NUMPY", version 1 0, little-endian uint16 header length, an ASCII Python dict literal
 * padded with spaces and ending in "\n" so that the data starts at a multiple of 64 bytes, then the
 * raw C-order data. Supported dtypes: '<f4' (Float32Array) and '<i4' (Int32Array); 1-D and 2-D.
 * The header text matches what `numpy.save` writes byte for byte.
 */
import { promises as fsp } from 'node:fs';
import { parseNpyHeader } from '../data/numpy.js';
import { UserError } from '../errors.js';

export type NpyArray = { dtype: '<f4'; shape: number[]; data: Float32Array } | { dtype: '<i4'; shape: number[]; data: Int32Array };

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY
const ALIGN = 64;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('npy.ts assumes a little-endian host');
}

function shapeLiteral(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** The complete header (magic through the trailing newline) for an array of `dtype` and `shape`. */
export function npyHeader(dtype: '<f4' | '<i4', shape: number[]): Buffer {
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeLiteral(shape)}, }`;
  const prefix = MAGIC.length + 2 + 2;
  const unpadded = prefix + dict.length + 1; // + "\n"
  const total = Math.ceil(unpadded / ALIGN) * ALIGN;
  const headerLen = total - prefix;
  if (headerLen > 0xffff) throw new Error('npy header too long for format 1.0');
  const buf = Buffer.alloc(total, 0x20);
  MAGIC.copy(buf, 0);
  buf[6] = 1;
  buf[7] = 0;
  buf.writeUInt16LE(headerLen, 8);
  buf.write(dict, prefix, 'latin1');
  buf[total - 1] = 0x0a;
  return buf;
}

function checkShape(shape: number[], length: number): void {
  if (shape.length < 1 || shape.length > 2 || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`npy: unsupported shape (${shape.join(', ')})`);
  }
  if (shape.reduce((a, b) => a * b, 1) !== length) {
    throw new Error(`npy: shape (${shape.join(', ')}) does not match ${length} elements`);
  }
}

/** Serialise to an in-memory .npy buffer. */
export function encodeNpy(data: Float32Array | Int32Array, shape: number[]): Buffer {
  checkShape(shape, data.length);
  const header = npyHeader(data instanceof Float32Array ? '<f4' : '<i4', shape);
  return Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

/** Write `data` with `shape` to `file` and fsync it (the caller renames it into place). */
export async function writeNpy(file: string, data: Float32Array | Int32Array, shape: number[]): Promise<void> {
  checkShape(shape, data.length);
  const header = npyHeader(data instanceof Float32Array ? '<f4' : '<i4', shape);
  const fh = await fsp.open(file, 'w');
  try {
    await fh.write(header, 0, header.length, 0);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    // Chunked so very large arrays do not hit per-call write limits.
    const CHUNK = 1 << 26;
    for (let off = 0; off < bytes.length; off += CHUNK) {
      const part = bytes.subarray(off, Math.min(off + CHUNK, bytes.length));
      await fh.write(part, 0, part.length, header.length + off);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const corrupt = (file: string, what: string): UserError =>
  new UserError(`${file}: not a valid .npy file (${what})`, 'delete the file (or the cache entry holding it) and regenerate it');

/**
 * Parse an in-memory .npy buffer of '<f4' or '<i4' data, C order, 1-D or 2-D (what the feature cache
 * writes); `file` names it in errors. The header is read by the general reader of src/data/numpy.ts.
 */
export function decodeNpy(buf: Buffer, file = '<buffer>'): NpyArray {
  const h = parseNpyHeader(buf, file, (h) => {
    if (h.descr !== '<f4' && h.descr !== '<i4') throw corrupt(file, `dtype ${h.descr}; only '<f4' (float32) and '<i4' (int32) are supported`);
    if (h.fortranOrder) throw corrupt(file, 'Fortran order is not supported');
    if (h.shape.length < 1 || h.shape.length > 2) throw corrupt(file, `shape (${h.shape.join(', ')}); only 1-D and 2-D arrays are supported`);
  });
  const count = h.shape.reduce((a, b) => a * b, 1);
  const shape = h.shape;
  const dataStart = h.dataStart;
  // View the data in place when 4-byte aligned (the header pads to 64); else copy it.
  let ab: ArrayBufferLike = buf.buffer;
  let off = buf.byteOffset + dataStart;
  if (off % 4 !== 0) {
    const bytes = new Uint8Array(count * 4);
    bytes.set(buf.subarray(dataStart, dataStart + count * 4));
    ab = bytes.buffer;
    off = 0;
  }
  return h.descr === '<f4'
    ? { dtype: '<f4', shape, data: new Float32Array(ab, off, count) }
    : { dtype: '<i4', shape, data: new Int32Array(ab, off, count) };
}

/** Read and validate a .npy file; throws a UserError naming the file when it is missing, truncated or corrupt. */
export async function readNpy(file: string): Promise<NpyArray> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: cannot read .npy file (${code ?? String(e)})`, 'check the path and permissions');
  }
  return decodeNpy(buf, file);
}
