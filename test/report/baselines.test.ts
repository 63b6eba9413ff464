import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../src/errors.js';
import {
  baselineMatches,
  baselineSeenClasses,
  loadBaselines,
  matchingBaselines,
  validateBaselineFile,
  type BaselineEntry,
} from '../../src/report/baselines.js';
import { makeRun } from './fixtures.js';

const cifarRun = (over: { split?: string; order?: string; backbone?: string; dataset?: string; classesPerTask?: number } = {}) =>
  makeRun({
    id: 'r1',
    R: [[95]],
    scenario: 'split-cifar100',
    dataset: over.dataset ?? 'cifar100',
    split: over.split ?? 'B0-Inc10',
    order: over.order ?? 'icarl-1993',
    backbone: over.backbone ?? 'vit-b16-in21k',
    classesPerTask: over.classesPerTask ?? 10,
    tasks: 10,
  });

describe('report/baselines', () => {
  const all = loadBaselines();
  const byId = (id: string) => all.find((b) => b.id === id) as BaselineEntry;

  it('loads and validates the shipped files with the published numbers of docs/protocols.md "Published reference numbers"', () => {
    expect(byId('janson-nmc-cifar100-b0inc10-abstract').values).to.deep.equal([88.53]);
    expect(byId('janson-nmc-cifar100-b0inc10-abstract').statusNote).to.equal('number verified; metric reading unverified');
    expect(byId('janson-nmc-cifar100-b0inc10-final').values).to.deep.equal([83.7]);
    expect(byId('janson-nmc-cifar100-b0inc10-final').order).to.equal('podnet-fixed');
    const c5 = byId('simplecil-vitb16in21k-cifar100-b0inc5-curve');
    expect(c5.values).to.have.length(20);
    expect(c5.values.slice(0, 3)).to.deep.equal([97.8, 95.0, 94.0]);
    expect(c5.status).to.equal('verified');
    expect(byId('simplecil-vitb16in21k-cifar100-b0inc10-curve').status).to.equal('derived');
    for (const b of all) expect(b.citation.length).to.be.greaterThan(20);
  });

  it('the SimpleCIL curves agree with their scalars: Ā and A_T of the logs, B0-Inc10 = even points of B0-Inc5 (split invariance)', () => {
    const c5 = byId('simplecil-vitb16in21k-cifar100-b0inc5-curve').values;
    const c10 = byId('simplecil-vitb16in21k-cifar100-b0inc10-curve').values;
    expect(c10).to.deep.equal(c5.filter((_, i) => i % 2 === 1));
    const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
    expect(mean(c5)).to.be.closeTo(byId('simplecil-vitb16in21k-cifar100-b0inc5-avg').values[0], 0.005);
    expect(mean(c10)).to.be.closeTo(byId('simplecil-vitb16in21k-cifar100-b0inc10-avg').values[0], 0.005);
    expect(c5[19]).to.equal(byId('simplecil-vitb16in21k-cifar100-b0inc5-final').values[0]);
    expect(baselineSeenClasses(byId('simplecil-vitb16in21k-cifar100-b0inc10-curve'))).to.deep.equal([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  });

  it('matching rule: dataset, split, class order and backbone must all match', () => {
    const curve10 = byId('simplecil-vitb16in21k-cifar100-b0inc10-curve');
    expect(baselineMatches(curve10, cifarRun())).to.equal(true);
    expect(baselineMatches(curve10, cifarRun({ split: 'b0-inc10' }))).to.equal(true); // canonical split name
    expect(baselineMatches(curve10, cifarRun({ backbone: 'Xenova/vit-base-patch16-224-in21k' }))).to.equal(true); // alias
    expect(baselineMatches(curve10, cifarRun({ backbone: 'onnx:Xenova/vit-base-patch16-224-in21k' }))).to.equal(true);
    expect(baselineMatches(curve10, cifarRun({ split: 'B0-Inc5', classesPerTask: 5 }))).to.equal(false);
    expect(baselineMatches(curve10, cifarRun({ order: 'podnet-fixed' }))).to.equal(false);
    expect(baselineMatches(curve10, cifarRun({ backbone: 'pixels' }))).to.equal(false);
    expect(baselineMatches(curve10, cifarRun({ backbone: 'vit-b16-in1k' }))).to.equal(false);
    expect(baselineMatches(curve10, cifarRun({ dataset: 'cifar10' }))).to.equal(false);
  });

  it('selects the Janson NMC numbers for podnet-fixed runs and the SimpleCIL ones for icarl-1993 runs', () => {
    const ids = (run: ReturnType<typeof cifarRun>) => matchingBaselines(all, [run]).map((b) => b.id).sort();
    expect(ids(cifarRun({ order: 'podnet-fixed' }))).to.deep.equal(['janson-nmc-cifar100-b0inc10-abstract', 'janson-nmc-cifar100-b0inc10-final']);
    expect(ids(cifarRun())).to.deep.equal([
      'simplecil-vitb16in21k-cifar100-b0inc10-avg',
      'simplecil-vitb16in21k-cifar100-b0inc10-curve',
      'simplecil-vitb16in21k-cifar100-b0inc10-final',
    ]);
    expect(ids(cifarRun({ split: 'B0-Inc5', classesPerTask: 5 }))).to.have.length(3);
    expect(matchingBaselines(all, [makeRun({ id: 'm', R: [[99]] })])).to.deep.equal([]);
  });

  it('rejects a malformed file with a UserError naming the file and the field', () => {
    const { file: _file, ...entry } = all.find((b) => b.id === 'janson-nmc-cifar100-b0inc10-final') as (typeof all)[number];
    const good = { entries: [entry] };
    expect(validateBaselineFile(good, 'ok.json').entries).to.have.length(1);
    const bad1 = { entries: [{ ...good.entries[0], status: 'maybe' }] };
    expect(() => validateBaselineFile(bad1, 'x.json')).to.throw(UserError, /x\.json.*\/entries\/0\/status: must be one of verified, unverified, derived/);
    const bad2 = { entries: [{ ...good.entries[0], metric: 'A_t', values: [1, 2, 3] }] };
    expect(() => validateBaselineFile(bad2, 'y.json')).to.throw(UserError, /y\.json.*A_t needs 10 value\(s\) for B0-Inc10 over 100 classes, found 3/);
    const bad3 = { entries: [{ ...good.entries[0], citaton: 'typo' }] };
    expect(() => validateBaselineFile(bad3, 'z.json')).to.throw(UserError, /unknown field "citaton"/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-baselines-'));
    try {
      fs.writeFileSync(path.join(dir, 'broken.json'), '{ "entries": [');
      expect(() => loadBaselines(dir)).to.throw(UserError, /broken\.json is not valid JSON/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
