/**
 * The few pieces of the protobuf wire format that `cl` needs to read and splice ONNX ModelProto
 * files (onnx.proto field numbers are used by the callers): iterate the fields of a message without
 * decoding it, and encode varints, strings, sub-messages and packed numbers. Unknown fields are
 * copied byte for byte, so splicing never loses what `cl` does not understand.
 */

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

export interface WireField {
  field: number;
  wire: number;
  /** Varint value (wire 0). */
  int?: bigint;
  /** Payload of a length-delimited field (wire 2), a view into the message. */
  data?: Uint8Array;
  /** The whole field (key included) as it appears in the message, for verbatim copies. */
  raw: Uint8Array;
}

export class ProtobufError extends Error {}

function readVarint(buf: Uint8Array, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new ProtobufError('truncated varint');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
  throw new ProtobufError('varint longer than 10 bytes');
}

/** The fields of one message, in order. Throws ProtobufError on malformed bytes. */
export function* wireFields(buf: Uint8Array): Generator<WireField> {
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    const [key, p1] = readVarint(buf, pos);
    pos = p1;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) throw new ProtobufError('field number 0');
    let int: bigint | undefined;
    let data: Uint8Array | undefined;
    if (wire === WIRE_VARINT) {
      [int, pos] = readVarint(buf, pos);
    } else if (wire === WIRE_I64) {
      pos += 8;
    } else if (wire === WIRE_I32) {
      pos += 4;
    } else if (wire === WIRE_LEN) {
      const [len, p2] = readVarint(buf, pos);
      const end = p2 + Number(len);
      if (end > buf.length) throw new ProtobufError(`field ${field} runs past the end of its message`);
      data = buf.subarray(p2, end);
      pos = end;
    } else {
      throw new ProtobufError(`unsupported wire type ${wire} (field ${field})`);
    }
    if (pos > buf.length) throw new ProtobufError(`field ${field} runs past the end of its message`);
    yield { field, wire, int, data, raw: buf.subarray(start, pos) };
  }
}

/** First string value of `field` in a message, or undefined. */
export function stringField(msg: Uint8Array, field: number): string | undefined {
  for (const f of wireFields(msg)) if (f.field === field && f.data) return Buffer.from(f.data).toString('utf8');
  return undefined;
}

// ---- encoding -------------------------------------------------------------------------------

export function varint(n: number | bigint): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n; // int64 two's complement
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

const u8 = (a: number[]): Uint8Array => Uint8Array.from(a);

export function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A varint field. */
export const pbInt = (field: number, n: number | bigint): Uint8Array => u8([...varint((field << 3) | WIRE_VARINT), ...varint(n)]);
/** A length-delimited field holding `payload` (a sub-message or raw bytes). */
export const pbBytes = (field: number, payload: Uint8Array | Uint8Array[]): Uint8Array => {
  const body = Array.isArray(payload) ? concat(payload) : payload;
  return concat([u8([...varint((field << 3) | WIRE_LEN), ...varint(body.length)]), body]);
};
/** A UTF-8 string field. */
export const pbString = (field: number, s: string): Uint8Array => pbBytes(field, new Uint8Array(Buffer.from(s, 'utf8')));
