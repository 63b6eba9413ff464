/**
 * iCaRL (Rebuffi, Kolesnikov, Sperl, Lampert, "iCaRL: Incremental Classifier and Representation
 * Learning", CVPR 2017, arXiv 1611.07725) on frozen features; docs/methods/icarl.md.
 *
 * Training set: the new samples ∪ the exemplars of every old class (herded, src/train/herding.ts).
 * Before the head grows, the previous head's sigmoid outputs q = σ(ô) over the n old classes are
 * recorded for every training sample. The head is trained with binary cross-entropy on every
 * output k of the K = n + m seen classes:
 *   target_k = q_k for an old class (distillation), 1[y = k] for a new class (classification),
 *   L = Σ_k BCE(σ(o_k), target_k) / (B · C),
 * averaged as the reference code does over a head that has all C classes of the dataset from the
 * start (an unseen output there has target 0 and does not exist here). After training, exemplars of
 * the new classes are herded and old classes cut to the new quota. Prediction: nearest mean of
 * exemplars (class means of L2-normalised exemplar features, re-normalised; the largest cosine);
 * the head's own argmax is scored beside it as the secondary rule.
 */
import { defineOptions, withDefaults } from '../options.js';
import { tf } from '../tf.js';
import { hostRows, type HostRows } from '../train/loop.js';
import { MEMORY_OPTIONS, memorySettings, checkNmeHasExemplars, UNCLIPPED_HEAD_OPTIONS } from './head-options.js';
import { defineHeadMethod, withExemplars } from './head-learner.js';

export const ICARL_OPTIONS = defineOptions({
  // The reference recipe's rate and decay (lr 2.0 on the sigmoid outputs, weight decay 1e-5).
  ...withDefaults(UNCLIPPED_HEAD_OPTIONS, { lr: 2, weightDecay: 1e-5, weightDecayFirst: 1e-5 }),
  ...MEMORY_OPTIONS,
  eval: {
    type: 'choice',
    default: 'nme',
    choices: ['nme', 'cnn'],
    help: 'headline rule: nme (nearest mean of exemplars, iCaRL) or cnn (the head); the other is scored beside it',
  },
});

/**
 * iCaRL's loss of a batch: binary cross-entropy of σ(logits) against `targets` ([B, K]: the old
 * classes' distillation targets, then the new classes' one-hot labels), summed over the K outputs
 * and divided by B · C (C = `numClasses`, the dataset's class count). Computed from the logits as
 * max(o, 0) − o·t + log(1 + e^−|o|) (the stable form of −t·log σ(o) − (1 − t)·log(1 − σ(o))).
 */
export function icarlLoss(logits: tf.Tensor2D, targets: tf.Tensor2D, numClasses: number): tf.Scalar {
  return tf.tidy(() => {
    const o = logits;
    const bce = tf.add(tf.sub(tf.relu(o), tf.mul(o, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(o)))));
    return tf.div(tf.sum(bce), o.shape[0] * numClasses) as tf.Scalar;
  });
}

/** Targets of a batch: [q | one-hot of the new classes] for head rows `rows` (old rows give an all-zero new part). */
export function icarlTargets(rows: tf.Tensor1D, q: tf.Tensor2D | null, n: number, m: number): tf.Tensor2D {
  return tf.tidy(() => {
    const onehot = tf.cast(tf.equal(tf.expandDims(rows, 1), tf.range(n, n + m, 1, 'int32')), 'float32') as tf.Tensor2D;
    return q ? (tf.concat([q, onehot], 1) as tf.Tensor2D) : onehot;
  });
}

export const icarlMethod = defineHeadMethod({
  name: 'icarl',
  description: 'iCaRL: herded exemplars, binary cross-entropy with distillation targets, nearest-mean-of-exemplars classifier',
  citation: 'Rebuffi, Kolesnikov, Sperl, Lampert, iCaRL: Incremental Classifier and Representation Learning, CVPR 2017, arXiv 1611.07725',
  docs: 'docs/methods/icarl.md',
  options: ICARL_OPTIONS,
  check: (o) => checkNmeHasExemplars('icarl', o),
  memory: memorySettings,
  hooks: (o, ctx) => ({
    trainingSet: withExemplars,
    // σ(ô) of the previous head over the old classes, for every training sample, before the head grows.
    targets(t, train): Record<string, HostRows> {
      return t.n === 0 ? {} : { q: hostRows(t.learner.teacherOutputs(train, t.n, (z) => tf.sigmoid(z)), t.n) };
    },
    objective(b, t) {
      const logits = t.head.logits(b.x as tf.Tensor2D);
      const targets = icarlTargets(b.y as tf.Tensor1D, (b.q as tf.Tensor2D | undefined) ?? null, t.n, t.m);
      return icarlLoss(logits, targets, ctx.numClasses);
    },
    predict: (f, l) => (o.eval === 'nme' ? l.predictNme(f) : l.predictCnn(f)),
    scores: (f, l) => (o.eval === 'nme' ? l.scoresNme(f) : l.scoresCnn(f)),
    extraPredictions(f, l): Record<string, Int32Array> {
      if (o.eval === 'nme') return { cnn: l.predictCnn(f) };
      return l.hasExemplars() ? { nme: l.predictNme(f) } : {};
    },
  }),
});
