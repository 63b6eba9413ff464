/**
 * The PTM-CL benchmark folders, on tiny fake copies in the layouts their authors distribute (APER's
 * <name>/train|test/<class>/ folders, Tiny ImageNet's official zip layout), their shipped scenarios,
 * and dataset specs as ad-hoc scenarios or as a scenario file's dataset.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { FOLDER_DATASETS, folderDataset, loadFolderDataset } from '../../src/data/benchmarks.js';
import { loadDataset } from '../../src/data/index.js';
import { SEED_1993_ORDERS, orderChecksum } from '../../src/scenario/orders.js';
import { loadScenario } from '../../src/scenario/scenario.js';
import type { FileImageSplit, ImageDataset } from '../../src/types.js';
import { thrownUserError } from './helpers.js';

let png: Buffer;

/** A fake APER-style copy: <root>/train/<class>/ and <root>/test/<class>/, one tiny PNG per image. */
function fakeCopy(root: string, classes: string[], perClass: { train: number; test: number } = { train: 2, test: 1 }): void {
  for (const split of ['train', 'test'] as const) {
    for (const c of classes) {
      fs.mkdirSync(path.join(root, split, c), { recursive: true });
      for (let i = 0; i < perClass[split]; i++) fs.writeFileSync(path.join(root, split, c, `${c}_${i}.jpg`), png);
    }
  }
}

describe('data/benchmarks: PTM-CL benchmark folders (fake copies)', () => {
  let root: string;
  before(async () => {
    png = await sharp({ create: { width: 8, height: 6, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
  });
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-bench-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('every APER benchmark loads from --data-dir (the copy itself or the folder holding it) with its class count', () => {
    for (const def of FOLDER_DATASETS.filter((d) => d.layout === 'imagefolder')) {
      const classes = Array.from({ length: def.numClasses }, (_, i) => `n${String(i).padStart(8, '0')}`);
      const copy = path.join(root, def.id, def.folders[0]);
      fakeCopy(copy, classes, { train: 1, test: 1 });
      for (const dataDir of [copy, path.join(root, def.id)]) {
        const ds = loadFolderDataset(def, { dataDir });
        expect(ds.name, def.id).to.equal(def.id);
        expect(ds.numClasses).to.equal(def.numClasses);
        expect([ds.train.count, ds.test.count]).to.deep.equal([def.numClasses, def.numClasses]);
        expect(ds.classNames?.[7]).to.equal('n00000007');
        expect(ds.source).to.deep.equal({ location: copy, verified: 'structure' });
        expect(ds.train.resize).to.equal('crop');
      }
    }
  });

  it('a copy with the wrong class count, or none at all: one UserError saying where the data comes from', () => {
    const def = folderDataset('vtab');
    if (!def) throw new Error('vtab missing');
    fakeCopy(path.join(root, 'vtab'), Array.from({ length: 49 }, (_, i) => `c${i}`));
    const e = thrownUserError(() => loadFolderDataset(def, { dataDir: root }));
    expect(e.message).to.match(/has 49 class folders; VTAB has 50/);
    const none = thrownUserError(() => loadFolderDataset(def, { dataDir: path.join(root, 'empty') }));
    expect(none.message).to.match(/holds no VTAB copy/);
    expect(none.hint).to.contain('drive.google.com');
    const noCache = thrownUserError(() => loadFolderDataset(def, { cacheRoot: root }));
    expect(noCache.message).to.match(/VTAB is not in .* and cl cannot download it/);
  });

  it('Tiny ImageNet: the official layout (val_annotations.txt, words.txt), validation set as test split', () => {
    const tin = path.join(root, 'tiny-imagenet-200');
    const wnids = ['n02', 'n01', 'n03'];
    for (const w of wnids) {
      fs.mkdirSync(path.join(tin, 'train', w, 'images'), { recursive: true });
      for (let i = 0; i < 2; i++) fs.writeFileSync(path.join(tin, 'train', w, 'images', `${w}_${i}.JPEG`), png);
      fs.writeFileSync(path.join(tin, 'train', w, `${w}_boxes.txt`), '');
    }
    fs.mkdirSync(path.join(tin, 'val', 'images'), { recursive: true });
    fs.mkdirSync(path.join(tin, 'test', 'images'), { recursive: true });
    const ann = [['val_3.JPEG', 'n03'], ['val_0.JPEG', 'n02'], ['val_2.JPEG', 'n01'], ['val_1.JPEG', 'n02']];
    for (const [f] of ann) fs.writeFileSync(path.join(tin, 'val', 'images', f), png);
    fs.writeFileSync(path.join(tin, 'val', 'val_annotations.txt'), ann.map(([f, w]) => `${f}\t${w}\t0\t0\t8\t6`).join('\n') + '\n');
    fs.writeFileSync(path.join(tin, 'wnids.txt'), wnids.join('\n'));
    fs.writeFileSync(path.join(tin, 'words.txt'), 'n01\tgoldfish, Carassius auratus\nn02\tEuropean fire salamander\nn03\tbullfrog, Rana catesbeiana\n');
    const def = { ...(folderDataset('tinyimagenet') as NonNullable<ReturnType<typeof folderDataset>>), numClasses: 3 };
    const ds = loadFolderDataset(def, { dataDir: root }) as ImageDataset<FileImageSplit>;
    expect(ds.classNames).to.deep.equal(['goldfish', 'European fire salamander', 'bullfrog']);
    expect(ds.train.files.map((f) => `${f.rel}:${f.label}`)).to.deep.equal([
      'n01/images/n01_0.JPEG:0', 'n01/images/n01_1.JPEG:0', 'n02/images/n02_0.JPEG:1', 'n02/images/n02_1.JPEG:1', 'n03/images/n03_0.JPEG:2', 'n03/images/n03_1.JPEG:2',
    ]);
    // by class, then by file name: what an ImageFolder of val/ sorted into class folders gives
    expect(ds.test.files.map((f) => `${f.rel}:${f.label}`)).to.deep.equal(['images/val_2.JPEG:0', 'images/val_0.JPEG:1', 'images/val_1.JPEG:1', 'images/val_3.JPEG:2']);
    fs.appendFileSync(path.join(tin, 'val', 'val_annotations.txt'), 'val_9.JPEG\tn99\t0\t0\t1\t1\n');
    expect(thrownUserError(() => loadFolderDataset(def, { dataDir: root })).message).to.match(/val_annotations\.txt line 5/);
  });

  it('the shipped benchmark scenarios: split, NumPy seed-1993 orders for 200 / 300 classes, natural VTAB', () => {
    const expected: Record<string, [string, number, string, number]> = {
      'split-imagenet-r': ['imagenet-r', 200, 'B0-Inc20', 10],
      'split-imagenet-a': ['imagenet-a', 200, 'B0-Inc20', 10],
      'split-cub200': ['cub200', 200, 'B0-Inc20', 10],
      'split-objectnet': ['objectnet', 200, 'B0-Inc20', 10],
      'split-omnibenchmark': ['omnibenchmark', 300, 'B0-Inc30', 10],
      'split-vtab': ['vtab', 50, 'B0-Inc10', 5],
      'split-tinyimagenet': ['tinyimagenet', 200, 'B0-Inc20', 10],
    };
    for (const [name, [dataset, n, split, tasks]] of Object.entries(expected)) {
      const s = loadScenario(name);
      expect([s.dataset, s.numClasses, s.split, s.taskClasses.length], name).to.deep.equal([dataset, n, split, tasks]);
      if (name === 'split-vtab') expect(s.order.id).to.equal('natural');
      else expect(s.order.classes).to.deep.equal([...SEED_1993_ORDERS[n]]);
    }
    // np.random.seed(1993); np.random.permutation(n): first entries and Σ p·order[p], computed with numpy 2.4
    expect(SEED_1993_ORDERS[200].slice(0, 6)).to.deep.equal([168, 136, 51, 9, 183, 101]);
    expect(orderChecksum(SEED_1993_ORDERS[200])).to.equal(2044957);
    expect(SEED_1993_ORDERS[300].slice(0, 6)).to.deep.equal([169, 221, 146, 296, 92, 229]);
    expect(orderChecksum(SEED_1993_ORDERS[300])).to.equal(6935101);
    expect(orderChecksum(SEED_1993_ORDERS[50])).to.equal(29649);
    expect(orderChecksum(SEED_1993_ORDERS[100])).to.equal(236946);
  });
});

describe('dataset specs as scenarios', () => {
  let root: string;
  before(async () => {
    png = await sharp({ create: { width: 8, height: 6, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-adhoc-'));
    fakeCopy(path.join(root, 'flowers'), ['daisy', 'rose', 'tulip', 'iris']);
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('imagefolder:<dir> with --increment is an ad-hoc scenario (natural order, canonical absolute path)', () => {
    const dir = path.join(root, 'flowers');
    const rel = path.relative(process.cwd(), dir);
    const s = loadScenario(`imagefolder:${rel}`, { increment: 2 });
    expect(s.name).to.equal(`imagefolder:${dir}`);
    expect(s.dataset).to.equal(`imagefolder:${dir}`);
    expect([s.numClasses, s.split, s.order.id, s.backbone]).to.deep.equal([4, 'B0-Inc2', 'natural', 'vit-b16-in21k']);
    expect(s.taskClasses).to.deep.equal([[0, 1], [2, 3]]);
    const b = loadScenario(`imagefolder:${dir}`, { base: 1, increment: [2, 1], order: 'seed:5' });
    expect(b.split).to.equal('B1-Inc[2,1]');
    expect(b.order.id).to.equal('seed-5');
  });

  it('without --increment, or with an impossible split: one UserError that says what to pass', () => {
    const dir = path.join(root, 'flowers');
    const e = thrownUserError(() => loadScenario(`imagefolder:${dir}`));
    expect(e.message).to.match(/is a dataset \(4 classes\), not a scenario/);
    expect(e.hint).to.match(/--increment 2/);
    expect(thrownUserError(() => loadScenario(`imagefolder:${dir}`, { increment: 3 })).message).to.match(/increment 3 does not divide the 4 classes/);
    expect(thrownUserError(() => loadScenario(`imagefolder:${path.join(root, 'nope')}`, { increment: 2 })).message).to.match(/does not exist/);
    expect(thrownUserError(() => loadScenario('features:', { increment: 2 })).message).to.match(/names no path/);
  });

  it('a scenario file may name imagefolder:<dir> relative to itself; its numClasses is checked', () => {
    const file = path.join(root, 'flowers.json');
    const base = { name: 'flowers', description: 'x', dataset: 'imagefolder:flowers', numClasses: 4, split: 'B0-Inc2', order: 'natural', backbone: 'pixels' };
    fs.writeFileSync(file, JSON.stringify(base));
    expect(loadScenario(file).dataset).to.equal(`imagefolder:${path.join(root, 'flowers')}`);
    fs.writeFileSync(file, JSON.stringify({ ...base, numClasses: 5 }));
    expect(thrownUserError(() => loadScenario(file)).message).to.match(/numClasses is 5 but dataset imagefolder:.* has 4 classes/);
    // Fewer classes than the folder has: an error unless the file says "subset": true (classes 0..2).
    fs.writeFileSync(file, JSON.stringify({ ...base, numClasses: 3, split: 'B0-Inc1' }));
    expect(thrownUserError(() => loadScenario(file)).message).to.match(/numClasses is 3 but dataset imagefolder:.* has 4 classes, so 1 classes would be left out/);
    fs.writeFileSync(file, JSON.stringify({ ...base, numClasses: 3, split: 'B0-Inc1', subset: true }));
    const sub = loadScenario(file);
    expect([sub.numClasses, sub.subset, sub.taskClasses]).to.deep.equal([3, true, [[0], [1], [2]]]);
  });

  it('a scenario file on a benchmark id is checked against the benchmark\'s class count when read', () => {
    const file = path.join(root, 'inr.json');
    const base = { name: 'inr', description: 'x', dataset: 'imagenet-r', split: 'B0-Inc20', order: 'natural', backbone: 'pixels' };
    fs.writeFileSync(file, JSON.stringify({ ...base, numClasses: 300, split: 'B0-Inc30' }));
    expect(thrownUserError(() => loadScenario(file)).message).to.match(/numClasses is 300 but dataset imagenet-r has 200 classes/);
    fs.writeFileSync(file, JSON.stringify({ ...base, numClasses: 100 }));
    expect(thrownUserError(() => loadScenario(file)).message).to.match(/numClasses is 100 but dataset imagenet-r has 200 classes, so 100 classes would be left out/);
    fs.writeFileSync(file, JSON.stringify({ ...base, numClasses: 100, subset: true }));
    const s = loadScenario(file);
    expect([s.subset, s.taskClasses.length, Math.max(...s.order.classes)]).to.deep.equal([true, 5, 99]);
  });

  it('loadDataset lists the folder; images are decoded later', async () => {
    const ds = (await loadDataset(`imagefolder:${path.join(root, 'flowers')}`, { resize: 'squash', skipBadImages: true })) as ImageDataset<FileImageSplit>;
    expect(ds.classNames).to.deep.equal(['daisy', 'iris', 'rose', 'tulip']);
    expect([ds.train.kind, ds.train.count, ds.test.count, ds.train.resize, ds.train.skipBadImages]).to.deep.equal(['files', 8, 4, 'squash', true]);
  });
});
