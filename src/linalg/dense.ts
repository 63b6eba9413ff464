/**
 * Dense float64 linear algebra for the closed-form learners (docs/methods/ranpac.md,
 * docs/methods/fecam.md, docs/methods/slda.md): Cholesky factorisation, triangular inverse and
 * solves, symmetric packing. Matrices are
 * row-major Float64Arrays. The blocked routines spend their O(n³) work in `gemm.ts` products
 * (onnxruntime DGEMM); only O(n²·b) work per block stays in JavaScript.
 */
import { atb, matmul } from './gemm.js';

/** Thrown when a matrix that must be symmetric positive definite is not (numerically). */
export class NotPositiveDefiniteError extends Error {
  constructor(
    readonly pivot: number,
    readonly value: number,
  ) {
    super(`matrix is not positive definite (pivot ${pivot} is ${value})`);
  }
}

/** Block size of the blocked routines (the JS work per block is O(n·b²)). */
const NB = 128;

/** Copy of rows [r0, r1) × columns [c0, c1) of an n-column matrix. */
export function submatrix(a: Float64Array, n: number, r0: number, r1: number, c0: number, c1: number): Float64Array {
  const w = c1 - c0;
  const out = new Float64Array((r1 - r0) * w);
  for (let i = r0; i < r1; i++) out.set(a.subarray(i * n + c0, i * n + c1), (i - r0) * w);
  return out;
}

/** Transpose of an r×c matrix. */
export function transpose(a: Float64Array, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = a[i * c + j];
  return out;
}

/** Unblocked in-place Cholesky of the kb×kb diagonal block at (k0, k0) of an n-column matrix. */
function potf2(l: Float64Array, n: number, k0: number, kb: number): void {
  for (let j = k0; j < k0 + kb; j++) {
    const rj = j * n;
    let d = l[rj + j];
    for (let p = k0; p < j; p++) d -= l[rj + p] * l[rj + p];
    if (!(d > 0) || !Number.isFinite(d)) throw new NotPositiveDefiniteError(j, d);
    const djj = Math.sqrt(d);
    l[rj + j] = djj;
    for (let i = j + 1; i < k0 + kb; i++) {
      const ri = i * n;
      let s = l[ri + j];
      for (let p = k0; p < j; p++) s -= l[ri + p] * l[rj + p];
      l[ri + j] = s / djj;
    }
  }
}

/** Inverse of a small lower-triangular m×m matrix (forward substitution on the identity). */
function smallLowerInverse(l: Float64Array, m: number): Float64Array {
  const x = new Float64Array(m * m);
  for (let j = 0; j < m; j++) {
    x[j * m + j] = 1 / l[j * m + j];
    for (let i = j + 1; i < m; i++) {
      let s = 0;
      for (let p = j; p < i; p++) s += l[i * m + p] * x[p * m + j];
      x[i * m + j] = -s / l[i * m + i];
    }
  }
  return x;
}

/**
 * out[i][j] -= (P·Pᵀ)[i][j] for the lower triangle (j ≤ i) of the r×r trailing block at (o, o)
 * of an n-column matrix, P = r×kb. Column strips keep the wasted upper part small.
 */
function syrkLowerUpdate(l: Float64Array, n: number, o: number, p: Float64Array, r: number, kb: number): void {
  const strips = Math.max(1, Math.min(8, Math.ceil(r / 256)));
  const w = Math.ceil(r / strips);
  for (let c0 = 0; c0 < r; c0 += w) {
    const c1 = Math.min(r, c0 + w);
    // rows c0..r of P times (rows c0..c1 of P)ᵀ: (r-c0)×kb · kb×(c1-c0)
    const rows = p.subarray(c0 * kb, r * kb);
    const colsT = transpose(p.subarray(c0 * kb, c1 * kb), c1 - c0, kb);
    const u = matmul(rows, colsT, r - c0, kb, c1 - c0);
    const uw = c1 - c0;
    for (let i = c0; i < r; i++) {
      const ri = (o + i) * n + o;
      const ui = (i - c0) * uw;
      const jMax = Math.min(c1, i + 1);
      for (let j = c0; j < jMax; j++) l[ri + j] -= u[ui + j - c0];
    }
  }
}

/**
 * Cholesky factor L (lower, A = L·Lᵀ) of a symmetric positive definite n×n matrix, read from its
 * lower triangle. Returns a row-major n×n array with zeros above the diagonal: a new one, or `a`
 * itself overwritten when `inPlace`. Throws NotPositiveDefiniteError.
 */
export function cholesky(a: Float64Array, n: number, inPlace = false): Float64Array {
  if (a.length !== n * n) throw new Error(`cholesky: ${a.length} entries for n=${n}`);
  const l = inPlace ? a : a.slice();
  for (let k0 = 0; k0 < n; k0 += NB) {
    const k1 = Math.min(n, k0 + NB);
    const kb = k1 - k0;
    potf2(l, n, k0, kb);
    const r = n - k1;
    if (r === 0) break;
    // Panel: L21 = A21 · L11⁻ᵀ.
    const inv11 = smallLowerInverse(submatrix(l, n, k0, k1, k0, k1), kb);
    const a21 = submatrix(l, n, k1, n, k0, k1);
    const l21 = matmul(a21, transpose(inv11, kb, kb), r, kb, kb);
    for (let i = 0; i < r; i++) l.set(l21.subarray(i * kb, (i + 1) * kb), (k1 + i) * n + k0);
    // Trailing update: A22 -= L21·L21ᵀ (lower triangle).
    syrkLowerUpdate(l, n, k1, l21, r, kb);
  }
  for (let i = 0; i < n; i++) l.fill(0, i * n + i + 1, (i + 1) * n);
  return l;
}

/**
 * Inverse of a lower-triangular n×n matrix (lower triangular), blocked by recursion:
 * [[A, 0], [B, C]]⁻¹ = [[A⁻¹, 0], [−C⁻¹·B·A⁻¹, C⁻¹]].
 */
export function lowerInverse(l: Float64Array, n: number): Float64Array {
  if (n <= NB) return smallLowerInverse(l, n);
  const h = Math.floor(n / 2);
  const ai = lowerInverse(submatrix(l, n, 0, h, 0, h), h);
  const ci = lowerInverse(submatrix(l, n, h, n, h, n), n - h);
  const b = submatrix(l, n, h, n, 0, h);
  const cb = matmul(ci, b, n - h, n - h, h);
  const x21 = matmul(cb, ai, n - h, h, h);
  const out = new Float64Array(n * n);
  for (let i = 0; i < h; i++) out.set(ai.subarray(i * h, i * h + i + 1), i * n);
  for (let i = h; i < n; i++) {
    const ri = i * n;
    const xi = (i - h) * h;
    for (let j = 0; j < h; j++) out[ri + j] = -x21[xi + j];
    out.set(ci.subarray((i - h) * (n - h), (i - h) * (n - h) + (i - h) + 1), ri + h);
  }
  return out;
}

/**
 * Solve A·X = B for SPD A given its Cholesky factor L (n×n) and B (n×k, row-major): X = L⁻ᵀ·L⁻¹·B
 * by blocked forward and backward substitution (diagonal blocks inverted, the rest in products).
 */
export function choleskySolve(l: Float64Array, n: number, b: Float64Array, k: number): Float64Array {
  if (b.length !== n * k) throw new Error(`choleskySolve: right-hand side has ${b.length} entries, expected ${n}×${k}`);
  const y = b.slice();
  const blocks: [number, number, Float64Array][] = [];
  for (let i0 = 0; i0 < n; i0 += NB) {
    const i1 = Math.min(n, i0 + NB);
    blocks.push([i0, i1, smallLowerInverse(submatrix(l, n, i0, i1, i0, i1), i1 - i0)]);
  }
  // Forward: L·Y = B.
  for (const [i0, i1, inv] of blocks) {
    const m = i1 - i0;
    let rhs = y.subarray(i0 * k, i1 * k);
    if (i0 > 0) {
      const prod = matmul(submatrix(l, n, i0, i1, 0, i0), y.subarray(0, i0 * k), m, i0, k);
      rhs = rhs.slice();
      for (let t = 0; t < rhs.length; t++) rhs[t] -= prod[t];
    }
    y.set(matmul(inv, rhs, m, m, k), i0 * k);
  }
  // Backward: Lᵀ·X = Y, last block first; (Lᵀ)[i0:i1, i1:n] = (L[i1:n, i0:i1])ᵀ.
  for (let bi = blocks.length - 1; bi >= 0; bi--) {
    const [i0, i1, inv] = blocks[bi];
    const m = i1 - i0;
    let rhs = y.subarray(i0 * k, i1 * k);
    if (i1 < n) {
      const prod = atb(submatrix(l, n, i1, n, i0, i1), y.subarray(i1 * k, n * k), n - i1, m, k);
      rhs = rhs.slice();
      for (let t = 0; t < rhs.length; t++) rhs[t] -= prod[t];
    }
    // (L_ii)ᵀ x = rhs  →  x = (L_ii⁻¹)ᵀ rhs
    y.set(atb(inv, rhs, m, m, k), i0 * k);
  }
  return y;
}

/**
 * Gram matrix ZᵀZ (m×m, symmetric, full) of a row-major n×m block. Only the upper triangle is
 * computed, in column strips (strip s: Z[:, s]ᵀ·Z[:, s0:m]), about 0.56 of a dense product's flops
 * with 8 strips; the lower triangle is mirrored.
 */
export function gram(z: Float64Array, n: number, m: number): Float64Array {
  if (z.length !== n * m) throw new Error(`gram: ${z.length} entries for ${n}×${m}`);
  const strips = m >= 512 ? 8 : m >= 128 ? 4 : 1;
  if (strips === 1) return atb(z, z, n, m, m);
  const out = new Float64Array(m * m);
  const w = Math.ceil(m / strips);
  for (let c0 = 0; c0 < m; c0 += w) {
    const c1 = Math.min(m, c0 + w);
    const a = submatrix(z, m, 0, n, c0, c1);
    const b = c0 === 0 ? z : submatrix(z, m, 0, n, c0, m);
    const p = atb(a, b, n, c1 - c0, m - c0);
    const pw = m - c0;
    for (let i = c0; i < c1; i++) {
      const pi = (i - c0) * pw;
      for (let j = i; j < m; j++) {
        const v = p[pi + j - c0];
        out[i * m + j] = v;
        out[j * m + i] = v;
      }
    }
  }
  return out;
}

/** Number of entries of the packed upper triangle of an n×n symmetric matrix. */
export const packedSize = (n: number): number => (n * (n + 1)) / 2;

/** Upper triangle (row by row, diagonal included) of a symmetric n×n matrix. */
export function packUpper(a: Float64Array, n: number): Float64Array {
  const out = new Float64Array(packedSize(n));
  let t = 0;
  for (let i = 0; i < n; i++) {
    out.set(a.subarray(i * n + i, (i + 1) * n), t);
    t += n - i;
  }
  return out;
}

/** The full symmetric n×n matrix from its packed upper triangle. */
export function unpackSymmetric(p: Float64Array, n: number): Float64Array {
  if (p.length !== packedSize(n)) throw new Error(`unpackSymmetric: ${p.length} entries for n=${n}`);
  const out = new Float64Array(n * n);
  let t = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      out[i * n + j] = p[t];
      out[j * n + i] = p[t];
      t++;
    }
  }
  return out;
}

/** a += b element-wise (same length). */
export function addInto(a: Float64Array, b: Float64Array): void {
  if (a.length !== b.length) throw new Error(`addInto: lengths ${a.length} and ${b.length}`);
  for (let i = 0; i < a.length; i++) a[i] += b[i];
}
