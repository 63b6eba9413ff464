/**
 * iCaRL (docs/methods/icarl.md): the binary cross-entropy with distillation targets and the
 * nearest-mean-of-exemplars classifier against hand-computed values, and the learner on a small
 * synthetic stream.
 */
import { expect } from 'chai';
import { UserError } from '../../src/errors.js';
import type { TaskRecord } from '../../src/learners/head-learner.js';
import { icarlLoss, icarlMethod, icarlTargets } from '../../src/learners/icarl.js';
import { createLearner, resolveMethodOptions } from '../../src/learners/index.js';
import { initBackend, tf } from '../../src/tf.js';
import type { Experience, Features, Learner } from '../../src/types.js';
import { accuracy, experiences, gaussianClusters } from '../train/synthetic.js';

/** Unit vectors at the given angles (degrees), one class label each. */
function atAngles(points: [number, number][]): Features {
  const x = new Float32Array(points.length * 2);
  points.forEach(([deg], i) => {
    x[2 * i] = Math.cos((deg * Math.PI) / 180);
    x[2 * i + 1] = Math.sin((deg * Math.PI) / 180);
  });
  return { x, y: Int32Array.from(points, ([, c]) => c), count: points.length, dim: 2 };
}

describe('learners/icarl', function () {
  this.timeout(120_000);
  before(async () => {
    await initBackend();
  });

  describe('loss', () => {
    it('targets: the old outputs take the teacher sigmoids, the new ones the one-hot label (zero for an exemplar of an old class)', () => {
      const q = tf.tensor2d([[0.574443], [0.268941]]);
      const t = icarlTargets(tf.tensor1d([2, 0], 'int32'), q, 1, 2);
      const v = t.arraySync() as number[][];
      expect(v[0]).to.deep.equal([Math.fround(0.574443), 0, 1]);
      expect(v[1]).to.deep.equal([Math.fround(0.268941), 0, 0]);
      expect(icarlTargets(tf.tensor1d([1, 0], 'int32'), null, 0, 2).arraySync()).to.deep.equal([
        [0, 1],
        [1, 0],
      ]);
      tf.dispose([q, t]);
    });

    it('Σ_k BCE(σ(o_k), target_k) / (B·C) = 0.399063 for two samples, K = 3 outputs, C = 5 (hand-computed)', () => {
      // Row 1: logits (2, −1, 0.5), targets (σ(0.3) = 0.574443, 0, 1); row 2: (−0.3, 1.2, −2), targets (σ(−1) = 0.268941, 0, 0).
      // −[t·log σ(o) + (1 − t)·log(1 − σ(o))] summed over the six outputs = 3.990630; / (2 · 5).
      const sig = (x: number): number => 1 / (1 + Math.exp(-x));
      const logits = tf.tensor2d([
        [2, -1, 0.5],
        [-0.3, 1.2, -2],
      ]);
      const targets = icarlTargets(tf.tensor1d([2, 0], 'int32'), tf.tensor2d([[sig(0.3)], [sig(-1)]]), 1, 2);
      const loss = icarlLoss(logits, targets, 5);
      expect(loss.dataSync()[0]).to.be.closeTo(0.399063, 1e-5);
      // The stable form does not overflow for large logits: BCE(σ(100), 1) ≈ 0 and BCE(σ(100), 0) ≈ 100.
      const big = icarlLoss(tf.tensor2d([[100, 100]]), tf.tensor2d([[1, 0]]), 1);
      expect(big.dataSync()[0]).to.be.closeTo(100, 1e-3);
      tf.dispose([logits, targets, loss, big]);
    });
  });

  describe('nearest mean of exemplars', () => {
    const ctx = { seed: 1, dim: 2, numClasses: 4 };
    const learn = async (l: Learner, classes: number[], train: Features): Promise<void> => {
      const exp: Experience = { index: 0, classes, train };
      await l.learn(exp);
    };

    it('compares the test feature with the re-normalised mean of the normalised exemplars (cosine), not with raw means', async () => {
      // Class 0: exemplars (10, 0) and (0.8, 0.6): normalised mean (0.9, 0.3) → (0.948683, 0.316228).
      // Class 1: (0, 1). For x = (0.6, 0.8): cosines 0.822192 (class 0) and 0.8 (class 1) → class 0,
      // although x is far nearer the raw mean (0, 1) of class 1 than (5.4, 0.3) of class 0.
      const train: Features = { x: Float32Array.from([10, 0, 0.8, 0.6, 0, 1]), y: Int32Array.from([0, 0, 1]), count: 3, dim: 2 };
      const l = createLearner('icarl', { epochs: 1, memory: 10 }, ctx);
      await learn(l, [0, 1], train);
      const test = (x: number[]): number => l.predict({ x: Float32Array.from(x), y: Int32Array.from([0]), count: 1, dim: 2 })[0];
      expect(test([0.6, 0.8])).to.equal(0);
      expect(test([6, 8])).to.equal(0); // the scale of the test feature does not matter
      // (0.5, 0.9): cosines 0.737117 and 0.874157 → class 1.
      expect(test([0.5, 0.9])).to.equal(1);
      expect(Object.keys(l.extraPredictions!(train))).to.deep.equal(['cnn']);
      l.dispose();
    });

    it('uses the exemplars only: with one exemplar per class the mean is the herded sample, not the class mean', async () => {
      // Class 0 at 0°, 5° and 70°: herding keeps the 5° sample (nearest the mean of the three,
      // direction 23.7°); class 1 at 100°. A test point at 60° is 55° from the exemplar and 40° from
      // class 1 → class 1 (the mean of all class-0 samples, 36.3° away, would have said class 0).
      const l = createLearner('icarl', { epochs: 1, memory: 2 }, ctx);
      await learn(l, [0, 1], atAngles([[0, 0], [5, 0], [70, 0], [100, 1]]));
      const s = l.stateSummary().exemplars as { perClass: Record<string, number> };
      expect(s.perClass).to.deep.equal({ '0': 1, '1': 1 });
      expect(l.predict(atAngles([[60, 0]]))[0]).to.equal(1);
      expect(l.predict(atAngles([[10, 0]]))[0]).to.equal(0);
      l.dispose();
    });
  });

  describe('the learner', () => {
    const dim = 24;
    const data = gaussianClusters({ classes: 9, dim, trainPerClass: 120, testPerClass: 40, sigma: 0.3, seed: 21, nonNegative: true });
    const stream = experiences(data.train, 9, 3);

    it('trains on new samples + exemplars within the budget, and its NME beats replay on the same memory', async () => {
      const opts = { epochs: 6, batchSize: 32, memory: 45 };
      const icarl = createLearner('icarl', opts, { seed: 1, dim, numClasses: 9 });
      const replay = createLearner('replay', opts, { seed: 1, dim, numClasses: 9 });
      for (const exp of stream) {
        await icarl.learn(exp);
        await replay.learn(exp);
      }
      const s = icarl.stateSummary();
      const tasks = s.perTask as TaskRecord[];
      // floor(45 / 3) × 3 = 45 exemplars after task 1, floor(45 / 6) × 6 = 42 after task 2, floor(45 / 9) × 9 = 45 at the end
      expect(tasks.map((t) => t.exemplarsUsed)).to.deep.equal([0, 45, 42]);
      expect(tasks.map((t) => t.trainSamples)).to.deep.equal([360, 405, 402]);
      expect((s.exemplars as { total: number }).total).to.equal(45);
      expect(accuracy(icarl.predict(data.test), data.test)).to.be.greaterThan(accuracy(replay.predict(data.test), data.test) + 10);
      icarl.dispose();
      replay.dispose();
    });

    it('options: the reference rate and decay by default; --eval nme needs a memory; no tensor leak', async () => {
      expect(resolveMethodOptions(icarlMethod, {})).to.include({ lr: 2, weightDecay: 1e-5, weightDecayFirst: 1e-5, memory: 2000, herding: 'icarl', eval: 'nme', clip: 'false' });
      expect(() => resolveMethodOptions(icarlMethod, { memory: 0 })).to.throw(UserError, /icarl --eval nme needs exemplars/);
      const l = createLearner('icarl', { epochs: 1, memory: 30, head: 'mlp', hidden: 8 }, { seed: 2, dim, numClasses: 9 });
      const counts: number[] = [];
      for (const exp of stream) {
        await l.learn(exp);
        l.predict(data.test);
        l.extraPredictions!(data.test);
        counts.push(tf.memory().numTensors);
      }
      expect(new Set(counts).size).to.equal(1);
      l.dispose();
    });
  });
});
