/**
 * NumPy .npy files (format version 1.0, https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
 * magic "\x93NUMPY", version 1 0, little-endian uint16 header length, an ASCII Python dict literal
 * padded with spaces and ending in "\n" so that the data starts at a multiple of 64 bytes, then the
 * raw C-order data. Supported dtypes: '<f4' (Float32Array) and '<i4' (Int32Array); 1-D and 2-D.
 * The header text matches what `numpy.save` writes byte for byte.
 */
import { promises as fsp } from 'node:fs';
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

/** Parse an in-memory .npy buffer; `file` names it in errors. */
export function decodeNpy(buf: Buffer, file = '<buffer>'): NpyArray {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw corrupt(file, 'missing \\x93NUMPY magic');
  const major = buf[6];
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw corrupt(file, 'truncated header');
    headerLen = buf.readUInt32LE(8);
    start = 12;
  } else {
    throw corrupt(file, `unsupported format version ${major}.${buf[7]}`);
  }
  const dataStart = start + headerLen;
  if (buf.length < dataStart) throw corrupt(file, `truncated header: ${buf.length} bytes, header needs ${dataStart}`);
  const header = buf.toString('latin1', start, dataStart);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw corrupt(file, `unreadable header ${JSON.stringify(header.trim())}`);
  if (descr !== '<f4' && descr !== '<i4') throw corrupt(file, `dtype ${descr}; only '<f4' (float32) and '<i4' (int32) are supported`);
  if (fortran !== 'False') throw corrupt(file, 'Fortran order is not supported');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (shape.length < 1 || shape.length > 2 || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw corrupt(file, `shape (${shapeText}); only 1-D and 2-D arrays are supported`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = dataStart + count * 4;
  if (buf.length !== expected) {
    throw corrupt(file, `${buf.length < expected ? 'truncated' : 'trailing bytes'}: ${buf.length} bytes, shape (${shape.join(', ')}) needs ${expected}`);
  }
  // View the data in place when 4-byte aligned (the header pads to 64); else copy it.
  let ab: ArrayBufferLike = buf.buffer;
  let off = buf.byteOffset + dataStart;
  if (off % 4 !== 0) {
    const bytes = new Uint8Array(count * 4);
    bytes.set(buf.subarray(dataStart, expected));
    ab = bytes.buffer;
    off = 0;
  }
  return descr === '<f4'
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
