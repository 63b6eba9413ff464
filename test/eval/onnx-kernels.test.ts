import { expect } from 'chai';
import os from 'node:os';
import { denseArgmax, matMulInto, setKernelThreads } from '../../src/eval/onnx-kernels.js';
import { Rng } from '../../src/rng.js';

function randomMatrix(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

describe('eval/onnx-kernels (onnxruntime CPU products)', () => {
  after(() => setKernelThreads(os.availableParallelism()));

  it('matMulInto: equals a float64 product to float32 accuracy, and the same bits on 1 and 2 threads', () => {
    const rng = new Rng(1);
    const [n, d, m] = [301, 517, 263]; // odd sizes: edge tiles of every kernel
    const a = randomMatrix(rng, n * d);
    const b = randomMatrix(rng, d * m);
    const out1 = new Float32Array(n * m);
    const out2 = new Float32Array(n * m);
    setKernelThreads(1);
    matMulInto(a, n, d, b, m, out1);
    setKernelThreads(2);
    matMulInto(a, n, d, b, m, out2);
    expect(Buffer.from(out2.buffer).equals(Buffer.from(out1.buffer))).to.equal(true);
    let worst = 0;
    for (let i = 0; i < n; i += 7) {
      for (let j = 0; j < m; j += 5) {
        let s = 0;
        let mag = 0;
        for (let k = 0; k < d; k++) {
          s += a[i * d + k] * b[k * m + j];
          mag += Math.abs(a[i * d + k] * b[k * m + j]);
        }
        worst = Math.max(worst, Math.abs(out1[i * m + j] - s) / mag);
      }
    }
    expect(worst).to.be.below(1e-6);
  });

  it('matMulInto: a zero-row or zero-column product writes nothing; wrong sizes are errors', () => {
    const out = new Float32Array(4).fill(7);
    matMulInto(new Float32Array(0), 0, 3, new Float32Array(6), 2, out);
    expect(Array.from(out)).to.deep.equal([7, 7, 7, 7]);
    expect(() => matMulInto(new Float32Array(5), 2, 3, new Float32Array(6), 2, out)).to.throw(/5 values for 2 rows of 3/);
    expect(() => matMulInto(new Float32Array(6), 2, 3, new Float32Array(6), 2, new Float32Array(3))).to.throw(/needs 4/);
  });

  it('denseArgmax: x·W + b, rows normalised on request, first maximum on ties', () => {
    // W columns: e1, e2, e1 (a tie with column 0 on every row), e1+e2
    const w = Float32Array.from([1, 0, 1, 1, 0, 1, 0, 1]); // [2, 4] row-major
    const x = Float32Array.from([3, 0, 0, 5, 2, 2, 0, 0]); // rows (3,0) (0,5) (2,2) (0,0)
    expect(Array.from(denseArgmax(x, 4, 2, w, 4, null, { normalizeRows: false }))).to.deep.equal([0, 1, 3, 0]);
    // a bias that favours column 2 over its twin, column 0
    const b = Float32Array.from([0, 0, 0.5, -10]);
    expect(Array.from(denseArgmax(x, 4, 2, w, 4, b, { normalizeRows: false }))).to.deep.equal([2, 1, 2, 2]);
    // normalised rows: (2,2) becomes (0.707, 0.707): 1.414 on column 3 beats 0.707 + 0.5 on column 2
    const bn = Float32Array.from([0, 0, 0.5, 0]);
    expect(Array.from(denseArgmax(x, 4, 2, w, 4, bn, { normalizeRows: true }))).to.deep.equal([2, 1, 3, 2]);
    // (2,2) with bias 1 on column 2: raw scores 3 vs 4 (column 3 wins), normalised 1.707 vs 1.414 (column 2 wins)
    const bx = Float32Array.from([0, 0, 1, 0]);
    expect(denseArgmax(x, 4, 2, w, 4, bx, { normalizeRows: false })[2]).to.equal(3);
    expect(denseArgmax(x, 4, 2, w, 4, bx, { normalizeRows: true })[2]).to.equal(2);
  });

  it('denseArgmax: a zero row normalises to zero (no NaN) and checks its sizes', () => {
    const w = Float32Array.from([1, -1]); // [1, 2]
    const b = Float32Array.from([-1, 0]);
    expect(Array.from(denseArgmax(new Float32Array(1), 1, 1, w, 2, b, { normalizeRows: true }))).to.deep.equal([1]);
    expect(() => denseArgmax(new Float32Array(4), 2, 2, w, 2, null, { normalizeRows: false })).to.throw(/W has 2 values, expected 2 × 2/);
    expect(() => denseArgmax(new Float32Array(2), 2, 1, w, 2, new Float32Array(3), { normalizeRows: false })).to.throw(/bias has 3 values/);
  });
});
