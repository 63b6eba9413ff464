import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { FASHION_MNIST_CLASSES, loadFashionMnist, readIdxSplit } from '../../src/data/fashion-mnist.js';
import { parseIdx } from '../../src/data/idx.js';
import { UserError } from '../../src/errors.js';
import { encodeIdx, md5, serveBody, startServer, tempDir, withoutDataDirEnv } from './helpers.js';

async function userError(p: Promise<unknown> | (() => unknown)): Promise<UserError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).to.be.instanceOf(UserError);
    return e as UserError;
  }
  expect.fail('expected a UserError');
}

const TINY = { train: 5, test: 3 };
const NAMES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

/** n images of 28x28 where pixel (y, x) of image i is (i*13 + y*28 + x) mod 256; labels i mod 10. */
function tinySplit(n: number, offset: number): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(n * 784);
  for (let i = 0; i < n; i++) for (let p = 0; p < 784; p++) images[i * 784 + p] = ((i + offset) * 13 + p) & 255;
  const labels = Uint8Array.from({ length: n }, (_, i) => (i + offset) % 10);
  return { images, labels };
}

const trainData = tinySplit(TINY.train, 0);
const testData = tinySplit(TINY.test, 7);

/** The four files of a tiny Fashion-MNIST copy, gzipped or raw. */
function tinyFiles(): Buffer[] {
  return [
    encodeIdx([TINY.train, 28, 28], trainData.images),
    encodeIdx([TINY.train], trainData.labels),
    encodeIdx([TINY.test, 28, 28], testData.images),
    encodeIdx([TINY.test], testData.labels),
  ];
}

async function writeCopy(dir: string, gz: boolean): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  const files = tinyFiles();
  for (let i = 0; i < 4; i++) {
    await fs.writeFile(path.join(dir, NAMES[i] + (gz ? '.gz' : '')), gz ? zlib.gzipSync(files[i]) : files[i]);
  }
}

describe('data/fashion-mnist (IDX)', () => {
  let dir: string;
  let env: { restore: () => void };
  beforeEach(async () => {
    dir = await tempDir();
    env = withoutDataDirEnv();
  });
  afterEach(async () => {
    env.restore();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('parseIdx reads dimensions and payload', () => {
    const a = parseIdx(encodeIdx([2, 3], Uint8Array.of(1, 2, 3, 4, 5, 6)), 'm.idx');
    expect(a.dims).to.deep.equal([2, 3]);
    expect(Array.from(a.data)).to.deep.equal([1, 2, 3, 4, 5, 6]);
  });

  it('wrong magic, truncated header or body: UserErrors naming the file', async () => {
    const wrongMagic = encodeIdx([3], Uint8Array.of(1, 2, 3), 0x00000d01); // float data type
    expect((await userError(() => parseIdx(wrongMagic, '/d/labels'))).message).to.contain('/d/labels').and.contain('0x00000d01');
    const images = encodeIdx([1, 28, 28], new Uint8Array(784));
    expect((await userError(() => parseIdx(images, '/d/img', 1))).message).to.contain('0x00000803').and.contain('0x00000801');
    expect((await userError(() => parseIdx(images.subarray(0, 10), '/d/img'))).message).to.contain('/d/img').and.contain('header');
    expect((await userError(() => parseIdx(images.subarray(0, 700), '/d/img'))).message).to.contain('/d/img').and.contain('announces 800');
  });

  for (const gz of [true, false]) {
    it(`reads a ${gz ? 'gzipped' : 'raw'} copy from --data-dir with exact pixels and labels`, async () => {
      await writeCopy(dir, gz);
      const ds = await loadFashionMnist({ dataDir: dir, cacheRoot: dir, offline: true }, { expected: TINY, systemDir: path.join(dir, 'none') });
      expect(ds.source).to.deep.equal({ location: dir, verified: 'structure' });
      expect(ds.classNames).to.deep.equal(FASHION_MNIST_CLASSES);
      expect([ds.train.count, ds.train.height, ds.train.width, ds.train.channels]).to.deep.equal([5, 28, 28, 1]);
      expect(Buffer.compare(ds.train.images, trainData.images)).to.equal(0);
      expect(Array.from(ds.train.labels)).to.deep.equal(Array.from(trainData.labels));
      expect(Buffer.compare(ds.test.images, testData.images)).to.equal(0);
      expect(Array.from(ds.test.labels)).to.deep.equal([7, 8, 9]);
    });
  }

  it('finds a fashion-mnist/ folder inside --data-dir, and Debian-style system folder', async () => {
    await writeCopy(path.join(dir, 'fashion-mnist'), true);
    const a = await loadFashionMnist({ dataDir: dir, cacheRoot: dir, offline: true }, { expected: TINY });
    expect(a.source.location).to.equal(path.join(dir, 'fashion-mnist'));
    const b = await loadFashionMnist({ cacheRoot: path.join(dir, 'cache'), offline: true }, { expected: TINY, systemDir: path.join(dir, 'fashion-mnist') });
    expect(b.source).to.deep.equal({ location: path.join(dir, 'fashion-mnist'), verified: 'structure' });
  });

  it('the default counts are 60,000 / 10,000', async () => {
    await writeCopy(dir, false);
    const err = await userError(loadFashionMnist({ dataDir: dir, offline: true }));
    expect(err.message).to.contain(path.join(dir, 'train-images-idx3-ubyte')).and.contain('60000');
  });

  it('truncated gzip, label out of range, count mismatch, wrong image size: UserErrors naming the file', async () => {
    const [imgs, lbls] = tinyFiles();
    const imgFile = path.join(dir, 'img.gz');
    const lblFile = path.join(dir, 'lbl');
    const gz = zlib.gzipSync(imgs);
    await fs.writeFile(imgFile, gz.subarray(0, gz.length - 20));
    await fs.writeFile(lblFile, lbls);
    expect((await userError(readIdxSplit(imgFile, lblFile, 5))).message).to.contain(imgFile).and.contain('gzip');

    await fs.writeFile(imgFile, zlib.gzipSync(imgs));
    const badLabels = Buffer.from(lbls);
    badLabels[8 + 2] = 10;
    await fs.writeFile(lblFile, badLabels);
    expect((await userError(readIdxSplit(imgFile, lblFile, 5))).message).to.contain(lblFile).and.contain('label 2 is 10');

    await fs.writeFile(lblFile, encodeIdx([4], Uint8Array.of(0, 1, 2, 3)));
    expect((await userError(readIdxSplit(imgFile, lblFile, 5))).message).to.contain('4 labels').and.contain('5 images');

    await fs.writeFile(imgFile, encodeIdx([1, 27, 28], new Uint8Array(27 * 28)));
    expect((await userError(readIdxSplit(imgFile, lblFile))).message).to.contain(imgFile).and.contain('27x28');
  });

  it('a --data-dir without the files: UserError naming the folder', async () => {
    const err = await userError(loadFashionMnist({ dataDir: dir, offline: true }, { systemDir: path.join(dir, 'none') }));
    expect(err.message).to.contain(dir).and.contain('train-images-idx3-ubyte');
  });

  it('offline without any copy: UserError explaining --data-dir', async () => {
    const err = await userError(loadFashionMnist({ cacheRoot: dir, offline: true }, { systemDir: path.join(dir, 'none') }));
    expect(err.hint).to.contain('--data-dir');
  });

  it('downloads the missing files into the cache with md5 checks, then serves from the cache', async () => {
    const gzs = tinyFiles().map((b) => zlib.gzipSync(b));
    const byPath = new Map(NAMES.map((n, i) => [`/fm/${n}.gz`, gzs[i]]));
    const srv = await startServer((req, res) => {
      const body = byPath.get(req.url ?? '');
      if (body) serveBody(res, req, body);
      else {
        res.writeHead(404);
        res.end();
      }
    });
    try {
      const cacheRoot = path.join(dir, 'cache');
      const md5s = { trainImages: md5(gzs[0]), trainLabels: md5(gzs[1]), testImages: md5(gzs[2]), testLabels: md5(gzs[3]) };
      const over = { baseUrl: `${srv.base}/fm/`, md5: md5s, expected: TINY, systemDir: path.join(dir, 'none') };
      const ds = await loadFashionMnist({ cacheRoot, quiet: true }, over);
      expect(ds.source).to.deep.equal({ location: path.join(cacheRoot, 'datasets', 'fashion-mnist'), verified: 'checksum' });
      expect(Buffer.compare(ds.train.images, trainData.images)).to.equal(0);
      expect(srv.requests).to.have.length(4);
      await loadFashionMnist({ cacheRoot, quiet: true, offline: true }, over);
      expect(srv.requests).to.have.length(4);
      // an upstream md5 that does not match is a clear error
      const err = await userError(loadFashionMnist({ cacheRoot: path.join(dir, 'cache2'), quiet: true }, { ...over, md5: undefined }));
      expect(err.message).to.contain('8d4fb7e6c68d591d4c3dfef9ec88bf0d').and.contain(md5s.trainImages);
    } finally {
      await srv.close();
    }
  });
});
