/**
 * NumPy files written by numpy itself, read strictly: `.npy` (format 1.0, 2.0, 3.0; any byte order;
 * C or Fortran order; float16/32/64, signed and unsigned 8..64-bit integers, bool) and `.npz` (a zip
 * archive of .npy members, stored (np.savez) or deflated (np.savez_compressed), zip64 records
 * included, every member's CRC-32 checked).
 *
 * Format references: numpy.lib.format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html)
 * and PKWARE's APPNOTE.TXT (zip, zip64). Object arrays (pickles), structured dtypes and encrypted or
 * multi-disk zips are refused with an error naming the file.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import { UserError } from '../errors.js';

export type NpyKind = 'f' | 'i' | 'u' | 'b';

export interface NpyHeader {
  descr: string;
  kind: NpyKind;
  /** Bytes per element. */
  itemSize: number;
  littleEndian: boolean;
  fortranOrder: boolean;
  shape: number[];
  /** Offset of the data in the buffer. */
  dataStart: number;
}

export interface NpyAny {
  header: NpyHeader;
  /** The raw element bytes (C or Fortran order as the header says). */
  data: Uint8Array;
  file: string;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const corrupt = (file: string, what: string, hint = 'write it again with numpy.save / numpy.savez'): UserError =>
  new UserError(`${file}: not a readable .npy array (${what})`, hint);

/**
 * Parses the header of a .npy buffer (magic, version, dict literal), lets `accept` refuse it (a
 * caller's dtype / order / rank rules), then validates it against the buffer length.
 */
export function parseNpyHeader(buf: Uint8Array, file: string, accept?: (h: NpyHeader) => void): NpyHeader {
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) throw corrupt(file, 'missing \\x93NUMPY magic; is it a .npy file?');
  const major = buf[6];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw corrupt(file, 'truncated header');
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    throw corrupt(file, `unsupported format version ${major}.${buf[7]}`);
  }
  const dataStart = start + headerLen;
  if (buf.length < dataStart) throw corrupt(file, `truncated header: ${buf.length} bytes, the header needs ${dataStart}`);
  const text = Buffer.from(buf.buffer, buf.byteOffset + start, headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text)?.[1];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined) {
    throw corrupt(file, /['"]descr['"]\s*:\s*[[{]/.test(text) ? 'a structured dtype; save plain numeric arrays' : `unreadable header ${JSON.stringify(text.trim())}`);
  }
  if (fortran === undefined || shapeText === undefined) throw corrupt(file, `unreadable header ${JSON.stringify(text.trim())}`);
  const m = /^([<>|=])([fiub])(\d+)$/.exec(descr);
  if (!m) {
    throw corrupt(file, descr.includes('O') ? 'dtype object (a pickled array); save numbers, e.g. np.asarray(x, dtype=np.float32)' : `dtype '${descr}' is not a number type`);
  }
  const kind = m[2] as NpyKind;
  const itemSize = Number(m[3]);
  const okSize = kind === 'f' ? [2, 4, 8] : kind === 'b' ? [1] : [1, 2, 4, 8];
  if (!okSize.includes(itemSize)) throw corrupt(file, `dtype '${descr}' is not supported`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s.replace(/L$/, '')));
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw corrupt(file, `shape (${shapeText})`);
  const header: NpyHeader = { descr, kind, itemSize, littleEndian: m[1] !== '>', fortranOrder: fortran === 'True', shape, dataStart };
  accept?.(header);
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = dataStart + count * itemSize;
  if (buf.length !== expected) {
    throw corrupt(file, `${buf.length < expected ? 'truncated' : 'trailing bytes'}: ${buf.length} bytes, shape (${shape.join(', ')}) of '${descr}' needs ${expected}`, 'the file is damaged or was cut short: write it again');
  }
  return header;
}

/** A parsed .npy buffer (data not converted yet). */
export function parseNpy(buf: Uint8Array, file: string): NpyAny {
  const header = parseNpyHeader(buf, file);
  return { header, data: buf.subarray(header.dataStart), file };
}

/** Element i (in storage order) as a number; 64-bit integers beyond 2^53 lose precision (callers range-check). */
function reader(a: NpyAny): (i: number) => number {
  const { kind, itemSize, littleEndian: le } = a.header;
  const v = new DataView(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  if (kind === 'f') {
    if (itemSize === 4) return (i) => v.getFloat32(i * 4, le);
    if (itemSize === 8) return (i) => v.getFloat64(i * 8, le);
    return (i) => halfToFloat(v.getUint16(i * 2, le));
  }
  if (kind === 'b') return (i) => (v.getUint8(i) ? 1 : 0);
  if (kind === 'i') {
    if (itemSize === 1) return (i) => v.getInt8(i);
    if (itemSize === 2) return (i) => v.getInt16(i * 2, le);
    if (itemSize === 4) return (i) => v.getInt32(i * 4, le);
    return (i) => Number(v.getBigInt64(i * 8, le));
  }
  if (itemSize === 1) return (i) => v.getUint8(i);
  if (itemSize === 2) return (i) => v.getUint16(i * 2, le);
  if (itemSize === 4) return (i) => v.getUint32(i * 4, le);
  return (i) => Number(v.getBigUint64(i * 8, le));
}

/** IEEE 754 half precision bits -> number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Row-major index -> storage index for a 2-D Fortran-order array. */
function storageIndex(a: NpyAny): (r: number, c: number) => number {
  const [rows, cols] = a.header.shape;
  return a.header.fortranOrder ? (r, c) => c * rows + r : (r, c) => r * cols + c;
}

/** A 2-D float array as row-major float32 `[rows, cols]` (finiteness is checked by the caller: src/finite.ts). */
export function toFloat32Matrix(a: NpyAny, what: string): { x: Float32Array; rows: number; cols: number } {
  const h = a.header;
  if (h.shape.length !== 2) throw new UserError(`${a.file}: ${what} has shape (${h.shape.join(', ')}); it must be 2-D [samples, feature dim]`, 'save one row per sample, e.g. np.save(..., feats.reshape(len(feats), -1))');
  if (h.kind !== 'f') throw new UserError(`${a.file}: ${what} has dtype '${h.descr}'; features must be floating point (float16/32/64)`, 'save them as float32: feats.astype(np.float32)');
  const [rows, cols] = h.shape;
  if (rows === 0 || cols === 0) throw new UserError(`${a.file}: ${what} has shape (${rows}, ${cols}); it needs at least one sample and one dimension`, 'check what was saved');
  const x = new Float32Array(rows * cols);
  const get = reader(a);
  const at = storageIndex(a);
  const fast = h.kind === 'f' && h.itemSize === 4 && h.littleEndian && !h.fortranOrder && a.data.byteOffset % 4 === 0;
  if (fast) x.set(new Float32Array(a.data.buffer, a.data.byteOffset, rows * cols));
  else for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) x[r * cols + c] = get(at(r, c));
  return { x, rows, cols };
}

/** A 1-D integer array as int32 labels in [0, 2^31). */
export function toLabels(a: NpyAny, what: string): Int32Array {
  const h = a.header;
  if (h.shape.length !== 1) throw new UserError(`${a.file}: ${what} has shape (${h.shape.join(', ')}); labels must be 1-D [samples]`, 'save them flat, e.g. labels.reshape(-1)');
  if (h.kind !== 'i' && h.kind !== 'u') throw new UserError(`${a.file}: ${what} has dtype '${h.descr}'; labels must be integers`, 'save them as integers: labels.astype(np.int64)');
  const n = h.shape[0];
  const out = new Int32Array(n);
  const get = reader(a);
  for (let i = 0; i < n; i++) {
    const v = get(i);
    if (!Number.isSafeInteger(v) || v < 0 || v > 0x7fffffff) throw new UserError(`${a.file}: ${what}[${i}] is ${v}; labels must be class ids 0..C-1`, 'map the labels to 0..C-1 first');
    out[i] = v;
  }
  return out;
}

/* ---------------------------------------------------------------- .npz (zip) */

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

const zipError = (file: string, what: string): UserError =>
  new UserError(`${file}: not a readable .npz archive (${what})`, 'the file is damaged or was cut short: write it again with numpy.savez or numpy.savez_compressed');

/** Random access to a file (sync; .npz members are read one at a time). */
class FileReader {
  readonly size: number;
  private readonly fd: number;

  constructor(readonly file: string) {
    try {
      this.fd = fs.openSync(file, 'r');
      this.size = fs.fstatSync(this.fd).size;
    } catch (e) {
      throw new UserError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, 'check the path and permissions');
    }
  }

  read(offset: number, length: number): Buffer {
    if (offset < 0 || length < 0 || offset + length > this.size) throw zipError(this.file, `a record at byte ${offset} runs past the end (${this.size} bytes)`);
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) throw zipError(this.file, 'unexpected end of file');
      done += n;
    }
    return buf;
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

export interface ZipMember {
  name: string;
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function u64(buf: Buffer, at: number, file: string): number {
  const v = buf.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw zipError(file, 'a zip64 size beyond 2^53');
  return Number(v);
}

/** The members of a zip file, from its central directory. */
function zipMembers(r: FileReader): ZipMember[] {
  const file = r.file;
  if (r.size < 22) throw zipError(file, `only ${r.size} bytes`);
  const tailLen = Math.min(r.size, 22 + 0xffff);
  const tail = r.read(r.size - tailLen, tailLen);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw zipError(file, 'no end-of-central-directory record; truncated?');
  let entries = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (tail.readUInt16LE(eocd + 4) !== 0 || tail.readUInt16LE(eocd + 6) !== 0) throw zipError(file, 'a multi-disk archive');
  if (entries === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locAt = r.size - tailLen + eocd - 20;
    const loc = r.read(locAt, 20);
    if (loc.readUInt32LE(0) !== ZIP64_LOCATOR) throw zipError(file, 'zip64 sizes without a zip64 locator');
    const z = r.read(u64(loc, 8, file), 56);
    if (z.readUInt32LE(0) !== ZIP64_EOCD) throw zipError(file, 'bad zip64 end-of-central-directory record');
    entries = u64(z, 32, file);
    cdSize = u64(z, 40, file);
    cdOffset = u64(z, 48, file);
  }
  const cd = r.read(cdOffset, cdSize);
  const out: ZipMember[] = [];
  let p = 0;
  for (let k = 0; k < entries; k++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL) throw zipError(file, `central directory entry ${k} is damaged`);
    const flags = cd.readUInt16LE(p + 8);
    const method = cd.readUInt16LE(p + 10);
    const crc32 = cd.readUInt32LE(p + 16);
    let compressedSize = cd.readUInt32LE(p + 20);
    let size = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let localOffset = cd.readUInt32LE(p + 42);
    const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
    // zip64 extra field: the 64-bit values of exactly those fields that are 0xffffffff above, in order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = cd.readUInt16LE(e);
      const len = cd.readUInt16LE(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) {
          size = u64(cd, q, file);
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = u64(cd, q, file);
          q += 8;
        }
        if (localOffset === 0xffffffff) localOffset = u64(cd, q, file);
      }
      e += 4 + len;
    }
    out.push({ name, method, flags, crc32, compressedSize, size, localOffset });
    p = extraEnd + commentLen;
  }
  return out;
}

/** The bytes of one member, inflated and CRC-checked. */
function memberBytes(r: FileReader, m: ZipMember): Buffer {
  const where = `${r.file} member ${m.name}`;
  if (m.flags & 1) throw zipError(r.file, `${m.name} is encrypted`);
  const local = r.read(m.localOffset, 30);
  if (local.readUInt32LE(0) !== LOCAL) throw zipError(r.file, `the local header of ${m.name} is damaged`);
  const dataAt = m.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
  const raw = r.read(dataAt, m.compressedSize);
  let bytes: Buffer;
  if (m.method === 0) bytes = raw;
  else if (m.method === 8) {
    try {
      bytes = zlib.inflateRawSync(raw);
    } catch (e) {
      throw zipError(r.file, `${m.name} does not inflate (${e instanceof Error ? e.message : String(e)})`);
    }
  } else throw zipError(r.file, `${m.name} uses compression method ${m.method}; numpy writes stored (0) or deflate (8)`);
  if (bytes.length !== m.size) throw zipError(r.file, `${m.name} has ${bytes.length} bytes, its directory entry says ${m.size}`);
  if (zlib.crc32(bytes) >>> 0 !== m.crc32 >>> 0) throw new UserError(`${where}: CRC-32 mismatch; the archive is damaged`, 'write it again with numpy.savez or numpy.savez_compressed');
  return bytes;
}

/** An .npz archive: its array names and a reader for each. */
export class Npz {
  private readonly r: FileReader;
  private readonly members: Map<string, ZipMember>;

  constructor(readonly file: string) {
    this.r = new FileReader(file);
    try {
      this.members = new Map(zipMembers(this.r).filter((m) => m.name.endsWith('.npy')).map((m) => [m.name.slice(0, -4), m]));
    } catch (e) {
      this.r.close();
      throw e;
    }
  }

  /** Array names (numpy's keys: member names without .npy). */
  keys(): string[] {
    return [...this.members.keys()];
  }

  has(key: string): boolean {
    return this.members.has(key);
  }

  /** The array `key` (throws naming the archive when absent or damaged). */
  array(key: string): NpyAny {
    const m = this.members.get(key);
    if (!m) throw new UserError(`${this.file} has no array "${key}" (it has: ${this.keys().join(', ') || 'none'})`, 'save it with np.savez(file, train_features=..., train_labels=..., test_features=..., test_labels=...)');
    return parseNpy(memberBytes(this.r, m), `${this.file}[${key}]`);
  }

  close(): void {
    this.r.close();
  }
}

/** Reads a whole .npy file. */
export function readNpyFile(file: string): { array: NpyAny; bytes: Buffer } {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, 'check the path and permissions');
  }
  return { array: parseNpy(bytes, file), bytes };
}
