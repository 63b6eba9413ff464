/**
 * A strict reader for exactly the Python pickles of torchvision's `cifar-100-python` files (`train`,
 * `test`, `meta`): Python 2 cPickle, protocol 2, holding a dict of byte strings, lists of ints or
 * byte strings, and one numpy uint8 array built by `numpy.core.multiarray._reconstruct`.
 *
 * Nothing is executed: GLOBAL may only name numpy.core.multiarray._reconstruct, numpy.ndarray and
 * numpy.dtype, and REDUCE/BUILD only rebuild a uint8 array from its raw bytes. Every other opcode
 * (and every other global) is an error naming the byte offset, so a file that is not one of those
 * pickles is refused rather than half-read. Opcodes: pickletools / PEP 307.
 */
import { UserError } from '../errors.js';

/** A numpy array as the pickle describes it (only uint8 is accepted). */
export interface PickledArray {
  kind: 'ndarray';
  shape: number[];
  fortranOrder: boolean;
  data: Uint8Array;
}

export type PickleValue = number | boolean | null | Uint8Array | PickleValue[] | PickledDict | PickledArray | PickleGlobal | PickledTuple | PickledDtype | PickledReduce;

/** A dict with byte-string keys (decoded as latin1, as Python 2 str). */
export class PickledDict {
  readonly entries = new Map<string, PickleValue>();
}

export class PickledTuple {
  constructor(readonly items: PickleValue[]) {}
}

class PickleGlobal {
  constructor(readonly name: string) {}
}

class PickledDtype {
  constructor(readonly descr: string) {}
}

/** `_reconstruct(ndarray, (0,), 'b')` before its BUILD fills it in. */
class PickledReduce {
  array: PickledArray | null = null;
}

const ALLOWED_GLOBALS = new Set(['numpy.core.multiarray._reconstruct', 'numpy.ndarray', 'numpy.dtype', 'numpy._core.multiarray._reconstruct']);

const MARK = Symbol('mark');
type Slot = PickleValue | typeof MARK;

/** Parses one pickle; `file` names it in errors. */
export function readPickle(buf: Uint8Array, file: string): PickleValue {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const stack: Slot[] = [];
  const memo = new Map<number, PickleValue>();
  let p = 0;
  const fail = (what: string, at = p): never => {
    throw new UserError(`${file}: not one of CIFAR-100's Python pickles (${what} at byte ${at})`, 'use the official cifar-100-python.tar.gz (md5 eb9058c3a382ffc7106e4002c42a8d85) or its extracted folder, or the binary version');
  };
  const need = (n: number): void => {
    if (p + n > buf.length) fail(`truncated: ${n} more bytes needed, ${buf.length - p} left`);
  };
  const u8 = (): number => {
    need(1);
    return buf[p++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(p, true);
    p += 2;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = view.getInt32(p, true);
    p += 4;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(p, true);
    p += 4;
    return v;
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    const b = buf.subarray(p, p + n);
    p += n;
    return b;
  };
  const line = (): string => {
    const end = buf.indexOf(0x0a, p);
    if (end < 0) fail('unterminated GLOBAL name');
    const s = Buffer.from(buf.subarray(p, end)).toString('latin1');
    p = end + 1;
    return s;
  };
  const pop = (): PickleValue => {
    const v = stack.pop();
    if (v === undefined || v === MARK) fail('stack underflow');
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const k = stack.lastIndexOf(MARK);
    if (k < 0) fail('no MARK on the stack');
    const items = stack.splice(k) as PickleValue[];
    items.shift();
    return items;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail('stack underflow');
    return v as PickleValue;
  };
  const latin1 = (v: PickleValue, what: string): string => {
    if (!(v instanceof Uint8Array)) fail(`${what} is not a byte string`);
    return Buffer.from(v as Uint8Array).toString('latin1');
  };
  const setItems = (d: PickleValue, kv: PickleValue[]): void => {
    if (!(d instanceof PickledDict)) fail('SETITEMS on a non-dict');
    if (kv.length % 2 !== 0) fail('odd number of items for SETITEMS');
    for (let i = 0; i < kv.length; i += 2) (d as PickledDict).entries.set(latin1(kv[i], 'a dict key'), kv[i + 1]);
  };
  const append = (l: PickleValue, items: PickleValue[]): void => {
    if (!Array.isArray(l)) fail('APPENDS on a non-list');
    (l as PickleValue[]).push(...items);
  };

  if (u8() !== 0x80 || u8() !== 2) fail('not a protocol-2 pickle', 0);
  for (;;) {
    const at = p;
    const op = u8();
    switch (op) {
      case 0x2e: // STOP
        if (p !== buf.length) fail(`${buf.length - p} bytes after STOP`);
        if (stack.length !== 1) fail('the stack does not hold exactly one object at STOP');
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new PickledDict());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PickledTuple([]));
        break;
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x68: // BINGET
      case 0x6a: {
        // LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        const v = memo.get(k);
        if (v === undefined) fail(`memo ${k} was never stored`, at);
        stack.push(v as PickleValue);
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(bytes(u8()));
        break;
      case 0x54: {
        // BINSTRING
        const n = i32();
        if (n < 0) fail('negative string length', at);
        stack.push(bytes(n));
        break;
      }
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x74: // TUPLE
        stack.push(new PickledTuple(popMark()));
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: {
        // TUPLE3
        const n = op - 0x84;
        const items: PickleValue[] = [];
        for (let i = 0; i < n; i++) items.unshift(pop());
        stack.push(new PickledTuple(items));
        break;
      }
      case 0x63: {
        // GLOBAL
        const name = `${line()}.${line()}`;
        if (!ALLOWED_GLOBALS.has(name)) fail(`global ${name} is not allowed`, at);
        stack.push(new PickleGlobal(name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PickleGlobal) || !(args instanceof PickledTuple)) fail('REDUCE of something other than a numpy global', at);
        const g = fn as PickleGlobal;
        const a = (args as PickledTuple).items;
        if (g.name.endsWith('._reconstruct')) {
          if (!(a[0] instanceof PickleGlobal) || a[0].name !== 'numpy.ndarray') fail('_reconstruct of something other than numpy.ndarray', at);
          stack.push(new PickledReduce());
        } else if (g.name === 'numpy.dtype') {
          const descr = latin1(a[0], 'the dtype');
          if (descr !== 'u1') fail(`a numpy array of dtype ${descr}; CIFAR-100 pixels are uint8 (u1)`, at);
          stack.push(new PickledDtype(descr));
        } else fail(`REDUCE of ${g.name}`, at);
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PickledDtype) break; // byte order etc.: irrelevant for uint8
        if (!(obj instanceof PickledReduce) || !(state instanceof PickledTuple)) fail('BUILD of something other than a numpy array', at);
        const s = (state as PickledTuple).items;
        // (version, shape, dtype, is_fortran, raw bytes)
        if (s.length !== 5 || !(s[1] instanceof PickledTuple) || !(s[2] instanceof PickledDtype) || typeof s[3] !== 'boolean' || !(s[4] instanceof Uint8Array)) {
          fail('a numpy array state that is not (version, shape, uint8 dtype, fortran, bytes)', at);
        }
        const shape = (s[1] as PickledTuple).items;
        if (shape.some((d) => typeof d !== 'number' || d < 0)) fail('a bad array shape', at);
        const size = (shape as number[]).reduce((x, y) => x * y, 1);
        const data = s[4] as Uint8Array;
        if (data.length !== size) fail(`an array of shape (${shape.join(', ')}) with ${data.length} bytes`, at);
        (obj as PickledReduce).array = { kind: 'ndarray', shape: shape as number[], fortranOrder: s[3] as boolean, data };
        break;
      }
      default:
        fail(`pickle opcode 0x${op.toString(16).padStart(2, '0')} is not one the CIFAR-100 pickles use`, at);
    }
  }
}

/** The dict's value for `key`, unwrapping rebuilt arrays. */
export function dictGet(d: PickleValue, key: string): PickleValue | undefined {
  if (!(d instanceof PickledDict)) return undefined;
  const v = d.entries.get(key);
  if (v instanceof PickledReduce) return v.array ?? undefined;
  return v;
}

export function isPickledArray(v: PickleValue | undefined): v is PickledArray {
  return typeof v === 'object' && v !== null && (v as PickledArray).kind === 'ndarray';
}
