/**
 * Joint-training baseline, the upper bound (docs/methods/baselines.md): at every task a fresh head
 * is trained from scratch, with the first-task recipe (weight-decay-first), on the features of ALL
 * classes seen so far. It keeps every past training feature, so it is not a continual learner.
 * Clipping belongs to WA's recipe, so it is off by default here (--clip auto|true to match wa).
 */
import type { tf } from '../tf.js';
import type { Features } from '../types.js';
import { crossEntropy } from '../train/losses.js';
import { UNCLIPPED_HEAD_OPTIONS } from './head-options.js';
import { concatFeatures, defineHeadMethod } from './head-learner.js';

export const jointMethod = defineHeadMethod({
  name: 'joint',
  description: 'Joint-training upper bound: retrains the wa head from scratch on all data seen so far (keeps every past feature)',
  docs: 'docs/methods/baselines.md',
  options: UNCLIPPED_HEAD_OPTIONS,
  rebuild: true,
  hooks() {
    // Every feature seen so far: the training set of every task.
    const seen: Features[] = [];
    return {
      trainingSet(t) {
        seen.push(t.data);
        return concatFeatures(seen, t.data.dim);
      },
      objective: (b, t) => crossEntropy(t.head.logits(b.x as tf.Tensor2D), b.y as tf.Tensor1D),
      linearLoss: () => ({ ce: 1 }),
      summary: () => ({ storedFeatures: seen.reduce((a, f) => a + f.count, 0) }),
    };
  },
});
