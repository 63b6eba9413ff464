import { expect } from 'chai';
import { pairMetrics, runCompat, classBlocks, type CompatEvent } from '../../src/compat/runner.js';
import type { CompatRecord } from '../../src/compat/record.js';
import { ac, am, acPerStep } from '../../src/eval/compatibility.js';
import { retrievalMetrics } from '../../src/eval/retrieval.js';
import { UserError } from '../../src/errors.js';
import { openStore } from '../../src/store/store.js';
import { initBackend, tf } from '../../src/tf.js';
import { gaussianClasses, syntheticScenario, SYNTHETIC_BACKBONE, tempStore } from './helpers.js';

// docs/methods/compat.md "Tests": 20 Gaussian classes, D = 32, d = 8, k = 4, two versions (B10-Inc10).
const data = gaussianClasses({ classes: 20, dim: 32, trainPer: 40, testPer: 15, sigma: 1.0, seed: 7 });
const features = { ...data, backbone: { ...SYNTHETIC_BACKBONE, dim: 32 } };
// 25 epochs: the backfill reference must be trained to convergence to be an upper bound (at 15 epochs
// OCA's prototype losses still beat the under-trained unconstrained model on this data).
const small = { d: 8, k: 4, hidden: 64, epochs: 25, batchSize: 32 };

async function run(method: string, extra: Record<string, unknown> = {}, steps = 2, onEvent?: (e: CompatEvent) => void): Promise<CompatRecord> {
  return runCompat(
    { scenario: syntheticScenario(20), method, steps, seed: 3, methodOptions: { ...small, ...extra }, storePath: tempStore(), command: ['test'], features },
    onEvent,
  );
}

describe('compat/runner: upgrade protocol, matrices, store (docs/protocols.md "Compatibility (embedding upgrades)", docs/methods/compat.md "Tests")', function () {
  this.timeout(120000);
  const results = new Map<string, CompatRecord>();
  before(async () => {
    await initBackend();
    for (const m of ['independent', 'oca']) results.set(m, await run(m));
  });

  it('sanity run: independent new/old top-1 below twice chance; oca new/old mAP ≥ old/old; backfill new/new ≥ oca new/new', () => {
    const ind = results.get('independent')!;
    const oca = results.get('oca')!;
    const chance = 100 / 20;
    expect(ind.matrices.top1[1][0]!).to.be.below(2 * chance);
    expect(oca.matrices.mAP[1][0]!).to.be.at.least(oca.matrices.mAP[0][0]!);
    expect(oca.backfill!.source).to.deep.equal(['diagonal', 'trained']);
    // mAP ranks the whole gallery, so it is the stable one of the three at this size.
    expect(oca.backfill!.row.mAP[1]).to.be.at.least(oca.matrices.mAP[1][1]!);
    // Version 1 is the same plain model for every method (same seed stream).
    expect(oca.matrices.mAP[0][0]).to.equal(ind.matrices.mAP[0][0]);
  });

  it('record: dims, training classes, null above the diagonal, criterion per cell, AC/AM as eval/compatibility computes them', () => {
    const r = results.get('oca')!;
    expect(r.kind).to.equal('compat');
    expect(r.status).to.equal('finished');
    expect(r.versions.map((v) => v.dim)).to.deep.equal([8, 12]);
    expect(r.versions.map((v) => v.trainClasses.length)).to.deep.equal([10, 20]);
    expect(r.versions[0].trainClasses).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(r.versions[1].prototypeDim).to.equal(8);
    expect(r.versions[1].orthoErrorMax!).to.be.at.most(1e-5);
    for (const m of ['top1', 'top5', 'mAP'] as const) {
      const C = r.matrices[m];
      expect(C[0][1]).to.equal(null);
      const tri = [[C[0][0]!], [C[1][0]!, C[1][1]!]];
      expect(r.criterion[m][1][0]).to.equal(C[1][0]! > C[0][0]!);
      expect(r.criterion[m][0][0]).to.equal(null);
      expect(r.ac[m]).to.equal(ac(tri));
      expect(r.am[m]).to.be.closeTo(am(tri), 1e-12);
      expect(r.acPerStep[m]).to.deep.equal(acPerStep(tri));
    }
  });

  it('same seed → same numbers; the tensor count is constant across versions', async () => {
    const counts: number[] = [];
    const first = await run('oca', { epochs: 3 }, 4, (e) => {
      if (e.type === 'version') counts.push(tf.memory().numTensors);
    });
    const again = await run('oca', { epochs: 3 }, 4);
    expect(again.matrices).to.deep.equal(first.matrices);
    expect(again.backfill!.row).to.deep.equal(first.backfill!.row);
    expect(again.versions.map((v) => v.epochLosses)).to.deep.equal(first.versions.map((v) => v.epochLosses));
    expect(counts).to.have.length(4);
    expect(new Set(counts).size).to.equal(1);
  });

  it('bct and the identity ablation run three versions; widths stay d for bct and grow by k for oca', async () => {
    const bct = await run('bct', { epochs: 3, backfill: false }, 4);
    expect(bct.versions.map((v) => v.dim)).to.deep.equal([8, 8, 8, 8]);
    expect(bct.backfill).to.equal(null);
    expect(bct.versions[1].loss).to.match(/10·LS\(h·Pᵀ\)/);
    const ident = await run('oca', { epochs: 3, ortho: 'identity', backfill: false }, 4);
    expect(ident.versions.map((v) => v.dim)).to.deep.equal([8, 12, 16, 20]);
    expect(ident.versions[3].orthoParams).to.equal(20);
    expect(ident.versions[3].orthoError).to.equal(null);
    expect(ident.matrices.mAP[3].every((v) => v !== null)).to.equal(true);
    expect(ident.acPerStep.mAP).to.have.length(3);
  });

  it('a query whose only same-label item is its own old-model copy gets no hit and is skipped', () => {
    // Label 7 occurs once (id 0); the new model embeds id 0 almost exactly like the old one.
    const labels = Int32Array.from([7, 1, 1, 2, 2]);
    const ids = Int32Array.from([0, 1, 2, 3, 4]);
    const old = { x: Float32Array.from([1, 0, 0, 1, 0.1, 1, -1, 0, -1, 0.1]), dim: 2, labels, ids };
    const neu = { x: Float32Array.from([1, 0.01, 0.05, 1, 0, 1, -1, 0.1, -1, 0]), dim: 2, labels, ids };
    const r = pairMetrics(neu, old);
    expect(r.skipped).to.equal(1);
    expect(r.values.top1).to.equal(100); // the other four queries find their class mate first
    // Without the exclusion the query would score a free self-match.
    const free = retrievalMetrics(neu, old, { topK: [1], excludeSameId: false });
    expect(free.skippedQueries).to.equal(0);
    expect(free.perQueryAP[0]).to.equal(1);
  });

  it('blocks as equal as possible (first blocks one larger); clear errors for steps < 2 or > C, unknown method, unknown ortho', async () => {
    expect(classBlocks([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3)).to.deep.equal([[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]);
    expect(classBlocks(Array.from({ length: 100 }, (_, i) => i), 3).map((b) => b.length)).to.deep.equal([34, 33, 33]);
    expect(() => classBlocks([0, 1, 2], 4)).to.throw(UserError, /more than the 3 classes/);
    expect(() => classBlocks([0, 1, 2, 3], 1)).to.throw(UserError, /≥ 2/);
    expect(classBlocks([5, 3, 1, 0], 2)).to.deep.equal([[5, 3], [1, 0]]);
    const fail = async (method: string, opts: Record<string, unknown>): Promise<unknown> =>
      run(method, opts).then(
        () => null,
        (e: unknown) => e,
      );
    expect(await fail('lwf', {})).to.be.instanceOf(UserError).with.property('message').match(/unknown compat method "lwf"/);
    expect(await fail('oca', { ortho: 'householder' })).to.be.instanceOf(UserError).with.property('hint').match(/not implemented/);
    expect(await fail('oca', { epochs: '0' })).to.be.instanceOf(UserError).with.property('message').match(/--epochs must be an integer ≥ 1/);
  });

  it('a run that fails mid-way is stored as failed with the message; finished versions stay', async () => {
    const bad = { ...data.train, x: Float32Array.from(data.train.x) };
    // Corrupt one sample of a class of block 2 only: version 1 trains, version 2 diverges.
    const i = Array.from(bad.y).findIndex((y) => y === 15);
    bad.x[i * 32] = NaN;
    const store = tempStore();
    let id = '';
    const err = await runCompat(
      { scenario: syntheticScenario(20), method: 'independent', steps: 2, seed: 1, methodOptions: { ...small, epochs: 2 }, storePath: store, command: [], features: { ...features, train: bad } },
      (e) => {
        if (e.type === 'started') id = e.record.id;
      },
    ).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(err).to.be.instanceOf(Error);
    const rec = await (await openStore(store)).get<CompatRecord>(id);
    expect(rec.status).to.equal('failed');
    expect(rec.error).to.match(/diverged/);
    expect(rec.versions).to.have.length(1);
    expect(rec.matrices.top1[0][0]).to.be.a('number');
  });
});
