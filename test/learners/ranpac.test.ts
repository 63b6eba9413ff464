import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getMethod, resolveMethodOptions } from '../../src/learners/index.js';
import {
  chooseRidge,
  RanpacLearner,
  ranpacConfig,
  ranpacMethod,
  randomProjection,
  RIDGE_GRID,
  ridgeSplit,
  type RanpacState,
} from '../../src/learners/ranpac.js';
import { Rng } from '../../src/rng.js';
import { readCheckpoint, writeCheckpoint } from '../../src/store/checkpoints.js';
import type { Features } from '../../src/types.js';
import { accuracy, clusters, features, relDiff, rows, runSplit } from './closed-form-helpers.js';
import { userError } from '../user-error.js';

const cfg = (o: Record<string, unknown> = {}) => ranpacConfig(o as never);

/** 2×2 ridge solution (G + λI)⁻¹c by the explicit inverse. */
function solve2(g: number[], lambda: number, c: number[]): number[] {
  const a = g[0] + lambda;
  const b = g[1];
  const d = g[3] + lambda;
  const det = a * d - b * b;
  return [(d * c[0] - b * c[1]) / det, (-b * c[0] + a * c[1]) / det];
}

describe('learners/ranpac (docs/methods/ranpac.md)', () => {
  it('hand-made example without projection (M = 0) and a fixed λ: W = (G + λI)⁻¹C', () => {
    // A: (1,0), (2,0); B: (0,1), (0,3). G = [[5,0],[0,10]], C = [(3,0), (0,4)]; λ = 1: W = [[1/2, 0],[0, 4/11]]
    const l = new RanpacLearner(cfg({ projection: 0, ridge: 1 }), 2, 1);
    l.learnBatch(features([[1, 0], [0, 1], [2, 0], [0, 3]], [0, 1, 0, 1]));
    expect(Array.from(l.gramMatrix())).to.deep.equal([5, 0, 0, 10]);
    const q = features([[1, 1], [0.5, 1]], [0, 0]);
    const s = l.rawScores(q);
    [0.5, 4 / 11, 0.25, 4 / 11].forEach((v, i) => expect(s[i]).to.be.closeTo(v, 1e-15));
    expect(Array.from(l.predict(q))).to.deep.equal([0, 1]);
  });

  it('with a projection: h = ReLU(Wᵣᵀx) from the seed, G = Σhhᵀ, C = Σh per class', () => {
    const data = clusters(2, 3, 5, 4, 0);
    const M = 7;
    const l = new RanpacLearner(cfg({ projection: M, ridge: 10 }), 5, 42);
    l.learnBatch(data.train);
    const w = randomProjection(42, 5, M);
    expect(w.length).to.equal(35);
    const h: number[][] = [];
    for (let i = 0; i < data.train.count; i++) {
      h.push(Array.from({ length: M }, (_, j) => {
        let v = 0;
        for (let d = 0; d < 5; d++) v += data.train.x[i * 5 + d] * w[d * M + j];
        return Math.max(0, v);
      }));
    }
    const g = new Float64Array(M * M);
    for (const r of h) for (let a = 0; a < M; a++) for (let b = 0; b < M; b++) g[a * M + b] += r[a] * r[b];
    expect(relDiff(l.gramMatrix(), g)).to.be.below(1e-13);
    const c1 = new Float64Array(M);
    h.forEach((r, i) => {
      if (data.train.y[i] === 1) r.forEach((v, j) => (c1[j] += v));
    });
    expect(relDiff(l.classSum(1)!, c1)).to.be.below(1e-13);
    expect(h.some((r) => r.some((v) => v === 0)), 'the ReLU clips').to.equal(true);
    // the same seed draws the same projection; another seed another
    expect(Array.from(randomProjection(42, 5, M))).to.deep.equal(Array.from(w));
    expect(Array.from(randomProjection(43, 5, M))).to.not.deep.equal(Array.from(w));
  });

  it('λ search (the paper): 80/20 seeded split of the increment, least validation MSE over 1e-8…1e8', () => {
    expect(RIDGE_GRID).to.have.length(17);
    expect(RIDGE_GRID[0]).to.equal(1e-8);
    expect(RIDGE_GRID[16]).to.equal(1e8);
    const split = ridgeSplit(5, 0, 50);
    expect(split.train).to.have.length(40);
    expect(split.val).to.have.length(10);
    expect([...split.train, ...split.val].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    expect(ridgeSplit(5, 1, 50).val).to.not.deep.equal(split.val); // a new shuffle per increment

    // Independent check on a 2-d problem (M = 0): fit rows → G, C; MSE of each λ by explicit 2×2 inverses.
    const rng = new Rng(8);
    const xs: number[][] = [];
    const ys: number[] = [];
    for (let i = 0; i < 30; i++) {
      const y = i % 2;
      ys.push(y);
      xs.push([y + rng.normal() * 0.8, 1 - y + rng.normal() * 0.8]);
    }
    const f = features(xs, ys);
    const l = new RanpacLearner(cfg({ projection: 0 }), 2, 5);
    l.learnBatch(f);
    const { train, val } = ridgeSplit(5, 0, 30);
    const g = [0, 0, 0, 0];
    const c = [[0, 0], [0, 0]];
    for (const i of train) {
      const x = [f.x[2 * i], f.x[2 * i + 1]];
      g[0] += x[0] * x[0];
      g[1] += x[0] * x[1];
      g[2] += x[1] * x[0];
      g[3] += x[1] * x[1];
      c[f.y[i]][0] += x[0];
      c[f.y[i]][1] += x[1];
    }
    // the block's classes in order of first appearance among all its rows: 0, 1
    const losses = RIDGE_GRID.map((lambda) => {
      const w0 = solve2(g, lambda, c[0]);
      const w1 = solve2(g, lambda, c[1]);
      let se = 0;
      for (const i of val) {
        const x = [f.x[2 * i], f.x[2 * i + 1]];
        se += (x[0] * w0[0] + x[1] * w0[1] - (f.y[i] === 0 ? 1 : 0)) ** 2;
        se += (x[0] * w1[0] + x[1] * w1[1] - (f.y[i] === 1 ? 1 : 0)) ** 2;
      }
      return se / (val.length * 2);
    });
    const search = l.ridgeSearch()!;
    losses.forEach((v, i) => expect(search.losses[i]).to.be.closeTo(v, 1e-12 * Math.max(1, v)));
    let best = 0;
    losses.forEach((v, i) => {
      if (v < losses[best]) best = i;
    });
    expect(l.ridge()).to.equal(RIDGE_GRID[best]);
    // chooseRidge ties go to the first (smallest) λ
    expect(chooseRidge(new Float64Array([1, 0, 0, 1]), [new Float64Array(2)], [{ h: new Float64Array(2), k: 0 }], 2).lambda).to.equal(1e-8);
  });

  it('G and C do not depend on the split or class order; with a fixed λ neither does the final model', async () => {
    const data = clusters(9, 12, 10, 30, 10, { sep: 0.7 });
    const order = Array.from({ length: 12 }, (_, i) => i);
    const learners = [new RanpacLearner(cfg({ projection: 64, ridge: 100 }), 10, 3), new RanpacLearner(cfg({ projection: 64, ridge: 100 }), 10, 3), new RanpacLearner(cfg({ projection: 64, ridge: 100 }), 10, 3)];
    const a = await runSplit(learners[0], data, order, 'B0-Inc1');
    const b = await runSplit(learners[1], data, order, 'B0-Inc12');
    const c = await runSplit(learners[2], data, new Rng(6).permutation(12), 'B4-Inc4');
    expect(relDiff(learners[0].gramMatrix(), learners[1].gramMatrix())).to.be.below(1e-13);
    expect(relDiff(learners[2].gramMatrix(), learners[1].gramMatrix())).to.be.below(1e-13);
    for (let k = 0; k < 12; k++) expect(relDiff(learners[0].classSum(k)!, learners[2].classSum(k)!)).to.be.below(1e-13);
    expect(Array.from(a[11].pred)).to.deep.equal(Array.from(b[0].pred));
    expect(Array.from(c[2].pred)).to.deep.equal(Array.from(b[0].pred));
    expect(accuracy(b[0].pred, data.test.y)).to.be.above(60);
    // With λ auto the statistics are still split-invariant; λ comes from the last increment.
    const auto10 = new RanpacLearner(cfg({ projection: 64 }), 10, 3);
    const auto1 = new RanpacLearner(cfg({ projection: 64 }), 10, 3);
    await runSplit(auto10, data, order, 'B0-Inc1');
    await runSplit(auto1, data, order, 'B0-Inc12');
    expect(relDiff(auto10.gramMatrix(), auto1.gramMatrix())).to.be.below(1e-13);
    expect(auto10.ridge()).to.be.oneOf(RIDGE_GRID as number[]);
  });

  it('checkpoint → new learner → continue equals the uninterrupted learner exactly (through the checkpoint file)', async () => {
    const data = clusters(10, 6, 8, 25, 10);
    const part = (lo: number, hi: number): Features =>
      rows(data.train, Array.from({ length: data.train.count }, (_, i) => i).filter((i) => data.train.y[i] >= lo && data.train.y[i] < hi));
    const full = new RanpacLearner(cfg({ projection: 40 }), 8, 7);
    full.learnBatch(part(0, 3));
    const state = full.getState();
    full.learnBatch(part(3, 6));
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-ranpac-'));
    try {
      await writeCheckpoint(path.join(tmp, 'db.json'), { run: 'r', task: 0, method: 'ranpac', state });
      const { checkpoint } = await readCheckpoint(path.join(tmp, 'db.json'), 'r');
      const resumed = new RanpacLearner(cfg({ projection: 40 }), 8, 7);
      resumed.setState(checkpoint!.state);
      resumed.learnBatch(part(3, 6));
      expect(resumed.ridge()).to.equal(full.ridge());
      expect(Array.from(resumed.gramMatrix())).to.deep.equal(Array.from(full.gramMatrix()));
      expect(Array.from(resumed.rawScores(data.test))).to.deep.equal(Array.from(full.rawScores(data.test)));
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    // The stored learner state must read the same after a restore (resume compares it).
    const restored = new RanpacLearner(cfg({ projection: 40 }), 8, 7);
    restored.setState(full.getState());
    restored.predict(data.test);
    full.predict(data.test);
    expect(restored.stateSummary()).to.deep.equal(full.stateSummary());
    const st = full.getState();
    expect(userError(() => new RanpacLearner(cfg({ projection: 40 }), 8, 8).setState(st)).message).to.match(/seed 7, the learner was built with 8/);
    expect(userError(() => new RanpacLearner(cfg({ projection: 41 }), 8, 7).setState(st)).message).to.match(/option projection was 40, now 41/);
    const drifted: RanpacState = { ...st, projectionChecksum: st.projectionChecksum + 1e-9 };
    expect(userError(() => new RanpacLearner(cfg({ projection: 40 }), 8, 7).setState(drifted)).message).to.match(/random projection drawn from the seed differs/);
  });

  it('bad input and options: tiny increments leave λ unchosen, bad ridge values, wrong width', () => {
    const l = new RanpacLearner(cfg({ projection: 8 }), 3, 1);
    l.learnBatch(features([[1, 2, 3], [3, 2, 1]], [0, 1]));
    const e = userError(() => l.predict(features([[1, 1, 1]], [0])));
    expect(e.message).to.match(/no ridge λ has been chosen/);
    expect(e.hint).to.match(/--ridge/);
    expect(userError(() => l.learnBatch(features([[1, 2]], [0]))).message).to.match(/dimension 2/);
    expect(userError(() => ranpacConfig({ ridge: '-1' })).message).to.equal('ranpac --ridge must be auto or a number > 0, got "-1"');
    expect(userError(() => ranpacConfig({ ridge: 'sometimes' })).message).to.equal('ranpac --ridge must be auto or a number > 0, got "sometimes"');
    expect(ranpacConfig({ ridge: '1e3' }).ridge).to.equal(1000);
    expect(userError(() => resolveMethodOptions(ranpacMethod, { projection: '2.5' })).message).to.equal('ranpac --projection must be an integer in 0..65536, got "2.5"');
  });

  it('summary lists what is kept and its size; registered as a seeded method', () => {
    const l = new RanpacLearner(cfg({ projection: 16, ridge: 1 }), 4, 1);
    l.learnBatch(features([[1, 2, 3, 4], [2, 1, 0, 1], [0, 0, 1, 1]], [5, 7, 5]));
    const s = l.stateSummary() as { bytes: number; cacheBytes: number; exemplars: number; lambda: number };
    expect(s.bytes).to.equal(16 * 16 * 8 + 2 * 16 * 8);
    expect(s.cacheBytes).to.equal(4 * 16 * 8 + 16 * 2 * 8); // Wᵣ (redrawn from the seed) and W (derived)
    expect(s.exemplars).to.equal(0);
    expect(s.lambda).to.equal(1);
    expect(getMethod('ranpac')).to.equal(ranpacMethod);
    expect(ranpacMethod.seeded).to.equal(true);
  });
});
