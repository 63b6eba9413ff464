/**
 * `cl run imagefolder:<dir>` and `cl run features:<path>` as a user types them (child process on the
 * built CLI): finished records that say what was read, class names in `cl show`, unreadable images
 * with and without --skip-bad-images, and bad input as one `cl: error:` line.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { RunRecord } from '../../src/types.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = path.join(root, 'dist', 'src', 'cli', 'main.js');
const FIXTURES = path.join(root, 'test', 'fixtures', 'numpy');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cl(args: string[], env: Record<string, string>): Result {
  const r = spawnSync(process.execPath, [entry, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectUserError(r: Result, pattern: RegExp): void {
  expect(r.code, r.stderr).to.equal(2);
  expect(r.stderr).to.match(pattern);
  expect(r.stderr.match(/^cl: error: /gm), r.stderr).to.have.length(1);
  expect(r.stderr, 'no stack trace').not.to.match(/\n\s+at /);
}

/** The runs in a store (none when it was never created). */
function storedRuns(store: string, env: Record<string, string>): unknown[] {
  if (!fs.existsSync(store)) return [];
  const r = cl(['ls', '--json', '--store', store], env);
  expect(r.code, r.stderr).to.equal(0);
  return JSON.parse(r.stdout) as unknown[];
}

describe('cl run on dataset specs (child process)', function () {
  let tmp: string;
  let env: Record<string, string>;
  let flowers: string;

  before(async function () {
    if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-specs-'));
    env = { CL_CACHE_DIR: path.join(tmp, 'cache') };
    flowers = path.join(tmp, 'flowers');
    // 4 classes of 6x5 images of one colour each (directions differ, so L2-normalised NMC separates them).
    const colours = [[200, 20, 20], [20, 200, 20], [20, 20, 200], [200, 200, 20]];
    for (const [split, n] of [['train', 4], ['test', 2]] as const) {
      for (const [c, name] of ['daisy', 'iris', 'rose', 'tulip'].entries()) {
        fs.mkdirSync(path.join(flowers, split, name), { recursive: true });
        for (let i = 0; i < n; i++) {
          const px = Buffer.from(Array.from({ length: 6 * 5 * 3 }, (_, k) => colours[c][k % 3] + i + (split === 'test' ? 3 : 0)));
          await sharp(px, { raw: { width: 6, height: 5, channels: 3 } }).png().toFile(path.join(flowers, split, name, `${i}.png`));
        }
      }
    }
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('imagefolder:<dir> --increment 2: a finished record with the class names, shown by cl show', function () {
    const store = path.join(tmp, 'a.json');
    const r = cl(['run', `imagefolder:${flowers}`, '--increment', '2', '--method', 'nmc', '--backbone', 'pixels', '--resize', 'none', '--json', '--quiet', '--store', store], env);
    expect(r.code, r.stderr).to.equal(0);
    const rec = JSON.parse(r.stdout) as RunRecord;
    expect(rec.status).to.equal('finished');
    expect(rec.scenario.name).to.equal(`imagefolder:${flowers}`);
    expect(rec.scenario.taskClasses).to.deep.equal([[0, 1], [2, 3]]);
    expect(rec.data?.classNames).to.deep.equal(['daisy', 'iris', 'rose', 'tulip']);
    expect(rec.data?.location).to.equal(flowers);
    expect(rec.data?.decode).to.match(/^native-rgb8 \(sharp [\d.]+, libvips [\d.]+\)$/);
    expect(rec.summary?.finalAccuracy).to.equal(100);
    const show = cl(['show', rec.id, '--store', store], env);
    expect(show.code, show.stderr).to.equal(0);
    expect(show.stdout).to.contain('0 daisy,1 iris').and.contain('2 rose,3 tulip').and.contain(`data      ${flowers}`);
    // cl compat takes the spec too (its --steps cut the class order; no --increment needed).
    const c = cl(['compat', `imagefolder:${flowers}`, '--method', 'independent', '--steps', '2', '--epochs', '1', '--hidden', '16', '--d', '8', '--backbone', 'pixels', '--resize', 'none', '--json', '--quiet', '--store', store], env);
    expect(c.code, c.stderr).to.equal(0);
    const comp = JSON.parse(c.stdout) as { status: string; scenario: { blocks: number[][] }; data?: { classNames?: string[] } };
    expect([comp.status, comp.scenario.blocks, comp.data?.classNames]).to.deep.equal(['finished', [[0, 1], [2, 3]], ['daisy', 'iris', 'rose', 'tulip']]);
  });

  it('an unreadable image: one error line naming it; --skip-bad-images runs on and the record lists it', function () {
    const bad = path.join(tmp, 'bad');
    fs.cpSync(flowers, bad, { recursive: true });
    fs.writeFileSync(path.join(bad, 'train', 'rose', '1.png'), fs.readFileSync(path.join(bad, 'train', 'rose', '1.png')).subarray(0, 40));
    const store = path.join(tmp, 'b.json');
    const args = ['run', `imagefolder:${bad}`, '--increment', '2', '--method', 'nmc', '--backbone', 'pixels', '--resize', 'none', '--store', store];
    expectUserError(cl(args, env), new RegExp(`cannot decode image ${path.join(bad, 'train', 'rose', '1.png')}`));
    const r = cl([...args, '--skip-bad-images', '--json', '--quiet'], env);
    expect(r.code, r.stderr).to.equal(0);
    const rec = JSON.parse(r.stdout) as RunRecord;
    expect(rec.data?.skippedImages).to.have.length(1);
    expect(rec.data?.skippedImages?.[0]).to.deep.include({ split: 'train', file: 'rose/1.png' });
    const show = cl(['show', rec.id, '--store', store], env);
    expect(show.stdout).to.match(/skipped\s+1 unreadable image left out/).and.contain('train/rose/1.png');
    // Served from the cache now, the same file is the same error without --skip-bad-images.
    expectUserError(cl(args, env), new RegExp(`cannot decode image ${path.join(bad, 'train', 'rose', '1.png')}`));
  });

  it('features:<dir>: learners run on numpy features; the record says external and keeps every sha256', function () {
    const store = path.join(tmp, 'c.json');
    const dir = path.join(FIXTURES, 'npy-f32-i64');
    const entries = (): string[] => (fs.existsSync(path.join(tmp, 'cache', 'features')) ? fs.readdirSync(path.join(tmp, 'cache', 'features')) : []);
    const before = entries();
    for (const method of ['nmc', 'wa']) {
      const r = cl(['run', `features:${dir}`, '--increment', '1', '--method', method, ...(method === 'wa' ? ['--epochs', '2'] : []), '--json', '--quiet', '--store', store], env);
      expect(r.code, r.stderr).to.equal(0);
      const rec = JSON.parse(r.stdout) as RunRecord;
      expect(rec.status).to.equal('finished');
      expect(rec.backbone.preprocessing).to.equal('external');
      expect(rec.backbone.id).to.match(/^external@[0-9a-f]{12}$/);
      expect(rec.backbone.featureCacheId).to.match(/^external-[0-9a-f]{16}$/);
      expect(rec.data?.verified).to.equal('external');
      expect(Object.keys(rec.data?.files ?? {}).sort()).to.deep.equal(['test_features.npy', 'test_labels.npy', 'train_features.npy', 'train_labels.npy']);
      expect(rec.increments).to.have.length(3);
    }
    // Nothing was written into the feature cache.
    expect(entries()).to.deep.equal(before);
  });

  it('bad spec usage: one error line each', function () {
    const store = path.join(tmp, 'd.json');
    expectUserError(cl(['run', `imagefolder:${flowers}`, '--method', 'nmc', '--store', store], env), /is a dataset \(4 classes\), not a scenario/);
    expectUserError(cl(['run', `features:${path.join(FIXTURES, 'npy-f32-i64')}`, '--increment', '1', '--method', 'nmc', '--backbone', 'pixels', '--store', store], env), /already holds features/);
    expectUserError(cl(['run', `features:${path.join(FIXTURES, 'object.npy')}`, '--increment', '1', '--method', 'nmc', '--store', store], env), /not an \.npz archive/);
    const trunc = path.join(tmp, 'trunc');
    fs.cpSync(path.join(FIXTURES, 'npy-f32-i64'), trunc, { recursive: true });
    fs.truncateSync(path.join(trunc, 'test_features.npy'), 150);
    expectUserError(cl(['run', `features:${trunc}`, '--increment', '1', '--method', 'nmc', '--store', store], env), /test_features\.npy.*truncated/);
    expectUserError(cl(['run', `imagefolder:${path.join(tmp, 'nope')}`, '--increment', '1', '--method', 'nmc', '--store', store], env), /does not exist/);
    expectUserError(cl(['run', `imagefolder:${flowers}`, '--increment', '2', '--method', 'nmc', '--backbone', 'pixels', '--store', store], env), /--resize crop needs the backbone's input size/);
    // The data options go through the same error handling as every option.
    expectUserError(cl(['run', `imagefolder:${flowers}`, '--increment', '2', '--method', 'nmc', '--resize', 'bogus', '--store', store], env), /option '--resize <rule>' argument 'bogus' is invalid.*crop, squash, none/);
    expectUserError(cl(['run', `imagefolder:${flowers}`, '--increment', '2', '--method', 'nmc', '--backbone', 'pixels', '--resize'], env), /option '--resize <rule>' argument missing/);
    expectUserError(cl(['run', `imagefolder:${flowers}`, '--increment', '2', '--method', 'nmc', '--skip-bad-images=yes', '--store', store], env), /--skip-bad-images/);
    expect(storedRuns(store, env), 'nothing stored').to.deep.equal([]);
  });

  it('features: with a NaN or Inf: one error line naming the file; nothing is stored', function () {
    const store = path.join(tmp, 'nan.json');
    const nan = path.join(tmp, 'nan-feats');
    fs.cpSync(path.join(FIXTURES, 'npy-f32-i64'), nan, { recursive: true });
    const file = path.join(nan, 'test_features.npy');
    const buf = fs.readFileSync(file);
    buf.writeFloatLE(Number.NEGATIVE_INFINITY, buf.length - 4); // the last value of the last row
    fs.writeFileSync(file, buf);
    expectUserError(cl(['run', `features:${nan}`, '--increment', '1', '--method', 'nmc', '--store', store], env), new RegExp(`^cl: error: ${file}: test_features holds 1 non-finite value of 12 \\(first: -Infinity at row 2, feature 3\\)`, 'm'));
    expect(storedRuns(store, env), 'nothing stored').to.deep.equal([]);
  });

  it('a scenario file whose dataset is a spec: numClasses checked against the spec\'s own classes ("subset": true for fewer)', function () {
    const store = path.join(tmp, 'f.json');
    const file = path.join(tmp, 'feats-scenario.json');
    const base = { name: 'feats', description: 'x', dataset: `features:${path.relative(tmp, path.join(FIXTURES, 'npy-f32-i64'))}`, split: 'B0-Inc1', order: 'natural', backbone: 'external' };
    fs.writeFileSync(file, JSON.stringify({ ...base, numClasses: 4 }));
    expectUserError(cl(['run', file, '--method', 'nmc', '--store', store], env), /numClasses is 4 but dataset features:.*npy-f32-i64 has 3 classes/);
    fs.writeFileSync(file, JSON.stringify({ ...base, numClasses: 2 }));
    expectUserError(cl(['run', file, '--method', 'nmc', '--store', store], env), /numClasses is 2 but dataset features:.*npy-f32-i64 has 3 classes, so 1 classes would be left out/);
    expect(fs.existsSync(store), 'nothing stored').to.equal(false);
    fs.writeFileSync(file, JSON.stringify({ ...base, numClasses: 2, subset: true }));
    const r = cl(['run', file, '--method', 'nmc', '--json', '--quiet', '--store', store], env);
    expect(r.code, r.stderr).to.equal(0);
    const rec = JSON.parse(r.stdout) as RunRecord;
    expect(rec.scenario.taskClasses).to.deep.equal([[0], [1]]);
    expect(Object.keys(rec.increments.at(-1)?.totalPerClass ?? {}).sort()).to.deep.equal(['0', '1']);
  });

  it('features: on the .npy files of cl\'s own feature cache reproduces the cached run\'s per-class counts', function () {
    const store = path.join(tmp, 'e.json');
    const cached = JSON.parse(cl(['run', 'split-mnist-mini', '--method', 'nmc', '--json', '--quiet', '--store', store], env).stdout) as RunRecord;
    const [trainId, testId] = cached.backbone.featureCacheId.split('+');
    const feats = path.join(tmp, 'feats');
    fs.mkdirSync(feats);
    for (const [split, id] of [['train', trainId], ['test', testId]]) {
      fs.symlinkSync(path.join(tmp, 'cache', 'features', id, 'features.npy'), path.join(feats, `${split}_features.npy`));
      fs.symlinkSync(path.join(tmp, 'cache', 'features', id, 'labels.npy'), path.join(feats, `${split}_labels.npy`));
    }
    const r = cl(['run', `features:${feats}`, '--increment', '2', '--method', 'nmc', '--json', '--quiet', '--store', store], env);
    expect(r.code, r.stderr).to.equal(0);
    const ext = JSON.parse(r.stdout) as RunRecord;
    expect(ext.scenario.taskClasses).to.deep.equal(cached.scenario.taskClasses);
    expect(ext.increments.map((i) => i.correctPerClass)).to.deep.equal(cached.increments.map((i) => i.correctPerClass));
    expect(ext.increments.map((i) => i.totalPerClass)).to.deep.equal(cached.increments.map((i) => i.totalPerClass));
  });
});
