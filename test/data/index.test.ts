import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DATASETS, loadDataset } from '../../src/data/index.js';
import { UserError } from '../../src/errors.js';
import type { ImageDataset, ImageSplit } from '../../src/types.js';
import { tempDir, withoutDataDirEnv } from './helpers.js';

function perClass(split: ImageSplit, numClasses: number): number[] {
  const c = new Array<number>(numClasses).fill(0);
  for (const l of split.labels) c[l]++;
  return c;
}

function channelMeans(split: ImageSplit): number[] {
  const sums = new Float64Array(split.channels);
  const img = split.images;
  const ch = split.channels;
  for (let c = 0; c < ch; c++) {
    let s = 0;
    for (let i = c; i < img.length; i += ch) s += img[i];
    sums[c] = s;
  }
  const n = img.length / ch;
  return Array.from(sums, (s) => s / n / 255);
}

describe('data/index', () => {
  let env: { restore: () => void };
  beforeEach(() => {
    env = withoutDataDirEnv();
  });
  afterEach(() => env.restore());

  it('DATASETS lists the array datasets with their shapes and the benchmark folders', () => {
    expect(Object.keys(DATASETS).sort()).to.deep.equal(
      ['cifar100', 'cub200', 'fashion-mnist', 'imagenet-a', 'imagenet-r', 'mnist', 'mnist-embedded', 'objectnet', 'omnibenchmark', 'tinyimagenet', 'vtab'],
    );
    expect(DATASETS.mnist.trainCount).to.equal(60_000);
    expect(DATASETS.omnibenchmark.numClasses).to.equal(300);
    expect(DATASETS.cifar100.imageShape).to.deep.equal([32, 32, 3]);
    expect(DATASETS['fashion-mnist'].numClasses).to.equal(10);
  });

  it('an unknown id is a UserError listing the known ids', async () => {
    try {
      await loadDataset('cifar10', {});
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(UserError);
      expect((e as UserError).message).to.contain('cifar10');
      expect((e as UserError).hint).to.contain('cifar100').and.contain('fashion-mnist').and.contain('mnist-embedded');
    }
  });

  it('mnist-embedded loads offline and matches its DATASETS entry', async () => {
    const ds = (await loadDataset('mnist-embedded', { offline: true })) as ImageDataset;
    const info = DATASETS['mnist-embedded'];
    expect([ds.train.height, ds.train.width, ds.train.channels]).to.deep.equal(info.imageShape);
    expect([ds.train.count, ds.test.count]).to.deep.equal([info.trainCount, info.testCount]);
    expect(ds.numClasses).to.equal(info.numClasses);
  });

  describe('real data (CL_SHARED_DIR)', function () {
    const shared = process.env.CL_SHARED_DIR;
    let cacheRoot: string;
    before(async function () {
      if (!shared) this.skip();
      cacheRoot = await tempDir('cl-real-data-');
    });
    after(async () => {
      if (cacheRoot) await fs.rm(cacheRoot, { recursive: true, force: true });
    });

    it('CIFAR-100 from the shared tar.gz: 50,000/10,000, 500 per class, published channel means', async function () {
      this.timeout(120_000);
      const archive = path.resolve(shared as string, 'datasets', 'cifar-100-binary.tar.gz');
      const t0 = Date.now();
      const ds = (await loadDataset('cifar100', { dataDir: archive, cacheRoot, quiet: true })) as ImageDataset;
      const firstMs = Date.now() - t0;
      expect(ds.source).to.deep.equal({ location: archive, verified: 'structure' });
      expect([ds.train.count, ds.test.count]).to.deep.equal([50_000, 10_000]);
      expect(perClass(ds.train, 100).every((n) => n === 500)).to.equal(true);
      expect(perClass(ds.test, 100).every((n) => n === 100)).to.equal(true);
      expect(ds.classNames?.length).to.equal(100);
      expect(ds.classNames?.[0]).to.equal('apple');
      const means = channelMeans(ds.train);
      [0.5071, 0.4865, 0.4409].forEach((m, c) => expect(means[c]).to.be.closeTo(m, 1e-3));
      expect((ds.train.coarseLabels ?? new Int32Array(0)).reduce((m, v) => Math.max(m, v), -1)).to.equal(19);

      const t1 = Date.now();
      const again = await loadDataset('cifar100', { dataDir: archive, cacheRoot, quiet: true });
      const cachedMs = Date.now() - t1;
      expect(again.train.count).to.equal(50_000);
      console.log(`      CIFAR-100: first load (extract + parse) ${firstMs} ms, cached ${cachedMs} ms`);
    });

    it('Fashion-MNIST from the shared folder: 60,000/10,000, 6,000 per class, mean 0.2860', async function () {
      const dir = path.resolve(shared as string, 'datasets', 'fashion-mnist');
      const t0 = Date.now();
      const ds = (await loadDataset('fashion-mnist', { dataDir: dir, cacheRoot, quiet: true })) as ImageDataset;
      const ms = Date.now() - t0;
      expect(ds.source).to.deep.equal({ location: dir, verified: 'structure' });
      expect([ds.train.count, ds.test.count]).to.deep.equal([60_000, 10_000]);
      expect(perClass(ds.train, 10).every((n) => n === 6000)).to.equal(true);
      expect(perClass(ds.test, 10).every((n) => n === 1000)).to.equal(true);
      expect(channelMeans(ds.train)[0]).to.be.closeTo(0.286, 1e-3);
      console.log(`      Fashion-MNIST: load ${ms} ms`);
    });
  });
});
