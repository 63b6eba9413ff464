/**
 * The orthogonal transformation layer T⊥(h) = Q·h + b of OCA (Ricci et al., arXiv 2408.08793;
 * docs/methods/compat.md "The orthogonal layer"). `expm` mirrors PyTorch's `parametrizations.orthogonal` default:
 *   Q = Q0 · expm(A),  A = tril(X) − tril(X)ᵀ,  X trainable (initialised to 0), Q0 fixed random orthogonal.
 * A is skew-symmetric, so expm(A) is orthogonal and Q stays orthogonal up to rounding (no penalty term).
 * `identity` is the ablation T⊥(h) = h + b; `none` drops the layer (and its bias).
 * Row-vector convention: a batch H [B, n] maps to H·Qᵀ + b.
 */
import { tf } from '../tf.js';
import type { Rng } from '../rng.js';
import { matMul, matMulT } from './matmul.js';

export type OrthoKind = 'expm' | 'identity' | 'none';
export const ORTHO_KINDS: OrthoKind[] = ['expm', 'identity', 'none'];

/** Taylor degree of the expm polynomial (docs/methods/compat.md "The orthogonal layer"). */
const TAYLOR_DEGREE = 8;

/**
 * A seeded random orthogonal n × n matrix (row-major): modified Gram–Schmidt, run twice, in float64 on
 * the columns of a Gaussian matrix (the QR "Q" factor; docs/methods/compat.md "The orthogonal layer").
 */
export function randomOrthogonal(n: number, rng: Rng): Float32Array {
  const cols: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = rng.normal();
    for (let pass = 0; pass < 2; pass++) {
      for (const u of cols) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += u[i] * v[i];
        for (let i = 0; i < n; i++) v[i] -= dot * u[i];
      }
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += v[i] * v[i];
    norm = Math.sqrt(norm);
    for (let i = 0; i < n; i++) v[i] /= norm;
    cols.push(v);
  }
  const out = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = cols[j][i];
  return out;
}

/** Squarings s = max(0, ceil(log2(‖A‖_F / 0.25))) so that ‖A / 2^s‖_F ≤ 0.25 (docs/methods/compat.md "The orthogonal layer"; computed on the host). */
export function expmSquarings(frobenius: number): number {
  if (!(frobenius > 0.25)) return 0;
  return Math.max(0, Math.ceil(Math.log2(frobenius / 0.25)));
}

/**
 * expm(A) by scaling and squaring: degree-8 Taylor polynomial of M = A / 2^s by Horner's rule
 * (P ← I + M·P / j for j = 8..1), then P ← P² s times. Only matMul and add, so autodiff works.
 */
export function expm(a: tf.Tensor2D, squarings: number): tf.Tensor2D {
  return tf.tidy(() => {
    const n = a.shape[0];
    const eye = tf.eye(n);
    const m: tf.Tensor2D = squarings > 0 ? tf.div(a, 2 ** squarings) : a;
    let p: tf.Tensor2D = tf.add(eye, tf.div(m, TAYLOR_DEGREE)) as tf.Tensor2D;
    for (let j = TAYLOR_DEGREE - 1; j >= 1; j--) p = tf.add(eye, tf.div(matMul(m, p), j)) as tf.Tensor2D;
    for (let k = 0; k < squarings; k++) p = matMul(p, p);
    return p;
  });
}

/** max |QᵀQ − I| of a row-major n × n matrix, in float64 on the host. */
export function orthogonalityError(q: Float32Array, n: number): number {
  let worst = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let r = 0; r < n; r++) s += q[r * n + i] * q[r * n + j];
      worst = Math.max(worst, Math.abs(s - (i === j ? 1 : 0)));
    }
  }
  return worst;
}

export class OrthoLayer {
  /** X: A = tril(X) − tril(X)ᵀ (expm only). */
  readonly x: tf.Variable | null;
  /** The bias b (expm and identity, when enabled). */
  readonly b: tf.Variable | null;
  private readonly q0: tf.Tensor2D | null;
  private readonly lowerMask: tf.Tensor2D | null;

  constructor(
    readonly kind: OrthoKind,
    readonly n: number,
    rng: Rng,
    readonly bias = true,
  ) {
    if (kind === 'expm') {
      this.q0 = tf.tensor2d(randomOrthogonal(n, rng), [n, n]);
      this.lowerMask = tf.tidy(() => tf.linalg.bandPart(tf.ones([n, n]), -1, 0) as tf.Tensor2D);
      this.x = tf.tidy(() => tf.variable(tf.zeros([n, n]), true));
    } else {
      this.q0 = null;
      this.lowerMask = null;
      this.x = null;
    }
    this.b = kind !== 'none' && bias ? tf.tidy(() => tf.variable(tf.zeros([n]), true)) : null;
  }

  variables(): tf.Variable[] {
    return [this.x, this.b].filter((v): v is tf.Variable => v !== null);
  }

  /** Trainable parameter count as PyTorch counts it (X is a full n × n tensor): n² + n for expm. */
  parameterCount(): number {
    return this.variables().reduce((s, v) => s + v.size, 0);
  }

  /** A = tril(X) − tril(X)ᵀ (skew-symmetric). */
  private skew(): tf.Tensor2D {
    const x = this.x as tf.Variable;
    const mask = this.lowerMask as tf.Tensor2D;
    return tf.tidy(() => {
      const l = tf.mul(x, mask) as tf.Tensor2D;
      return tf.sub(l, tf.transpose(l));
    });
  }

  /** Host-side scaling exponent for the current X (read once per step; no gradient flows through it). */
  squarings(): number {
    if (this.kind !== 'expm') return 0;
    const norm = tf.tidy(() => tf.norm(this.skew()));
    try {
      return expmSquarings(norm.dataSync()[0]);
    } finally {
      norm.dispose();
    }
  }

  /** Q = Q0 · expm(A) (differentiable in X); identity matrix for `identity`/`none`. */
  matrix(squarings = this.squarings()): tf.Tensor2D {
    if (this.kind !== 'expm') return tf.eye(this.n);
    const q0 = this.q0 as tf.Tensor2D;
    return tf.tidy(() => matMul(q0, expm(this.skew(), squarings)));
  }

  /** T⊥ on a batch of rows: H·Qᵀ + b (`identity`: H + b; `none`: H). */
  apply(h: tf.Tensor2D, squarings?: number): tf.Tensor2D {
    return tf.tidy(() => {
      let out = this.kind === 'expm' ? matMulT(h, this.matrix(squarings ?? this.squarings())) : h;
      if (this.b) out = tf.add(out, this.b);
      return out as tf.Tensor2D;
    });
  }

  /** Copy of Q (row-major) for checks and logging. */
  matrixValues(): Float32Array {
    const q = this.matrix();
    try {
      return Float32Array.from(q.dataSync());
    } finally {
      q.dispose();
    }
  }

  /** max |QᵀQ − I| now (0 for identity/none). */
  orthogonalityError(): number {
    return this.kind === 'expm' ? orthogonalityError(this.matrixValues(), this.n) : 0;
  }

  dispose(): void {
    for (const t of [this.x, this.b, this.q0, this.lowerMask]) t?.dispose();
  }
}
