/**
 * Learning without Forgetting (Li & Hoiem, ECCV 2016 / TPAMI 2017, arXiv 1606.09282) on frozen
 * features, in the class-incremental form of PyCIL's LwF; docs/methods/lwf.md.
 *
 * No exemplars: a task trains on its new samples only. Before the head grows, the previous head's
 * logits ô over the n old classes are recorded for every new sample; the new head is trained with
 *   L = CE(o[n:n+m], y − n) + λ · KD_T(o[0:n], ô),   KD_T = Σ_k −softmax(ô/T)_k · log softmax(o[0:n]/T)_k
 * (cross-entropy over the new classes' logits only, distillation over the old ones; λ = 3, T = 2).
 * The first task is plain cross-entropy. Prediction: argmax over all seen classes.
 */
import { defineOptions } from '../options.js';
import { tf } from '../tf.js';
import { crossEntropy, distillation, softTargets } from '../train/losses.js';
import { hostRows, type HostRows } from '../train/loop.js';
import { UNCLIPPED_HEAD_OPTIONS } from './head-options.js';
import { defineHeadMethod } from './head-learner.js';

export const LWF_OPTIONS = defineOptions({
  ...UNCLIPPED_HEAD_OPTIONS,
  kdT: { type: 'number', default: 2, gt: 0, help: 'distillation temperature T (paper and PyCIL: 2)' },
  lambda: { type: 'number', default: 3, min: 0, help: 'weight λ of the distillation term (PyCIL: 3; the paper: 1)' },
});

/**
 * The LwF loss of a batch: cross-entropy over the m new classes' logits (columns n..n+m-1, labels
 * `rows` − n) plus λ times the distillation of the n old logits toward the teacher's soft targets
 * `q` (softmax(ô / T), [B, n]). With n = 0 it is the cross-entropy over all logits.
 */
export function lwfLoss(logits: tf.Tensor2D, rows: tf.Tensor1D, q: tf.Tensor2D | null, n: number, temperature: number, lambda: number): tf.Scalar {
  return tf.tidy(() => {
    if (n === 0 || !q) return crossEntropy(logits, rows);
    const m = logits.shape[1] - n;
    const ce = crossEntropy(tf.slice(logits, [0, n], [-1, m]), tf.sub(rows, tf.scalar(n, 'int32')));
    return tf.add(ce, tf.mul(distillation(logits, q, temperature), lambda)) as tf.Scalar;
  });
}

export const lwfMethod = defineHeadMethod({
  name: 'lwf',
  description: 'Learning without Forgetting: no exemplars; CE on the new classes + λ·KD (T = 2) toward the previous head on the old classes',
  citation: 'Li & Hoiem, Learning without Forgetting, ECCV 2016 / TPAMI 2017, arXiv 1606.09282 (class-incremental form as in PyCIL)',
  docs: 'docs/methods/lwf.md',
  options: LWF_OPTIONS,
  hooks: (o) => ({
    // The previous head's soft targets on the new samples, recorded before the head grows.
    targets(t, train): Record<string, HostRows> {
      if (t.n === 0) return {};
      t.record.lambda = o.lambda;
      return { q: hostRows(t.learner.teacherOutputs(train, t.n, (z) => softTargets(z, o.kdT)), t.n) };
    },
    objective: (b, t) => lwfLoss(t.head.logits(b.x as tf.Tensor2D), b.y as tf.Tensor1D, (b.q as tf.Tensor2D | undefined) ?? null, t.n, o.kdT, o.lambda),
  }),
});
