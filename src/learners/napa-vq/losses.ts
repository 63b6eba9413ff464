/**
 * NAPA-VQ losses (docs/methods/napa-vq.md "Losses"), rebuilt from the reference code (`TamashaM/NAPA-VQ`
 * NAPAVQ.py, losses/na_loss.py; equation numbers of arXiv 2308.09297 unverified). Call the tensor
 * functions inside tf.tidy / tf.variableGrads.
 */
import { tf } from '../../tf.js';
import { crossEntropy } from '../../train/losses.js';
import { neighboursOf } from './graph.js';

/** Added under square roots: √ has an infinite gradient at 0 (docs/methods/napa-vq.md "Losses"). */
export const SQRT_EPS = 1e-12;

/** Squared Euclidean distances [B, U]: relu(‖z‖² + ‖c‖² − 2·z·cᵀ). */
export function squaredDistances(z: tf.Tensor2D, c: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const zz = tf.sum(tf.square(z), 1, true);
    const cc = tf.reshape(tf.sum(tf.square(c), 1), [1, -1]);
    return tf.relu(tf.sub(tf.add(zz, cc), tf.mul(tf.matMul(z, c, false, true), 2))) as tf.Tensor2D;
  });
}

/** L_DCE = mean CE(−‖z − c_j‖₂ / τ over all units, y): Euclidean, not squared (docs/methods/napa-vq.md "Losses"). */
export function dceLoss(d2: tf.Tensor2D, labels: tf.Tensor1D, tau: number): tf.Scalar {
  return tf.tidy(() => crossEntropy(tf.div(tf.neg(tf.sqrt(tf.add(d2, SQRT_EPS))), tau) as tf.Tensor2D, labels));
}

/**
 * Coefficients A [rows × U] that turn L_NA into a linear form of the squared distances:
 *   L_NA = (1/B) Σ_b relu( Σ_u A[b][u]·d²[b][u] ),  A[b][y_b] = 1,  A[b][j] = −w_bj for j ∈ N(y_b),
 *   w_bj = exp(−s·d²_bj) / Σ_{j'∈N(y_b)} exp(−s·d²_bj')   (softmin, detached: A is a constant).
 * A neighbour at distance exactly 0 is dropped; an empty neighbourhood leaves the row at d_pos.
 * `g` is the (pre-symmetric) graph this call reads, or null for the no-graph ablation (N(y) = ∅).
 */
export function naCoefficients(
  d2: ArrayLike<number>,
  labels: ArrayLike<number>,
  rows: number,
  units: number,
  g: ArrayLike<number> | null,
  scale: number,
): Float32Array {
  const a = new Float32Array(rows * units);
  for (let b = 0; b < rows; b++) {
    const y = labels[b];
    const off = b * units;
    a[off + y] = 1;
    if (!g) continue;
    const nb = neighboursOf(g, units, y).filter((j) => d2[off + j] > 0);
    if (nb.length === 0) continue;
    let dmin = Infinity;
    for (const j of nb) dmin = Math.min(dmin, d2[off + j]);
    let z = 0;
    const e = nb.map((j) => {
      const v = Math.exp(-scale * (d2[off + j] - dmin)); // shifted for stability; ratios unchanged
      z += v;
      return v;
    });
    nb.forEach((j, i) => {
      a[off + j] -= e[i] / z;
    });
  }
  return a;
}

/** L_NA from squared distances and the constant coefficients of naCoefficients. */
export function naLoss(d2: tf.Tensor2D, coefficients: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.relu(tf.sum(tf.mul(d2, coefficients), 1))) as tf.Scalar);
}

export type KdForm = 'frobenius' | 'mean-l2';
export const KD_FORMS: KdForm[] = ['frobenius', 'mean-l2'];

/**
 * Feature distillation (docs/methods/napa-vq.md "Losses" and "Pitfalls"): frobenius = ‖F_new − F_old‖_F over the whole batch (not
 * squared, not averaged, as the reference code); mean-l2 = mean per-row L2 distance.
 */
export function kdLoss(fNew: tf.Tensor2D, fOld: tf.Tensor2D, form: KdForm): tf.Scalar {
  return tf.tidy(() => {
    const sq = tf.square(tf.sub(fNew, fOld));
    if (form === 'frobenius') return tf.sqrt(tf.add(tf.sum(sq), SQRT_EPS)) as tf.Scalar;
    return tf.mean(tf.sqrt(tf.add(tf.sum(sq, 1), SQRT_EPS))) as tf.Scalar;
  });
}
