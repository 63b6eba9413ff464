/**
 * Replay baseline (docs/methods/baselines.md): the wa head trained with plain cross-entropy on new
 * samples ∪ herded exemplars (the same memory rules as wa); no distillation, no aligning. The gap
 * to wa measures what KD + weight aligning add. Clipping belongs to WA's recipe, so it is off by
 * default here (--clip auto|true to match wa).
 */
import { defineOptions } from '../options.js';
import type { tf } from '../tf.js';
import { crossEntropy } from '../train/losses.js';
import { MEMORY_OPTIONS, memorySettings, UNCLIPPED_HEAD_OPTIONS } from './head-options.js';
import { defineHeadMethod, withExemplars } from './head-learner.js';

export const REPLAY_OPTIONS = defineOptions({ ...UNCLIPPED_HEAD_OPTIONS, ...MEMORY_OPTIONS });

export const replayMethod = defineHeadMethod({
  name: 'replay',
  description: 'Exemplar replay baseline: the wa head trained on new samples + herded exemplars (no KD, no alignment)',
  docs: 'docs/methods/baselines.md',
  options: REPLAY_OPTIONS,
  memory: memorySettings,
  // Cross-entropy over every seen class, on the new samples and the exemplars.
  hooks: () => ({
    trainingSet: withExemplars,
    objective: (b, t) => crossEntropy(t.head.logits(b.x as tf.Tensor2D), b.y as tf.Tensor1D),
    linearLoss: () => ({ ce: 1 }),
  }),
});
