/**
 * Fine-tuning baseline, the forgetting lower bound (docs/methods/baselines.md): the wa head trained
 * with cross-entropy on the new task's samples only; no memory, no distillation, no aligning.
 * Clipping belongs to WA's recipe, so it is off by default here (--clip auto|true to match wa).
 */
import { defineOptions, withDefaults } from '../options.js';
import type { tf } from '../tf.js';
import { crossEntropy } from '../train/losses.js';
import { HEAD_OPTIONS, TRAIN_OPTIONS, headSettings, trainSettings } from './head-options.js';
import { HeadLearner } from './head-learner.js';
import { defineMethod } from './method.js';

export const FINETUNE_OPTIONS = defineOptions({ ...TRAIN_OPTIONS, ...withDefaults(HEAD_OPTIONS, { clip: 'false' }) });

export const finetuneMethod = defineMethod({
  name: 'finetune',
  description: 'Fine-tuning lower bound: the wa head trained on each new task only (no memory, no KD, no alignment)',
  docs: 'docs/methods/baselines.md',
  seeded: true,
  options: FINETUNE_OPTIONS,
  create(o, ctx) {
    return new HeadLearner(
      { name: 'finetune', seed: ctx.seed, dim: ctx.dim, train: trainSettings(o), head: headSettings(o), memory: null, options: { ...o } },
      { objective: (b, t) => crossEntropy(t.head.logits(b.x as tf.Tensor2D), b.y as tf.Tensor1D) },
    );
  },
});
