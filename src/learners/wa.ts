/**
 * Weight Aligning (Zhao et al., "Maintaining Discrimination and Fairness in Class Incremental
 * Learning", CVPR 2020, arXiv 1911.07053) on frozen features; docs/methods/wa.md.
 *
 * A head trained on new samples ∪ herded exemplars with L = (1−λ)·CE + λ·KD, λ = n / (n + m),
 * KD from the previous (aligned) head at temperature T; W ← max(W, 0) after every step when
 * clipping is on; after the last epoch the new rows are rescaled by
 * γ = mean ‖w_old‖ / mean ‖w_new‖ (weight aligning), before evaluation.
 */
import { defineOptions } from '../options.js';
import { tf } from '../tf.js';
import { crossEntropy, distillation, softTargets } from '../train/losses.js';
import { hostRows, type HostRows } from '../train/loop.js';
import { HEAD_OPTIONS, MEMORY_OPTIONS, TRAIN_OPTIONS, memorySettings, checkNmeHasExemplars } from './head-options.js';
import { defineHeadMethod, mean, withExemplars, type HeadLearner, type HeadTask } from './head-learner.js';

export const WA_OPTIONS = defineOptions({
  ...TRAIN_OPTIONS,
  ...HEAD_OPTIONS,
  ...MEMORY_OPTIONS,
  align: { type: 'boolean', default: true, help: 'weight aligning after every task (false = KD + replay baseline)' },
  kd: { type: 'boolean', default: true, help: 'knowledge distillation from the previous aligned head' },
  kdT: { type: 'number', default: 2, gt: 0, help: 'distillation temperature T' },
  lambda: {
    type: 'keyword-or-number',
    keyword: 'ratio',
    default: 'ratio',
    min: 0,
    max: 1,
    help: 'KD weight: ratio (= old / all seen classes) or a fixed number in [0, 1]',
  },
  teacher: {
    type: 'choice',
    default: 'aligned',
    choices: ['aligned', 'raw'],
    help: 'distil from the aligned previous head (correct) or its pre-alignment logits (to show the pitfall)',
  },
  eval: {
    type: 'choice',
    default: 'both',
    choices: ['cnn', 'nme', 'both'],
    help: 'cnn (aligned head, the headline), nme (nearest mean of exemplars) or both (headline cnn, nme beside it)',
  },
});

/** Per-row scale that undoes the last task's γ on its new rows (rows < k only); undefined when nothing was aligned. */
function unalignScale(learner: HeadLearner, k: number): Float32Array | undefined {
  const last = learner.taskRecords().at(-1);
  if (!last || last.gamma === null) return undefined;
  const scale = new Float32Array(k).fill(1);
  const rows = learner.rowTasks();
  for (let r = 0; r < k; r++) if (rows[r] === last.task) scale[r] = 1 / last.gamma;
  return scale;
}

export const waMethod = defineHeadMethod({
  name: 'wa',
  description: 'Weight Aligning: head on frozen features, exemplars + KD, new-class rows rescaled to the old-row norm',
  citation: 'Zhao et al., Maintaining Discrimination and Fairness in Class Incremental Learning, CVPR 2020, arXiv 1911.07053',
  docs: 'docs/methods/wa.md',
  options: WA_OPTIONS,
  check: (o) => checkNmeHasExemplars('wa', o),
  memory: memorySettings,
  hooks(o) {
    const T = o.kdT;
    /** λ of a task with n old and m new classes. */
    const lambdaOf = (t: HeadTask): number => (o.lambda === 'ratio' ? t.n / (t.n + t.m) : o.lambda);
    return {
      trainingSet: withExemplars,
      // Teacher soft targets q̂ = softmax(ô / T) over the n old classes, from the head as it
      // stands (aligned, or with the last alignment undone for --teacher raw), once per task.
      targets(t, train): Record<string, HostRows> {
        if (!o.kd || t.n === 0) return {};
        t.record.lambda = lambdaOf(t);
        const scale = o.teacher === 'raw' ? unalignScale(t.learner, t.n) : undefined;
        return { q: hostRows(t.learner.teacherOutputs(train, t.n, (z) => softTargets(z, T), scale), t.n) };
      },
      // L = (1 − λ)·CE + λ·KD (docs/methods/wa.md "Algorithm" step 3).
      objective(b, t) {
        const logits = t.head.logits(b.x as tf.Tensor2D);
        const ce = crossEntropy(logits, b.y as tf.Tensor1D);
        if (!b.q) return ce;
        const lambda = lambdaOf(t);
        const kdl = distillation(logits, b.q as tf.Tensor2D, T);
        return tf.add(tf.mul(ce, 1 - lambda), tf.mul(kdl, lambda)) as tf.Scalar;
      },
      // The same loss as weights, for the host step of the wasm-mlas backend (train/linear-step.ts).
      linearLoss: (t) => (o.kd && t.n > 0 ? { ce: 1 - lambdaOf(t), kd: { weight: lambdaOf(t), temperature: T } } : { ce: 1 }),
      // Weight aligning after the last epoch, before evaluation (docs/methods/wa.md "Algorithm" step 5, "Pitfalls").
      afterTask(t) {
        if (!o.align || t.n === 0) return;
        t.record.gamma = t.head.align(t.n);
        t.record.meanNewNormAfter = mean(t.head.rowNorms().subarray(t.n));
      },
      predict: (f, l) => (o.eval === 'nme' ? l.predictNme(f) : l.predictCnn(f)),
      scores: (f, l) => (o.eval === 'nme' ? l.scoresNme(f) : l.scoresCnn(f)),
      // 'nme' or 'cnn' (the rule that is not the headline) and 'unaligned' (last alignment undone).
      extraPredictions(f, l) {
        const out: Record<string, Int32Array> = {};
        if (o.eval === 'both' && l.hasExemplars()) out.nme = l.predictNme(f);
        if (o.eval === 'nme') out.cnn = l.predictCnn(f);
        const scale = o.align ? unalignScale(l, l.numClasses) : undefined;
        if (scale) out.unaligned = l.predictCnn(f, scale);
        return out;
      },
    };
  },
});
