/**
 * The feature cache as `cl run` uses it, on real tiny ONNX models: a backbone that returns NaN/Inf
 * stops the run with an error naming it and caches nothing; an entry copied under another entry's
 * id is detected, reported and rebuilt (it used to be served, and the record said `pixels` with the
 * other backbone's dim).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RunRecord } from '../../src/types.js';
import { cl, requireBuild } from './child.js';
import { flatFeaturesModel, identityModel } from '../backbones/tiny-onnx.js';

describe('feature cache through cl run (child process)', function () {
  this.timeout(300_000);
  let tmp: string;
  let env: Record<string, string>;
  let cacheDir: string;

  before(function () {
    requireBuild();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-features-cli-'));
    cacheDir = path.join(tmp, 'cache');
    env = { CL_CACHE_DIR: cacheDir };
  });

  after(function () {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const entries = (): { id: string; backbone: string; dim: number }[] => {
    const dir = path.join(cacheDir, 'features');
    if (!fs.existsSync(dir)) return [];
    return fs
      .readdirSync(dir)
      .filter((n) => !n.startsWith('.'))
      .map((n) => JSON.parse(fs.readFileSync(path.join(dir, n, 'meta.json'), 'utf8')) as { id: string; backbone: { id: string }; dim: number })
      .map((m) => ({ id: m.id, backbone: m.backbone.id, dim: m.dim }));
  };

  it('stops on NaN/Inf features from a backbone, naming it, and caches nothing', async function () {
    const model = path.join(tmp, 'log.onnx');
    fs.writeFileSync(model, flatFeaturesModel('Log', 28, 28)); // log of normalised pixels: NaN and -Inf
    const store = path.join(tmp, 'nan-db.json');
    const r = await cl(['run', 'split-mnist-mini', '-m', 'nmc', '--backbone', `onnx:${model}`, '--store', store, '--json'], { env });
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.match(/^cl: error: backbone onnx:log@[0-9a-f]{12}#features produced \d+ non-finite values of 6272000 \(first: (NaN|-Infinity) at image 0, feature \d+\) for mnist-embedded\/train; nothing was cached$/m);
    expect(entries().filter((e) => e.backbone.startsWith('onnx:log@'))).to.deep.equal([]);
    const ls = await cl(['ls', '--json', '--store', store], { env });
    expect(JSON.parse(ls.stdout)).to.deep.equal([]);
  });

  it('reports and rebuilds an entry copied under another entry\'s id instead of using it', async function () {
    const store = path.join(tmp, 'copy-db.json');
    const first = await cl(['run', 'split-mnist-mini', '-m', 'nmc', '--quiet', '--json', '--store', store], { env });
    expect(first.code, first.stderr).to.equal(0);
    const pixels = JSON.parse(first.stdout) as RunRecord;
    expect(pixels.backbone.dim).to.equal(784);
    // An ONNX backbone with 1-d features (identity, then global average pooling of the one channel).
    const model = path.join(tmp, 'gap.onnx');
    fs.writeFileSync(model, identityModel(['N', 1, 28, 28], 'x', 'y'));
    const other = await cl(['run', 'split-mnist-mini', '-m', 'nmc', '--quiet', '--json', '--backbone', `onnx:${model}`, '--store', store], { env });
    expect(other.code, other.stderr).to.equal(0);
    const gap = JSON.parse(other.stdout) as RunRecord;
    expect(gap.backbone.dim).to.equal(1);
    // Copy the ONNX entries over the pixels entries (same folder names as the pixels run's).
    const dir = path.join(cacheDir, 'features');
    const [pTrain, pTest] = pixels.backbone.featureCacheId.split('+');
    const [gTrain, gTest] = gap.backbone.featureCacheId.split('+');
    for (const [from, to] of [[gTrain, pTrain], [gTest, pTest]]) {
      fs.rmSync(path.join(dir, to), { recursive: true });
      fs.cpSync(path.join(dir, from), path.join(dir, to), { recursive: true });
    }
    const again = await cl(['run', 'split-mnist-mini', '-m', 'nmc', '--json', '--store', store], { env });
    expect(again.code, again.stderr).to.equal(0);
    const rec = JSON.parse(again.stdout) as RunRecord;
    expect(rec.backbone.id).to.equal('pixels');
    expect(rec.backbone.dim).to.equal(784);
    expect(rec.summary!.finalAccuracy).to.equal(pixels.summary!.finalAccuracy);
    expect(again.stderr).to.include(`features train: feature cache entry ${pTrain} is rebuilt: it holds ${gTrain}`);
    expect(again.stderr).to.include(`features test: feature cache entry ${pTest} is rebuilt: it holds ${gTest}`);
    expect(entries().find((e) => e.id === pTrain)).to.deep.equal({ id: pTrain, backbone: 'pixels', dim: 784 });
  });
});
