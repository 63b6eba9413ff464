/** cl compare over class orders and seeds, on hand-made records (docs/protocols.md "Aggregating over orders and seeds"). */
import { expect } from 'chai';
import { compareRuns, groupRuns, renderComparison } from '../../src/report/compare.js';
import { makeRun } from './fixtures.js';

// wa: 3 orders × 2 seeds; final rows chosen so that A_T = (R[1][0] + R[1][1]) / 2 is easy to follow.
const waFinal: Record<string, [number, number]> = {
  'icarl-1993/1': [60, 80], // 70
  'icarl-1993/2': [62, 82], // 72
  'seed-1/1': [50, 70], // 60
  'seed-1/2': [54, 70], // 62
  'seed-2/1': [64, 80], // 72
  'seed-2/2': [68, 80], // 74
};
const runs = [
  ...Object.entries(waFinal).map(([k, [a, b]], i) => {
    const [order, seed] = k.split('/');
    return makeRun({ id: `wa${i}`, method: 'wa', order, seed: Number(seed), R: [[90], [a, b]], createdAt: `2026-01-01T00:00:0${i}.000Z` });
  }),
  ...['icarl-1993', 'seed-1', 'seed-2'].map((order, i) => makeRun({ id: `nmc${i}`, method: 'nmc', order, R: [[80], [50 + i, 60]], createdAt: `2026-01-02T00:00:0${i}.000Z` })),
];

const sampleStd = (xs: number[]): number => {
  const m = xs.reduce((s, v) => s + v, 0) / xs.length;
  return Math.sqrt(xs.reduce((s, v) => s + (v - m) ** 2, 0) / (xs.length - 1));
};

describe('report/compare: aggregation over class orders and seeds', () => {
  it('groups by everything except seed and order: n = orders × seeds, mean ± sample std over both', () => {
    const cmp = compareRuns(runs);
    expect(cmp.groups.map((g) => g.group.label)).to.deep.equal(['wa', 'nmc']);
    const [wa, nmc] = cmp.groups;
    expect(wa.n).to.equal(6);
    expect(wa.orders).to.deep.equal(['icarl-1993', 'seed-1', 'seed-2']);
    expect(wa.seeds).to.deep.equal([1, 2]);
    const finals = [70, 72, 60, 62, 72, 74];
    expect(wa.finalAccuracy!.mean).to.be.closeTo(410 / 6, 1e-9);
    expect(wa.finalAccuracy!.std).to.be.closeTo(sampleStd(finals), 1e-9);
    expect(wa.finalAccuracy!.n).to.equal(6);
    // NMC (unseeded): 3 orders give n = 3 with a std.
    expect(nmc.n).to.equal(3);
    expect(nmc.finalAccuracy!.mean).to.be.closeTo((55 + 55.5 + 56) / 3, 1e-9);
    expect(nmc.finalAccuracy!.std).to.be.closeTo(0.5, 1e-9);
    const text = renderComparison(cmp);
    expect(text).to.match(/over class orders and seeds/);
    expect(text).to.include('68.33 ± 5.85'); // sqrt(171.33 / 5)
  });

  it('--split order keeps orders apart (mean over seeds); --split order,seed leaves one run per group', () => {
    const byOrder = compareRuns(runs, { split: ['order'] });
    const wa = byOrder.groups.filter((g) => g.group.key.method === 'wa');
    expect(wa.map((g) => g.group.label)).to.deep.equal(['wa · order icarl-1993', 'wa · order seed-1', 'wa · order seed-2']);
    expect(wa.map((g) => g.n)).to.deep.equal([2, 2, 2]);
    expect(wa.map((g) => g.finalAccuracy!.mean)).to.deep.equal([71, 61, 73]);
    expect(wa[0].finalAccuracy!.std).to.be.closeTo(Math.SQRT2, 1e-12);
    expect(renderComparison(byOrder)).to.match(/over seeds/);
    const single = groupRuns(runs, ['order', 'seed']);
    expect(single).to.have.length(9);
    expect(single.every((g) => g.runs.length === 1)).to.equal(true);
    const bySeed = compareRuns(runs, { split: ['seed'] }).groups.filter((g) => g.group.key.method === 'wa');
    expect(bySeed.map((g) => [g.n, g.finalAccuracy!.mean])).to.deep.equal([
      [3, (70 + 60 + 72) / 3],
      [3, (72 + 62 + 74) / 3],
    ]);
  });

  it('names only what varies: one seed and three orders is "over class orders", one run per group "nothing"', () => {
    const seedOne = runs.filter((r) => r.method === 'nmc' || r.trainSeed === 1);
    const text = renderComparison(compareRuns(seedOne));
    expect(text).to.match(/over class orders;/);
    expect(text).to.not.match(/over class orders and seeds/);
    const oneOrder = runs.filter((r) => r.method === 'wa' && r.scenario.order.id === 'seed-1');
    expect(renderComparison(compareRuns(oneOrder))).to.match(/over seeds;/);
    expect(renderComparison(compareRuns(runs.slice(0, 1)))).to.match(/over nothing \(one run per group\)/);
  });

  it('runs that differ in anything else (split, options, backbone) are never pooled', () => {
    const other = [makeRun({ id: 'x1', method: 'wa', order: 'seed-1', R: [[90], [60, 80]], methodOptions: { lr: 0.1 } }), makeRun({ id: 'x2', method: 'wa', order: 'seed-2', R: [[90], [60, 80]], methodOptions: { lr: 0.01 } })];
    expect(groupRuns(other)).to.have.length(2);
  });
});
