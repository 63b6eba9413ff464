import { expect } from 'chai';
import { confusionMatrix, scoreAccuracies, scopedSummary } from '../../src/eval/scope.js';
import type { Features } from '../../src/types.js';

/** Rows with labels only (scope evaluation never reads x). */
const rows = (labels: number[]): Features => ({ x: new Float32Array(labels.length), y: Int32Array.from(labels), count: labels.length, dim: 1 });

describe('eval/scope: task-IL, top-k, confusion', () => {
  // Two tasks: {5, 7} then {2, 9}; six test samples.
  const taskClasses = [
    [5, 7],
    [2, 9],
  ];
  const subset = rows([5, 5, 7, 2, 9, 9]);
  // Columns in the learner's order 7, 5, 9, 2 (not the class order, on purpose).
  const labels = [7, 5, 9, 2];
  const values = Float32Array.from([
    // 7    5    9    2
    [0.1, 0.9, 0.0, 0.0], // true 5: top-1 5 ✓; task-IL {7,5} → 5 ✓
    [0.1, 0.2, 0.9, 0.0], // true 5: top-1 9 ✗; task-IL → 5 ✓ (0.2 > 0.1); rank of 5 = 1
    [0.3, 0.3, 0.5, 0.0], // true 7: top-1 9 ✗; task-IL tie 7 vs 5 → 7 (earlier column) ✓; rank 1
    [0.0, 0.9, 0.8, 0.7], // true 2: top-1 5 ✗; task-IL {2,9} → 9 ✗; rank 3
    [0.5, 0.5, 0.5, 0.5], // true 9: all tied; top-1 7 ✗; task-IL → 9 (column 2 before column 3) ✓; rank 2
    [0.0, 0.0, 0.0, 0.1], // true 9: top-1 2 ✗; task-IL → 2 ✗; rank: 2 scored higher, 7 and 5 tie earlier → 3
  ].flat());

  it('task-IL restricts the argmax to the sample\'s task, ties to the earlier column; top-k counts the rank', () => {
    const top2 = scoreAccuracies(subset, { labels, values }, taskClasses, 1, 2);
    // task-IL correct: rows 0, 1, 2, 4 → per class 5: 2/2, 7: 1/1, 2: 0/1, 9: 1/2
    expect(top2.taskIL.correctPerClass).to.deep.equal({ '2': 0, '5': 2, '7': 1, '9': 1 });
    expect(top2.taskIL.accuracyRow).to.deep.equal([100, 100 / 3]);
    expect(top2.taskIL.accuracy).to.be.closeTo((100 * 4) / 6, 1e-12);
    // ranks 0, 1, 1, 3, 2, 3 → top-2 correct for rows 0, 1, 2
    expect(top2.topK.correctPerClass).to.deep.equal({ '2': 0, '5': 2, '7': 1, '9': 0 });
    expect(top2.topK.accuracy).to.equal(50);
    const top1 = scoreAccuracies(subset, { labels, values }, taskClasses, 1, 1);
    expect(top1.topK.accuracy).to.be.closeTo(100 / 6, 1e-12); // only row 0: top-1 from scores is the argmax
    const top4 = scoreAccuracies(subset, { labels, values }, taskClasses, 1, 4);
    expect(top4.topK.accuracy).to.equal(100); // 4 classes seen: the true class is always among the top 4
  });

  it('a seen class the scores do not cover is never predicted', () => {
    const r = scoreAccuracies(rows([5, 7]), { labels: [5], values: Float32Array.from([1, 1]) }, [[5, 7]], 0, 5);
    expect(r.taskIL.correctPerClass).to.deep.equal({ '5': 1, '7': 0 });
    expect(r.topK.correctPerClass).to.deep.equal({ '5': 1, '7': 0 });
  });

  it('confusion matrix over the seen classes in class order: rows true, columns predicted', () => {
    const c = confusionMatrix(subset, Int32Array.from([5, 9, 9, 5, 7, 2]), taskClasses, 1);
    expect(c.labels).to.deep.equal([5, 7, 2, 9]);
    expect(c.matrix).to.deep.equal([
      [1, 0, 0, 1],
      [0, 0, 0, 1],
      [1, 0, 0, 0],
      [0, 1, 1, 0],
    ]);
    expect(() => confusionMatrix(subset, Int32Array.from([5, 9, 9, 5, 7, 3]), taskClasses, 1)).to.throw(RangeError, /predicted as 3/);
  });

  it('scopedSummary: A_T and Ā only when every increment has the value', () => {
    expect(scopedSummary([80, 70, 60])).to.deep.equal({ finalAccuracy: 60, averageIncrementalAccuracy: 70 });
    expect(scopedSummary([80, undefined])).to.equal(undefined);
  });
});
