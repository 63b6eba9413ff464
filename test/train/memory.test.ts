import { expect } from 'chai';
import { Rng } from '../../src/rng.js';
import { ExemplarMemory } from '../../src/train/memory.js';
import { selectionOrder } from '../../src/train/herding.js';
import { UserError } from '../../src/errors.js';
import { gaussianClusters, subset } from './synthetic.js';

describe('train/memory', () => {
  const dim = 6;
  const data = gaussianClusters({ classes: 30, dim, trainPerClass: 80, testPerClass: 1, sigma: 0.4, seed: 21 });

  it('quota of docs/methods/wa.md "Tests": K = 10 → 200, K = 30 → 66, K = 100 → 20', () => {
    const mem = new ExemplarMemory(dim, { mode: 'fixed-total', total: 2000, perClass: 20, herding: 'icarl' });
    expect([10, 30, 100].map((k) => mem.quota(k))).to.deep.equal([200, 66, 20]);
    expect(66 * 30).to.equal(1980);
    const pc = new ExemplarMemory(dim, { mode: 'per-class', total: 2000, perClass: 20, herding: 'icarl' });
    expect([10, 30, 100].map((k) => pc.quota(k))).to.deep.equal([20, 20, 20]);
  });

  it('fixed total: budget respected after every increment, old classes trimmed as a prefix of their herding order', async () => {
    const M = 200;
    const mem = new ExemplarMemory(dim, { mode: 'fixed-total', total: M, perClass: 20, herding: 'icarl' });
    const rng = new Rng(1);
    const firstRows = new Map<number, Float32Array>();
    for (let t = 0; t < 3; t++) {
      const classes = Array.from({ length: 10 }, (_, k) => t * 10 + k);
      await mem.update(classes, subset(data.train, classes), rng);
      const K = (t + 1) * 10;
      const q = Math.min(80, Math.floor(M / K));
      const counts = mem.counts();
      expect(Object.keys(counts)).to.have.length(K);
      for (const c of Object.values(counts)) expect(c).to.equal(q);
      expect(mem.size).to.be.at.most(M);
      expect(mem.size).to.equal(q * K);
      for (let c = 0; c < K; c++) {
        const kept = mem.rowsOf(c);
        if (!kept) throw new Error('missing class');
        if (!firstRows.has(c)) firstRows.set(c, kept.rows);
        // a prefix of what was stored when the class arrived
        expect(Array.from(kept.rows)).to.deep.equal(Array.from(firstRows.get(c)!.subarray(0, kept.count * dim)));
      }
    }
    // class 0 arrived first with quota 20: its rows are the first 20 of its herding order on its own samples
    const own = subset(data.train, [0]);
    const order = selectionOrder('icarl', own.x, own.count, dim, 20, new Rng(0));
    const expected = Array.from(order.subarray(0, mem.quota(30))).flatMap((i) => Array.from(own.x.subarray(i * dim, (i + 1) * dim)));
    expect(Array.from(mem.rowsOf(0)!.rows)).to.deep.equal(expected);
    const f = mem.features();
    expect(f.count).to.equal(mem.size);
    expect(f.y.filter((y) => y === 29).length).to.equal(mem.quota(30));
  });

  it('per-class: every class keeps memoryPerClass rows (or all it has)', async () => {
    const mem = new ExemplarMemory(dim, { mode: 'per-class', total: 0, perClass: 12, herding: 'der' });
    const rng = new Rng(2);
    for (let t = 0; t < 3; t++) {
      const classes = Array.from({ length: 10 }, (_, k) => t * 10 + k);
      await mem.update(classes, subset(data.train, classes), rng);
      expect(mem.size).to.equal(12 * (t + 1) * 10);
    }
    const tiny = new ExemplarMemory(dim, { mode: 'per-class', total: 0, perClass: 500, herding: 'random' });
    await tiny.update([3], subset(data.train, [3]), rng);
    expect(tiny.counts()).to.deep.equal({ '3': 80 });
  });

  it('rejects a negative or fractional budget with a UserError naming the option', () => {
    expect(() => new ExemplarMemory(dim, { mode: 'fixed-total', total: -1, perClass: 20, herding: 'icarl' })).to.throw(UserError, /memory/);
    expect(() => new ExemplarMemory(dim, { mode: 'per-class', total: 10, perClass: 2.5, herding: 'icarl' })).to.throw(UserError, /memoryPerClass/);
  });
});
