/**
 * Replay baseline (docs/methods/baselines.md): the wa head trained with plain cross-entropy on new
 * samples ∪ herded exemplars (the same memory rules as wa); no distillation, no aligning. The gap
 * to wa measures what KD + weight aligning add. Clipping belongs to WA's recipe, so it is off by
 * default here (--clip auto|true to match wa).
 */
import { defineOptions, withDefaults } from '../options.js';
import type { tf } from '../tf.js';
import { crossEntropy } from '../train/losses.js';
import { HEAD_OPTIONS, MEMORY_OPTIONS, TRAIN_OPTIONS, headSettings, memorySettings, trainSettings } from './head-options.js';
import { HeadLearner, withExemplars } from './head-learner.js';
import { defineMethod } from './method.js';

export const REPLAY_OPTIONS = defineOptions({ ...TRAIN_OPTIONS, ...withDefaults(HEAD_OPTIONS, { clip: 'false' }), ...MEMORY_OPTIONS });

export const replayMethod = defineMethod({
  name: 'replay',
  description: 'Exemplar replay baseline: the wa head trained on new samples + herded exemplars (no KD, no alignment)',
  docs: 'docs/methods/baselines.md',
  seeded: true,
  options: REPLAY_OPTIONS,
  create(o, ctx) {
    return new HeadLearner(
      { name: 'replay', seed: ctx.seed, dim: ctx.dim, train: trainSettings(o), head: headSettings(o), memory: memorySettings(o), options: { ...o } },
      {
        trainingSet: withExemplars,
        objective: (b, t) => crossEntropy(t.head.logits(b.x as tf.Tensor2D), b.y as tf.Tensor1D),
      },
    );
  },
});
