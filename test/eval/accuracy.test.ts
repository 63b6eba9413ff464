import { expect } from 'chai';
import { evaluateIncrement } from '../../src/eval/accuracy.js';
import type { Features } from '../../src/types.js';

/**
 * Hand-made test split, dim 1, the feature value carries the "prediction" so the test controls
 * exactly what is right and wrong. Classes: 7 (4 samples), 3 (1 sample) in task 0; 5 (5 samples)
 * in task 1; 9 (2 samples) in task 2 (never seen in these checks).
 */
function makeTest(): { test: Features; predictions: Int32Array } {
  const labels = [7, 7, 7, 7, 3, 5, 5, 5, 5, 5, 9, 9];
  // what the fake learner answers for each row (feature value = row index)
  const answers = [7, 7, 7, 3, 3, 5, 5, 42, 7, 5, 9, 9]; // 42: a label never seen
  const x = Float32Array.from(labels.map((_, r) => r));
  return {
    test: { x, y: Int32Array.from(labels), count: labels.length, dim: 1 },
    predictions: Int32Array.from(answers),
  };
}

describe('eval/accuracy: evaluateIncrement', () => {
  const taskClasses = [[7, 3], [5], [9]];

  it('after task 0 scores only task-0 classes', () => {
    const { test, predictions } = makeTest();
    let seenRows = 0;
    const r = evaluateIncrement({
      predict: (f) => {
        seenRows = f.count;
        return Int32Array.from(f.x, (v) => predictions[v]);
      },
      test,
      taskClasses,
      task: 0,
    });
    expect(seenRows).to.equal(5);
    // class 7: 3/4, class 3: 1/1 → 4/5 = 80 %
    expect(r.accuracyRow).to.deep.equal([80]);
    expect(r.accuracy).to.be.closeTo(80, 1e-12);
    expect(r.oldAccuracy).to.equal(null);
    expect(r.newAccuracy).to.be.closeTo(80, 1e-12);
    expect(r.correctPerClass).to.deep.equal({ '3': 1, '7': 3 });
    expect(r.totalPerClass).to.deep.equal({ '3': 1, '7': 4 });
    expect(r.seenClasses).to.equal(2);
    expect(r.classes).to.deep.equal([7, 3]);
  });

  it('after task 1: sample-weighted A_t differs from the task mean; unseen label counts as wrong', () => {
    const { test, predictions } = makeTest();
    const r = evaluateIncrement({
      predict: (f) => Int32Array.from(f.x, (v) => predictions[v]),
      test,
      taskClasses,
      task: 1,
    });
    // task 0: 4/5 = 80 %; task 1 (class 5): rows 5..9 answer 5,5,42,7,5 → 3/5 = 60 %
    expect(r.accuracyRow[0]).to.be.closeTo(80, 1e-12);
    expect(r.accuracyRow[1]).to.be.closeTo(60, 1e-12);
    // A_t = 7/10 = 70 % (here equal to the task mean since both tasks hold 5 samples)
    expect(r.accuracy).to.be.closeTo(70, 1e-12);
    expect(r.oldAccuracy).to.be.closeTo(80, 1e-12);
    expect(r.newAccuracy).to.be.closeTo(60, 1e-12);
    expect(r.correctPerClass).to.deep.equal({ '3': 1, '5': 3, '7': 3 });
  });

  it('unequal task sizes: A_t is sample-weighted, not the mean of the row', () => {
    const { test, predictions } = makeTest();
    // Move class 3 into task 1: task 0 = {7} (3/4 = 75 %), task 1 = {5, 3} (4/6 = 66.67 %)
    const r = evaluateIncrement({
      predict: (f) => Int32Array.from(f.x, (v) => predictions[v]),
      test,
      taskClasses: [[7], [5, 3], [9]],
      task: 1,
    });
    expect(r.accuracyRow[0]).to.be.closeTo(75, 1e-12);
    expect(r.accuracyRow[1]).to.be.closeTo(400 / 6, 1e-12);
    expect(r.accuracy).to.be.closeTo(70, 1e-12); // 7/10
    const taskMean = (r.accuracyRow[0] + r.accuracyRow[1]) / 2;
    expect(Math.abs(taskMean - r.accuracy)).to.be.greaterThan(0.8);
  });

  it('a learner that always predicts an unseen label scores 0 everywhere', () => {
    const { test } = makeTest();
    const r = evaluateIncrement({
      predict: (f) => new Int32Array(f.count).fill(9), // class 9 belongs to task 2, unseen at task 1
      test,
      taskClasses,
      task: 1,
    });
    expect(r.accuracy).to.equal(0);
    expect(r.accuracyRow).to.deep.equal([0, 0]);
  });

  it('rejects a wrong prediction length and a task with no test samples', () => {
    const { test } = makeTest();
    expect(() =>
      evaluateIncrement({ predict: () => new Int32Array(1), test, taskClasses, task: 0 }),
    ).to.throw(RangeError);
    expect(() =>
      evaluateIncrement({ predict: (f) => new Int32Array(f.count), test, taskClasses: [[7], [11]], task: 1 }),
    ).to.throw(/no samples of task 1/);
  });
});
