import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getMethod, resolveMethodOptions } from '../../src/learners/index.js';
import { FecamLearner, fecamConfig, fecamMethod } from '../../src/learners/fecam.js';
import { packedSize } from '../../src/linalg/dense.js';
import { Rng } from '../../src/rng.js';
import { readCheckpoint, writeCheckpoint } from '../../src/store/checkpoints.js';
import { accuracy, clusters, features, relDiff, rows, runSplit } from './closed-form-helpers.js';
import { userError } from '../user-error.js';

const cfg = (o: Record<string, unknown> = {}) => fecamConfig(o as never);

const unit = (v: number[]): number[] => {
  const n = Math.hypot(...v);
  return v.map((a) => a / n);
};

describe('learners/fecam (docs/methods/fecam.md)', () => {
  // Class A: (0,0), (2,0), (1,1), (1,-1): mean (1,0), cov (n-1 = 3) = 2/3·I; V₁ = 2/3, no non-zero
  //   covariance (V₂ = 0); shrunk 4/3·I, normalised: I.
  // Class B: (4,4), (6,6), (4,5), (6,5): mean (5,5), scatter [[4,2],[2,2]], cov [[4/3,2/3],[2/3,2/3]];
  //   V₁ = 1, V₂ = 2/3; shrunk [[7/3,4/3],[4/3,5/3]]; normalised [[1,ρ],[ρ,1]], ρ = (4/3)/√(35/9) = 4/√35.
  const handData = () =>
    features(
      [[0, 0], [2, 0], [1, 1], [1, -1], [4, 4], [6, 6], [4, 5], [6, 5]],
      [0, 0, 0, 0, 1, 1, 1, 1],
    );

  it('hand-made example (no Tukey): shrinkage, correlation normalisation, Mahalanobis distances', () => {
    const l = new FecamLearner(cfg({ tukey: 1 }), 2);
    l.learnBatch(handData());
    const a = l.normalizedCovariance(0)!;
    expect(a.v1).to.be.closeTo(2 / 3, 1e-15);
    expect(a.v2).to.equal(0);
    [1, 0, 0, 1].forEach((v, i) => expect(a.cov[i]).to.be.closeTo(v, 1e-15));
    const b = l.normalizedCovariance(1)!;
    const rho = 4 / Math.sqrt(35);
    expect(b.v1).to.be.closeTo(1, 1e-15);
    expect(b.v2).to.be.closeTo(2 / 3, 1e-15);
    [1, rho, rho, 1].forEach((v, i) => expect(b.cov[i]).to.be.closeTo(v, 1e-15));
    const queries = [[1, 1], [1, 0], [1, 0.25], [3, 1]];
    const d = l.distances(features(queries, queries.map(() => 0)));
    const muA = unit([1, 0]);
    const muB = unit([5, 5]);
    queries.forEach((q, i) => {
      const x = unit(q);
      const ea = [x[0] - muA[0], x[1] - muA[1]];
      const eb = [x[0] - muB[0], x[1] - muB[1]];
      const dA = ea[0] ** 2 + ea[1] ** 2;
      const dB = (eb[0] ** 2 - 2 * rho * eb[0] * eb[1] + eb[1] ** 2) / (1 - rho * rho);
      expect(d[i * 2]).to.be.closeTo(dA, 1e-12);
      expect(d[i * 2 + 1]).to.be.closeTo(dB, 1e-12);
    });
    expect(Array.from(l.predict(features(queries, queries.map(() => 0))))).to.deep.equal([1, 0, 0, 0]);
  });

  it('the shrinkage weights and the normalisation switch act as the equations say', () => {
    const l = new FecamLearner(cfg({ tukey: 1, gamma1: 2, gamma2: 0.5, normalizeCovariance: false }), 2);
    l.learnBatch(handData());
    // B: [[4/3,2/3],[2/3,2/3]] + 2·1·I + 0.5·(2/3)·(1 − I)
    const b = l.normalizedCovariance(1)!;
    [4 / 3 + 2, 2 / 3 + 1 / 3, 2 / 3 + 1 / 3, 2 / 3 + 2].forEach((v, i) => expect(b.cov[i]).to.be.closeTo(v, 1e-15));
  });

  it("V₂ averages the non-zero covariances only (as the authors' code), constant dimensions add zeros", () => {
    // dim 2 is constant (0): its covariances are exactly 0 and do not count.
    const l = new FecamLearner(cfg({ tukey: 1 }), 3);
    l.learnBatch(features([[0, 0, 0], [2, 3, 0], [2, 1, 0], [0, 2, 0]], [0, 0, 0, 0]));
    // rows: (0,0,0), (2,3,0), (2,1,0), (0,2,0): mean (1,1.5,0); cov = [[4/3, 2/3, 0],[2/3, 5/3, 0],[0,0,0]]
    const c = l.normalizedCovariance(0)!;
    expect(c.v1).to.be.closeTo((4 / 3 + 5 / 3) / 3, 1e-15);
    expect(c.v2).to.be.closeTo(2 / 3, 1e-15);
  });

  it("Tukey's transform: statistics of x^β, prototype = unit(tukey(mean x)), query = unit(tukey(x))", () => {
    const l = new FecamLearner(cfg({ tukey: 0.5 }), 2);
    l.learnBatch(features([[1, 4], [9, 4], [4, 1], [4, 9]], [0, 0, 0, 0]));
    // mean x = (4.5, 4.5) → tukey → unit: (1/√2, 1/√2); not the mean of √x = (2.5, 2.5) (same direction here)
    const p = l.prototype(0)!;
    expect(p[0]).to.be.closeTo(Math.SQRT1_2, 1e-15);
    const m = new FecamLearner(cfg({ tukey: 0.5 }), 2);
    m.learnBatch(features([[1, 4], [9, 4]], [0, 0]));
    const q = m.prototype(0)!; // mean x = (5, 4): (√5, 2)/3; the mean of √x would be (2, 2)
    expect(q[0]).to.be.closeTo(Math.sqrt(5) / 3, 1e-15);
    expect(q[1]).to.be.closeTo(2 / 3, 1e-15);
    // covariance of √x: rows (1,2), (3,2): cov [[2,0],[0,0]]; V₁ = 1, V₂ = 0 → shrunk [[3,0],[0,1]] → I
    const c = m.normalizedCovariance(0)!;
    expect(c.v1).to.be.closeTo(1, 1e-15);
    [1, 0, 0, 1].forEach((v, i) => expect(c.cov[i]).to.be.closeTo(v, 1e-15));
    // query (4, 16) → (2, 4)/√20; distance to q with identity covariance
    const d = m.distances(features([[4, 16]], [0]));
    const x = unit([2, 4]);
    expect(d[0]).to.be.closeTo((x[0] - q[0]) ** 2 + (x[1] - q[1]) ** 2, 1e-12);
  });

  it('statistics are exact for any batching (per-class scatter merges), final model invariant to split and class order', async () => {
    const data = clusters(12, 8, 10, 30, 12, { nonNegative: true });
    const rng = new Rng(1);
    const perm = rng.permutation(data.train.count);
    const batched = new FecamLearner(cfg(), 10);
    for (let p = 0; p < perm.length; ) {
      const k = 1 + rng.int(30);
      batched.learnBatch(rows(data.train, perm.slice(p, p + k)));
      p += k;
    }
    const whole = new FecamLearner(cfg(), 10);
    whole.learnBatch(data.train);
    for (let c = 0; c < 8; c++) {
      expect(relDiff(batched.normalizedCovariance(c)!.cov, whole.normalizedCovariance(c)!.cov)).to.be.below(1e-12);
      expect(relDiff(batched.prototype(c)!, whole.prototype(c)!)).to.be.below(1e-13);
    }
    // two-pass covariance of √x for class 3, by hand
    const idx = Array.from({ length: data.train.count }, (_, i) => i).filter((i) => data.train.y[i] === 3);
    const t = idx.map((i) => Array.from(data.train.x.subarray(i * 10, i * 10 + 10), Math.sqrt));
    const mean = Array.from({ length: 10 }, (_, d) => t.reduce((s, r) => s + r[d], 0) / t.length);
    const cov = new Float64Array(100);
    for (const r of t) for (let a = 0; a < 10; a++) for (let b = 0; b < 10; b++) cov[a * 10 + b] += ((r[a] - mean[a]) * (r[b] - mean[b])) / (t.length - 1);
    let v1 = 0;
    for (let a = 0; a < 10; a++) v1 += cov[a * 10 + a] / 10;
    expect(batched.normalizedCovariance(3)!.v1).to.be.closeTo(v1, 1e-12);

    const order = Array.from({ length: 8 }, (_, i) => i);
    const ten = new FecamLearner(cfg(), 10);
    const one = new FecamLearner(cfg(), 10);
    const other = new FecamLearner(cfg(), 10);
    const a = await runSplit(ten, data, order, 'B0-Inc1');
    const b = await runSplit(one, data, order, 'B0-Inc8');
    const c = await runSplit(other, data, new Rng(3).permutation(8), 'B2-Inc2');
    expect(Array.from(a[7].pred)).to.deep.equal(Array.from(b[0].pred));
    expect(Array.from(c[3].pred)).to.deep.equal(Array.from(b[0].pred));
    expect(relDiff(ten.distances(data.test).slice(0, 80), one.distances(data.test).slice(0, 80))).to.be.below(1e-12);
    expect(accuracy(b[0].pred, data.test.y)).to.be.above(50);
  });

  it('memoised distances equal recomputed ones bit for bit (overlapping test sets, duplicates, class updates)', () => {
    const data = clusters(13, 6, 9, 25, 12, { nonNegative: true });
    const part = (lo: number, hi: number) => rows(data.train, Array.from({ length: data.train.count }, (_, i) => i).filter((i) => data.train.y[i] >= lo && data.train.y[i] < hi));
    const memo = new FecamLearner(cfg(), 9);
    const plain = new FecamLearner(cfg(), 9, 0);
    const rng = new Rng(2);
    const all = Array.from({ length: data.test.count }, (_, i) => i);
    const steps: (() => void)[] = [
      () => [memo, plain].forEach((l) => l.learnBatch(part(0, 3))),
      () => [memo, plain].forEach((l) => l.learnBatch(part(3, 6))),
      () => [memo, plain].forEach((l) => l.learnBatch(rows(part(1, 2), [0, 1, 2]))), // class 1 changes
    ];
    for (const step of steps) {
      step();
      for (let r = 0; r < 3; r++) {
        const pick = rng.permutation(all.length).slice(0, 30 + rng.int(40));
        pick.push(pick[0], pick[1]); // duplicates
        const q = rows(data.test, pick.map((i) => all[i]));
        expect(Array.from(memo.distances(q))).to.deep.equal(Array.from(plain.distances(q)));
      }
    }
    expect(memo.stateSummary()).to.deep.equal(plain.stateSummary()); // the memo is not learner state
  });

  it('a class with one sample (no covariance) falls back to the Euclidean distance of the unit vectors', () => {
    const l = new FecamLearner(cfg({ tukey: 1 }), 2);
    l.learnBatch(features([[3, 4]], [9]));
    expect(l.normalizedCovariance(9)).to.equal(null);
    const d = l.distances(features([[1, 0]], [0]));
    expect(d[0]).to.be.closeTo((1 - 0.6) ** 2 + 0.8 ** 2, 1e-15);
  });

  it('checkpoint → new learner → continue equals the uninterrupted learner exactly (through the checkpoint file)', async () => {
    const data = clusters(4, 6, 8, 20, 10, { nonNegative: true });
    const part = (lo: number, hi: number) => rows(data.train, Array.from({ length: data.train.count }, (_, i) => i).filter((i) => data.train.y[i] >= lo && data.train.y[i] < hi));
    const full = new FecamLearner(cfg(), 8);
    full.learnBatch(part(0, 3));
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-fecam-'));
    try {
      await writeCheckpoint(path.join(tmp, 'db.json'), { run: 'r', task: 0, method: 'fecam', state: full.getState() });
      full.learnBatch(part(3, 6));
      full.learnBatch(part(0, 2)); // more samples of old classes: task-free
      const { checkpoint } = await readCheckpoint(path.join(tmp, 'db.json'), 'r');
      const resumed = new FecamLearner(cfg(), 8);
      resumed.setState(checkpoint!.state);
      resumed.learnBatch(part(3, 6));
      resumed.learnBatch(part(0, 2));
      expect(Array.from(resumed.distances(data.test))).to.deep.equal(Array.from(full.distances(data.test)));
      expect(Array.from(resumed.predict(data.test))).to.deep.equal(Array.from(full.predict(data.test)));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    // The stored learner state must read the same after a restore (resume compares it).
    const restored = new FecamLearner(cfg(), 8);
    restored.setState(full.getState());
    restored.predict(data.test);
    full.predict(data.test);
    expect(restored.stateSummary()).to.deep.equal(full.stateSummary());
    expect(userError(() => new FecamLearner(cfg({ gamma1: 2 }), 8).setState(full.getState())).message).to.match(/option gamma1 was 1, now 2/);
  });

  it('bad input: negative features under Tukey, a covariance that shrinkage cannot make definite, bad options', () => {
    const l = new FecamLearner(cfg(), 2);
    const e = userError(() => l.learnBatch(features([[1, -2]], [0])));
    expect(e.message).to.match(/negative value \(-2\); Tukey's transform x\^0.5 needs non-negative features/);
    expect(e.hint).to.match(/--tukey 1/);
    // three points on a line: cov [[1,1],[1,1]], V₁ = V₂ = 1 → shrunk [[2,2],[2,2]]: singular
    const s = new FecamLearner(cfg({ tukey: 1 }), 2);
    s.learnBatch(features([[4, 4], [6, 6], [5, 5]], [0, 0, 0]));
    const e2 = userError(() => s.predict(features([[1, 1]], [0])));
    expect(e2.message).to.match(/shrunk covariance of class 0 is not positive definite/);
    expect(e2.hint).to.match(/--gamma1/);
    expect(userError(() => resolveMethodOptions(fecamMethod, { tukey: '0' })).message).to.equal('fecam --tukey must be a number > 0 and ≤ 1, got "0"');
    expect(userError(() => fecamConfig({ tukey: 1.5 })).message).to.equal('fecam --tukey must be a number > 0 and ≤ 1, got 1.5');
    expect(fecamConfig({ normalizeCovariance: 'false' }).normalizeCovariance).to.equal(false);
  });

  it('summary lists what is kept and its size; registered as a method', () => {
    const l = new FecamLearner(cfg({ tukey: 1 }), 3);
    l.learnBatch(features([[1, 2, 3], [2, 1, 0], [0, 0, 1]], [5, 5, 7]));
    const s = l.stateSummary() as { bytes: number; exemplars: number };
    expect(s.bytes).to.equal(2 * (3 + 3 + packedSize(3)) * 8);
    expect(s.exemplars).to.equal(0);
    expect(getMethod('fecam')).to.equal(fecamMethod);
    expect(resolveMethodOptions(fecamMethod, {})).to.deep.equal({ tukey: 0.5, gamma1: 1, gamma2: 1, normalizeCovariance: true });
  });
});
