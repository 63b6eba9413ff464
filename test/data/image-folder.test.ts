/**
 * Image folders: torchvision's ImageFolder listing rules, the split layouts, decoding with sharp
 * (exact pixels for lossless files, the resize rules' geometry), corrupt files, and features through
 * the feature cache without ever holding the whole split in memory.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createBackbone, type Backbone } from '../../src/backbones/backbone.js';
import { extractFeatures, listFeatureCache } from '../../src/backbones/feature-cache.js';
import { cropGeometry, decodeChunks, decodeTarget, fileSplitDigest } from '../../src/data/decode.js';
import { fileSplit, imageFolderClasses, listImageFolder } from '../../src/data/image-folder.js';
import { loadDataset } from '../../src/data/index.js';
import { hostTag, pidAlive } from '../../src/leftovers.js';
import type { FileImageSplit, ImageDataset } from '../../src/types.js';
import { rejectedUserError, thrownUserError } from './helpers.js';

/** Deterministic RGB pixels of a w x h image number k. */
export function pixels(w: number, h: number, k: number): Buffer {
  const b = Buffer.alloc(w * h * 3);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + k * 31 + (i % 3) * 50) & 255;
  return b;
}

async function writeImage(file: string, w: number, h: number, k: number, format: 'png' | 'webp' | 'jpeg' = 'png'): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const img = sharp(pixels(w, h, k), { raw: { width: w, height: h, channels: 3 } });
  await (format === 'png' ? img.png() : format === 'webp' ? img.webp({ lossless: true }) : img.jpeg()).toFile(file);
}

const touch = (file: string): void => {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '');
};

async function collect(split: FileImageSplit, rule: 'none' | 'crop' | 'squash', size: [number, number] | null = null, chunkSize = 3) {
  const bad: string[] = [];
  const chunks = [];
  for await (const c of decodeChunks(split, decodeTarget(rule, size, 'test'), { chunkSize, onBad: (b) => bad.push(b.file) })) chunks.push(c);
  return { chunks, bad };
}

describe('data/image-folder: listing (torchvision ImageFolder rules)', () => {
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-imgfolder-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('classes in code-point order, hidden folders skipped, files in os.walk order, image extensions only (any case)', () => {
    for (const split of ['train', 'test']) {
      for (const f of ['b.png', 'a.JPG', 'sub/z.jpeg', 'sub-x/y.webp', 'sub/deeper/w.png', 'notes.txt', 'c.gif']) touch(path.join(root, split, 'Zebra', f));
      touch(path.join(root, split, 'apple', '1.png'));
      touch(path.join(root, split, 'Ant', '2.tif'));
      touch(path.join(root, split, '.ipynb_checkpoints', 'x.png'));
    }
    const l = listImageFolder(root);
    expect(l.layout).to.equal('split-folders');
    expect(l.classes).to.deep.equal(['Ant', 'Zebra', 'apple']); // upper case sorts before lower case, as in Python
    expect(l.train.files.map((f) => [f.rel, f.label])).to.deep.equal([
      ['Ant/2.tif', 0],
      ['Zebra/a.JPG', 1],
      ['Zebra/b.png', 1],
      ['Zebra/sub/z.jpeg', 1], // sorted(os.walk()) compares root paths: "sub" < "sub-x" < "sub/deeper" ("-" < "/")
      ['Zebra/sub-x/y.webp', 1],
      ['Zebra/sub/deeper/w.png', 1],
      ['apple/1.png', 2],
    ]);
    expect(l.train.files[0].path).to.equal(path.join(root, 'train', 'Ant', '2.tif'));
    expect(imageFolderClasses(root)).to.deep.equal(['Ant', 'Zebra', 'apple']);
  });

  it('val/ stands in for test/; test classes are matched to training classes by name', () => {
    for (const c of ['a', 'b', 'c']) touch(path.join(root, 'train', c, '0.png'));
    for (const c of ['b', 'c', 'a']) touch(path.join(root, 'val', c, '0.png'));
    const l = listImageFolder(root);
    expect(l.test.dir).to.equal(path.join(root, 'val'));
    expect(l.test.files.map((f) => f.label)).to.deep.equal([0, 1, 2]);
  });

  it('train.txt / test.txt split files over <class>/<image>', () => {
    for (const c of ['cat', 'dog']) for (const i of [0, 1, 2]) touch(path.join(root, c, `${i}.png`));
    fs.writeFileSync(path.join(root, 'train.txt'), '# comment\ncat/0.png\ndog/0.png\n\ndog/1.png\ncat/1.png\n');
    fs.writeFileSync(path.join(root, 'test.txt'), 'cat/2.png\r\ndog/2.png\r\n');
    const l = listImageFolder(root);
    expect(l.layout).to.equal('split-files');
    expect(l.classes).to.deep.equal(['cat', 'dog']);
    expect(l.train.files.map((f) => `${f.rel}:${f.label}`)).to.deep.equal(['cat/0.png:0', 'dog/0.png:1', 'dog/1.png:1', 'cat/1.png:0']);
    expect(l.test.files.map((f) => `${f.rel}:${f.label}`)).to.deep.equal(['cat/2.png:0', 'dog/2.png:1']);
    fs.writeFileSync(path.join(root, 'test.txt'), 'cat/2.png\ndog/1.png\n');
    expect(thrownUserError(() => listImageFolder(root)).message).to.match(/dog\/1\.png is listed in both/);
    fs.writeFileSync(path.join(root, 'test.txt'), 'cat/2.png\ndog/9.png\n');
    expect(thrownUserError(() => listImageFolder(root)).message).to.match(/test\.txt line 2: .*dog\/9\.png does not exist/);
    fs.writeFileSync(path.join(root, 'test.txt'), 'cat/2.png\n../dog/2.png\n');
    expect(thrownUserError(() => listImageFolder(root)).message).to.match(/line 2: "\.\.\/dog\/2\.png" is not a path inside/);
    fs.writeFileSync(path.join(root, 'test.txt'), 'cat/2.png\ncat/2.png\ndog/2.png\n');
    expect(thrownUserError(() => listImageFolder(root)).message).to.match(/line 2: "cat\/2\.png" is listed twice/);
  });

  it('layout problems are one UserError naming the folder and the fix', () => {
    expect(thrownUserError(() => listImageFolder(path.join(root, 'nope'))).message).to.match(/does not exist/);
    touch(path.join(root, 'x.png'));
    const none = thrownUserError(() => listImageFolder(root));
    expect(none.message).to.match(/no train\/ and test\/ folders and no train\.txt/);
    expect(none.hint).to.match(/train\/<class>\/<image>/);
    touch(path.join(root, 'train', 'a', '0.png'));
    touch(path.join(root, 'train', 'b', '0.png'));
    expect(thrownUserError(() => listImageFolder(root)).message).to.match(/has train\/ but neither test\/ nor val\//);
    touch(path.join(root, 'test', 'a', '0.png'));
    touch(path.join(root, 'test', 'q', '0.png'));
    expect(thrownUserError(() => listImageFolder(root)).message).to.match(/class folder "q" that the training split does not have/);
    fs.rmSync(path.join(root, 'test', 'q'), { recursive: true });
    expect(thrownUserError(() => listImageFolder(root)).message).to.match(/class "b" has no test image/);
    fs.mkdirSync(path.join(root, 'test', 'b'));
    expect(thrownUserError(() => listImageFolder(root)).message).to.match(/test split .*[/\\]b holds no image/);
  });
});

describe('data/decode: images to pixels with sharp', () => {
  let root: string;
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-decode-'));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('lossless PNG and WebP decode to exactly the written pixels; grey, alpha and 16-bit become 8-bit RGB', async () => {
    const files = [];
    for (let k = 0; k < 5; k++) {
      const f = path.join(root, 'exact', `${k}.${k % 2 ? 'webp' : 'png'}`);
      await writeImage(f, 6, 4, k, k % 2 ? 'webp' : 'png');
      files.push({ path: f, rel: `${k}`, label: k % 2 });
    }
    // grey + alpha PNG: grey replicated, alpha dropped (PIL convert("RGB"))
    const ga = path.join(root, 'exact', 'ga.png');
    await sharp(Buffer.from(Array.from({ length: 6 * 4 * 2 }, (_, i) => (i % 2 ? 128 : i * 5))), { raw: { width: 6, height: 4, channels: 2 } }).png().toFile(ga);
    files.push({ path: ga, rel: 'ga', label: 0 });
    // 16-bit RGB PNG: the high byte
    const deep = path.join(root, 'exact', 'deep.png');
    await sharp(pixels(6, 4, 9), { raw: { width: 6, height: 4, channels: 3 } }).toColourspace('rgb16').png().toFile(deep);
    files.push({ path: deep, rel: 'deep', label: 1 });
    const split = fileSplit(root, files, 'none', false);
    const { chunks } = await collect(split, 'none');
    expect(chunks.map((c) => [c.start, c.end, c.split.count])).to.deep.equal([[0, 3, 3], [3, 6, 3], [6, 7, 1]]);
    const all = Buffer.concat(chunks.map((c) => Buffer.from(c.split.images)));
    for (let k = 0; k < 5; k++) expect(all.subarray(k * 72, (k + 1) * 72).equals(pixels(6, 4, k)), `image ${k}`).to.equal(true);
    const grey = all.subarray(5 * 72, 6 * 72);
    for (let p = 0; p < 24; p++) expect([grey[3 * p], grey[3 * p + 1], grey[3 * p + 2]]).to.deep.equal(Array(3).fill((2 * p * 5) & 255));
    expect(all.subarray(6 * 72).equals(pixels(6, 4, 9))).to.equal(true);
    expect(Array.from(chunks.flatMap((c) => Array.from(c.split.labels)))).to.deep.equal([0, 1, 0, 1, 0, 0, 1]);
  });

  it('crop geometry is torchvision Resize(int(256/224*size)) + CenterCrop(size), Python rounding', () => {
    // 400x300: shorter side 300 -> 256, width int(256*400/300) = 341; left round(58.5) = 58 (half to even), top 16
    expect(cropGeometry(400, 300, [224, 224])).to.deep.equal({ rw: 341, rh: 256, left: 58, top: 16 });
    // portrait 300x500 -> 256 x 426, top round(101) = 101
    expect(cropGeometry(300, 500, [224, 224])).to.deep.equal({ rw: 256, rh: 426, left: 16, top: 101 });
    // 32x32 -> 256x256 -> centre 224; 384 input: int(256/224*384) = 438
    expect(cropGeometry(32, 32, [224, 224])).to.deep.equal({ rw: 256, rh: 256, left: 16, top: 16 });
    expect(cropGeometry(64, 64, [384, 384])).to.deep.equal({ rw: 438, rh: 438, left: 27, top: 27 });
    // 257 wide: (293 - 224) / 2 = 34.5 -> 34 (even)
    expect(cropGeometry(257, 224, [224, 224]).left).to.equal(34);
  });

  it('crop and squash give the target size; a flat colour stays that colour; a left/right split stays centred', async () => {
    const flat = path.join(root, 'geo', 'flat.jpg');
    fs.mkdirSync(path.dirname(flat), { recursive: true });
    await sharp({ create: { width: 90, height: 60, channels: 3, background: { r: 200, g: 40, b: 90 } } }).png().toFile(flat.replace('.jpg', '.png'));
    const halves = path.join(root, 'geo', 'halves.png');
    const w = 120;
    const h = 40;
    const half = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) half[(y * w + x) * 3] = x < w / 2 ? 255 : 0;
    await sharp(half, { raw: { width: w, height: h, channels: 3 } }).png().toFile(halves);
    const split = fileSplit(root, [
      { path: flat.replace('.jpg', '.png'), rel: 'flat', label: 0 },
      { path: halves, rel: 'halves', label: 1 },
    ], 'crop', false);
    for (const rule of ['crop', 'squash'] as const) {
      const { chunks } = await collect(split, rule, [24, 24], 8);
      const c = chunks[0].split;
      expect([c.height, c.width, c.count]).to.deep.equal([24, 24, 2]);
      for (let p = 0; p < 24 * 24; p++) expect([c.images[3 * p], c.images[3 * p + 1], c.images[3 * p + 2]]).to.deep.equal([200, 40, 90]);
      const img = c.images.subarray(24 * 24 * 3);
      // Left columns red, right columns black (cropping keeps the centre, so the edge is in the middle).
      expect(img[(12 * 24 + 0) * 3]).to.equal(255);
      expect(img[(12 * 24 + 23) * 3]).to.equal(0);
      expect(img[(12 * 24 + 10) * 3]).to.be.above(200);
      expect(img[(12 * 24 + 13) * 3]).to.be.below(55);
    }
  });

  it('a truncated or non-image file is an error naming it; --skip-bad-images leaves it out and reports it', async () => {
    const good = path.join(root, 'bad', 'good.png');
    await writeImage(good, 5, 5, 1);
    const png = fs.readFileSync(good);
    const cut = path.join(root, 'bad', 'cut.png');
    fs.writeFileSync(cut, png.subarray(0, png.length - 20));
    const jpg = path.join(root, 'bad', 'cut.jpg');
    await writeImage(jpg, 64, 64, 2, 'jpeg');
    fs.writeFileSync(jpg, fs.readFileSync(jpg).subarray(0, 300));
    const text = path.join(root, 'bad', 'text.png');
    fs.writeFileSync(text, 'not an image at all');
    const files = [good, cut, jpg, text, good].map((p, i) => ({ path: p, rel: `${i}-${path.basename(p)}`, label: i % 2 }));
    for (const [i, p] of [[1, cut], [2, jpg], [3, text]] as const) {
      const strict = fileSplit(root, [files[0], files[i]], 'none', false);
      const e = await rejectedUserError(collect(strict, 'none'));
      expect(e.message).to.contain(`cannot decode image ${p}`);
      expect(e.hint).to.contain('--skip-bad-images');
    }
    const lenient = fileSplit(root, files, 'none', true);
    const { chunks, bad } = await collect(lenient, 'none', null, 2);
    expect(bad).to.deep.equal(['1-cut.png', '2-cut.jpg', '3-text.png']);
    expect(chunks.flatMap((c) => c.indices)).to.deep.equal([0, 4]);
    expect(Array.from(chunks.flatMap((c) => Array.from(c.split.labels)))).to.deep.equal([0, 0]);
  });

  it('--resize none with two image sizes is an error naming both files', async () => {
    const a = path.join(root, 'sizes', 'a.png');
    const b = path.join(root, 'sizes', 'b.png');
    await writeImage(a, 5, 5, 1);
    await writeImage(b, 6, 5, 1);
    const split = fileSplit(root, [{ path: a, rel: 'a', label: 0 }, { path: b, rel: 'b', label: 0 }], 'none', false);
    const e = await rejectedUserError(collect(split, 'none'));
    expect(e.message).to.contain(`${b} is 6x5 and ${a} is 5x5`);
    expect(e.hint).to.contain('--resize crop');
  });

  it('the split digest covers names, labels and content, and is memoised by size and mtime', async () => {
    const dir = path.join(root, 'digest');
    const cache = path.join(root, 'digest-cache');
    const f = path.join(dir, 'a.png');
    await writeImage(f, 4, 4, 1);
    const split = fileSplit(dir, [{ path: f, rel: 'a.png', label: 0 }], 'none', false);
    const d1 = await fileSplitDigest(split, cache);
    expect(await fileSplitDigest(split, cache)).to.equal(d1);
    expect(await fileSplitDigest({ ...split, files: [{ ...split.files[0], label: 1 }] }, cache)).to.not.equal(d1);
    const before = fs.statSync(f);
    await writeImage(f, 4, 4, 2);
    fs.utimesSync(f, before.atime, new Date(before.mtimeMs + 5000));
    expect(await fileSplitDigest(split, cache)).to.not.equal(d1);
  });

  it('the digest memo is written through an owner-named temp: a dead writer\'s temp is removed, none of ours is left', async () => {
    const dir = path.join(root, 'memo');
    const cache = path.join(root, 'memo-cache');
    const f = path.join(dir, 'a.png');
    await writeImage(f, 4, 4, 1);
    const split = fileSplit(dir, [{ path: f, rel: 'a.png', label: 0 }], 'none', false);
    await fileSplitDigest(split, cache);
    const memoDir = path.join(cache, 'datasets', 'file-digests');
    const [memo] = fs.readdirSync(memoDir);
    expect(memo).to.match(/^[0-9a-f]{24}\.json$/);
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
    expect(pidAlive(dead)).to.equal(false);
    const orphan = `${memo}~${hostTag()}~${dead}~deadbeef.tmp`;
    const oldStyle = `${memo}.12345.tmp`; // an older cl's name: no owner to check, removed once an hour old
    const recent = `${memo}.23456.tmp`;
    for (const n of [orphan, oldStyle, recent]) fs.writeFileSync(path.join(memoDir, n), '{');
    const hourAgo = new Date(Date.now() - 2 * 3600 * 1000);
    fs.utimesSync(path.join(memoDir, oldStyle), hourAgo, hourAgo);
    // A changed file: the memo is rewritten (and the folder swept).
    await writeImage(f, 4, 4, 2);
    fs.utimesSync(f, new Date(), new Date(Date.now() + 5000));
    await fileSplitDigest(split, cache);
    expect(fs.readdirSync(memoDir).sort()).to.deep.equal([memo, recent].sort());
    expect(JSON.parse(fs.readFileSync(path.join(memoDir, memo), 'utf8')).files['a.png'][1]).to.equal(fs.statSync(f).mtimeMs);
  });
});

describe('image folder -> features (feature cache, pixels and ONNX-free backbones)', () => {
  let root: string;
  let cache: string;
  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-imgfeat-'));
    cache = path.join(root, '.cache');
    for (const [split, n] of [['train', 5], ['test', 2]] as const) {
      for (const [c, cls] of ['cat', 'dog', 'eel'].entries()) {
        for (let i = 0; i < n; i++) await writeImage(path.join(root, 'data', split, cls, `${i}.png`), 4, 3, c * 10 + i + (split === 'test' ? 5 : 0));
      }
    }
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('pixels features of an image folder equal its decoded pixels / 255, cached by content, in chunks', async () => {
    const ds = await loadDataset(`imagefolder:${path.join(root, 'data')}`, { resize: 'none' });
    expect(ds.name).to.equal(`imagefolder:${path.join(root, 'data')}`);
    expect(ds.classNames).to.deep.equal(['cat', 'dog', 'eel']);
    const backbone = await createBackbone('pixels');
    const progress: number[] = [];
    const r = await extractFeatures(ds, 'train', backbone, { cacheRoot: cache, quiet: true, chunkSize: 4, onProgress: (d) => progress.push(d) });
    expect(r.cached).to.equal(false);
    expect(progress.filter((d, i) => progress.indexOf(d) === i)).to.deep.equal([4, 8, 12, 15]);
    expect([r.features.count, r.features.dim]).to.deep.equal([15, 36]);
    for (let k = 0; k < 15; k++) {
      const c = Math.floor(k / 5);
      const expected = Array.from(pixels(4, 3, c * 10 + (k % 5)), (v) => v / 255);
      expect(Array.from(r.features.x.subarray(k * 36, (k + 1) * 36)).map((v) => Math.round(v * 255))).to.deep.equal(expected.map((v) => Math.round(v * 255)));
      expect(r.features.y[k]).to.equal(c);
    }
    const again = await extractFeatures(ds, 'train', backbone, { cacheRoot: cache, quiet: true });
    expect(again.cached).to.equal(true);
    const bytes = (x: Float32Array): Buffer => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    expect(bytes(again.features.x).equals(bytes(r.features.x))).to.equal(true);
    const entries = await listFeatureCache(cache);
    expect(entries.map((e) => e.id)).to.have.length(1);
    expect(entries[0].id).to.match(/^imagefolder_data-train-[0-9a-f]{16}$/);
  });

  it('a bad image: without --skip-bad-images an error even from the cache; with it, left out and listed', async () => {
    const dir = path.join(root, 'bad');
    fs.cpSync(path.join(root, 'data'), dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'train', 'dog', '3.png'), 'broken');
    const backbone = await createBackbone('pixels');
    const strict = (await loadDataset(`imagefolder:${dir}`, { resize: 'none' })) as ImageDataset<FileImageSplit>;
    const e = await rejectedUserError(extractFeatures(strict, 'train', backbone, { cacheRoot: cache, quiet: true }));
    expect(e.message).to.contain(path.join(dir, 'train', 'dog', '3.png'));
    const lenient = await loadDataset(`imagefolder:${dir}`, { resize: 'none', skipBadImages: true });
    const r = await extractFeatures(lenient, 'train', backbone, { cacheRoot: cache, quiet: true, chunkSize: 4 });
    expect(r.features.count).to.equal(14);
    expect(r.skipped?.map((b) => [b.index, b.file])).to.deep.equal([[8, 'dog/3.png']]);
    expect(Array.from(r.features.y)).to.deep.equal([0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    const hit = await extractFeatures(lenient, 'train', backbone, { cacheRoot: cache, quiet: true });
    expect(hit.cached).to.equal(true);
    expect(hit.skipped?.map((b) => b.file)).to.deep.equal(['dog/3.png']);
    const e2 = await rejectedUserError(extractFeatures(strict, 'train', backbone, { cacheRoot: cache, quiet: true }));
    expect(e2.message).to.contain('dog/3.png');
  });

  it('image-folder entries get the identity check: a tampered list of left-out images, or an entry copied under another id, is reported and rebuilt', async () => {
    const dir = path.join(root, 'ident');
    fs.cpSync(path.join(root, 'data'), dir, { recursive: true });
    // Two bad images in one chunk (decoded 4 at once, so reported in either order): cat/1 and cat/3.
    for (const f of ['cat/1.png', 'cat/3.png']) fs.writeFileSync(path.join(dir, 'train', f), 'broken');
    const backbone = await createBackbone('pixels');
    const ds = (await loadDataset(`imagefolder:${dir}`, { resize: 'none', skipBadImages: true })) as ImageDataset<FileImageSplit>;
    const first = await extractFeatures(ds, 'train', backbone, { cacheRoot: cache, quiet: true, chunkSize: 8 });
    expect(first.rebuilt).to.equal(null);
    expect(first.skipped?.map((b) => [b.index, b.file])).to.deep.equal([[1, 'cat/1.png'], [3, 'cat/3.png']]);
    expect(first.features.count).to.equal(13);
    const metaFile = path.join(cache, 'features', first.cacheId, 'meta.json');
    const meta = (): Record<string, unknown> & { skipped: { index: number; file: string; error: string }[] } => JSON.parse(fs.readFileSync(metaFile, 'utf8'));
    expect(meta().skipped.map((b) => b.index)).to.deep.equal([1, 3]);
    const again = async (): Promise<{ reasons: string[]; r: Awaited<ReturnType<typeof extractFeatures>> }> => {
      const reasons: string[] = [];
      const r = await extractFeatures(ds, 'train', backbone, { cacheRoot: cache, quiet: true, onRebuild: (why) => reasons.push(why) });
      return { reasons, r };
    };
    const edit = (f: (m: ReturnType<typeof meta>) => void): void => {
      const m = meta();
      f(m);
      fs.writeFileSync(metaFile, JSON.stringify(m));
    };
    const expectRebuilt = async (why: RegExp): Promise<void> => {
      const { reasons, r } = await again();
      expect(r.cached).to.equal(false);
      expect(reasons).to.have.length(1);
      expect(reasons[0]).to.match(new RegExp(`^feature cache entry ${first.cacheId} is rebuilt: `)).and.match(why);
      expect(r.rebuilt).to.equal(reasons[0]);
      expect(Array.from(r.features.y)).to.deep.equal(Array.from(first.features.y));
      expect(r.skipped?.map((b) => b.index)).to.deep.equal([1, 3]);
    };
    // One left-out image forgotten: the rows no longer add up.
    edit((m) => m.skipped.pop());
    await expectRebuilt(/13 rows for a split of 15 images of which it left 1 out/);
    // Another image named as left out: the counts add up, the labels do not (row 3 would be cat/4, it holds dog/0).
    edit((m) => (m.skipped[1].index = 5));
    await expectRebuilt(/its label of image 4 is 1, the dataset's is 0/);
    // Out of range, or twice.
    edit((m) => (m.skipped[1].index = 99));
    await expectRebuilt(/names an image the split does not have, or one twice/);
    edit((m) => (m.skipped[1].index = 1));
    await expectRebuilt(/names an image the split does not have, or one twice/);
    // A valid entry serves the request, silently.
    const hit = await again();
    expect([hit.r.cached, hit.reasons, hit.r.skipped?.map((b) => b.file)]).to.deep.equal([true, [], ['cat/1.png', 'cat/3.png']]);
    // The test split's entry copied over the train split's.
    const test = await extractFeatures(ds, 'test', backbone, { cacheRoot: cache, quiet: true });
    fs.rmSync(path.join(cache, 'features', first.cacheId), { recursive: true });
    fs.cpSync(path.join(cache, 'features', test.cacheId), path.join(cache, 'features', first.cacheId), { recursive: true });
    await expectRebuilt(new RegExp(`it holds ${test.cacheId} .*, not ${first.cacheId}: copied or renamed under another id`));
  });

  it('non-finite features of an image folder stop the extraction naming the image file; nothing is cached', async () => {
    const dir = path.join(root, 'nan');
    fs.cpSync(path.join(root, 'data'), dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'train', 'cat', '1.png'), 'broken');
    const pixelsBackbone = await createBackbone('pixels');
    // Pixels, except that the 4th row it returns (image 4 once cat/1 is left out) is NaN in feature 2.
    let rows = 0;
    const poisoned: Backbone = {
      id: 'pixels@poisoned',
      kind: 'test',
      preprocessing: null,
      preprocessingId: 'none',
      describe: () => ({ kind: 'test' }),
      dim: () => null,
      dispose: async () => undefined,
      extract: async (split, opts) => {
        const x = await pixelsBackbone.extract(split, opts);
        const dim = x.length / split.count;
        for (let i = 0; i < split.count; i++, rows++) if (rows === 3) x[i * dim + 2] = NaN;
        return x;
      },
    };
    const ds = await loadDataset(`imagefolder:${dir}`, { resize: 'none', skipBadImages: true });
    const e = await rejectedUserError(extractFeatures(ds, 'train', poisoned, { cacheRoot: cache, quiet: true, chunkSize: 2 }));
    expect(e.message).to.equal(
      `backbone pixels@poisoned produced 1 non-finite value of ${14 * 36} (first: NaN at image 4 (${path.join(dir, 'train', 'cat', '4.png')}), feature 2) for imagefolder:${dir}/train; nothing was cached`,
    );
    expect((await listFeatureCache(cache)).filter((en) => en.backbone === 'pixels@poisoned')).to.deep.equal([]);
  });

  it('--resize crop needs a backbone with an input size', async () => {
    const ds = await loadDataset(`imagefolder:${path.join(root, 'data')}`, {});
    const e = await rejectedUserError(extractFeatures(ds, 'test', await createBackbone('pixels'), { cacheRoot: cache, quiet: true }));
    expect(e.message).to.match(/--resize crop needs the backbone's input size/);
  });
});
