import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../src/errors.js';
import { loadBaselines, matchingBaselines } from '../../src/report/baselines.js';
import { compareRuns } from '../../src/report/compare.js';
import { comparisonSpec, renderSvg, svgToPng, writePlot } from '../../src/report/plot.js';
import { makeRun } from './fixtures.js';

/** A 10-task CIFAR-100 B0-Inc10 fixture run (icarl-1993, vit-b16-in21k) so the SimpleCIL baseline matches. */
function cifarRun(id: string, seed: number, method: string, offset: number) {
  const R = Array.from({ length: 10 }, (_, t) => Array.from({ length: t + 1 }, (_, j) => 96 - 1.5 * t - 0.5 * j + offset));
  return makeRun({ id, R, seed, method, scenario: 'split-cifar100', dataset: 'cifar100', split: 'B0-Inc10', order: 'icarl-1993', backbone: 'vit-b16-in21k', classesPerTask: 10 });
}

describe('report/plot', function () {
  this.timeout(60_000);
  const runs = [cifarRun('n1', 1, 'nmc', 0), cifarRun('n2', 2, 'nmc', -1), cifarRun('w1', 1, 'wa', -4)];
  const cmp = compareRuns(runs, { baselines: matchingBaselines(loadBaselines(), runs) });
  let svg = '';

  before(async () => {
    svg = await renderSvg(comparisonSpec(cmp));
  });

  it('the SVG has the series names (published one labelled), the panel and axis titles with units', () => {
    expect(svg.startsWith('<svg')).to.equal(true);
    for (const text of [
      'nmc',
      'wa',
      'SimpleCIL (APER) (published)',
      'Accuracy on all seen classes (A_t)',
      'Classes seen',
      'Accuracy A_t (%)',
      'Average forgetting F_t, F (max-prev, Chaudhry)',
      'Forgetting F_t (%)',
      'Per-task accuracy R[t][j] (forgetting curves)',
      'After task t',
      'Accuracy on task j (%)',
      'Task j',
    ]) {
      expect(svg, text).to.include(`>${text.replace(/&/g, '&amp;')}<`);
    }
  });

  it('draws the published curve dashed and the runs solid', () => {
    const lines = svg.match(/<path[^>]*aria-roledescription="line mark"[^>]*>/g) ?? [];
    const of = (series: string) => lines.filter((l) => l.includes(`: ${series};`));
    expect(of('SimpleCIL (APER) (published)')).to.have.length(1);
    expect(of('SimpleCIL (APER) (published)')[0]).to.include('stroke-dasharray="6,4"');
    for (const s of ['nmc', 'wa']) {
      expect(of(s).length, s).to.be.greaterThan(0);
      for (const l of of(s)) expect(l).to.not.include('stroke-dasharray="6,4"');
    }
  });

  it('one colour legend per panel, whose title explains line and band (no second lower-case "series" legend)', () => {
    expect(svg).to.not.include('>series<');
    expect(svg).to.include('>line: mean, band: ± 1 s.d.<');
    // These runs share one class order (icarl-1993) and differ in the seed: the band is over seeds.
    expect(svg).to.include('>over seeds<');
    expect(svg).to.not.include('over class orders');
  });

  it('names the "published" line style only when a published reference is drawn', async () => {
    expect(svg).to.include('>Source<');
    expect(svg).to.include(`>published<`);
    const alone = await renderSvg(comparisonSpec(compareRuns(runs, { baselines: [] })));
    expect(alone).to.include('>nmc<');
    expect(alone).to.not.include('>published<');
    expect(alone).to.not.include('>Source<');
  });

  it('PNG: signature and a plausible size', () => {
    const png = svgToPng(svg);
    expect([...png.subarray(0, 8)]).to.deep.equal([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const width = png.readUInt32BE(16);
    const height = png.readUInt32BE(20);
    expect(width).to.be.within(1200, 4000);
    expect(height).to.be.within(800, 4000);
    expect(png.length).to.be.greaterThan(50_000);
  });

  it('writePlot picks the format from the extension and rejects others', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-plot-'));
    try {
      await writePlot(compareRuns(runs.slice(0, 1)), path.join(dir, 'out.svg'));
      expect(fs.readFileSync(path.join(dir, 'out.svg'), 'utf8')).to.match(/^<svg/);
      let err: unknown;
      try {
        await writePlot(cmp, path.join(dir, 'out.pdf'));
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(UserError);
      expect((err as Error).message).to.match(/out\.pdf.*"\.pdf"/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
