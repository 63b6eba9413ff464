/**
 * What a run read (record.data): class names in the per-increment table, the data line, images left
 * out with --skip-bad-images and the sha256 of external features, in `cl show` and the HTML report;
 * records made before cl stored it (including old split-mnist runs of the embedded digits) display as before.
 */
import { expect } from 'chai';
import { stripVTControlCharacters as strip } from 'node:util';
import { compareRuns } from '../../src/report/compare.js';
import { renderHtml } from '../../src/report/html.js';
import { renderRun } from '../../src/report/terminal.js';
import type { RunRecord } from '../../src/types.js';
import { makeRun, WORKED_R } from './fixtures.js';

const names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', '<b>nine</b>'];

describe('report: data provenance and class names', () => {
  it('cl show prints class names per task, where the data came from and what was left out', () => {
    const run: RunRecord = {
      ...makeRun({ id: 'aaaa000011112222', R: WORKED_R, scenario: 'imagefolder:/data/digits', dataset: 'imagefolder:/data/digits' }),
      data: {
        location: '/data/digits',
        verified: 'structure',
        classNames: names,
        decode: 'crop256-224x224-bicubic-rgb8 (sharp 0.35.5, libvips 8.18.7)',
        skippedImages: [{ split: 'train', file: 'three/17.jpg', error: 'VipsJpeg: premature end of JPEG image' }],
      },
    };
    const out = strip(renderRun(run));
    expect(out).to.match(/data\s+\/data\/digits \(verified: structure; decoded crop256-224x224-bicubic-rgb8 \(sharp 0\.35\.5, libvips 8\.18\.7\)\)/);
    expect(out).to.match(/skipped\s+1 unreadable image left out \(--skip-bad-images\):/);
    expect(out).to.include('train/three/17.jpg: VipsJpeg: premature end of JPEG image');
    const row = out.split('\n').find((l) => /^\s+2\s/.test(l) && l.includes('two'));
    expect(row).to.include('2 two,3 three');
  });

  it('external features list every file checksum', () => {
    const run: RunRecord = { ...makeRun({ id: 'bbbb000011112222', R: WORKED_R }), data: { location: '/f', verified: 'external', files: { 'train_features.npy': 'ab'.repeat(32) } } };
    const out = strip(renderRun(run));
    expect(out).to.match(/data\s+\/f \(external features\)/);
    expect(out).to.include(`train_features.npy sha256 ${'ab'.repeat(32)}`);
  });

  it('a record without data (made before cl stored it, e.g. split-mnist of the embedded digits) shows as before', () => {
    const old = makeRun({ id: 'cccc000011112222', R: WORKED_R, scenario: 'split-mnist', dataset: 'mnist-embedded' });
    const out = strip(renderRun(old));
    expect(out).to.include('split-mnist (dataset mnist-embedded, split B0-Inc2');
    expect(out).to.not.match(/^\s+data\s/m);
    expect(out.split('\n').find((l) => /^\s+3\s+4,5\s/.test(l))).to.be.a('string');
  });

  it('the HTML report carries the data section, escaped', () => {
    const run: RunRecord = { ...makeRun({ id: 'dddd000011112222', R: WORKED_R }), data: { location: '/x', verified: 'structure', classNames: names } };
    const html = renderHtml(compareRuns([run], { baselines: [] }));
    expect(html).to.include('&lt;b&gt;nine&lt;/b&gt;');
    expect(html).to.not.include('<b>nine</b>');
  });
});
