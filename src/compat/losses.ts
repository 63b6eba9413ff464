/**
 * The losses of the compatibility trainers (docs/methods/compat.md "Loss"). All return batch-mean scalars; call them
 * inside tf.tidy or tf.variableGrads.
 */
import { tf } from '../tf.js';
import { matMulT } from './matmul.js';

/**
 * Label-smoothed cross-entropy as PyTorch / `utils/net_utils.py` of z3n0e/OCA:
 *   LS_ε(z, y) = (1 − ε)·(−log softmax(z)_y) + ε·mean_c(−log softmax(z)_c).
 */
export function labelSmoothedCE(logits: tf.Tensor2D, labels: tf.Tensor1D, epsilon: number): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    const nll = tf.neg(tf.sum(tf.mul(tf.oneHot(labels, logits.shape[1]), logp), 1));
    const smooth = tf.neg(tf.mean(logp, 1));
    return tf.mean(tf.add(tf.mul(nll, 1 - epsilon), tf.mul(smooth, epsilon))) as tf.Scalar;
  });
}

/**
 * Rows divided by their L2 norm: x · rsqrt(max(Σx², 1e-24)). Written through the sum of squares so
 * that the gradient stays finite at a zero row (tf.norm's gradient x/‖x‖ is NaN there).
 */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-24))) as tf.Tensor2D);
}

/**
 * Influence logits ĥ·Pᵀ through the frozen, NOT re-normalised class prototypes P [C, d]
 * (docs/methods/compat.md "Loss", L_infl; BCT, Shen et al., arXiv 2003.11942): a dot product, not a cosine, no temperature.
 */
export function prototypeLogits(hHat: tf.Tensor2D, prototypes: tf.Tensor2D): tf.Tensor2D {
  return matMulT(hHat, prototypes);
}

/** L_cos = (1/B) Σ_i (1 − cos(P_{y_i}, ĥ_i)) (docs/methods/compat.md "Loss"). */
export function prototypeCosineLoss(hHat: tf.Tensor2D, prototypes: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const py = l2Normalize(tf.gather(prototypes, labels) as tf.Tensor2D);
    const cos = tf.sum(tf.mul(l2Normalize(hHat), py), 1);
    return tf.mean(tf.sub(1, cos)) as tf.Scalar;
  });
}
