import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../src/errors.js';
import { featureCacheDir } from '../../src/paths.js';
import { Rng } from '../../src/rng.js';
import type { ImageDataset, ImageSplit } from '../../src/types.js';
import type { Backbone, ExtractOptions } from '../../src/backbones/backbone.js';
import {
  extractFeatures,
  featureCacheKey,
  listFeatureCache,
  readFeatureCacheEntry,
  removeFeatureCache,
  splitFingerprint,
} from '../../src/backbones/feature-cache.js';
import { readNpy } from '../../src/backbones/npy.js';

function split(seed: number, count: number): ImageSplit {
  const rng = new Rng(seed);
  const images = Uint8Array.from({ length: count * 4 * 4 * 3 }, () => rng.int(256));
  const labels = Int32Array.from({ length: count }, () => rng.int(10));
  return { images, labels, count, height: 4, width: 4, channels: 3 };
}

function dataset(seed = 1): ImageDataset {
  return { name: 'toy', numClasses: 10, train: split(seed, 20), test: split(seed + 100, 8), source: { location: '/tmp/somewhere', verified: 'structure' } };
}

/** A deterministic fake backbone (dim 5: per-channel means + two fixed pixels) that counts calls. */
class FakeBackbone implements Backbone {
  readonly kind = 'fake';
  readonly preprocessing = null;
  readonly preprocessingId = 'fake-pp';
  calls = 0;
  /** Row and column set to `poison` in the output (e.g. NaN), when given. */
  poison: { row: number; col: number; value: number } | null = null;
  constructor(readonly id = 'fake@1') {}
  describe(): Record<string, unknown> {
    return { kind: 'fake', note: 'test' };
  }
  dim(): number {
    return 5;
  }
  async extract(s: ImageSplit, opts: ExtractOptions = {}): Promise<Float32Array> {
    this.calls++;
    const per = s.height * s.width * s.channels;
    const out = new Float32Array(s.count * 5);
    for (let i = 0; i < s.count; i++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let p = c; p < per; p += 3) sum += s.images[i * per + p];
        out[i * 5 + c] = sum / (per / 3) / 255;
      }
      out[i * 5 + 3] = s.images[i * per] / 7;
      out[i * 5 + 4] = -s.images[i * per + 1];
      opts.onProgress?.(i + 1, s.count, 1000);
    }
    if (this.poison) out[this.poison.row * 5 + this.poison.col] = this.poison.value;
    return out;
  }
  async dispose(): Promise<void> {}
}

describe('backbones/feature-cache', () => {
  let root: string;
  beforeEach(async () => {
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'cl-fc-'));
  });
  afterEach(async () => {
    await fsp.rm(root, { recursive: true, force: true });
  });

  it('extracts once, then serves identical values from the cache without calling the backbone', async () => {
    const ds = dataset();
    const bb = new FakeBackbone();
    const first = await extractFeatures(ds, 'train', bb, { cacheRoot: root, quiet: true });
    expect(first.cached).to.equal(false);
    expect(bb.calls).to.equal(1);
    expect(first.features.count).to.equal(20);
    expect(first.features.dim).to.equal(5);
    expect(Array.from(first.features.y)).to.deep.equal(Array.from(ds.train.labels));
    const again = await extractFeatures(dataset(), 'train', bb, { cacheRoot: root, quiet: true });
    expect(again.cached).to.equal(true);
    expect(bb.calls).to.equal(1);
    expect(again.cacheId).to.equal(first.cacheId);
    expect(Array.from(again.features.x)).to.deep.equal(Array.from(first.features.x));
    expect(Array.from(again.features.y)).to.deep.equal(Array.from(first.features.y));
    // The other split, another backbone id and other data are different entries.
    expect((await extractFeatures(ds, 'test', bb, { cacheRoot: root, quiet: true })).cached).to.equal(false);
    expect((await extractFeatures(ds, 'train', new FakeBackbone('fake@2'), { cacheRoot: root, quiet: true })).cached).to.equal(false);
    expect((await extractFeatures(dataset(2), 'train', bb, { cacheRoot: root, quiet: true })).cached).to.equal(false);
    expect(bb.calls).to.equal(3);
  });

  it('lays the entry out as features.npy [N, D] float32, labels.npy [N] int32 and meta.json', async () => {
    const ds = dataset();
    const res = await extractFeatures(ds, 'test', new FakeBackbone(), { cacheRoot: root, quiet: true });
    const dir = path.join(featureCacheDir(root), res.cacheId);
    expect(res.cacheId).to.match(/^toy-test-[0-9a-f]{16}$/);
    expect((await fsp.readdir(dir)).sort()).to.deep.equal(['features.npy', 'labels.npy', 'meta.json']);
    const x = await readNpy(path.join(dir, 'features.npy'));
    const y = await readNpy(path.join(dir, 'labels.npy'));
    expect([x.dtype, ...x.shape]).to.deep.equal(['<f4', 8, 5]);
    expect([y.dtype, ...y.shape]).to.deep.equal(['<i4', 8]);
    const meta = JSON.parse(await fsp.readFile(path.join(dir, 'meta.json'), 'utf8'));
    expect(meta).to.include({ id: res.cacheId, split: 'test', count: 8, dim: 5 });
    expect(meta.dataset.name).to.equal('toy');
    expect(meta.backbone).to.deep.equal({ id: 'fake@1', kind: 'fake', describe: { kind: 'fake', note: 'test' } });
    expect(meta.preprocessing.id).to.equal('fake-pp');
    expect(meta.files['features.npy'].sha256).to.match(/^[0-9a-f]{64}$/);
    expect(meta.files['features.npy'].bytes).to.equal(128 + 8 * 5 * 4);
    expect(meta.clVersion).to.be.a('string');
    expect(Date.parse(meta.createdAt)).to.be.greaterThan(0);
    // No temp dirs left behind.
    expect((await fsp.readdir(featureCacheDir(root))).filter((n) => n.startsWith('.'))).to.deep.equal([]);
  });

  it('keys on data content, not on where the dataset came from', () => {
    const a = dataset();
    const b = { ...dataset(), source: { location: '/elsewhere/copy.tar.gz', verified: 'checksum' as const } };
    const bb = new FakeBackbone();
    expect(featureCacheKey(a, 'train', bb)).to.deep.equal(featureCacheKey(b, 'train', bb));
    const c = dataset();
    c.train.images[5] ^= 1;
    expect(splitFingerprint(c.train)).to.not.equal(splitFingerprint(a.train));
    expect(featureCacheKey(c, 'train', bb).id).to.not.equal(featureCacheKey(a, 'train', bb).id);
  });

  it('treats an uncommitted temp dir, a missing meta.json, a truncated or altered npy, or other labels as absent', async () => {
    const ds = dataset();
    const bb = new FakeBackbone();
    const { cacheId, features } = await extractFeatures(ds, 'train', bb, { cacheRoot: root, quiet: true });
    const base = featureCacheDir(root);
    const dir = path.join(base, cacheId);
    const corruptions: [string, () => Promise<void>][] = [
      ['meta.json missing (killed before commit)', () => fsp.rm(path.join(dir, 'meta.json'))],
      ['features.npy truncated', async () => fsp.truncate(path.join(dir, 'features.npy'), 200)],
      ['labels.npy missing', () => fsp.rm(path.join(dir, 'labels.npy'))],
      [
        'a feature value flipped',
        async () => {
          const f = path.join(dir, 'features.npy');
          const buf = await fsp.readFile(f);
          buf[140] ^= 0xff;
          await fsp.writeFile(f, buf);
        },
      ],
      ['meta.json not JSON', () => fsp.writeFile(path.join(dir, 'meta.json'), '{"format": "cl-feature-cache", ')],
    ];
    let calls = bb.calls;
    for (const [what, corrupt] of corruptions) {
      await corrupt();
      const res = await extractFeatures(ds, 'train', bb, { cacheRoot: root, quiet: true });
      expect(res.cached, what).to.equal(false);
      expect(bb.calls, what).to.equal(++calls);
      expect(Array.from(res.features.x), what).to.deep.equal(Array.from(features.x));
      // ... and the entry was rebuilt into a valid one.
      expect(await readFeatureCacheEntry(dir, ds.train.labels), what).to.not.equal(null);
    }
    // A valid entry whose labels do not match the dataset's is not used.
    const other = Int32Array.from(ds.train.labels, (v) => (v + 1) % 10);
    expect(await readFeatureCacheEntry(dir, other)).to.equal(null);
    // A temp dir of a killed writer (no meta.json, partial files) is ignored, then swept once stale.
    const tmp = path.join(base, `.tmp-${cacheId}-99999-deadbeef`);
    await fsp.mkdir(tmp);
    await fsp.writeFile(path.join(tmp, 'features.npy'), Buffer.alloc(50));
    expect((await extractFeatures(ds, 'train', bb, { cacheRoot: root, quiet: true })).cached).to.equal(true);
    expect((await fsp.readdir(base)).includes(path.basename(tmp))).to.equal(true);
    const old = new Date(Date.now() - 2 * 3600 * 1000);
    await fsp.utimes(tmp, old, old);
    await extractFeatures(ds, 'train', bb, { cacheRoot: root, quiet: true });
    expect((await fsp.readdir(base)).includes(path.basename(tmp))).to.equal(false);
    expect(bb.calls).to.equal(calls);
  });

  it('lists and removes entries by id, unique prefix, or all', async () => {
    const bb = new FakeBackbone();
    const a = await extractFeatures(dataset(), 'train', bb, { cacheRoot: root, quiet: true });
    const b = await extractFeatures(dataset(), 'test', bb, { cacheRoot: root, quiet: true });
    const c = await extractFeatures({ ...dataset(3), name: 'other' }, 'test', bb, { cacheRoot: root, quiet: true });
    await fsp.mkdir(path.join(featureCacheDir(root), 'not-an-entry')); // no meta.json: not listed
    const list = await listFeatureCache(root);
    expect(list.map((e) => e.id).sort()).to.deep.equal([a.cacheId, b.cacheId, c.cacheId].sort());
    const ea = list.find((e) => e.id === a.cacheId)!;
    expect(ea).to.include({ dataset: 'toy', split: 'train', backbone: 'fake@1', preprocessing: 'fake-pp', dim: 5, count: 20 });
    expect(ea.bytes).to.be.greaterThan(128 + 20 * 5 * 4 + 128 + 20 * 4);
    expect(await listFeatureCache(path.join(root, 'nothing-here'))).to.deep.equal([]);

    // Ambiguous prefix and no match are UserErrors.
    let err: unknown;
    try {
      await removeFeatureCache(root, 'toy-');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(UserError);
    expect((err as UserError).message).to.include('matches 2');
    err = undefined;
    try {
      await removeFeatureCache(root, 'zzz');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(UserError);

    const removed = await removeFeatureCache(root, a.cacheId.slice(0, 'toy-train-'.length + 3));
    expect(removed.map((e) => e.id)).to.deep.equal([a.cacheId]);
    expect((await listFeatureCache(root)).map((e) => e.id).sort()).to.deep.equal([b.cacheId, c.cacheId].sort());
    const all = await removeFeatureCache(root, { all: true });
    expect(all.length).to.equal(2);
    expect(await fsp.readdir(featureCacheDir(root))).to.deep.equal([]);
    // Removed means re-extracted next time.
    expect((await extractFeatures(dataset(), 'train', bb, { cacheRoot: root, quiet: true })).cached).to.equal(false);
  });

  it('refuses non-finite features from a backbone with an error naming it, and caches nothing', async () => {
    for (const value of [NaN, Infinity, -Infinity]) {
      const bb = new FakeBackbone('fake@nan');
      bb.poison = { row: 3, col: 2, value };
      let err: unknown;
      try {
        await extractFeatures(dataset(), 'train', bb, { cacheRoot: root, quiet: true });
      } catch (e) {
        err = e;
      }
      expect(err, String(value)).to.be.instanceOf(UserError);
      const msg = (err as UserError).message;
      expect(msg).to.include('fake@nan');
      expect(msg).to.match(/non-finite/);
      expect(msg).to.include('image 3');
      expect(msg).to.include('toy/train');
      expect(await listFeatureCache(root), String(value)).to.deep.equal([]);
      // No temp dir left either.
      const names = await fsp.readdir(featureCacheDir(root)).catch(() => [] as string[]);
      expect(names, String(value)).to.deep.equal([]);
    }
  });

  it('does not use an entry copied under another entry\'s id: reports the mismatch and rebuilds', async () => {
    const ds = dataset();
    const a = new FakeBackbone('fake@A');
    const b = new FakeBackbone('fake@B');
    const fa = await extractFeatures(ds, 'train', a, { cacheRoot: root, quiet: true });
    const idB = featureCacheKey(ds, 'train', b).id;
    const base = featureCacheDir(root);
    await fsp.cp(path.join(base, fa.cacheId), path.join(base, idB), { recursive: true });
    // Backbone B gives other values than A, so using A's entry would be visible in the features.
    class Shifted extends FakeBackbone {
      override async extract(s: ImageSplit, opts: ExtractOptions = {}): Promise<Float32Array> {
        return (await super.extract(s, opts)).map((v) => v + 1);
      }
    }
    const shifted = new Shifted('fake@B');
    const reasons: string[] = [];
    const res = await extractFeatures(ds, 'train', shifted, { cacheRoot: root, quiet: true, onRebuild: (why) => reasons.push(why) });
    expect(res.cached).to.equal(false);
    expect(shifted.calls).to.equal(1);
    expect(res.features.x[0]).to.equal(Math.fround(fa.features.x[0] + 1));
    expect(reasons).to.have.length(1);
    expect(reasons[0]).to.include(fa.cacheId);
    expect(reasons[0]).to.include('fake@A');
    expect(res.rebuilt).to.equal(reasons[0]);
    // The rebuilt entry is b's own and is now used.
    const again = await extractFeatures(ds, 'train', shifted, { cacheRoot: root, quiet: true, onRebuild: (why) => reasons.push(why) });
    expect(again.cached).to.equal(true);
    expect(reasons).to.have.length(1);
    const meta = JSON.parse(await fsp.readFile(path.join(base, idB, 'meta.json'), 'utf8'));
    expect(meta.backbone.id).to.equal('fake@B');
  });

  it('checks the sidecar against the request: key, backbone id, dims, and content (even with matching checksums)', async () => {
    const ds = dataset();
    const bb = new FakeBackbone();
    const { cacheId } = await extractFeatures(ds, 'train', bb, { cacheRoot: root, quiet: true });
    const dir = path.join(featureCacheDir(root), cacheId);
    const metaFile = path.join(dir, 'meta.json');
    const pristine = await fsp.readFile(metaFile, 'utf8');
    const featuresFile = path.join(dir, 'features.npy');
    const pristineFeatures = await fsp.readFile(featuresFile);
    type Meta = { key: string; dim: number; backbone: { id: string }; preprocessing: { id: string }; files: Record<string, { sha256: string }> };
    const edits: [string, (m: Meta) => Promise<void> | void, RegExp][] = [
      ['another key', (m) => void (m.key = 'f'.repeat(64)), /key/],
      ['another backbone id', (m) => void (m.backbone.id = 'pixels'), /backbone pixels/],
      ['another dim', (m) => void (m.dim = 4), /dim|shape/],
      ['another preprocessing', (m) => void (m.preprocessing.id = 'other-pp'), /preprocessing/],
      [
        'a NaN with a recomputed checksum',
        async (m) => {
          const buf = Buffer.from(pristineFeatures);
          buf.writeFloatLE(NaN, buf.length - 4);
          await fsp.writeFile(featuresFile, buf);
          m.files['features.npy'].sha256 = createHash('sha256').update(buf).digest('hex');
        },
        /non-finite/,
      ],
    ];
    let calls = bb.calls;
    for (const [what, edit, why] of edits) {
      const meta = JSON.parse(pristine) as Meta;
      await edit(meta);
      await fsp.writeFile(metaFile, JSON.stringify(meta));
      const reasons: string[] = [];
      const res = await extractFeatures(ds, 'train', bb, { cacheRoot: root, quiet: true, onRebuild: (r) => reasons.push(r) });
      expect(res.cached, what).to.equal(false);
      expect(bb.calls, what).to.equal(++calls);
      expect(reasons, what).to.have.length(1);
      expect(reasons[0], what).to.match(why);
      expect(Number.isFinite(res.features.x[res.features.x.length - 1]), what).to.equal(true);
    }
  });

  it('says why whenever it rebuilds an entry (never silently)', async () => {
    const ds = dataset();
    const bb = new FakeBackbone();
    const { cacheId } = await extractFeatures(ds, 'train', bb, { cacheRoot: root, quiet: true });
    const dir = path.join(featureCacheDir(root), cacheId);
    const cases: [string, () => Promise<void>, RegExp][] = [
      ['meta.json missing', () => fsp.rm(path.join(dir, 'meta.json')), /meta\.json/],
      ['features.npy truncated', () => fsp.truncate(path.join(dir, 'features.npy'), 200), /features\.npy/],
      ['labels.npy missing', () => fsp.rm(path.join(dir, 'labels.npy')), /labels\.npy/],
    ];
    for (const [what, corrupt, why] of cases) {
      await corrupt();
      const reasons: string[] = [];
      const res = await extractFeatures(ds, 'train', bb, { cacheRoot: root, quiet: true, onRebuild: (r) => reasons.push(r) });
      expect(res.cached, what).to.equal(false);
      expect(reasons, what).to.have.length(1);
      expect(reasons[0], what).to.match(why);
    }
    // An entry that does not exist yet is a plain miss, not a rebuild.
    const reasons: string[] = [];
    await extractFeatures(ds, 'test', bb, { cacheRoot: root, quiet: true, onRebuild: (r) => reasons.push(r) });
    expect(reasons).to.deep.equal([]);
  });
});
