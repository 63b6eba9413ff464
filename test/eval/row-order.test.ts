/**
 * seenTestSubset hands the learners the seen-class test rows grouped by task (a prefix of one copy
 * per scenario) instead of in dataset order. That is only sound if every learner scores each row
 * on its own: the same row must get the same prediction and the same score bits wherever it sits
 * in the block and however large the block is (GEMM tiling, row chunks, memos). Checked here for
 * every learner family, on rows whose dataset order interleaves the classes and with sizes that
 * are not multiples of any tile.
 */
import { expect } from 'chai';
import { seenTestSubset } from '../../src/eval/accuracy.js';
import { createLearner } from '../../src/learners/index.js';
import { Rng } from '../../src/rng.js';
import { selectClasses } from '../../src/scenario/stream.js';
import { initBackend } from '../../src/tf.js';
import type { Features } from '../../src/types.js';
import { experiences, gaussianClusters, rowsAt } from '../train/synthetic.js';

const CLASSES = 12;
const DIM = 200;
const raw = gaussianClusters({ classes: CLASSES, dim: DIM, trainPerClass: 50, testPerClass: 37, sigma: 0.6, seed: 11, nonNegative: true });

/** The test split with its rows shuffled: dataset order interleaves the classes. */
function shuffled(f: Features, seed: number): Features {
  return rowsAt(f, new Rng(seed).permutation(f.count));
}

const test = shuffled(raw.test, 5);
// Classes in a scrambled task order, so that task order is not label order either.
const order = [7, 2, 11, 0, 5, 9, 3, 10, 1, 8, 6, 4];
const stream = experiences(raw.train, CLASSES, 4).map((e, t) => {
  const classes = order.slice(t * 4, t * 4 + 4);
  return { ...e, classes, train: selectClasses(raw.train, classes) };
});
const taskClasses = stream.map((e) => e.classes);

/** Key of a row by content (the rows are distinct samples). */
const rowKey = (f: Features, i: number): string => Buffer.from(f.x.buffer, f.x.byteOffset + i * f.dim * 4, f.dim * 4).toString('base64');

const CASES: [string, Record<string, unknown>][] = [
  ['nmc', {}],
  ['slda', {}],
  ['ranpac', { projection: 300 }],
  ['fecam', {}],
  ['wa', { epochs: 2, memory: 60, batchSize: 32 }],
  ['icarl', { epochs: 2, memory: 60, batchSize: 32 }],
  ['napa-vq', { epochsBase: 2, epochs: 1, hidden: 32, embedDim: 16, batchSize: 32, k: 4 }],
];

describe('eval: the row order of the seen-class block changes no prediction and no score', function () {
  this.timeout(180_000);
  before(async () => {
    await initBackend('wasm');
  });

  it('seenTestSubset: every seen-class row once, task by task, dataset order within a task; views of one copy', () => {
    for (let t = 0; t < taskClasses.length; t++) {
      const s = seenTestSubset(test, taskClasses, t);
      const want = taskClasses
        .slice(0, t + 1)
        .flatMap((classes) => Array.from(selectClasses(test, classes).y));
      expect(Array.from(s.y)).to.deep.equal(want);
      expect(s.count).to.equal(37 * 4 * (t + 1));
      if (t > 0) expect(s.x.buffer).to.equal(seenTestSubset(test, taskClasses, 0).x.buffer);
    }
    expect(() => seenTestSubset(test, [[1, 2], [2, 3]], 0)).to.throw(/class 2 appears in two tasks/);
  });

  for (const [method, options] of CASES) {
    it(`${method}: the same label and score bits per row in task order, dataset order and odd-sized blocks`, async () => {
      const learner = createLearner(method, options, { seed: 1, dim: DIM, numClasses: CLASSES });
      try {
        for (const exp of stream) {
          await learner.learn(exp);
          const byTask = seenTestSubset(test, taskClasses, exp.index);
          const byDataset = selectClasses(test, taskClasses.slice(0, exp.index + 1).flat());
          const predicted = new Map<string, number>();
          const pa = learner.predict(byTask);
          for (let i = 0; i < byTask.count; i++) predicted.set(rowKey(byTask, i), pa[i]);
          const pb = learner.predict(byDataset);
          for (let i = 0; i < byDataset.count; i++) expect(pb[i], `${method} task ${exp.index} row ${i}`).to.equal(predicted.get(rowKey(byDataset, i)));
          // A block of 37 rows from the middle (not a multiple of any kernel tile).
          const mid = { x: byDataset.x.subarray(11 * DIM, 48 * DIM), y: byDataset.y.subarray(11, 48), count: 37, dim: DIM };
          const pc = learner.predict(mid);
          for (let i = 0; i < 37; i++) expect(pc[i]).to.equal(pb[11 + i]);
          if (learner.scores) {
            const sa = learner.scores(byTask);
            const sb = learner.scores(byDataset);
            const K = sa.labels.length;
            const rowOf = new Map<string, number>();
            for (let i = 0; i < byTask.count; i++) rowOf.set(rowKey(byTask, i), i);
            for (let i = 0; i < byDataset.count; i++) {
              const j = rowOf.get(rowKey(byDataset, i))!;
              expect(Array.from(sb.values.subarray(i * K, (i + 1) * K)), `${method} scores row ${i}`).to.deep.equal(Array.from(sa.values.subarray(j * K, (j + 1) * K)));
            }
          }
        }
      } finally {
        learner.dispose?.();
      }
    });
  }
});
