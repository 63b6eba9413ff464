import { expect } from 'chai';
import {
  aExcl1,
  accuracyMatrix,
  averageIncrementalAccuracy,
  bwt,
  bwtAllPairs,
  classWeightedFinal,
  diazRodriguezAccuracy,
  forgetting,
  forgettingCurve,
  regroupAccuracy,
  summarize,
  taskBalancedFinal,
} from '../../src/eval/metrics.js';
import type { IncrementResult } from '../../src/types.js';

// Worked matrix of docs/protocols.md "Accuracy aggregates" (4 tasks, equal test sizes).
const R = [[80], [90, 70], [75, 85, 60], [60, 80, 65, 95]];
const curve = [80, 80, 220 / 3, 75];

describe('eval/metrics: worked 4-task matrix (docs/protocols.md "Accuracy aggregates" to "Transfer")', () => {
  it('accuracy aggregates', () => {
    expect(averageIncrementalAccuracy(curve)).to.be.closeTo(77.083, 1e-3);
    expect(curve[curve.length - 1]).to.equal(75);
    expect(aExcl1(curve)).to.be.closeTo(76.111, 1e-3);
    expect(aExcl1([80])).to.equal(null);
    expect(diazRodriguezAccuracy(R)).to.be.closeTo(76.0, 1e-9);
    expect(taskBalancedFinal(R)).to.equal(75);
    // Equal task sizes: class-weighted = task-balanced; unequal: (60*1 + 80*1 + 65*1 + 95*3) / 6.
    expect(classWeightedFinal(R, [10, 10, 10, 10])).to.be.closeTo(75, 1e-9);
    expect(classWeightedFinal(R, [1, 1, 1, 3])).to.be.closeTo(490 / 6, 1e-9);
  });

  it('forgetting under the three definitions', () => {
    expect(forgetting(R, 'max-prev')).to.be.closeTo(10.0, 1e-9);
    expect(forgetting(R, 'max-all')).to.be.closeTo(11.667, 1e-3);
    expect(forgetting(R, 'first')).to.be.closeTo(1.667, 1e-3);
    expect(forgetting(R, 'max-prev', 3)).to.be.closeTo(0.0, 1e-9);
    expect(forgetting(R, 'max-prev', 1)).to.equal(null);
    expect(forgetting([[50]], 'max-all')).to.equal(null);
  });

  it('forgetting curve holds F after tasks 2..T', () => {
    // after task 2: max-prev f = 80-90 = -10; max-all 90-90 = 0; first 80-90 = -10.
    const c = forgettingCurve(R, 'max-prev');
    expect(c).to.have.length(3);
    expect(c[0]).to.be.closeTo(-10, 1e-9);
    expect(c[1]).to.be.closeTo(0, 1e-9);
    expect(c[2]).to.be.closeTo(10, 1e-9);
    const all = forgettingCurve(R, 'max-all');
    expect(all[0]).to.be.closeTo(0, 1e-9);
    // after task 3: f = (90-75, 85-85) = (15, 0) → 7.5
    expect(all[1]).to.be.closeTo(7.5, 1e-9);
    // max-all is never negative and never below max-prev
    all.forEach((v, k) => expect(v).to.be.at.least(Math.max(0, c[k]) - 1e-12));
  });

  it('BWT equals −F_first; all-pairs BWT', () => {
    expect(bwt(R)).to.be.closeTo(-1.667, 1e-3);
    expect(bwt(R)).to.be.closeTo(-(forgetting(R, 'first') as number), 1e-12);
    expect(bwtAllPairs(R)).to.be.closeTo(2.5, 1e-9);
    expect(bwt([[1]])).to.equal(null);
  });

  it('FOSTER issue #4 curve: Ā = 70.852 (first task included)', () => {
    const foster = [93.5, 80.2, 77.1, 72.42, 69.44, 66.97, 65.74, 62.78, 60.96, 59.41];
    expect(averageIncrementalAccuracy(foster)).to.be.closeTo(70.852, 1e-3);
  });

  it('rejects a malformed matrix', () => {
    expect(() => forgetting([[1], [2]], 'first')).to.throw(RangeError);
    expect(() => forgetting(R, 'first', 5)).to.throw(RangeError);
  });
});

/** Increments whose per-class counts reproduce the worked matrix: each task one class of 20 test samples. */
function workedIncrements(): IncrementResult[] {
  return R.map((row, t) => {
    const correctPerClass: Record<string, number> = {};
    const totalPerClass: Record<string, number> = {};
    row.forEach((acc, i) => {
      correctPerClass[String(100 + i)] = (acc / 100) * 20;
      totalPerClass[String(100 + i)] = 20;
    });
    const acc = row.reduce((s, v) => s + v, 0) / row.length;
    return {
      task: t,
      classes: [100 + t],
      seenClasses: t + 1,
      accuracyRow: row,
      accuracy: acc,
      oldAccuracy: t === 0 ? null : row.slice(0, t).reduce((s, v) => s + v, 0) / t,
      newAccuracy: row[t],
      correctPerClass,
      totalPerClass,
      learnMs: 1,
      evalMs: 1,
    };
  });
}

describe('eval/metrics: summarize and regroup', () => {
  it('summarize reproduces the worked numbers', () => {
    const incs = workedIncrements().reverse(); // order must not matter
    const s = summarize(incs, 1234);
    expect(s.tasks).to.equal(4);
    expect(s.finalAccuracy).to.equal(75);
    expect(s.averageIncrementalAccuracy).to.be.closeTo(77.083, 1e-3);
    expect(s.forgetting['max-prev']).to.be.closeTo(10, 1e-9);
    expect(s.forgetting['max-all']).to.be.closeTo(11.667, 1e-3);
    expect(s.forgetting.first).to.be.closeTo(1.667, 1e-3);
    expect(s.forgettingCurve['max-prev']).to.have.length(3);
    expect(s.bwt).to.be.closeTo(-1.667, 1e-3);
    expect(s.totalMs).to.equal(1234);
    expect(accuracyMatrix(incs)).to.deep.equal(R);
  });

  it('summarize of a single task has null forgetting and BWT', () => {
    const s = summarize(workedIncrements().slice(0, 1), 5);
    expect(s.forgetting).to.deep.equal({ 'max-prev': null, 'max-all': null, first: null });
    expect(s.forgettingCurve['first']).to.deep.equal([]);
    expect(s.bwt).to.equal(null);
  });

  it('regroupAccuracy with one group per task gives back R; coarser groups pool samples', () => {
    const incs = workedIncrements();
    const byTask = regroupAccuracy(incs, [[100], [101], [102], [103]]);
    expect(byTask[3]).to.deep.equal([60, 80, 65, 95]);
    expect(byTask[0]).to.deep.equal([80, null, null, null]);
    // groups {100,101}, {102,103}: after task 3 (0-based 2) the second group holds only class 102.
    const pairs = regroupAccuracy(incs, [
      [100, 101],
      [102, 103],
    ]);
    expect(pairs[2][0]).to.be.closeTo(80, 1e-9); // (75+85)/2 with equal sizes
    expect(pairs[2][1]).to.be.closeTo(60, 1e-9);
    expect(pairs[3][1]).to.be.closeTo(80, 1e-9); // (65+95)/2
  });
});
