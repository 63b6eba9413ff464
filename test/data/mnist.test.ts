/**
 * Full MNIST (`mnist`, scenario split-mnist): four IDX files from --data-dir, the cache, or an
 * md5-verified download, read by the loader shared with Fashion-MNIST; tiny copies stand in for
 * the 60,000 / 10,000 files.
 */
import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import { loadDataset } from '../../src/data/index.js';
import { MNIST_FILES, loadMnist } from '../../src/data/mnist.js';
import { encodeIdx, freshDataDir, md5, rejectedUserError, serveFiles, tempDir } from './helpers.js';

const TINY = { train: 4, test: 2 };
const NAMES = Object.values(MNIST_FILES).map((f) => f.name);

/** Image i: pixel p = (i * 29 + p) mod 256, label (i * 3) mod 10. */
function files(): Buffer[] {
  const split = (n: number, off: number): [Buffer, Buffer] => {
    const img = new Uint8Array(n * 784);
    for (let i = 0; i < n; i++) for (let p = 0; p < 784; p++) img[i * 784 + p] = ((i + off) * 29 + p) & 255;
    return [encodeIdx([n, 28, 28], img), encodeIdx([n], Uint8Array.from({ length: n }, (_, i) => ((i + off) * 3) % 10))];
  };
  return [...split(TINY.train, 0), ...split(TINY.test, 10)];
}

describe('data/mnist (the standard 60,000 / 10,000 IDX files)', () => {
  const tmp = freshDataDir();
  let dir: string;
  beforeEach(() => {
    dir = tmp.dir();
  });

  it('reads a local copy (the folder or a folder holding mnist/) with exact pixels and labels', async () => {
    const inner = path.join(dir, 'mnist');
    await fs.mkdir(inner);
    const f = files();
    for (let i = 0; i < 4; i++) await fs.writeFile(path.join(inner, `${NAMES[i]}.gz`), zlib.gzipSync(f[i]));
    for (const dataDir of [inner, dir]) {
      const ds = await loadMnist({ dataDir, offline: true }, { expected: TINY });
      expect(ds.name).to.equal('mnist');
      expect(ds.source).to.deep.equal({ location: inner, verified: 'structure' });
      expect(ds.classNames).to.deep.equal(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      expect(Array.from(ds.train.labels)).to.deep.equal([0, 3, 6, 9]);
      expect(Array.from(ds.test.labels)).to.deep.equal([0, 3]);
      expect(ds.test.images[784 + 5]).to.equal((11 * 29 + 5) & 255);
    }
  });

  it('downloads the four files md5-verified into the cache (torchvision\'s sums pinned), then works offline', async () => {
    expect(Object.fromEntries(Object.entries(MNIST_FILES).map(([k, v]) => [k, v.md5]))).to.deep.equal({
      trainImages: 'f68b3c2dcbeaaa9fbdd348bbdeb94873',
      trainLabels: 'd53e105ee54ea40749a09fcbcd1e9432',
      testImages: '9fb629c4189551a2d022fa330f9573f3',
      testLabels: 'ec29112dd5afa0611ce80d1b7f02629c',
    });
    const gzs = files().map((b) => zlib.gzipSync(b));
    const byPath = new Map(NAMES.map((n, i) => [`/m/${n}.gz`, gzs[i]]));
    const srv = await serveFiles(byPath);
    try {
      const cacheRoot = path.join(dir, 'cache');
      const over = { baseUrl: `${srv.base}/m/`, expected: TINY, md5: { trainImages: md5(gzs[0]), trainLabels: md5(gzs[1]), testImages: md5(gzs[2]), testLabels: md5(gzs[3]) } };
      const ds = await loadMnist({ cacheRoot, quiet: true }, over);
      expect(ds.source).to.deep.equal({ location: path.join(cacheRoot, 'datasets', 'mnist'), verified: 'checksum' });
      await loadMnist({ cacheRoot, quiet: true, offline: true }, over);
      expect(srv.requests).to.have.length(4);
      const bad = await rejectedUserError(loadMnist({ cacheRoot: path.join(dir, 'c2'), quiet: true }, { ...over, md5: undefined }));
      expect(bad.message).to.contain('f68b3c2dcbeaaa9fbdd348bbdeb94873');
    } finally {
      await srv.close();
    }
  });

  it('truncated files and missing copies: one UserError naming the file or the folder', async () => {
    const f = files();
    for (let i = 0; i < 4; i++) await fs.writeFile(path.join(dir, NAMES[i]), i === 0 ? f[i].subarray(0, 1000) : f[i]);
    const e = await rejectedUserError(loadMnist({ dataDir: dir, offline: true }, { expected: TINY }));
    expect(e.message).to.contain(path.join(dir, 'train-images-idx3-ubyte')).and.contain('announces');
    await fs.writeFile(path.join(dir, NAMES[0]), f[0]);
    await fs.writeFile(path.join(dir, NAMES[2]), zlib.gzipSync(f[2]).subarray(0, 30));
    const gz = await rejectedUserError(loadMnist({ dataDir: dir, offline: true }, { expected: TINY }));
    expect(gz.message).to.contain('t10k-images-idx3-ubyte').and.contain('gzip');
    const empty = await tempDir();
    try {
      expect((await rejectedUserError(loadMnist({ dataDir: empty, offline: true }))).message).to.match(/holds no MNIST copy/);
      const off = await rejectedUserError(loadDataset('mnist', { cacheRoot: empty, offline: true }));
      expect(off.message).to.match(/MNIST is not in the cache/);
      expect(off.hint).to.contain('--data-dir');
    } finally {
      await fs.rm(empty, { recursive: true, force: true });
    }
  });
});
