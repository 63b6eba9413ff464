/**
 * Class scores (Learner.scores, docs/protocols.md "Evaluation scope"): for every learner that has
 * them, the argmax of the scores (ties to the earlier column) is exactly predict()'s answer, so
 * top-1 from scores, task-IL and top-5 are consistent with the headline accuracy.
 */
import { expect } from 'chai';
import { seenTestSubset } from '../../src/eval/accuracy.js';
import { scoreAccuracies } from '../../src/eval/scope.js';
import { createLearner } from '../../src/learners/index.js';
import { initBackend } from '../../src/tf.js';
import type { ClassScores } from '../../src/types.js';
import { experiences, gaussianClusters } from '../train/synthetic.js';

const CLASSES = 9;
const DIM = 16;
const data = gaussianClusters({ classes: CLASSES, dim: DIM, trainPerClass: 60, testPerClass: 20, sigma: 0.5, seed: 4, nonNegative: true });
const stream = experiences(data.train, CLASSES, 3);
const taskClasses = stream.map((e) => e.classes);

function argmaxLabels(s: ClassScores, rows: number): Int32Array {
  const K = s.labels.length;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < K; j++) if (s.values[r * K + j] > s.values[r * K + best]) best = j;
    out[r] = s.labels[best];
  }
  return out;
}

const CASES: [string, Record<string, unknown>][] = [
  ['nmc', {}],
  ['nmc', { variant: 'simplecil' }],
  ['wa', { epochs: 3, memory: 45, batchSize: 32 }],
  ['wa', { epochs: 2, memory: 45, batchSize: 32, eval: 'nme' }],
  ['replay', { epochs: 2, memory: 45, batchSize: 32 }],
  ['napa-vq', { epochsBase: 3, epochs: 2, hidden: 16, embedDim: 8, batchSize: 32, k: 4 }],
  ['napa-vq', { epochsBase: 3, epochs: 2, hidden: 16, embedDim: 8, batchSize: 32, k: 4, testRule: 'euclidean' }],
  ['slda', {}],
  ['ranpac', { projection: 64 }],
  ['fecam', {}],
];

describe('learners: class scores agree with predict()', function () {
  this.timeout(120_000);
  before(async () => {
    await initBackend('wasm');
  });

  for (const [method, options] of CASES) {
    it(`${method} ${JSON.stringify(options)}`, async () => {
      const learner = createLearner(method, options, { seed: 1, dim: DIM, numClasses: CLASSES });
      try {
        expect(learner.scores, `${method} has class scores`).to.be.a('function');
        for (const exp of stream) {
          await learner.learn(exp);
          const subset = seenTestSubset(data.test, taskClasses, exp.index);
          const scores = learner.scores!(subset);
          expect(Array.from(scores.labels).sort((a, b) => a - b)).to.deep.equal(taskClasses.slice(0, exp.index + 1).flat().sort((a, b) => a - b));
          const pred = learner.predict(subset);
          expect([...argmaxLabels(scores, subset.count)]).to.deep.equal([...pred]);
          // top-1 from the scores is the headline accuracy; task-IL is never below it.
          const top1 = scoreAccuracies(subset, scores, taskClasses, exp.index, 1);
          let correct = 0;
          for (let r = 0; r < subset.count; r++) if (pred[r] === subset.y[r]) correct++;
          expect(top1.topK.accuracy).to.be.closeTo((100 * correct) / subset.count, 1e-9);
          expect(top1.taskIL.accuracy).to.be.at.least(top1.topK.accuracy);
        }
      } finally {
        learner.dispose();
      }
    });
  }

  it('the closed-form learners give float64 scores (float32 could tie classes predict() tells apart)', async () => {
    for (const [method, options] of [['slda', {}], ['ranpac', { projection: 64 }], ['fecam', {}]] as const) {
      const learner = createLearner(method, options, { seed: 1, dim: DIM, numClasses: CLASSES });
      await learner.learn(stream[0]);
      expect(learner.scores!(seenTestSubset(data.test, taskClasses, 0)).values, method).to.be.instanceOf(Float64Array);
      learner.dispose();
    }
  });

  it('finetune (no predict hook) scores by its logits', async () => {
    const learner = createLearner('finetune', { epochs: 1, batchSize: 32 }, { seed: 1, dim: DIM, numClasses: CLASSES });
    try {
      await learner.learn(stream[0]);
      expect(learner.scores).to.be.a('function');
    } finally {
      learner.dispose();
    }
  });
});
