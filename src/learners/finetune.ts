/**
 * Fine-tuning baseline, the forgetting lower bound (docs/methods/baselines.md): the wa head trained
 * with cross-entropy on the new task's samples only; no memory, no distillation, no aligning.
 * Clipping belongs to WA's recipe, so it is off by default here (--clip auto|true to match wa).
 */
import type { tf } from '../tf.js';
import { crossEntropy } from '../train/losses.js';
import { UNCLIPPED_HEAD_OPTIONS } from './head-options.js';
import { defineHeadMethod } from './head-learner.js';

export const finetuneMethod = defineHeadMethod({
  name: 'finetune',
  description: 'Fine-tuning lower bound: the wa head trained on each new task only (no memory, no KD, no alignment)',
  docs: 'docs/methods/baselines.md',
  options: UNCLIPPED_HEAD_OPTIONS,
  // Cross-entropy over every seen class, on the new samples only.
  hooks: () => ({ objective: (b, t) => crossEntropy(t.head.logits(b.x as tf.Tensor2D), b.y as tf.Tensor1D), linearLoss: () => ({ ce: 1 }) }),
});
