/**
 * IDX files (LeCun's MNIST format): magic 0x0000 08 <ndims> (unsigned bytes), big-endian uint32
 * dimensions, then the data. Used by MNIST and Fashion-MNIST.
 */
import { UserError } from '../errors.js';

export interface IdxArray {
  dims: number[];
  /** The unsigned-byte payload (a view into the parsed buffer). */
  data: Uint8Array;
}

const HINT = 'The file is truncated or is not an unsigned-byte IDX file: copy or download it again.';

/** Parses an uncompressed IDX buffer; `file` names it in errors. Only unsigned-byte data (type 0x08). */
export function parseIdx(buf: Uint8Array, file: string, expectedDims?: number): IdxArray {
  if (buf.length < 4) throw new UserError(`${file} is too short (${buf.length} bytes) to be an IDX file.`, HINT);
  const magic = ((buf[0] << 24) | (buf[1] << 16) | (buf[2] << 8) | buf[3]) >>> 0;
  const ndims = buf[3];
  if (buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08 || ndims === 0 || (expectedDims !== undefined && ndims !== expectedDims)) {
    const want = expectedDims === undefined ? '0x000008nn' : `0x${(0x800 + expectedDims).toString(16).padStart(8, '0')}`;
    throw new UserError(`${file} has IDX magic number 0x${magic.toString(16).padStart(8, '0')}, expected ${want}.`, HINT);
  }
  const header = 4 + 4 * ndims;
  if (buf.length < header) throw new UserError(`${file} is truncated inside its IDX header.`, HINT);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    size *= d;
  }
  if (buf.length !== header + size) {
    throw new UserError(
      `${file} has ${buf.length} bytes but its IDX header (dimensions ${dims.join('x')}) announces ${header + size}.`,
      HINT,
    );
  }
  return { dims, data: buf.subarray(header) };
}
