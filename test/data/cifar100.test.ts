import { expect } from 'chai';
import fs from 'node:fs/promises';
import path from 'node:path';
import * as tar from 'tar';
import { loadCifar100, parseCifar100Records, readCifar100Folder } from '../../src/data/cifar100.js';
import { MARKER_FILE } from '../../src/data/extract.js';
import { UserError } from '../../src/errors.js';
import type { ImageSplit } from '../../src/types.js';
import { encodeCifar, FINE_NAMES, makeCifarImages, md5, serveBody, startServer, tempDir, withoutDataDirEnv, writeCifarFolder, type CifarImage } from './helpers.js';

const TINY = { train: 6, test: 4 };

async function userError(p: Promise<unknown> | (() => unknown)): Promise<UserError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).to.be.instanceOf(UserError);
    return e as UserError;
  }
  expect.fail('expected a UserError');
}

function expectSplit(split: ImageSplit, images: CifarImage[]): void {
  expect(split.count).to.equal(images.length);
  expect([split.height, split.width, split.channels]).to.deep.equal([32, 32, 3]);
  expect(Array.from(split.labels)).to.deep.equal(images.map((i) => i.fine));
  expect(Array.from(split.coarseLabels ?? [])).to.deep.equal(images.map((i) => i.coarse));
  images.forEach((im, r) => {
    expect(Buffer.compare(split.images.subarray(r * 3072, (r + 1) * 3072), im.hwc), `image ${r}`).to.equal(0);
  });
}

describe('data/cifar100', () => {
  const train = makeCifarImages(TINY.train, 1);
  const test = makeCifarImages(TINY.test, 2);
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

  describe('record parser', () => {
    it('turns planar CHW records into HWC pixels with fine and coarse labels', () => {
      // pixel (y=1, x=2) of image 0: R, G, B at HWC index (1*32+2)*3 + c
      const split = parseCifar100Records(encodeCifar(train), 'train.bin');
      expectSplit(split, train);
      const p = (1 * 32 + 2) * 3;
      expect([split.images[p], split.images[p + 1], split.images[p + 2]]).to.deep.equal([
        (31 + 7 + 6) & 255,
        (31 + 7 + 6 + 101) & 255,
        (31 + 7 + 6 + 202) & 255,
      ]);
    });

    it('rejects a size that is not a multiple of 3074, naming the file', async () => {
      const buf = encodeCifar(train).subarray(0, 3074 * 2 + 100);
      const err = await userError(() => parseCifar100Records(buf, '/x/train.bin'));
      expect(err.message).to.contain('/x/train.bin').and.contain('3074');
      expect((await userError(() => parseCifar100Records(new Uint8Array(0), '/x/e.bin'))).message).to.contain('/x/e.bin');
    });

    it('rejects a wrong record count', async () => {
      const err = await userError(() => parseCifar100Records(encodeCifar(train), '/x/train.bin', 50_000));
      expect(err.message).to.contain('/x/train.bin').and.contain('6 records').and.contain('50000');
    });

    it('rejects labels out of range (coarse >= 20, fine >= 100)', async () => {
      const badCoarse = encodeCifar(train);
      badCoarse[3074 * 3] = 20;
      expect((await userError(() => parseCifar100Records(badCoarse, 'a.bin'))).message).to.contain('a.bin').and.contain('record 3');
      const badFine = encodeCifar(train);
      badFine[3074 * 5 + 1] = 100;
      expect((await userError(() => parseCifar100Records(badFine, 'b.bin'))).message).to.contain('b.bin').and.contain('fine label 100');
    });
  });

  describe('folder reader', () => {
    it('reads train/test and the 100 class names', async () => {
      const inner = await writeCifarFolder(dir, train, test);
      const c = await readCifar100Folder(inner, TINY);
      expectSplit(c.train, train);
      expectSplit(c.test, test);
      expect(c.classNames).to.deep.equal(FINE_NAMES);
    });

    it('rejects fine_label_names.txt without 100 names', async () => {
      const inner = await writeCifarFolder(dir, train, test, FINE_NAMES.slice(0, 99));
      const err = await userError(readCifar100Folder(inner, TINY));
      expect(err.message).to.contain('fine_label_names.txt').and.contain('99');
    });

    it('needs exactly 50,000 / 10,000 records by default', async () => {
      const inner = await writeCifarFolder(dir, train, test);
      const err = await userError(readCifar100Folder(inner));
      expect(err.message).to.contain(path.join(inner, 'train.bin')).and.contain('50000');
    });
  });

  describe('loadCifar100 sources', () => {
    async function makeArchive(): Promise<string> {
      const src = path.join(dir, 'src');
      await writeCifarFolder(src, train, test);
      const archive = path.join(dir, 'cifar-100-binary.tar.gz');
      await tar.c({ gzip: true, file: archive, cwd: src }, ['cifar-100-binary']);
      return archive;
    }

    it('accepts the extracted folder, its parent, and reports structural verification', async () => {
      const inner = await writeCifarFolder(path.join(dir, 'local'), train, test);
      for (const dataDir of [inner, path.dirname(inner)]) {
        const ds = await loadCifar100({ dataDir, cacheRoot: path.join(dir, 'cache'), quiet: true }, { expected: TINY });
        expect(ds.source).to.deep.equal({ location: inner, verified: 'structure' });
        expect(ds.numClasses).to.equal(100);
        expectSplit(ds.train, train);
        expectSplit(ds.test, test);
      }
    });

    it('extracts an archive into the cache once, reuses it, and re-extracts when the archive changes', async () => {
      const archive = await makeArchive();
      const cacheRoot = path.join(dir, 'cache');
      const target = path.join(cacheRoot, 'datasets', 'cifar-100-binary');

      const a = await loadCifar100({ dataDir: archive, cacheRoot, quiet: true }, { expected: TINY });
      expect(a.source).to.deep.equal({ location: archive, verified: 'structure' });
      expectSplit(a.train, train);
      expect(a.classNames).to.deep.equal(FINE_NAMES);
      const marker1 = await fs.readFile(path.join(target, MARKER_FILE), 'utf8');
      // no temp folders left beside the committed one
      expect((await fs.readdir(path.dirname(target))).sort()).to.deep.equal(['cifar-100-binary']);

      // a folder containing the archive resolves to the same archive: reused, the marker is unchanged
      const b = await loadCifar100({ dataDir: dir, cacheRoot, quiet: true }, { expected: TINY });
      expectSplit(b.test, test);
      expect(await fs.readFile(path.join(target, MARKER_FILE), 'utf8')).to.equal(marker1);

      // without --data-dir the cache serves it
      const c = await loadCifar100({ cacheRoot, offline: true, quiet: true }, { expected: TINY });
      expect(c.source).to.deep.equal({ location: archive, verified: 'structure' });
      expectSplit(c.train, train);

      // a changed archive (new mtime) is extracted again
      const later = new Date(Date.now() + 5000);
      await fs.utimes(archive, later, later);
      await loadCifar100({ dataDir: archive, cacheRoot, quiet: true }, { expected: TINY });
      const marker2 = JSON.parse(await fs.readFile(path.join(target, MARKER_FILE), 'utf8')) as { archiveMtimeMs: number };
      expect(marker2.archiveMtimeMs).to.equal((await fs.stat(archive)).mtimeMs);
      expect(await fs.readFile(path.join(target, MARKER_FILE), 'utf8')).to.not.equal(marker1);
    });

    it('removes temp folders of long-dead extractions, keeps recent ones', async () => {
      const archive = await makeArchive();
      const datasets = path.join(dir, 'cache', 'datasets');
      const dead = path.join(datasets, '.extract-dead');
      const live = path.join(datasets, '.extract-live');
      await fs.mkdir(path.join(dead, 'cifar-100-binary'), { recursive: true });
      await fs.mkdir(live, { recursive: true });
      const old = new Date(Date.now() - 2 * 3600 * 1000);
      await fs.utimes(dead, old, old);
      await loadCifar100({ dataDir: archive, cacheRoot: path.join(dir, 'cache'), quiet: true }, { expected: TINY });
      expect((await fs.readdir(datasets)).sort()).to.deep.equal(['.extract-live', 'cifar-100-binary']);
    });

    it('a truncated archive gives a UserError naming it and leaves no cache folder', async () => {
      const archive = await makeArchive();
      const full = await fs.readFile(archive);
      const cut = path.join(dir, 'cut.tar.gz');
      await fs.writeFile(cut, full.subarray(0, Math.floor(full.length / 2)));
      const cacheRoot = path.join(dir, 'cache');
      const err = await userError(loadCifar100({ dataDir: cut, cacheRoot, quiet: true }, { expected: TINY }));
      expect(err.message).to.contain(cut);
      expect(await fs.readdir(path.join(cacheRoot, 'datasets'))).to.deep.equal([]);
    });

    it('an archive with a corrupt train.bin is rejected before it reaches the cache', async () => {
      const src = path.join(dir, 'src');
      const inner = await writeCifarFolder(src, train, test);
      await fs.writeFile(path.join(inner, 'train.bin'), encodeCifar(train).subarray(0, 3074 * 6 - 1));
      const archive = path.join(dir, 'bad.tar.gz');
      await tar.c({ gzip: true, file: archive, cwd: src }, ['cifar-100-binary']);
      const cacheRoot = path.join(dir, 'cache');
      const err = await userError(loadCifar100({ dataDir: archive, cacheRoot, quiet: true }, { expected: TINY }));
      expect(err.message).to.contain('train.bin').and.contain('3074');
      expect(await fs.readdir(path.join(cacheRoot, 'datasets'))).to.deep.equal([]);
    });

    it('bad --data-dir paths give UserErrors that say what is accepted', async () => {
      const missing = path.join(dir, 'nope');
      const e1 = await userError(loadCifar100({ dataDir: missing, cacheRoot: dir, quiet: true }));
      expect(e1.message).to.contain(missing).and.contain('does not exist');
      const empty = path.join(dir, 'empty');
      await fs.mkdir(empty);
      const e2 = await userError(loadCifar100({ dataDir: empty, cacheRoot: dir, quiet: true }));
      expect(e2.message).to.contain(empty);
      expect(e2.hint).to.contain('cifar-100-binary.tar.gz');
    });

    it('offline with an empty cache: UserError explaining --data-dir', async () => {
      const err = await userError(loadCifar100({ cacheRoot: path.join(dir, 'cache'), offline: true, quiet: true }));
      expect(err.hint).to.contain('--data-dir').and.contain('cifar-100-binary.tar.gz');
    });

    it('downloads (md5-verified), extracts into the cache, and serves later runs from it', async () => {
      const archive = await makeArchive();
      const bytes = await fs.readFile(archive);
      const srv = await startServer((req, res) => serveBody(res, req, bytes));
      try {
        const cacheRoot = path.join(dir, 'cache');
        const url = `${srv.base}/cifar-100-binary.tar.gz`;
        const ds = await loadCifar100({ cacheRoot, quiet: true }, { url, md5: md5(bytes), expected: TINY });
        expect(ds.source).to.deep.equal({ location: url, verified: 'checksum' });
        expectSplit(ds.train, train);
        expectSplit(ds.test, test);
        // the archive itself is not kept: the verified extraction is
        expect(await fs.readdir(path.join(cacheRoot, 'datasets', 'downloads'))).to.deep.equal([]);
        const again = await loadCifar100({ cacheRoot, offline: true, quiet: true }, { url, expected: TINY });
        expect(again.source).to.deep.equal({ location: url, verified: 'checksum' });
        expect(srv.requests).to.have.length(1);
      } finally {
        await srv.close();
      }
    });

    it('a download with the wrong md5 fails and caches nothing', async () => {
      const archive = await makeArchive();
      const bytes = await fs.readFile(archive);
      const srv = await startServer((req, res) => serveBody(res, req, bytes));
      try {
        const cacheRoot = path.join(dir, 'cache');
        const err = await userError(loadCifar100({ cacheRoot, quiet: true }, { url: `${srv.base}/c.tgz`, expected: TINY }));
        expect(err.message).to.contain('03b5dce01913d631647c71ecec9e9cb8').and.contain(md5(bytes));
        expect(await fs.readdir(path.join(cacheRoot, 'datasets', 'downloads'))).to.deep.equal([]);
      } finally {
        await srv.close();
      }
    });
  });
});
