/** Test fixtures: Python-2-style protocol-2 pickles of the CIFAR-100 python files (see src/data/pickle.ts). */

/**
 * Writes a value the way Python 2's cPickle (protocol 2) writes the CIFAR-100 files: dict and list
 * items batched by MARK ... SETITEMS / APPENDS, every container and string memoised with BINPUT /
 * LONG_BINPUT, numpy uint8 arrays through _reconstruct + BUILD. Used to build test fixtures; not a
 * general pickler.
 */
export function writePickle(value: PickleInput): Buffer {
  const out: Buffer[] = [Buffer.from([0x80, 2])];
  let memo = 0;
  const put = (): void => {
    if (memo < 256) out.push(Buffer.from([0x71, memo]));
    else {
      const b = Buffer.alloc(5);
      b[0] = 0x72;
      b.writeUInt32LE(memo, 1);
      out.push(b);
    }
    memo++;
  };
  const str = (s: Uint8Array): void => {
    if (s.length < 256) out.push(Buffer.from([0x55, s.length]), Buffer.from(s));
    else {
      const b = Buffer.alloc(5);
      b[0] = 0x54;
      b.writeInt32LE(s.length, 1);
      out.push(b, Buffer.from(s));
    }
    put();
  };
  const int = (v: number): void => {
    if (v >= 0 && v < 256) out.push(Buffer.from([0x4b, v]));
    else if (v >= 0 && v < 65536) out.push(Buffer.from([0x4d, v & 255, v >> 8]));
    else {
      const b = Buffer.alloc(5);
      b[0] = 0x4a;
      b.writeInt32LE(v, 1);
      out.push(b);
    }
  };
  const global = (mod: string, name: string): void => {
    out.push(Buffer.from(`c${mod}\n${name}\n`, 'latin1'));
    put();
  };
  const write = (v: PickleInput): void => {
    if (typeof v === 'number') int(v);
    else if (typeof v === 'string') str(Buffer.from(v, 'latin1'));
    else if (v instanceof Uint8Array) str(v);
    else if (Array.isArray(v)) {
      out.push(Buffer.from([0x5d]));
      put();
      for (let i = 0; i < v.length; i += 1000) {
        const batch = v.slice(i, i + 1000);
        if (batch.length === 1) {
          write(batch[0]);
          out.push(Buffer.from([0x61]));
        } else {
          out.push(Buffer.from([0x28]));
          batch.forEach(write);
          out.push(Buffer.from([0x65]));
        }
      }
    } else if ('ndarray' in v) {
      global('numpy.core.multiarray', '_reconstruct');
      global('numpy', 'ndarray');
      out.push(Buffer.from([0x4b, 0, 0x85])); // (0,)
      str(Buffer.from('b'));
      out.push(Buffer.from([0x87, 0x52])); // TUPLE3 REDUCE
      put();
      out.push(Buffer.from([0x28])); // MARK
      int(1);
      v.shape.forEach(int);
      out.push(Buffer.from([v.shape.length === 1 ? 0x85 : v.shape.length === 2 ? 0x86 : 0x87]));
      global('numpy', 'dtype');
      str(Buffer.from('u1'));
      out.push(Buffer.from([0x4b, 0, 0x4b, 1, 0x87, 0x52])); // ('u1', 0, 1) REDUCE
      put();
      out.push(Buffer.from([0x28, 0x4b, 3])); // (3, '|', None, None, None, -1, -1, 0)
      str(Buffer.from('|'));
      out.push(Buffer.from([0x4e, 0x4e, 0x4e, 0x4a, 0xff, 0xff, 0xff, 0xff, 0x4a, 0xff, 0xff, 0xff, 0xff, 0x4b, 0, 0x74, 0x62]));
      out.push(Buffer.from([0x89])); // fortran False
      str(v.ndarray);
      out.push(Buffer.from([0x74, 0x62])); // TUPLE BUILD
    } else {
      out.push(Buffer.from([0x7d]));
      put();
      const keys = Object.keys(v.dict);
      out.push(Buffer.from([0x28]));
      for (const k of keys) {
        str(Buffer.from(k, 'latin1'));
        write(v.dict[k]);
      }
      out.push(Buffer.from([0x75]));
    }
  };
  write(value);
  out.push(Buffer.from([0x2e]));
  return Buffer.concat(out);
}

export type PickleInput = number | string | Uint8Array | PickleInput[] | { dict: Record<string, PickleInput> } | { ndarray: Uint8Array; shape: number[] };
