/**
 * torchvision's cifar-100-python (Python 2 protocol-2 pickles) read without Python: tiny fixtures
 * written the way cPickle writes the real files (test/data/pickle-writer.ts), compared image for
 * image with the binary reader on the same images; the strict reader refuses anything else. With
 * CL_SHARED_DIR holding both official versions, the real files are compared as well.
 */
import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tar from 'tar';
import { CIFAR100_PYTHON_MD5, loadCifar100, parseCifar100Pickle, parseCifar100Records } from '../../src/data/cifar100.js';
import { dictGet, readPickle } from '../../src/data/pickle.js';
import type { ImageDataset } from '../../src/types.js';
import { encodeCifar, FINE_NAMES, freshDataDir, makeCifarImages, md5, rejectedUserError, tempDir, writeCifarFolder, type CifarImage } from './helpers.js';
import { writePickle } from './pickle-writer.js';

const TINY = { train: 6, test: 4 };

/** The `train` / `test` pickle of `images`: the row of each image is the binary record minus its two label bytes. */
function pickleSplit(images: CifarImage[], label: string): Buffer {
  const bin = encodeCifar(images);
  const data = Buffer.alloc(images.length * 3072);
  images.forEach((_, r) => bin.copy(data, r * 3072, r * 3074 + 2, (r + 1) * 3074));
  return writePickle({
    dict: {
      filenames: images.map((_, i) => `image_${i}.png`),
      batch_label: label,
      fine_labels: images.map((i) => i.fine),
      coarse_labels: images.map((i) => i.coarse),
      data: { ndarray: data, shape: [images.length, 3072] },
    },
  });
}

const metaPickle = (): Buffer => writePickle({ dict: { fine_label_names: FINE_NAMES, coarse_label_names: Array.from({ length: 20 }, (_, i) => `super_${i}`) } });

async function writePythonFolder(dir: string, train: CifarImage[], test: CifarImage[]): Promise<{ folder: string; md5s: Record<'train' | 'test' | 'meta', string> }> {
  const folder = path.join(dir, 'cifar-100-python');
  await fs.mkdir(folder, { recursive: true });
  const files = { train: pickleSplit(train, 'training batch 1 of 1'), test: pickleSplit(test, 'testing batch 1 of 1'), meta: metaPickle() };
  for (const [k, v] of Object.entries(files)) await fs.writeFile(path.join(folder, k), v);
  return { folder, md5s: { train: md5(files.train), test: md5(files.test), meta: md5(files.meta) } };
}

describe('data/cifar100 python version (pickles read without Python)', () => {
  const train = makeCifarImages(TINY.train, 3);
  const test = makeCifarImages(TINY.test, 4);
  const tmp = freshDataDir();
  let dir: string;
  beforeEach(() => {
    dir = tmp.dir();
  });

  it('the pickle reader rebuilds the dict, lists (batched and memoised past 256 entries) and the uint8 array', () => {
    const big = Array.from({ length: 1300 }, (_, i) => `name_${i}`);
    const v = readPickle(writePickle({ dict: { names: big, n: [1, 300, 70_000, -5], data: { ndarray: Buffer.from([1, 2, 3, 4, 5, 6]), shape: [2, 3] } } }), 'x');
    expect((dictGet(v, 'names') as Uint8Array[]).map((b) => Buffer.from(b).toString())).to.deep.equal(big);
    expect(dictGet(v, 'n')).to.deep.equal([1, 300, 70_000, -5]);
    const a = dictGet(v, 'data') as { shape: number[]; data: Uint8Array };
    expect(a.shape).to.deep.equal([2, 3]);
    expect(Array.from(a.data)).to.deep.equal([1, 2, 3, 4, 5, 6]);
  });

  it('equal image for image to the binary reader on the same images', () => {
    const py = parseCifar100Pickle(pickleSplit(train, 'training batch 1 of 1'), 'train');
    const bin = parseCifar100Records(encodeCifar(train), 'train.bin');
    expect(Buffer.compare(py.images, bin.images)).to.equal(0);
    expect(Array.from(py.labels)).to.deep.equal(Array.from(bin.labels));
    expect(Array.from(py.coarseLabels ?? [])).to.deep.equal(Array.from(bin.coarseLabels ?? []));
  });

  it('loads the extracted folder, its parent, and the .tar.gz (md5-checked, cached), with the class names', async () => {
    const { folder, md5s } = await writePythonFolder(dir, train, test);
    await writeCifarFolder(path.join(dir, 'bin'), train, test);
    const binary = (await loadCifar100({ dataDir: path.join(dir, 'bin'), offline: true }, { expected: TINY })) as ImageDataset;
    for (const p of [folder, dir]) {
      const ds = await loadCifar100({ dataDir: p, offline: true }, { expected: TINY, pythonMd5: md5s });
      expect(ds.source).to.deep.equal({ location: folder, verified: 'checksum' });
      expect(ds.classNames).to.deep.equal(FINE_NAMES);
      expect(Buffer.compare(ds.train.images, binary.train.images)).to.equal(0);
      expect(Buffer.compare(ds.test.images, binary.test.images)).to.equal(0);
    }
    const archive = path.join(dir, 'cifar-100-python.tar.gz');
    await tar.c({ gzip: true, file: archive, cwd: dir }, ['cifar-100-python']);
    const cacheRoot = path.join(dir, 'cache');
    const a = await loadCifar100({ dataDir: archive, cacheRoot, quiet: true, offline: true }, { expected: TINY, pythonMd5: md5s });
    expect(a.source.verified).to.equal('checksum');
    expect(Buffer.compare(a.test.images, binary.test.images)).to.equal(0);
    expect((await fs.stat(path.join(cacheRoot, 'datasets', 'cifar-100-python', 'train'))).isFile()).to.equal(true);
    // served from the cache afterwards (no --data-dir)
    const b = await loadCifar100({ cacheRoot, offline: true }, { expected: TINY, pythonMd5: md5s });
    expect(Buffer.compare(b.train.images, binary.train.images)).to.equal(0);
  });

  it('a file that is not the official one (md5) is refused naming it; the official md5 sums are torchvision\'s', async () => {
    await writePythonFolder(dir, train, test);
    const e = await rejectedUserError(loadCifar100({ dataDir: dir, offline: true }, { expected: TINY }));
    expect(e.message).to.contain(path.join(dir, 'cifar-100-python', 'train')).and.contain(CIFAR100_PYTHON_MD5.train);
    expect(CIFAR100_PYTHON_MD5).to.deep.equal({
      archive: 'eb9058c3a382ffc7106e4002c42a8d85',
      train: '16019d7e3df5f24257cddd939b257f8d',
      test: 'f0ef6b0ae62326f3e7ffdfab6717acfc',
      meta: '7973b15100ade9c7d40fb424638fde48',
    });
  });

  it('truncated, foreign or malicious pickles: one UserError naming the file and byte offset', async () => {
    const good = pickleSplit(train, 'training batch 1 of 1');
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 100), /train: not one of CIFAR-100's Python pickles \(truncated/],
      ['cut after STOP', Buffer.concat([good, Buffer.from([0])]), /1 bytes after STOP/],
      ['protocol 4', Buffer.concat([Buffer.from([0x80, 4]), good.subarray(2)]), /not a protocol-2 pickle at byte 0/],
      ['os.system', Buffer.from('\x80\x02cos\nsystem\nq\x00U\x02idq\x01\x85R.', 'latin1'), /global os\.system is not allowed at byte 2/],
      ['unknown opcode', Buffer.from([0x80, 2, 0x7d, 0x8c, 1, 0x61, 0x2e]), /pickle opcode 0x8c .* at byte 3/],
      ['float32 array', Buffer.from(good.toString('latin1').replace('U\x02u1', 'U\x02f4'), 'latin1'), /dtype f4; CIFAR-100 pixels are uint8/],
    ];
    for (const [what, buf, pattern] of cases) {
      const e = await rejectedUserError(() => parseCifar100Pickle(buf, 'train'));
      expect(e.message, what).to.match(pattern);
      expect(e.hint, what).to.contain('cifar-100-python.tar.gz');
    }
    const wrongCount = pickleSplit(train.slice(0, 5), 'x');
    expect((await rejectedUserError(() => parseCifar100Pickle(wrongCount, 'train', 6))).message).to.match(/holds 5 images; a complete CIFAR-100 copy has 6/);
    const badLabel = writePickle({ dict: { data: { ndarray: Buffer.alloc(3072), shape: [1, 3072] }, fine_labels: [100], coarse_labels: [0] } });
    expect((await rejectedUserError(() => parseCifar100Pickle(badLabel, 'test'))).message).to.match(/fine_labels\[0\] is 100/);
    const badShape = writePickle({ dict: { data: { ndarray: Buffer.alloc(3000), shape: [1, 3000] }, fine_labels: [1], coarse_labels: [0] } });
    expect((await rejectedUserError(() => parseCifar100Pickle(badShape, 'test'))).message).to.match(/"data" is not a C-order uint8 array of shape \(N, 3072\)/);
  });

  describe('real data (CL_SHARED_DIR with cifar-100-binary.tar.gz and cifar-100-python.tar.gz)', function () {
    it('both official versions give the same pixels and labels for every index', async function () {
      this.timeout(300_000);
      const shared = process.env.CL_SHARED_DIR;
      const py = shared && path.resolve(shared, 'datasets', 'cifar-100-python.tar.gz');
      const bin = shared && path.resolve(shared, 'datasets', 'cifar-100-binary.tar.gz');
      const have = async (p: string | undefined): Promise<boolean> => !!p && (await fs.stat(p).then(() => true, () => false));
      if (!(await have(py)) || !(await have(bin))) {
        console.log('      (skipped: CL_SHARED_DIR/datasets lacks cifar-100-python.tar.gz or cifar-100-binary.tar.gz)');
        this.skip();
      }
      const cacheRoot = await tempDir('cl-cifar-both-');
      try {
        const a = await loadCifar100({ dataDir: bin, cacheRoot, quiet: true });
        const b = await loadCifar100({ dataDir: py, cacheRoot, quiet: true });
        expect(b.source.verified).to.equal('checksum');
        for (const s of ['train', 'test'] as const) {
          expect(Buffer.compare(a[s].images, b[s].images), s).to.equal(0);
          expect(Buffer.compare(Buffer.from(a[s].labels.buffer), Buffer.from(b[s].labels.buffer)), s).to.equal(0);
        }
        expect(b.classNames).to.deep.equal(a.classNames);
      } finally {
        await fs.rm(cacheRoot, { recursive: true, force: true });
      }
    });
  });
});
