import { expect } from 'chai';
import { Rng } from '../../src/rng.js';
import { addScaledRows, dotRowsWith, rowSquaredNorms } from '../../src/train/rows.js';

// The one-row-at-a-time loops these kernels replace: every result must have the same bits.
function naiveSquaredNorm(x: Float32Array, i: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) s += x[i * dim + j] * x[i * dim + j];
  return s;
}

function naiveDot(v: ArrayLike<number>, x: Float32Array, i: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) s += x[i * dim + j] * v[j];
  return s;
}

const bits = (a: Float64Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');

describe('train/rows (four rows per pass, bit-identical to one at a time)', () => {
  const rng = new Rng(7);
  const dim = 37;
  const count = 23; // not a multiple of 4
  const x = Float32Array.from({ length: count * dim }, () => rng.normal() * 3);

  it('rowSquaredNorms', () => {
    const want = Float64Array.from({ length: count }, (_, i) => naiveSquaredNorm(x, i, dim));
    for (const n of [0, 1, 3, 4, 5, count]) expect(bits(rowSquaredNorms(x, n, dim))).to.equal(bits(want.subarray(0, n)));
  });

  it('dotRowsWith, float64 and float32 vectors, with and without skipped rows', () => {
    const v64 = Float64Array.from({ length: dim }, () => rng.normal());
    const v32 = x.subarray(5 * dim, 6 * dim); // a row of x itself, as herding uses it
    const skip = Uint8Array.from({ length: count }, (_, i) => (i % 3 === 1 ? 1 : 0));
    for (const v of [v64, v32]) {
      for (const s of [null, skip]) {
        const out = new Float64Array(count).fill(-1);
        dotRowsWith(v, x, dim, 2, 21, out, s);
        const want = Float64Array.from({ length: count }, (_, i) => (i < 2 || i >= 21 || (s && s[i]) ? -1 : naiveDot(v, x, i, dim)));
        expect(bits(out)).to.equal(bits(want));
      }
    }
  });

  it('addScaledRows: the same float64 sum as adding the scaled rows one by one, in the given order', () => {
    const rows = Int32Array.from([9, 2, 17, 4, 4, 0, 22, 11, 6]);
    const scales = Float64Array.from({ length: count }, () => rng.uniform(0.1, 2));
    for (const sc of [null, scales]) {
      for (const [from, to] of [[0, 9], [1, 8], [3, 3], [2, 6]]) {
        const start = Float64Array.from({ length: dim }, () => rng.normal());
        const got = Float64Array.from(start);
        addScaledRows(got, x, dim, rows, from, to, sc);
        const want = Float64Array.from(start);
        for (let k = from; k < to; k++) for (let j = 0; j < dim; j++) want[j] += x[rows[k] * dim + j] * (sc ? sc[rows[k]] : 1);
        expect(bits(got)).to.equal(bits(want));
      }
    }
  });
});
