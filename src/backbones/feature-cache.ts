/**
 * The feature cache: features are extracted once per (dataset content, split, backbone, preprocessing)
 * and reused by every method and seed (docs/architecture.md "Principles").
 *
 * Entry layout: `featureCacheDir(root)/<cacheId>/` with `features.npy` (float32 [N, D]),
 * `labels.npy` (int32 [N]) and `meta.json`. An entry is written into a temp dir next to it, every
 * file fsynced, then the dir is renamed into place (atomic on POSIX); meta.json is the commit
 * marker. Anything that fails verification on read is treated as absent and rebuilt.
 */
import { formatDuration } from './wrap.js';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { progressReporter } from '../data/progress.js';
import { UserError } from '../errors.js';
import { featureCacheDir } from '../paths.js';
import { decodeChunks, decodeId, decodeTarget, fileSplitDigest, type BadImage } from '../data/decode.js';
import { isFileSplit, type AnySplit, type Features, type FileImageSplit, type ImageDataset, type ImageSplit } from '../types.js';
import { clVersion } from '../version.js';
import type { Backbone } from './types.js';
import { decodeNpy, npyHeader, writeNpy } from './npy.js';

export interface ExtractFeaturesOptions {
  /** Cache root (default paths.cacheRoot()). */
  cacheRoot?: string;
  onProgress?: (done: number, total: number, imagesPerSec: number, etaSeconds?: number) => void;
  /** No progress output of our own when no onProgress is given. */
  quiet?: boolean;
  /** Image folders: images decoded per chunk (default 256). */
  chunkSize?: number;
}

export interface ExtractFeaturesResult {
  features: Features;
  cacheId: string;
  /** True when the features came from the cache (the backbone was not run). */
  cached: boolean;
  /** Wall time of extraction or of loading the entry. */
  ms: number;
  /** Image folders: the images left out (--skip-bad-images) and the decode id. */
  skipped?: BadImage[];
  decode?: string;
}

export interface FeatureCacheEntry {
  id: string;
  dataset: string;
  split: string;
  backbone: string;
  preprocessing: string;
  dim: number;
  count: number;
  /** Size on disk of the entry's files. */
  bytes: number;
  createdAt: string;
  path: string;
}

interface FileMeta {
  sha256: string;
  bytes: number;
}

export interface FeatureCacheMeta {
  format: 'cl-feature-cache';
  version: 1;
  id: string;
  key: string;
  dataset: { name: string; fingerprint: string; location: string; verified: string };
  split: string;
  backbone: { id: string; kind: string; describe: Record<string, unknown> };
  preprocessing: { id: string; spec: unknown; engine?: string | null };
  count: number;
  dim: number;
  createdAt: string;
  extractMs: number;
  clVersion: string;
  files: { 'features.npy': FileMeta; 'labels.npy': FileMeta };
  /** Image folders: how the files were decoded, and the images left out (their rows are absent). */
  decode?: string;
  skipped?: BadImage[];
}

const TMP_PREFIX = '.tmp-';
const STALE_TMP_MS = 60 * 60 * 1000;

const fingerprints = new WeakMap<ImageSplit, string>();

/**
 * Content fingerprint of a split (stable across runs and locations): sha256 over the geometry,
 * every label and every pixel. Memoised per split object.
 */
export function splitFingerprint(split: ImageSplit): string {
  const known = fingerprints.get(split);
  if (known) return known;
  const h = createHash('sha256');
  h.update(JSON.stringify({ count: split.count, height: split.height, width: split.width, channels: split.channels }));
  h.update(new Uint8Array(split.labels.buffer, split.labels.byteOffset, split.labels.byteLength));
  h.update(split.images);
  const fp = h.digest('hex');
  fingerprints.set(split, fp);
  return fp;
}

/**
 * The cache key (full sha256 hex) and the entry id `<dataset>-<split>-<16 hex>`. An image folder's
 * split has no pixels in memory: its fingerprint (file digests + decode id) is passed in.
 */
export function featureCacheKey(dataset: ImageDataset<AnySplit>, split: 'train' | 'test', backbone: Backbone, fingerprint?: string): { key: string; id: string } {
  const data = dataset[split];
  if (fingerprint === undefined && isFileSplit(data)) throw new Error('featureCacheKey: an image-folder split needs its fingerprint');
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        format: 1,
        dataset: dataset.name,
        fingerprint: fingerprint ?? splitFingerprint(data as ImageSplit),
        split,
        backbone: backbone.id,
        preprocessing: backbone.preprocessingId,
        // Only non-JS engines enter the key, so entries made by the JS preprocessor keep their keys.
        ...(backbone.preprocessingEngine && backbone.preprocessingEngine !== 'js' ? { engine: backbone.preprocessingEngine } : {}),
        count: data.count,
      }),
    )
    .digest('hex');
  const slug = datasetSlug(dataset.name);
  return { key, id: `${slug}-${split}-${key.slice(0, 16)}` };
}

/** File-name-safe short form of a dataset id (`imagefolder:/a/b/flowers` -> `imagefolder_flowers`). */
export function datasetSlug(name: string): string {
  const m = /^([a-z]+):(.*)$/.exec(name);
  const readable = m ? `${m[1]}_${m[2].replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? ''}` : name;
  return readable.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 48);
}

const sha256 = (buf: Uint8Array): string => createHash('sha256').update(buf).digest('hex');

function npySha256(data: Float32Array | Int32Array, shape: number[]): string {
  return createHash('sha256')
    .update(npyHeader(data instanceof Float32Array ? '<f4' : '<i4', shape))
    .update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    .digest('hex');
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await fsp.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function readMeta(dir: string): Promise<FeatureCacheMeta | null> {
  try {
    const meta = JSON.parse(await fsp.readFile(path.join(dir, 'meta.json'), 'utf8')) as FeatureCacheMeta;
    return meta && meta.format === 'cl-feature-cache' && meta.version === 1 ? meta : null;
  } catch {
    return null;
  }
}

/**
 * Load and verify an entry: meta.json present and well-formed, both .npy files match their recorded
 * sha256 and the recorded shapes, and (when given) the labels equal `expectLabels`. Returns null
 * when anything is off: a partial or corrupt entry counts as absent.
 */
export async function readFeatureCacheEntry(dir: string, expectLabels?: Int32Array): Promise<{ meta: FeatureCacheMeta; features: Features } | null> {
  const meta = await readMeta(dir);
  if (!meta) return null;
  try {
    const fbuf = await fsp.readFile(path.join(dir, 'features.npy'));
    const lbuf = await fsp.readFile(path.join(dir, 'labels.npy'));
    if (sha256(fbuf) !== meta.files['features.npy'].sha256 || sha256(lbuf) !== meta.files['labels.npy'].sha256) return null;
    const x = decodeNpy(fbuf, path.join(dir, 'features.npy'));
    const y = decodeNpy(lbuf, path.join(dir, 'labels.npy'));
    if (x.dtype !== '<f4' || y.dtype !== '<i4') return null;
    if (x.shape.length !== 2 || x.shape[0] !== meta.count || x.shape[1] !== meta.dim) return null;
    if (y.shape.length !== 1 || y.shape[0] !== meta.count) return null;
    if (expectLabels) {
      if (expectLabels.length !== meta.count) return null;
      for (let i = 0; i < meta.count; i++) if (y.data[i] !== expectLabels[i]) return null;
    }
    return { meta, features: { x: x.data, y: y.data, count: meta.count, dim: meta.dim } };
  } catch {
    return null;
  }
}

/** Remove temp dirs of interrupted writers that are older than an hour. */
async function sweepStaleTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    if (!name.startsWith(TMP_PREFIX)) continue;
    const p = path.join(dir, name);
    try {
      if (now - (await fsp.stat(p)).mtimeMs > STALE_TMP_MS) await fsp.rm(p, { recursive: true, force: true });
    } catch {
      // another process removed or renamed it meanwhile
    }
  }
}

/** Write an entry atomically: temp dir, fsync every file and the dir, rename into place. */
async function writeEntry(dir: string, id: string, meta: Omit<FeatureCacheMeta, 'files'>, features: Features): Promise<FeatureCacheMeta> {
  const final = path.join(dir, id);
  const tmp = path.join(dir, `${TMP_PREFIX}${id}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fsp.mkdir(tmp, { recursive: true });
  try {
    const xShape = [features.count, features.dim];
    const yShape = [features.count];
    await writeNpy(path.join(tmp, 'features.npy'), features.x, xShape);
    await writeNpy(path.join(tmp, 'labels.npy'), features.y, yShape);
    const full: FeatureCacheMeta = {
      ...meta,
      files: {
        'features.npy': { sha256: npySha256(features.x, xShape), bytes: (await fsp.stat(path.join(tmp, 'features.npy'))).size },
        'labels.npy': { sha256: npySha256(features.y, yShape), bytes: (await fsp.stat(path.join(tmp, 'labels.npy'))).size },
      },
    };
    const metaFile = path.join(tmp, 'meta.json');
    await fsp.writeFile(metaFile, `${JSON.stringify(full, null, 2)}\n`);
    await fsyncPath(metaFile);
    await fsyncPath(tmp);
    try {
      await fsp.rename(tmp, final);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY' && code !== 'EPERM') throw e;
      // Someone else committed the same entry first: keep theirs if it is valid, else replace it.
      if (await readFeatureCacheEntry(final, features.y)) {
        await fsp.rm(tmp, { recursive: true, force: true });
        return full;
      }
      await fsp.rm(final, { recursive: true, force: true });
      await fsp.rename(tmp, final);
    }
    await fsyncPath(dir);
    return full;
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Features of one split of `dataset` under `backbone`, from the cache when a valid entry exists,
 * else extracted now and cached.
 */
export async function extractFeatures(
  dataset: ImageDataset<AnySplit>,
  split: 'train' | 'test',
  backbone: Backbone,
  opts: ExtractFeaturesOptions = {},
): Promise<ExtractFeaturesResult> {
  const t0 = performance.now();
  const data = dataset[split];
  const files = isFileSplit(data) ? data : null;
  // Image folders: the fingerprint covers the file contents and how they are decoded for this backbone.
  const target = files ? decodeTarget(files.resize, backbone.preprocessing?.size ?? null, backbone.id) : null;
  const decode = target ? await decodeId(target) : undefined;
  const fingerprint = files ? createHash('sha256').update(`${await fileSplitDigest(files, opts.cacheRoot)}\n${decode}`).digest('hex') : splitFingerprint(data as ImageSplit);
  const { key, id } = featureCacheKey(dataset, split, backbone, fingerprint);
  const dir = featureCacheDir(opts.cacheRoot);
  const entryDir = path.join(dir, id);
  await sweepStaleTemps(dir);

  const hit = await readFeatureCacheEntry(entryDir, files ? undefined : data.labels);
  if (hit && files) {
    const skipped = hit.meta.skipped ?? [];
    // The entry's rows are the split's images minus those it left out, in order.
    const gone = new Set(skipped.map((b) => b.index));
    const expect = files.labels.filter((_, i) => !gone.has(i));
    if (skipped.length > 0 && !files.skipBadImages) {
      const b = skipped[0];
      throw new UserError(
        `cannot decode image ${path.join(files.root, b.file)}: ${b.error}${skipped.length > 1 ? ` (and ${skipped.length - 1} more)` : ''}`,
        'replace or remove the file, or pass --skip-bad-images to leave unreadable images out (the run record lists them)',
      );
    }
    if (expect.length === hit.features.count && expect.every((v, i) => v === hit.features.y[i])) {
      return { features: hit.features, cacheId: id, cached: true, ms: performance.now() - t0, skipped, decode };
    }
  } else if (hit) {
    return { features: hit.features, cacheId: id, cached: true, ms: performance.now() - t0 };
  }
  // Absent, partial or corrupt: rebuild (a stale entry is replaced on commit).

  let onProgress = opts.onProgress;
  let reporter: ReturnType<typeof progressReporter> | null = null;
  if (!onProgress && !opts.quiet) {
    const r = progressReporter(`features ${dataset.name}/${split}`, data.count);
    reporter = r;
    onProgress = (done, _total, rate, eta) =>
      r.update(done, `${rate.toFixed(0)} img/s${eta !== undefined ? `, ETA ${formatDuration(eta)}` : ''}`);
  }
  let x: Float32Array;
  let y: Int32Array;
  const skipped: BadImage[] = [];
  try {
    if (files) ({ x, y } = await extractFromFiles(files, target as NonNullable<typeof target>, backbone, onProgress, skipped, opts.chunkSize));
    else {
      x = await backbone.extract(data as ImageSplit, { onProgress });
      y = Int32Array.from(data.labels);
    }
  } finally {
    reporter?.stop();
  }
  const extractMs = performance.now() - t0;
  const count = y.length;
  const dim = count > 0 ? x.length / count : (backbone.dim() ?? 0);
  if (!Number.isInteger(dim) || (count > 0 && dim === 0)) {
    throw new UserError(`backbone ${backbone.id} returned ${x.length} values for ${count} images`, 'the backbone output does not split into one vector per image; check its output / pooling options');
  }
  const features: Features = { x, y, count, dim };
  await fsp.mkdir(dir, { recursive: true });
  await writeEntry(dir, id, {
    format: 'cl-feature-cache',
    version: 1,
    id,
    key,
    dataset: { name: dataset.name, fingerprint, location: dataset.source.location, verified: dataset.source.verified },
    split,
    backbone: { id: backbone.id, kind: backbone.kind, describe: backbone.describe() },
    preprocessing: { id: backbone.preprocessingId, spec: backbone.preprocessing, engine: backbone.preprocessingEngine ?? (backbone.preprocessing ? 'js' : null) },
    count,
    dim,
    createdAt: new Date().toISOString(),
    extractMs: Math.round(extractMs),
    clVersion: clVersion(),
    ...(files ? { decode, skipped } : {}),
  }, features);
  return { features, cacheId: id, cached: false, ms: performance.now() - t0, ...(files ? { skipped, decode } : {}) };
}

/**
 * Features of an image folder's split: chunks of decoded images go through the backbone one after
 * another while the next chunk decodes (decodeChunks), so decoding and inference overlap and only two
 * chunks of pixels are ever in memory.
 */
async function extractFromFiles(
  files: FileImageSplit,
  target: NonNullable<ReturnType<typeof decodeTarget>>,
  backbone: Backbone,
  onProgress: ExtractFeaturesOptions['onProgress'],
  skipped: BadImage[],
  chunkSize?: number,
): Promise<{ x: Float32Array; y: Int32Array }> {
  // Rows are written in place as chunks come (one buffer for the split, trimmed if images were left out).
  let x: Float32Array | null = null;
  const y = new Int32Array(files.count);
  let dim = 0;
  let done = 0;
  let rows = 0;
  const t0 = performance.now();
  for await (const chunk of decodeChunks(files, target, { chunkSize, onBad: (b) => skipped.push(b) })) {
    const before = done;
    if (chunk.split.count > 0) {
      const rate = (d: number): number => d / Math.max((performance.now() - t0) / 1000, 1e-9);
      const part = await backbone.extract(chunk.split, { onProgress: (d) => onProgress?.(before + d, files.count, rate(before + d)) });
      if (!x) {
        dim = part.length / chunk.split.count;
        x = new Float32Array(files.count * dim);
      }
      if (part.length !== chunk.split.count * dim) {
        throw new UserError(`backbone ${backbone.id} returned ${part.length} values for ${chunk.split.count} images (dim ${dim} before)`, 'the backbone output does not split into one vector per image; check its output / pooling options');
      }
      x.set(part, rows * dim);
      y.set(chunk.split.labels, rows);
      rows += chunk.split.count;
    }
    done = chunk.end;
    onProgress?.(done, files.count, done / Math.max((performance.now() - t0) / 1000, 1e-9));
  }
  if (!x || rows === 0) throw new UserError(`no image of ${files.root} could be decoded`, 'check the image files');
  if (rows < files.count) return { x: x.slice(0, rows * dim), y: y.slice(0, rows) };
  return { x, y };
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await fsp.readdir(dir)) {
    try {
      total += (await fsp.stat(path.join(dir, name))).size;
    } catch {
      // removed meanwhile
    }
  }
  return total;
}

/** Committed entries (those with a readable meta.json), oldest first. */
export async function listFeatureCache(root?: string): Promise<FeatureCacheEntry[]> {
  const dir = featureCacheDir(root);
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const entries: FeatureCacheEntry[] = [];
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const p = path.join(dir, name);
    const meta = await readMeta(p);
    if (!meta) continue;
    entries.push({
      id: name,
      dataset: meta.dataset.name,
      split: meta.split,
      backbone: meta.backbone.id,
      preprocessing: meta.preprocessing.id,
      dim: meta.dim,
      count: meta.count,
      bytes: await dirBytes(p),
      createdAt: meta.createdAt,
      path: p,
    });
  }
  return entries.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}

/**
 * Remove one entry by id or unique id prefix, or everything (`{ all: true }`, which also clears
 * temp dirs and uncommitted leftovers). Returns the removed committed entries.
 */
export async function removeFeatureCache(root: string | undefined, which: string | { all: true }): Promise<FeatureCacheEntry[]> {
  const dir = featureCacheDir(root);
  const entries = await listFeatureCache(root);
  if (typeof which !== 'string') {
    let names: string[] = [];
    try {
      names = await fsp.readdir(dir);
    } catch {
      return [];
    }
    for (const name of names) await fsp.rm(path.join(dir, name), { recursive: true, force: true });
    return entries;
  }
  const exact = entries.filter((e) => e.id === which);
  const matches = exact.length ? exact : which ? entries.filter((e) => e.id.startsWith(which)) : [];
  if (matches.length === 0) {
    throw new UserError(`no feature cache entry matches "${which}" in ${dir}`, 'list the entries with `cl cache ls`');
  }
  if (matches.length > 1) {
    throw new UserError(`"${which}" matches ${matches.length} feature cache entries: ${matches.map((e) => e.id).join(', ')}`, 'give a longer prefix or the full id');
  }
  await fsp.rm(matches[0].path, { recursive: true, force: true });
  return matches;
}
