/**
 * Losses on logits. All return scalars averaged over the batch; call them inside tf.tidy
 * (or tf.variableGrads) so that intermediates are freed.
 */
import { tf } from '../tf.js';

/** Mean cross-entropy −log softmax(logits)[y] over the batch; `labels` are int32 row indices. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits);
    // one-hot by comparison (tf.oneHot refuses depth 1, which a one-class first task has)
    const onehot = tf.cast(tf.equal(tf.expandDims(labels, 1), tf.range(0, logits.shape[1], 1, 'int32')), 'float32');
    return tf.neg(tf.mean(tf.sum(tf.mul(onehot, logp), 1))) as tf.Scalar;
  });
}

/** Teacher soft targets q̂ = softmax(ô / T) (Hinton et al., arXiv 1503.02531). */
export function softTargets(teacherLogits: tf.Tensor2D, temperature: number): tf.Tensor2D {
  return tf.tidy(() => tf.softmax(tf.div(teacherLogits, temperature)) as tf.Tensor2D);
}

/**
 * Knowledge distillation in the cross-entropy form of docs/methods/wa.md "Algorithm" step 3 (PyCIL `_KD_loss`):
 *   KD = mean_i Σ_{k<n} −q̂_ik · log_softmax(o_i[0:n] / T)_k,   n = teacherProbs.shape[1].
 * Only the first n student logits enter; no T² factor. Its gradient equals that of
 * KL(q̂ ‖ q) (they differ by the teacher entropy), so it is minimal where student = teacher.
 */
export function distillation(studentLogits: tf.Tensor2D, teacherProbs: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const n = teacherProbs.shape[1];
    const old = studentLogits.shape[1] === n ? studentLogits : tf.slice(studentLogits, [0, 0], [-1, n]);
    const logq = tf.logSoftmax(tf.div(old, temperature));
    return tf.neg(tf.mean(tf.sum(tf.mul(teacherProbs, logq), 1))) as tf.Scalar;
  });
}

/** Coupled L2 weight decay as a loss term, for optimisers built without one: (wd/2)·Σθ² (gradient wd·θ). */
export function l2Penalty(variables: readonly tf.Tensor[], weightDecay: number): tf.Scalar {
  return tf.tidy(() => {
    let sum: tf.Scalar = tf.scalar(0);
    for (const v of variables) sum = tf.add(sum, tf.sum(tf.square(v)));
    return tf.mul(sum, weightDecay / 2);
  });
}
