import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getMethod, resolveMethodOptions } from '../../src/learners/index.js';
import { SldaLearner, sldaConfig, sldaMethod, type SldaState } from '../../src/learners/slda.js';
import { Rng } from '../../src/rng.js';
import { readCheckpoint, writeCheckpoint } from '../../src/store/checkpoints.js';
import { accuracy, clusters, features, relDiff, rows, runSplit } from './closed-form-helpers.js';
import { userError } from '../user-error.js';

const cfg = (o: Record<string, unknown> = {}) => sldaConfig(o as never);

describe('learners/slda (docs/methods/slda.md)', () => {
  it('hand-made example: pooled covariance, LDA scores and predictions', () => {
    // A: (0,0), (2,2): mean (1,1), scatter [[2,2],[2,2]]; B: (3,0), (3,2): mean (3,1), scatter [[0,0],[0,2]].
    // Σ = [[2,2],[2,4]]/4; ε = 0: Λ = Σ⁻¹ = [[4,-2],[-2,2]]; Λμ_A = (2,0), c_A = 1; Λμ_B = (10,-4), c_B = 13.
    const l = new SldaLearner(cfg({ shrinkage: 0 }), 2);
    l.learnBatch(features([[0, 0], [3, 0], [2, 2], [3, 2]], [0, 1, 0, 1]));
    expect(Array.from(l.covariance())).to.deep.equal([0.5, 0.5, 0.5, 1]);
    expect(Array.from(l.mean(0)!)).to.deep.equal([1, 1]);
    expect(Array.from(l.mean(1)!)).to.deep.equal([3, 1]);
    const q = features([[2, 0], [1, 2], [0, 0]], [0, 0, 0]);
    const s = l.rawScores(q);
    const want = [4 - 1, 20 - 13, 2 - 1, 10 - 8 - 13, -1, -13];
    want.forEach((v, i) => expect(s[i]).to.be.closeTo(v, 1e-12));
    expect(Array.from(l.predict(q))).to.deep.equal([1, 0, 0]);
    // ε = 0.5 on the same data: Λ = (0.5Σ + 0.5I)⁻¹ = [[0.75, 0.25],[0.25, 1]]⁻¹ = [[1,-0.25],[-0.25,0.75]]/0.6875
    const e = new SldaLearner(cfg({ shrinkage: 0.5 }), 2);
    e.learnBatch(features([[0, 0], [3, 0], [2, 2], [3, 2]], [0, 1, 0, 1]));
    const lam = [1 / 0.6875, -0.25 / 0.6875, -0.25 / 0.6875, 0.75 / 0.6875];
    const score = (x: number[], mu: number[]): number => {
      const lm = [lam[0] * mu[0] + lam[1] * mu[1], lam[2] * mu[0] + lam[3] * mu[1]];
      return x[0] * lm[0] + x[1] * lm[1] - 0.5 * (mu[0] * lm[0] + mu[1] * lm[1]);
    };
    const se = e.rawScores(features([[2, 0]], [0]));
    expect(se[0]).to.be.closeTo(score([2, 0], [1, 1]), 1e-12);
    expect(se[1]).to.be.closeTo(score([2, 0], [3, 1]), 1e-12);
  });

  it("hand-made example: the paper's running update (means start at 0, weights t/(t+1))", () => {
    // t=0 A(0,0): Δ=(0,0), w=0.  t=1 A(2,2): Δ=(2,2), w=1/2 → [[2,2],[2,2]], μ_A=(1,1).
    // t=2 B(3,0): Δ=(3,0), w=2/3 → [[6,0],[0,0]], μ_B=(3,0).  t=3 B(3,2): Δ=(0,2), w=3/4 → [[0,0],[0,3]].
    // t·Σ = [[8,2],[2,5]], Σ = [[2,0.5],[0.5,1.25]].
    const l = new SldaLearner(cfg({ covariance: 'running' }), 2);
    l.learnBatch(features([[0, 0], [2, 2], [3, 0], [3, 2]], [0, 0, 1, 1]));
    const c = l.covariance();
    [2, 0.5, 0.5, 1.25].forEach((v, i) => expect(c[i]).to.be.closeTo(v, 1e-15));
    expect(Array.from(l.mean(1)!)).to.deep.equal([3, 1]);
  });

  it('running update equals a literal sample-by-sample implementation of the paper, whatever the batching', () => {
    const { train } = clusters(3, 4, 6, 40, 0);
    const D = 6;
    const mu = Array.from({ length: 4 }, () => new Float64Array(D));
    const n = new Array(4).fill(0);
    let sigma = new Float64Array(D * D);
    for (let i = 0; i < train.count; i++) {
      const y = train.y[i];
      const t = i;
      const delta = Array.from({ length: D }, (_, d) => train.x[i * D + d] - mu[y][d]);
      const next = new Float64Array(D * D);
      for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) next[a * D + b] = (t * sigma[a * D + b] + (t / (t + 1)) * delta[a] * delta[b]) / (t + 1);
      sigma = next;
      for (let d = 0; d < D; d++) mu[y][d] += delta[d] / (n[y] + 1);
      n[y]++;
    }
    const l = new SldaLearner(cfg({ covariance: 'running' }), D);
    const rng = new Rng(2);
    for (let p = 0; p < train.count; ) {
      const k = 1 + rng.int(23);
      l.learnBatch(rows(train, Array.from({ length: Math.min(k, train.count - p) }, (_, j) => p + j)));
      p += k;
    }
    expect(relDiff(l.covariance(), sigma)).to.be.below(1e-12);
    for (let c = 0; c < 4; c++) expect(relDiff(l.mean(c)!, mu[c])).to.be.below(1e-12);
  });

  it('pooled covariance equals the two-pass within-class covariance for any batching and sample order', () => {
    const { train } = clusters(5, 5, 7, 30, 0);
    const D = 7;
    const means = Array.from({ length: 5 }, () => new Float64Array(D));
    const cnt = new Array(5).fill(0);
    for (let i = 0; i < train.count; i++) {
      cnt[train.y[i]]++;
      for (let d = 0; d < D; d++) means[train.y[i]][d] += train.x[i * D + d];
    }
    means.forEach((m, c) => m.forEach((_, d) => (m[d] /= cnt[c])));
    const want = new Float64Array(D * D);
    for (let i = 0; i < train.count; i++) {
      const m = means[train.y[i]];
      for (let a = 0; a < D; a++) for (let b = 0; b < D; b++) want[a * D + b] += ((train.x[i * D + a] - m[a]) * (train.x[i * D + b] - m[b])) / train.count;
    }
    const rng = new Rng(9);
    for (let trial = 0; trial < 3; trial++) {
      const perm = rng.permutation(train.count);
      const l = new SldaLearner(cfg(), D);
      for (let p = 0; p < perm.length; ) {
        const k = 1 + rng.int(40);
        l.learnBatch(rows(train, perm.slice(p, p + k)));
        p += k;
      }
      expect(relDiff(l.covariance(), want)).to.be.below(1e-12);
      for (let c = 0; c < 5; c++) expect(relDiff(l.mean(c)!, means[c])).to.be.below(1e-12);
    }
  });

  it('the final model is the same for 10 increments or 1, and for another class order', async () => {
    const data = clusters(7, 20, 12, 40, 15, { sep: 0.6 });
    const order = Array.from({ length: 20 }, (_, i) => i);
    const shuffled = new Rng(4).permutation(20);
    const ten = new SldaLearner(cfg(), 12);
    const one = new SldaLearner(cfg(), 12);
    const other = new SldaLearner(cfg(), 12);
    const a = await runSplit(ten, data, order, 'B2-Inc2');
    const b = await runSplit(one, data, order, 'B0-Inc20');
    const c = await runSplit(other, data, shuffled, 'B2-Inc2');
    expect(a).to.have.length(10);
    expect(b).to.have.length(1);
    expect(Array.from(a[9].pred)).to.deep.equal(Array.from(b[0].pred));
    expect(relDiff(ten.covariance(), one.covariance())).to.be.below(1e-13);
    // Another class order: same per-label statistics and the same predictions (labels are ids).
    expect(relDiff(ten.covariance(), other.covariance())).to.be.below(1e-13);
    for (let k = 0; k < 20; k++) expect(relDiff(ten.mean(k)!, other.mean(k)!)).to.be.below(1e-13);
    expect(Array.from(c[9].pred)).to.deep.equal(Array.from(a[9].pred));
    expect(accuracy(a[9].pred, data.test.y)).to.be.above(60); // learns something (chance: 5 %)
  });

  it('checkpoint → new learner → continue equals the uninterrupted learner exactly (also through the checkpoint file)', async () => {
    const data = clusters(8, 6, 9, 30, 10);
    const half = (lo: number, hi: number) => rows(data.train, Array.from({ length: data.train.count }, (_, i) => i).filter((i) => data.train.y[i] >= lo && data.train.y[i] < hi));
    for (const covariance of ['pooled', 'running'] as const) {
      const full = new SldaLearner(cfg({ covariance }), 9);
      full.learnBatch(half(0, 3));
      const state = full.getState();
      full.learnBatch(half(3, 6));
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-slda-'));
      try {
        await writeCheckpoint(path.join(tmp, 'db.json'), { run: 'r', task: 0, method: 'slda', state });
        const { checkpoint } = await readCheckpoint(path.join(tmp, 'db.json'), 'r');
        const resumed = new SldaLearner(cfg({ covariance }), 9);
        resumed.setState(checkpoint!.state);
        resumed.learnBatch(half(3, 6));
        expect(Array.from(resumed.covariance())).to.deep.equal(Array.from(full.covariance()));
        expect(Array.from(resumed.rawScores(data.test))).to.deep.equal(Array.from(full.rawScores(data.test)));
        expect(Array.from(resumed.predict(data.test))).to.deep.equal(Array.from(full.predict(data.test)));
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
      // The stored learner state must read the same after a restore (resume compares it).
      const restored = new SldaLearner(cfg({ covariance }), 9);
      restored.setState(full.getState());
      restored.predict(data.test);
      full.predict(data.test);
      expect(restored.stateSummary()).to.deep.equal(full.stateSummary());
    }
  });

  it('refuses a checkpoint of other options, dimension or inconsistent counts', () => {
    const l = new SldaLearner(cfg(), 3);
    l.learnBatch(features([[1, 2, 3], [2, 1, 0]], [0, 1]));
    const st = l.getState();
    expect(userError(() => new SldaLearner(cfg({ shrinkage: 0.1 }), 3).setState(st)).message).to.match(/option shrinkage was 0.0001, now 0.1/);
    expect(userError(() => new SldaLearner(cfg(), 4).setState(st)).message).to.match(/dimension 3, learner has 4/);
    const broken: SldaState = { ...st, samples: 5 };
    expect(userError(() => new SldaLearner(cfg(), 3).setState(broken)).message).to.match(/counts sum to 2/);
    expect(userError(() => new SldaLearner(cfg(), 3).setState({ ...st, scatter: new Float64Array(5) })).message).to.match(/scatter matrix has 5 values, expected 6/);
  });

  it('bad input: wrong width, non-finite values, singular covariance without shrinkage, unknown options', () => {
    const l = new SldaLearner(cfg(), 3);
    expect(userError(() => l.learnBatch(features([[1, 2]], [0]))).message).to.match(/dimension 2 but the learner was built for 3/);
    expect(userError(() => l.learnBatch(features([[1, NaN, 2]], [0]))).message).to.match(/row 0 has a non-finite value/);
    expect(() => l.predict(features([[1, 2, 3]], [0]))).to.throw(/before any class/);
    const z = new SldaLearner(cfg({ shrinkage: 0 }), 3);
    z.learnBatch(features([[1, 2, 3], [2, 1, 0]], [0, 1])); // one sample per class: Σ = 0
    const e = userError(() => z.predict(features([[1, 2, 3]], [0])));
    expect(e.message).to.match(/not positive definite with ε = 0/);
    expect(e.hint).to.match(/--shrinkage/);
    expect(userError(() => resolveMethodOptions(sldaMethod, { covariance: 'diagonal' })).message).to.equal('slda --covariance must be one of pooled, running, got "diagonal"');
    expect(userError(() => resolveMethodOptions(sldaMethod, { shrinkage: '2' })).message).to.equal('slda --shrinkage must be a number in 0..1, got "2"');
  });

  it('summary lists what is kept and its size; registered as a method', () => {
    const l = new SldaLearner(cfg(), 4);
    l.learnBatch(features([[1, 2, 3, 4], [2, 1, 0, 1], [0, 0, 1, 1]], [5, 7, 5]));
    const s = l.stateSummary() as { bytes: number; exemplars: number; classes: number; samples: number; countsPerClass: Record<string, number> };
    expect(s.bytes).to.equal(2 * 4 * 8 + 4 * 4 * 8); // two means + one D×D covariance, float64
    expect(s.exemplars).to.equal(0);
    expect(s.countsPerClass).to.deep.equal({ 5: 2, 7: 1 });
    expect(getMethod('slda')).to.equal(sldaMethod);
    expect(resolveMethodOptions(sldaMethod, {})).to.deep.equal({ shrinkage: 1e-4, covariance: 'pooled' });
  });
});
