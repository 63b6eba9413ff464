import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../src/errors.js';
import { readStudyFile } from '../../src/study/study.js';
import { expandStudy } from '../../src/sweep/grid.js';
import { getMethodInfo } from '../../src/study/methods.js';

describe('study/study: experiment files', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-study-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, data: unknown): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, typeof data === 'string' ? data : JSON.stringify(data, null, 2));
    return file;
  };
  /** The UserError of reading `data` as an experiment file. */
  const errorOf = (data: unknown, name = 'exp.json'): UserError => {
    const file = write(name, data);
    try {
      readStudyFile(file);
    } catch (e) {
      expect(e).to.be.instanceOf(UserError);
      return e as UserError;
    }
    throw new Error('expected a UserError');
  };

  it('names the file and the JSON pointer of a wrong method option value, with the option help', () => {
    const e = errorOf({ scenario: 'split-mnist-mini', methods: ['nmc', { method: 'wa', options: { epochs: 5, lr: 'fast' } }] });
    expect(e.message).to.equal(`${path.join(dir, 'exp.json')}: /methods/1/options/lr must be a number > 0, got "fast"`);
    expect(e.hint).to.match(/^--lr <number>: /);
  });

  it('names unknown options, unknown methods, unknown keys and bad grid values by pointer', () => {
    expect(errorOf({ scenario: 'split-mnist-mini', method: 'wa', options: { bias: true, colour: 'red' } }).message).to.match(/exp\.json: \/options\/colour is not an option of wa$/);
    expect(errorOf({ scenario: 'split-mnist-mini', methods: ['nmc', 'lwf2'] }).message).to.match(/exp\.json: \/methods\/1 names an unknown method "lwf2"/);
    expect(errorOf({ scenario: 'split-mnist-mini', methods: [{ method: 'oca' }] }).message).to.match(/\/methods\/0\/method names an unknown method "oca"/);
    expect(errorOf({ scenario: 'split-mnist-mini', method: 'nmc', sed: 3 }).message).to.match(/exp\.json: \/sed is not a key of an experiment file/);
    expect(errorOf({ scenario: 'split-mnist-mini', methods: [{ method: 'wa', grid: { lr: [0.1, -1] } }] }).message).to.match(/\/methods\/0\/grid\/lr\/1 must be a number > 0, got -1/);
    expect(errorOf({ scenario: 'split-mnist-mini', methods: [{ method: 'wa', opts: {} }] }).message).to.match(/\/methods\/0\/opts is not a key of a method entry/);
  });

  it('checks run-level values against the same option groups as the flags', () => {
    const seed = errorOf({ scenario: 'split-mnist-mini', method: 'nmc', seeds: [1, -2] });
    expect(seed.message).to.match(/exp\.json: \/seeds\/1 must be a non-empty list of integers in 0\.\.4294967295, got -2/);
    const inc = errorOf({ scenario: 'split-mnist-mini', method: 'nmc', increment: 0 });
    expect(inc.message).to.match(/exp\.json: \/increment must be an integer ≥ 1 or a comma-separated list of them, got 0/);
    expect(inc.hint).to.match(/^--increment <n\|list>/);
    expect(errorOf({ scenario: 'split-mnist-mini', method: 'nmc', backend: 'gpu' }).message).to.match(/\/backend must be one of auto, tensorflow, wasm, wasm-mlas, cpu, got "gpu"/);
    expect(errorOf({ scenario: 'split-mnist-mini', method: 'nmc', offline: 'yes' }).message).to.match(/\/offline must be true or false, got "yes"/);
    expect(errorOf({ scenario: 'split-mnist-mini', method: 'nmc', orders: [] }).message).to.match(/\/orders must be a non-empty list of class orders/);
  });

  it('refuses singular and plural together, and a file without scenario or method', () => {
    expect(errorOf({ scenario: 'a', scenarios: ['b'], method: 'nmc' }).message).to.match(/\/scenarios cannot be given together with "scenario"/);
    expect(errorOf({ method: 'nmc' }).message).to.match(/needs "scenario"/);
    expect(errorOf({ scenario: 'split-mnist-mini' }).message).to.match(/needs "method"/);
    expect(errorOf({ scenario: 'split-mnist-mini', methods: ['nmc'], options: {} }).message).to.match(/\/options belongs to "method"/);
    expect(errorOf('{"scenario": "x",}').message).to.match(/is not valid JSON/);
    expect(errorOf([1, 2]).message).to.match(/exp\.json: \/ must be an object/);
  });

  it('reads YAML with the same checks and pointers', () => {
    const e = errorOf('scenario: split-mnist\nmethods:\n  - nmc\n  - method: replay\n    options:\n      memory: -5\n', 'exp.yaml');
    expect(e.message).to.match(/exp\.yaml: \/methods\/1\/options\/memory must be an integer ≥ 0, got -5/);
    const ok = readStudyFile(write('ok.yml', 'scenario: split-mnist\nmethod: replay\noptions: {epochs: 2}\norders: [natural, "seed:3"]\nseeds: [1, 2]\n'));
    expect(ok.methods).to.deep.equal([{ method: 'replay', options: { epochs: 2 }, grid: {} }]);
    expect(expandStudy(ok, getMethodInfo).jobs.map((j) => j.label)).to.deep.equal(['replay order=natural seed=1', 'replay order=natural seed=2', 'replay order=seed:3 seed=1', 'replay order=seed:3 seed=2']);
  });

  it('takes relative paths (scenario files, local models, data) relative to the file, names and URLs as they are', () => {
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    const s = readStudyFile(
      write('sub/paths.json', {
        scenarios: ['split-mnist-mini', '../my-scenario.json'],
        method: 'nmc',
        backbone: 'onnx:../models/m.onnx#features',
        dataDir: 'data',
        cacheDir: '/abs/cache',
      }),
    );
    expect(s.scenarios).to.deep.equal(['split-mnist-mini', path.join(dir, 'my-scenario.json')]);
    expect(s.common.backbone).to.equal(`onnx:${path.join(dir, 'models/m.onnx')}#features`);
    expect(s.common.dataDir).to.equal(path.join(dir, 'sub', 'data'));
    expect(s.common.cacheDir).to.equal('/abs/cache');
    const url = readStudyFile(write('url.json', { scenario: 'split-mnist-mini', method: 'nmc', backbone: 'onnx:https://example.org/m.onnx' }));
    expect(url.common.backbone).to.equal('onnx:https://example.org/m.onnx');
  });

  it('dataset specs as scenarios: canonical, relative to the file; image-folder options checked and passed to every cell', () => {
    fs.mkdirSync(path.join(dir, 'spec'), { recursive: true });
    const s = readStudyFile(
      write('spec/specs.json', { scenarios: ['imagefolder:photos', 'features:/abs/feats.npz'], method: 'nmc', increment: 2, resize: 'none', skipBadImages: true }),
    );
    expect(s.scenarios).to.deep.equal([`imagefolder:${path.join(dir, 'spec', 'photos')}`, 'features:/abs/feats.npz']);
    const jobs = expandStudy(s, getMethodInfo).jobs;
    expect(jobs[0].runArgs).to.deep.equal([`imagefolder:${path.join(dir, 'spec', 'photos')}`, '--method', 'nmc', '--increment', '2', '--resize', 'none', '--skip-bad-images']);
    expect(errorOf({ scenario: 'imagefolder:', method: 'nmc' }).message).to.match(/exp\.json: \/scenario dataset spec "imagefolder:" names no path$/);
    expect(errorOf({ scenarios: ['split-mnist-mini', 'features: '], method: 'nmc' }).message).to.match(/exp\.json: \/scenarios\/1 dataset spec/);
    expect(errorOf({ scenario: 'imagefolder:x', method: 'nmc', resize: 'stretch' }).message).to.match(/\/resize must be one of crop, squash, none, got "stretch"/);
  });

  it('the shipped experiments/ files are valid', () => {
    const folder = path.resolve('experiments');
    const files = fs.readdirSync(folder).filter((f) => /\.(json|ya?ml)$/.test(f));
    expect(files.length).to.be.greaterThan(0);
    for (const f of files) {
      const s = readStudyFile(path.join(folder, f));
      expect(expandStudy(s, getMethodInfo).jobs.length, f).to.be.greaterThan(0);
    }
  });
});
