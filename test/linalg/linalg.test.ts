import { expect } from 'chai';
import { atb, gemmEngine, jsGemm, matmul } from '../../src/linalg/gemm.js';
import {
  cholesky,
  choleskySolve,
  gram,
  lowerInverse,
  NotPositiveDefiniteError,
  packUpper,
  packedSize,
  transpose,
  unpackSymmetric,
} from '../../src/linalg/dense.js';
import { Rng } from '../../src/rng.js';

function randn(rng: Rng, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal());
}

/** Textbook triple loop, the independent reference for the products. */
function naive(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
    c[i * n + j] = s;
  }
  return c;
}

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A = Q·diag(eigs)·Qᵀ with a random orthogonal Q (Gram–Schmidt of a Gaussian matrix). */
function spdWithEigenvalues(rng: Rng, eigs: number[]): Float64Array {
  const n = eigs.length;
  const q = randn(rng, n * n);
  for (let j = 0; j < n; j++) {
    for (let p = 0; p < j; p++) {
      let d = 0;
      for (let i = 0; i < n; i++) d += q[i * n + j] * q[i * n + p];
      for (let i = 0; i < n; i++) q[i * n + j] -= d * q[i * n + p];
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += q[i * n + j] ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) q[i * n + j] /= norm;
  }
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let p = 0; p < n; p++) s += q[i * n + p] * eigs[p] * q[j * n + p];
    a[i * n + j] = s;
  }
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) a[j * n + i] = a[i * n + j]; // exactly symmetric
  return a;
}

describe('linalg: float64 products (onnxruntime DGEMM)', () => {
  it('runs on onnxruntime, not the JS fallback (an onnxruntime-node upgrade that moves its native binding fails here)', () => {
    const e = gemmEngine();
    expect(e.reason).to.equal(null);
    expect(e.engine).to.equal('onnxruntime');
  });

  it('A·B and Aᵀ·B on a hand-computed example', () => {
    const a = Float64Array.from([1, 2, 3, 4, 5, 6]); // 2×3
    const b = Float64Array.from([1, 0, 0, 1, 1, 1]); // 3×2
    expect(Array.from(jsGemm(a, b, 2, 3, 2, false))).to.deep.equal([4, 5, 10, 11]);
    const at = Float64Array.from([1, 2, 3, 4, 5, 6]); // 3×2 (k=3, m=2)
    expect(Array.from(jsGemm(at, b, 2, 3, 2, true))).to.deep.equal([6, 8, 8, 10]);
  });

  it('matmul and atb equal the triple loop to rounding, across the small/large threshold', () => {
    const rng = new Rng(7);
    for (const [m, k, n] of [[3, 4, 5], [40, 33, 70], [130, 257, 61]]) {
      const a = randn(rng, m * k);
      const b = randn(rng, k * n);
      const want = naive(a, b, m, k, n);
      expect(maxAbsDiff(matmul(a, b, m, k, n), want)).to.be.below(1e-12 * k);
      const at = transpose(a, m, k); // k×m
      expect(maxAbsDiff(atb(at, b, k, m, n), want)).to.be.below(1e-12 * k);
    }
  });

  it('float64, not float32: 1 + 2⁻⁴⁰ survives a product', () => {
    const eps = 2 ** -40;
    const m = 64;
    const a = new Float64Array(m * m).fill(0);
    for (let i = 0; i < m; i++) a[i * m + i] = 1 + eps;
    const b = new Float64Array(m * m).fill(0);
    for (let i = 0; i < m; i++) b[i * m + i] = 1;
    const c = matmul(a, b, m, m, m);
    expect(c[0]).to.equal(1 + eps);
  });

  it('rejects operands whose sizes do not match', () => {
    expect(() => matmul(new Float64Array(5), new Float64Array(6), 2, 3, 2)).to.throw(/do not match/);
  });
});

describe('linalg: Cholesky, triangular inverse and solves', () => {
  it('factors a hand-made 3×3 matrix exactly', () => {
    // A = L·Lᵀ with L = [[2,0,0],[1,3,0],[-1,2,4]]
    const l = [2, 0, 0, 1, 3, 0, -1, 2, 4];
    const a = naive(Float64Array.from(l), transpose(Float64Array.from(l), 3, 3), 3, 3, 3);
    expect(Array.from(cholesky(a, 3))).to.deep.equal(l);
  });

  it("blocked factorisation (n = 300, three blocks) reproduces A and solves A·X = B", () => {
    const rng = new Rng(11);
    const n = 300;
    const eigs = Array.from({ length: n }, (_, i) => 10 ** (-3 + (6 * i) / (n - 1))); // κ = 1e6
    const a = spdWithEigenvalues(rng, eigs);
    const l = cholesky(a, n);
    let upper = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (l[i * n + j] !== 0) upper++;
    expect(upper, 'non-zeros above the diagonal').to.equal(0);
    const llt = naive(l, transpose(l, n, n), n, n, n);
    expect(maxAbsDiff(llt, a)).to.be.below(1e-12 * 1e3);
    const xTrue = randn(rng, n * 4);
    const b = naive(a, xTrue, n, n, 4);
    const x = choleskySolve(l, n, b, 4);
    // forward error ≲ κ·u
    expect(maxAbsDiff(x, xTrue)).to.be.below(1e-6);
    // small residual (backward stable)
    expect(maxAbsDiff(naive(a, x, n, n, 4), b)).to.be.below(1e-9);
  });

  it('lowerInverse(L)·L = I for a blocked size', () => {
    const rng = new Rng(3);
    const n = 180;
    const a = spdWithEigenvalues(rng, Array.from({ length: n }, (_, i) => 1 + i / 10));
    const l = cholesky(a, n);
    const li = lowerInverse(l, n);
    let upper = 0;
    let err = 0;
    const eye = naive(li, l, n, n, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (j > i && li[i * n + j] !== 0) upper++;
        err = Math.max(err, Math.abs(eye[i * n + j] - (i === j ? 1 : 0)));
      }
    }
    expect(upper, 'non-zeros above the diagonal').to.equal(0);
    expect(err).to.be.below(1e-12);
  });

  it('throws NotPositiveDefiniteError for an indefinite matrix, naming the pivot', () => {
    const a = Float64Array.from([1, 2, 2, 1]); // eigenvalues 3, -1
    expect(() => cholesky(a, 2)).to.throw(NotPositiveDefiniteError).with.property('pivot', 1);
  });

  it('packs and unpacks symmetric matrices', () => {
    const a = Float64Array.from([1, 2, 3, 2, 4, 5, 3, 5, 6]);
    const p = packUpper(a, 3);
    expect(p.length).to.equal(packedSize(3));
    expect(Array.from(p)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(Array.from(unpackSymmetric(p, 3))).to.deep.equal(Array.from(a));
  });
});

describe('linalg: symmetric Gram matrix in strips', () => {
  it('gram(Z) equals ZᵀZ for strip counts 1, 4 and 8', () => {
    const rng = new Rng(4);
    for (const [n, m] of [[5, 7], [30, 200], [12, 600]]) {
      const z = randn(rng, n * m);
      const want = naive(transpose(z, n, m), z, m, n, m);
      const g = gram(z, n, m);
      expect(maxAbsDiff(g, want)).to.be.below(1e-12 * n);
      let asym = 0;
      for (let i = 0; i < m; i++) for (let j = 0; j < i; j++) if (g[i * m + j] !== g[j * m + i]) asym++;
      expect(asym, 'entries differing from their mirror').to.equal(0);
    }
  });
});
