/**
 * LwF (docs/methods/lwf.md): the loss against hand-computed values, where its gradient goes, and
 * the learner on a small synthetic stream.
 */
import { expect } from 'chai';
import { createLearner } from '../../src/learners/index.js';
import type { TaskRecord } from '../../src/learners/head-learner.js';
import { lwfLoss, lwfMethod } from '../../src/learners/lwf.js';
import { initBackend, tf } from '../../src/tf.js';
import { softTargets } from '../../src/train/losses.js';
import type { Learner } from '../../src/types.js';
import { accuracy, experiences, gaussianClusters } from '../train/synthetic.js';

const scalar = (t: tf.Scalar): number => {
  const v = t.dataSync()[0];
  t.dispose();
  return v;
};

describe('learners/lwf', function () {
  this.timeout(120_000);
  before(async () => {
    await initBackend();
  });

  describe('loss', () => {
    it('CE over the new logits + λ·KD over the old ones: 0.880223 + 3 × 0.624137 = 2.752635 (hand-computed)', () => {
      // n = 2 old, m = 2 new classes; head rows 3 and 2 are new classes 1 and 0.
      // Row 1: CE = log(1 + e^1.5) = 1.701413 (new logits 0.5, −1, label 1); row 2: log(1 + e^−2.8) = 0.059033.
      // KD (T = 2) of old logits (1, 2) toward teacher (0, 1) and of (0, −1) toward (2, −0.5): 0.662847, 0.585427.
      const logits = tf.tensor2d([
        [1, 2, 0.5, -1],
        [0, -1, 3, 0.2],
      ]);
      const rows = tf.tensor1d([3, 2], 'int32');
      const q = softTargets(tf.tensor2d([[0, 1], [2, -0.5]]), 2);
      expect(scalar(lwfLoss(logits, rows, q, 2, 2, 0))).to.be.closeTo(0.880223, 1e-5);
      expect(scalar(lwfLoss(logits, rows, q, 2, 2, 1))).to.be.closeTo(0.880223 + 0.624137, 1e-5);
      expect(scalar(lwfLoss(logits, rows, q, 2, 2, 3))).to.be.closeTo(2.752635, 1e-5);
      // First task: plain cross-entropy over every logit, −log softmax(1, 2, 0.5, −1)[1] = 0.495182.
      expect(scalar(lwfLoss(tf.tensor2d([[1, 2, 0.5, -1]]), tf.tensor1d([1], 'int32'), null, 0, 2, 3))).to.be.closeTo(0.495182, 1e-5);
      tf.dispose([logits, rows, q]);
    });

    it('a student equal to its teacher gets no gradient on the old logits; the new logits get (softmax − one-hot) / B', () => {
      const old = [
        [0.4, -0.2],
        [1.0, 0.3],
      ];
      const q = softTargets(tf.tensor2d(old), 2);
      const logits = tf.tensor2d([
        [...old[0], 0.5, -1],
        [...old[1], 3, 0.2],
      ]);
      const rows = tf.tensor1d([3, 2], 'int32');
      const g = tf.grad((x: tf.Tensor) => lwfLoss(x as tf.Tensor2D, rows, q, 2, 2, 3))(logits);
      const v = g.arraySync() as number[][];
      for (const r of v) for (const x of r.slice(0, 2)) expect(Math.abs(x)).to.be.below(1e-6);
      // Row 1, new logits (0.5, −1), label 1: softmax = (0.817574, 0.182426) → grad (0.817574, −0.817574) / 2.
      expect(v[0][2]).to.be.closeTo(0.408787, 1e-5);
      expect(v[0][3]).to.be.closeTo(-0.408787, 1e-5);
      tf.dispose([q, logits, rows, g]);
    });
  });

  describe('the learner', () => {
    const dim = 24;
    const data = gaussianClusters({ classes: 9, dim, trainPerClass: 120, testPerClass: 40, sigma: 0.3, seed: 21, nonNegative: true });
    const stream = experiences(data.train, 9, 3);
    const old = [...stream[0].classes, ...stream[1].classes];
    const run = async (method: string, seed = 1): Promise<Learner> => {
      const l = createLearner(method, { epochs: 6, batchSize: 32 }, { seed, dim, numClasses: 9 });
      for (const exp of stream) await l.learn(exp);
      return l;
    };

    it('keeps no exemplar, trains on the new samples only and records λ from the second task on', async () => {
      const l = await run('lwf');
      const s = l.stateSummary();
      expect(s.exemplars).to.equal(undefined);
      const tasks = s.perTask as TaskRecord[];
      expect(tasks.map((t) => t.trainSamples)).to.deep.equal([360, 360, 360]);
      expect(tasks.map((t) => t.lambda)).to.deep.equal([null, 3, 3]);
      expect(lwfMethod.docs).to.equal('docs/methods/lwf.md');
      l.dispose();
    });

    it('distillation keeps more of the old classes than plain fine-tuning of the same head', async () => {
      const lwf = await run('lwf');
      const ft = await run('finetune');
      const a = accuracy(lwf.predict(data.test), data.test, old);
      const b = accuracy(ft.predict(data.test), data.test, old);
      expect(a).to.be.greaterThan(b + 20);
      lwf.dispose();
      ft.dispose();
    });

    it('same seed → the same predictions; no tensor leak across tasks', async () => {
      const a = await run('lwf', 4);
      const b = createLearner('lwf', { epochs: 6, batchSize: 32 }, { seed: 4, dim, numClasses: 9 });
      const counts: number[] = [];
      for (const exp of stream) {
        await b.learn(exp);
        b.predict(data.test);
        counts.push(tf.memory().numTensors);
      }
      expect(Array.from(a.predict(data.test))).to.deep.equal(Array.from(b.predict(data.test)));
      expect(new Set(counts).size).to.equal(1);
      a.dispose();
      b.dispose();
    });
  });
});
