import { expect } from 'chai';
import { cosineScores, retrievalMetrics, rankQuery, type EmbeddingSet } from '../../src/eval/retrieval.js';
import { ac, acPerStep, am, compatibilityCriterion } from '../../src/eval/compatibility.js';
import { initBackend, tf } from '../../src/tf.js';
import { Rng } from '../../src/rng.js';

/** Six 2-D items of docs/protocols.md "Compatibility (embedding upgrades)": angles (deg), labels, norms. */
function sixPoints(norms: number[]): EmbeddingSet {
  const angles = [0, 25, 110, 70, 95, 200];
  const x = new Float32Array(12);
  angles.forEach((a, k) => {
    const r = (a * Math.PI) / 180;
    x[2 * k] = norms[k] * Math.cos(r);
    x[2 * k + 1] = norms[k] * Math.sin(r);
  });
  return { x, dim: 2, labels: Int32Array.from([0, 0, 0, 1, 1, 1]), ids: Int32Array.from([0, 1, 2, 3, 4, 5]) };
}

describe('eval/retrieval', function () {
  before(async () => {
    await initBackend();
  });

  it('six-point fixture: CMC, mAP and per-query AP (norms do not matter)', () => {
    for (const norms of [
      [2, 1, 3, 1, 0.5, 1],
      [1, 1, 1, 1, 1, 1],
    ]) {
      const s = sixPoints(norms);
      const res = retrievalMetrics(s, s, { topK: [1, 2, 5], excludeSameId: true, chunk: 4 });
      expect(res.cmc[1]).to.be.closeTo(0.5, 1e-9);
      expect(res.cmc[2]).to.be.closeTo(5 / 6, 1e-9);
      expect(res.cmc[5]).to.be.closeTo(1, 1e-9);
      expect(res.mAP).to.be.closeTo(0.6, 1e-6);
      const expected = [0.75, 0.75, 11 / 30, 0.7, 0.45, 7 / 12];
      expected.forEach((ap, q) => expect(res.perQueryAP[q]).to.be.closeTo(ap, 1e-6));
      expect(res.skippedQueries).to.equal(0);
      expect(res.evaluatedQueries).to.equal(6);
    }
  });

  it('leave-one-out: the query id is excluded, also across models', () => {
    const s = sixPoints([2, 1, 3, 1, 0.5, 1]);
    // without exclusion every query finds itself first
    expect(retrievalMetrics(s, s, { topK: [1], excludeSameId: false }).cmc[1]).to.equal(1);
    // "another model's" gallery copy of the same images (same ids, other norms): excluded by id
    const other = sixPoints([5, 5, 0.1, 2, 2, 7]);
    const res = retrievalMetrics(s, other, { topK: [1, 2], excludeSameId: true });
    expect(res.cmc[1]).to.be.closeTo(0.5, 1e-9);
    expect(res.mAP).to.be.closeTo(0.6, 1e-6);
    // distinct ids: nothing is excluded, the copy is a free self-match
    const renamed: EmbeddingSet = { ...other, ids: Int32Array.from([10, 11, 12, 13, 14, 15]) };
    expect(retrievalMetrics(s, renamed, { topK: [1], excludeSameId: true }).cmc[1]).to.equal(1);
  });

  it('a query whose only relevant item is itself is skipped and counted', () => {
    const s: EmbeddingSet = {
      x: Float32Array.from([1, 0, 0, 1, 1, 1]),
      dim: 2,
      labels: Int32Array.from([0, 1, 1]),
      ids: Int32Array.from([10, 11, 12]),
    };
    const res = retrievalMetrics(s, s, { topK: [1], excludeSameId: true });
    expect(res.skippedQueries).to.equal(1);
    expect(res.evaluatedQueries).to.equal(2);
    expect(Number.isNaN(res.perQueryAP[0])).to.equal(true);
    // query 1 (0,1): relevant (1,1) scores 0.707 > 0 → rank 1. query 2 (1,1): items 0 and 1 tie at
    // 0.707, the lower gallery index (item 0, wrong label) ranks first → relevant at rank 2, AP 0.5.
    expect(res.cmc[1]).to.equal(0.5);
    expect(res.mAP).to.be.closeTo(0.75, 1e-9);
  });

  it('different dims: truncate to min(d_q, d_g) then renormalise (never zero-pad)', () => {
    const q: EmbeddingSet = { x: Float32Array.from([3, 4, 12]), dim: 3, labels: Int32Array.from([0]), ids: Int32Array.from([0]) };
    const g: EmbeddingSet = { x: Float32Array.from([0.6, 0.8]), dim: 2, labels: Int32Array.from([0]), ids: Int32Array.from([1]) };
    // docs/protocols.md "Compatibility (embedding upgrades)": 1.0 with truncation, 5/13 = 0.3846 with zero-padding
    expect(cosineScores(q, g)[0]).to.be.closeTo(1.0, 1e-6);
    // The ranking changes too when the gallery is the wider side: query (0.6, 0.8) against
    // A = (3, 4, 12) (relevant) and B = (0.8, 0.6, 0): truncation scores A 1.0, B 0.96 (A first);
    // zero-padding would score A 0.3846, B 0.96 (B first).
    const q2: EmbeddingSet = { x: Float32Array.from([0.6, 0.8]), dim: 2, labels: Int32Array.from([0]), ids: Int32Array.from([0]) };
    const g2: EmbeddingSet = {
      x: Float32Array.from([3, 4, 12, 0.8, 0.6, 0]),
      dim: 3,
      labels: Int32Array.from([0, 1]),
      ids: Int32Array.from([1, 2]),
    };
    const s = cosineScores(q2, g2);
    expect(s[0]).to.be.closeTo(1.0, 1e-6);
    expect(s[1]).to.be.closeTo(0.96, 1e-6);
    const res = retrievalMetrics(q2, g2, { topK: [1], excludeSameId: false });
    expect(res.cmc[1]).to.equal(1);
    expect(res.mAP).to.be.closeTo(1, 1e-9);
  });

  it('ties are ordered by gallery index', () => {
    // all scores equal: ranking is the gallery order
    const scores = new Float32Array([0.5, 0.5, 0.5, 0.5]);
    const labels = Int32Array.from([1, 0, 1, 0]);
    const ids = Int32Array.from([0, 1, 2, 3]);
    const r = rankQuery(scores, labels, ids, 0, null)!;
    expect(r.firstRank).to.equal(2);
    expect(r.ap).to.be.closeTo((1 / 2 + 2 / 4) / 2, 1e-12);
  });

  it('rankQuery matches a brute-force full sort on random rows', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 50; trial++) {
      const n = 1 + Math.floor(rng.next() * 60);
      // coarse scores to force ties
      const scores = Float32Array.from({ length: n }, () => Math.round(rng.next() * 8) / 8);
      const labels = Int32Array.from({ length: n }, () => Math.floor(rng.next() * 3));
      const ids = Int32Array.from({ length: n }, (_, k) => k);
      const exclude = Math.floor(rng.next() * n);
      const order = [...Array(n).keys()].filter((g) => g !== exclude).sort((a, b) => scores[b] - scores[a] || a - b);
      let hits = 0;
      let sumP = 0;
      let first = 0;
      order.forEach((g, k) => {
        if (labels[g] !== 0) return;
        hits++;
        if (hits === 1) first = k + 1;
        sumP += hits / (k + 1);
      });
      const got = rankQuery(scores, labels, ids, 0, exclude);
      if (hits === 0) {
        expect(got).to.equal(null);
      } else {
        expect(got!.firstRank).to.equal(first);
        expect(got!.ap).to.be.closeTo(sumP / hits, 1e-12);
      }
    }
  });

  it('does not leak tensors across calls', () => {
    const s = sixPoints([2, 1, 3, 1, 0.5, 1]);
    retrievalMetrics(s, s, { topK: [1], excludeSameId: true, chunk: 2 });
    const before = tf.memory().numTensors;
    for (let k = 0; k < 5; k++) retrievalMetrics(s, s, { topK: [1, 5], excludeSameId: true, chunk: 2 });
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('rejects inconsistent shapes', () => {
    const s = sixPoints([1, 1, 1, 1, 1, 1]);
    expect(() => retrievalMetrics({ ...s, dim: 3 }, s, { topK: [1], excludeSameId: true })).to.throw(RangeError);
  });

  // The full 10,000 × 10,000 timing lives in test/bench/retrieval.ts (npm run bench).
  it('random 2,000 × 2,000, 128-d search: mAP at the base rate', function () {
    this.timeout(120000);
    const n = 2000;
    const dim = 128;
    const rng = new Rng(1);
    const x = Float32Array.from({ length: n * dim }, () => rng.next() * 2 - 1);
    const set: EmbeddingSet = {
      x,
      dim,
      labels: Int32Array.from({ length: n }, (_, k) => k % 100),
      ids: Int32Array.from({ length: n }, (_, k) => k),
    };
    const t0 = performance.now();
    const res = retrievalMetrics(set, set, { topK: [1, 5], excludeSameId: true });
    const ms = performance.now() - t0;
    console.log(`      ${n} x ${n} x 128 search: ${(ms / 1000).toFixed(2)} s on ${tf.getBackend()}; mAP ${res.mAP.toFixed(4)}`);
    // random embeddings: mAP near the base rate 19/1999 ≈ 0.0095 (AP of a random ranking ≈ R/N plus a small excess)
    expect(res.mAP).to.be.within(0.005, 0.03);
    expect(res.cmc[1]).to.be.within(0.0, 0.05);
    expect(res.evaluatedQueries).to.equal(n);
  });
});

describe('eval/compatibility (docs/protocols.md "Compatibility (embedding upgrades)")', () => {
  const C = [[40], [42, 55], [40, 56, 60]];

  it('worked example: AC 2/3 (strict), AM 48.833, per step (1, 2/3)', () => {
    expect(ac(C)).to.be.closeTo(2 / 3, 1e-12);
    expect(am(C)).to.be.closeTo(293 / 6, 1e-12);
    expect(am(C)).to.be.closeTo(48.833, 1e-3);
    const steps = acPerStep(C);
    expect(steps).to.have.length(2);
    expect(steps[0]).to.equal(1);
    expect(steps[1]).to.be.closeTo(2 / 3, 1e-12);
    expect(compatibilityCriterion(C)).to.deep.equal([[], [true], [false, true]]);
  });

  it('cells above the diagonal are ignored; a genuine 0 counts in AM', () => {
    const full = [
      [40, NaN, NaN],
      [42, 55, NaN],
      [40, 56, 60],
    ];
    expect(ac(full)).to.be.closeTo(2 / 3, 1e-12);
    expect(am([[10], [0, 20]])).to.be.closeTo(10, 1e-12);
    expect(ac([[10]])).to.equal(null);
  });
});
