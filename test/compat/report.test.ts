import { expect } from 'chai';
import { stripVTControlCharacters } from 'node:util';
import { resolveCompatOptions } from '../../src/compat/options.js';
import type { CompatRecord, CompatVersion } from '../../src/compat/record.js';
import { refreshAggregates } from '../../src/compat/runner.js';
import { compatListLine, renderCompat } from '../../src/report/compat.js';

/** A compat record holding the worked example of docs/protocols.md "Compatibility (embedding upgrades)": C = [[40], [42, 55], [40, 56, 60]]. */
function fixture(): CompatRecord {
  const C = [
    [40, null, null],
    [42, 55, null],
    [40, 56, 60],
  ];
  const version = (t: number): CompatVersion => ({
    version: t,
    dim: 128 + 32 * (t - 1),
    trainClasses: Array.from({ length: 10 * t }, (_, i) => i),
    trainSamples: 500 * t,
    prototypeDim: t > 1 ? 128 + 32 * (t - 2) : null,
    loss: 'x',
    epochLosses: [1, 0.5],
    orthoError: t > 1 ? 2e-6 : null,
    orthoErrorMax: t > 1 ? 3e-6 : null,
    headParams: 1000,
    orthoParams: 0,
    trainMs: 1000,
    backfillTrainMs: 0,
    evalMs: 10,
    maxPairMs: 5,
  });
  const r: CompatRecord = {
    id: 'abcdef1234567890',
    kind: 'compat',
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:10:00.000Z',
    status: 'finished',
    pid: 1,
    host: 'h',
    scenario: { name: 'split-cifar100', dataset: 'cifar100', numClasses: 30, order: { id: 'natural', seed: null, classes: [] }, blocks: [[0], [1], [2]] },
    method: 'oca',
    methodOptions: { ...resolveCompatOptions(), growth: 'every', data: 'joint' },
    trainSeed: 1,
    steps: 3,
    backbone: { id: 'mobilenet-v2', preprocessing: 'p', dim: 1280, featureCacheId: 'c' },
    retrieval: { queries: 100, gallery: 100, protocol: 'p', skippedQueries: 0 },
    versions: [1, 2, 3].map(version),
    matrices: { top1: C, top5: C, mAP: C },
    criterion: { top1: [], top5: [], mAP: [] },
    backfill: { description: 'd', dims: [128, 160, 192], row: { top1: [40, 57, 61], top5: [40, 57, 61], mAP: [40, 57, 61] }, source: ['diagonal', 'trained', 'trained'] },
    ac: { top1: null, top5: null, mAP: null },
    am: { top1: null, top5: null, mAP: null },
    acPerStep: { top1: [], top5: [], mAP: [] },
    timings: { totalMs: 60000, featuresMs: 0 },
    backend: 'wasm',
    clVersion: '0.1.0',
    command: ['compat', 'split-cifar100'],
  };
  refreshAggregates(r);
  return r;
}

describe('report/compat: renderCompat (docs/protocols.md "Compatibility (embedding upgrades)" worked example)', () => {
  it('aggregates: strict criterion per cell, AC 2/3, AM 48.833, AC per step (1, 2/3)', () => {
    const r = fixture();
    expect(r.criterion.mAP).to.deep.equal([
      [null, null, null],
      [true, null, null],
      [false, true, null],
    ]);
    expect(r.ac.mAP).to.be.closeTo(2 / 3, 1e-12);
    expect(r.am.mAP).to.be.closeTo(293 / 6, 1e-12);
    expect(r.acPerStep.mAP).to.deep.equal([1, 2 / 3]);
  });

  it('marks each off-diagonal cell ✓/✗ against the gallery model diagonal and prints AC, AM, backfill', () => {
    const text = stripVTControlCharacters(renderCompat(fixture()));
    const rows = text.split('\n').filter((l) => /^φ\d \(d/.test(l));
    expect(rows).to.have.length(9); // 3 rows × 3 metrics
    expect(rows[1]).to.match(/42\.00 ✓\s+55\.00/);
    expect(rows[2]).to.match(/40\.00 ✗\s+56\.00 ✓\s+60\.00/);
    expect(rows[2]).to.match(/61\.00$/); // backfill column
    expect(text).to.include('AC 0.667');
    expect(text).to.include('AM 48.83');
    expect(text).to.include('AC per step 1.000, 0.667');
    expect(text).to.match(/Upgrade φ1 → φ3/);
    expect(text).to.match(/T⊥ expm \+ bias/);
  });

  it('a list line and a partial (running) record render', () => {
    const r = fixture();
    expect(stripVTControlCharacters(compatListLine(r))).to.match(/^abcdef12 .* finished .*oca .*AC 0\.67 .*AM 48\.83 .*3\/3$/);
    r.versions = r.versions.slice(0, 1);
    r.status = 'running';
    const text = stripVTControlCharacters(renderCompat(r));
    expect(text).to.match(/running/);
    expect(text).to.not.match(/Upgrade/);
  });
});
