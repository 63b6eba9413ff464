/**
 * The feature cache: features are extracted once per (dataset content, split, backbone, preprocessing)
 * and reused by every method and seed (docs/architecture.md "Principles").
 *
 * Entry layout: `featureCacheDir(root)/<cacheId>/` with `features.npy` (float32 [N, D]),
 * `labels.npy` (int32 [N]) and `meta.json`. An entry is written into a temp dir next to it (named
 * after its owner's host and pid, removed when the process exits half-way, and by the next process
 * once the owner is dead), every file fsynced, then the dir is renamed into place (atomic on
 * POSIX); meta.json is the commit marker. On read the sidecar is checked against the request
 * (entry id, cache key, backbone id, preprocessing, split, count, dims; for image folders the decode
 * rule and the images left out by --skip-bad-images) and the files against its checksums and shapes,
 * the labels against the dataset's, and every value must be finite; anything off is rebuilt with a
 * message saying why. Non-finite features from a backbone stop the extraction and never enter the cache.
 */
import { formatDuration } from './wrap.js';
import { createHash, type Hash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { progressReporter } from '../data/progress.js';
import { UserError } from '../errors.js';
import { describeNonFinite, firstNonFinite } from '../finite.js';
import { yieldPoint } from '../interrupt.js';
import { ownedTempName, sweepLeftovers, trackTemp } from '../leftovers.js';
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
  /**
   * Called before an existing entry is rebuilt, with the reason (partial, corrupt, or not the
   * requested features). Without it the reason goes to stderr unless quiet.
   */
  onRebuild?: (reason: string) => void;
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
  /** Why an existing entry was rebuilt (null: served from the cache, or there was no entry). */
  rebuilt: string | null;
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
  const fp = fingerprintHead(split).update(split.images).digest('hex');
  fingerprints.set(split, fp);
  return fp;
}

/** splitFingerprint, hashed in chunks with yield points (a CIFAR-100 train split is 150 MB). */
export async function splitFingerprintAsync(split: ImageSplit): Promise<string> {
  const known = fingerprints.get(split);
  if (known) return known;
  const fp = (await updateInChunks(fingerprintHead(split), split.images)).digest('hex');
  fingerprints.set(split, fp);
  return fp;
}

function fingerprintHead(split: ImageSplit): Hash {
  const h = createHash('sha256');
  h.update(JSON.stringify({ count: split.count, height: split.height, width: split.width, channels: split.channels }));
  return h.update(new Uint8Array(split.labels.buffer, split.labels.byteOffset, split.labels.byteLength));
}

/** Bytes hashed between two yield points (~10 ms of sha256). */
const HASH_CHUNK = 4 * 1024 * 1024;

/** h.update(data) in chunks, letting the event loop run between them (signals; see interrupt.ts). */
async function updateInChunks(h: Hash, data: Uint8Array): Promise<Hash> {
  for (let o = 0; o < data.length; o += HASH_CHUNK) {
    h.update(data.subarray(o, o + HASH_CHUNK));
    await yieldPoint();
  }
  return h;
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

const sha256 = async (buf: Uint8Array): Promise<string> => (await updateInChunks(createHash('sha256'), buf)).digest('hex');

async function npySha256(data: Float32Array | Int32Array, shape: number[]): Promise<string> {
  const h = createHash('sha256').update(npyHeader(data instanceof Float32Array ? '<f4' : '<i4', shape));
  return (await updateInChunks(h, new Uint8Array(data.buffer, data.byteOffset, data.byteLength))).digest('hex');
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await fsp.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** What a cache entry must be to serve a request (see featureCacheKey). */
export interface EntryExpectation {
  id: string;
  key: string;
  backbone: string;
  preprocessing: string;
  split: string;
  /** Images of the split. */
  count: number;
  /** The backbone's feature dim when it declares one. */
  dim: number | null;
  /** The label of every image of the split. */
  labels: Int32Array;
  /**
   * Image folders: how their files are decoded (the decode id). Only their entries may leave images
   * out (meta.skipped: images that did not decode, under --skip-bad-images); the entry's rows are
   * then the split's other images, in order.
   */
  decode?: string;
}

type EntryCheck = { meta: FeatureCacheMeta; features: Features; why: null } | { meta: null; features: null; why: string };

const bad = (why: string): EntryCheck => ({ meta: null, features: null, why });

/** Split indices of the images an entry left out, ascending; or why its list cannot be right. */
function leftOutImages(meta: FeatureCacheMeta, expected: EntryExpectation): number[] | string {
  const skipped: unknown = meta.skipped ?? [];
  if (!Array.isArray(skipped)) return 'its list of skipped images (meta.json) is not a list';
  if (skipped.length > 0 && expected.decode === undefined) return `it leaves ${skipped.length} image${skipped.length === 1 ? '' : 's'} out, which only image-folder entries may`;
  const idx = skipped.map((b: unknown) => (b && typeof b === 'object' ? (b as { index?: unknown }).index : undefined));
  const sorted = (idx.filter((v) => Number.isInteger(v)) as number[]).sort((p, q) => p - q);
  const valid = sorted.length === idx.length && sorted.every((v, i) => v >= 0 && v < expected.count && (i === 0 || v !== sorted[i - 1]));
  return valid ? sorted : `its list of skipped images (meta.json) names an image the split does not have, or one twice`;
}

/**
 * Load and verify an entry. With `expected`, the sidecar must describe exactly the requested
 * features (id, key, backbone, preprocessing, split, count, dim, labels); always, both .npy files
 * must match their recorded sha256 and shapes and every feature must be finite. Returns the entry,
 * or why it cannot be used.
 */
export async function checkFeatureCacheEntry(dir: string, expected?: EntryExpectation): Promise<EntryCheck> {
  let text: string;
  try {
    text = await fsp.readFile(path.join(dir, 'meta.json'), 'utf8');
  } catch {
    return bad('its meta.json is missing (an extraction killed before it committed?)');
  }
  let meta: FeatureCacheMeta;
  try {
    meta = JSON.parse(text) as FeatureCacheMeta;
  } catch {
    return bad('its meta.json is not valid JSON');
  }
  if (!meta || typeof meta !== 'object' || meta.format !== 'cl-feature-cache' || meta.version !== 1) return bad('its meta.json is not a cl feature-cache sidecar (format/version)');
  let leftOut: number[] = [];
  if (expected) {
    const who = `it holds ${String(meta.id)} (${String(meta.dataset?.name)}/${String(meta.split)}, backbone ${String(meta.backbone?.id)}, ${String(meta.count)} × ${String(meta.dim)})`;
    if (meta.id !== expected.id) return bad(`${who}, not ${expected.id}: copied or renamed under another id`);
    if (meta.key !== expected.key) return bad(`${who} under another cache key: the dataset content, backbone or preprocessing differ`);
    if (meta.backbone?.id !== expected.backbone) return bad(`${who}: features of backbone ${String(meta.backbone?.id)}, not ${expected.backbone}`);
    if (meta.preprocessing?.id !== expected.preprocessing) return bad(`${who}: preprocessing ${String(meta.preprocessing?.id)}, not ${expected.preprocessing}`);
    if (meta.split !== expected.split) return bad(`${who}: split ${String(meta.split)}, not ${expected.split}`);
    if (expected.decode !== undefined && meta.decode !== expected.decode) return bad(`${who}: images decoded as ${String(meta.decode)}, not ${expected.decode}`);
    const left = leftOutImages(meta, expected);
    if (typeof left === 'string') return bad(left);
    leftOut = left;
    if (meta.count !== expected.count - left.length) {
      return bad(`${who}: ${String(meta.count)} rows for a split of ${expected.count} images${left.length > 0 ? ` of which it left ${left.length} out` : ''}`);
    }
    if (expected.dim !== null && meta.dim !== expected.dim) return bad(`${who}: dim ${String(meta.dim)}, but the backbone gives ${expected.dim}`);
  }
  let fbuf: Buffer;
  let lbuf: Buffer;
  try {
    fbuf = await fsp.readFile(path.join(dir, 'features.npy'));
  } catch {
    return bad('its features.npy is missing');
  }
  try {
    lbuf = await fsp.readFile(path.join(dir, 'labels.npy'));
  } catch {
    return bad('its labels.npy is missing');
  }
  if ((await sha256(fbuf)) !== meta.files?.['features.npy']?.sha256) return bad('its features.npy does not match the checksum in meta.json (truncated or altered)');
  if ((await sha256(lbuf)) !== meta.files?.['labels.npy']?.sha256) return bad('its labels.npy does not match the checksum in meta.json (truncated or altered)');
  let x: ReturnType<typeof decodeNpy>;
  let y: ReturnType<typeof decodeNpy>;
  try {
    x = decodeNpy(fbuf, path.join(dir, 'features.npy'));
    y = decodeNpy(lbuf, path.join(dir, 'labels.npy'));
  } catch (e) {
    return bad(`its .npy files cannot be decoded (${e instanceof Error ? e.message : String(e)})`);
  }
  if (x.dtype !== '<f4' || y.dtype !== '<i4') return bad(`its .npy files have dtypes ${x.dtype}/${y.dtype}, not <f4/<i4`);
  if (x.shape.length !== 2 || x.shape[0] !== meta.count || x.shape[1] !== meta.dim) return bad(`its features.npy has shape [${x.shape.join(', ')}], meta.json says [${meta.count}, ${meta.dim}]`);
  if (y.shape.length !== 1 || y.shape[0] !== meta.count) return bad(`its labels.npy has shape [${y.shape.join(', ')}], meta.json says [${meta.count}]`);
  const features: Features = { x: x.data as Float32Array, y: y.data as Int32Array, count: meta.count, dim: meta.dim };
  if (expected) {
    // Row r holds the r-th image that was not left out.
    const labels = expected.labels;
    if (labels.length - leftOut.length !== meta.count) return bad(`its labels count ${meta.count} differs from the dataset's ${labels.length - leftOut.length}`);
    for (let i = 0, r = 0, k = 0; i < labels.length; i++) {
      if (k < leftOut.length && leftOut[k] === i) {
        k++;
        continue;
      }
      if (features.y[r] !== labels[i]) return bad(`its label of image ${i} is ${features.y[r]}, the dataset's is ${labels[i]}`);
      r++;
    }
  }
  const nonFinite = await firstNonFinite(features.x, features.dim);
  if (nonFinite) return bad(`its features hold ${describeNonFinite(nonFinite, features.count, features.dim)}`);
  return { meta, features, why: null };
}

/**
 * Load and verify an entry (see checkFeatureCacheEntry); null when it cannot be used. With
 * `expectLabels` only the labels are compared to a request.
 */
export async function readFeatureCacheEntry(dir: string, expectLabels?: Int32Array): Promise<{ meta: FeatureCacheMeta; features: Features } | null> {
  const r = await checkFeatureCacheEntry(dir);
  if (r.why !== null) return null;
  if (expectLabels) {
    if (expectLabels.length !== r.meta.count) return null;
    for (let i = 0; i < r.meta.count; i++) if (r.features.y[i] !== expectLabels[i]) return null;
  }
  return { meta: r.meta, features: r.features };
}

async function readMeta(dir: string): Promise<FeatureCacheMeta | null> {
  try {
    const meta = JSON.parse(await fsp.readFile(path.join(dir, 'meta.json'), 'utf8')) as FeatureCacheMeta;
    return meta && meta.format === 'cl-feature-cache' && meta.version === 1 ? meta : null;
  } catch {
    return null;
  }
}

async function pathExists(p: string): Promise<boolean> {
  try {
    await fsp.stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Remove temp dirs of writers that died: at once when their owner (host + pid in the name) is gone
 * from this host, else (another host, or a name without owner) once older than an hour.
 */
async function sweepStaleTemps(dir: string): Promise<void> {
  await sweepLeftovers(dir, { prefix: TMP_PREFIX, staleMs: STALE_TMP_MS });
}

/** Write an entry atomically: temp dir, fsync every file and the dir, rename into place. */
async function writeEntry(dir: string, id: string, meta: Omit<FeatureCacheMeta, 'files'>, features: Features, expected: EntryExpectation): Promise<FeatureCacheMeta> {
  const final = path.join(dir, id);
  const tmp = path.join(dir, ownedTempName(`${TMP_PREFIX}${id}`));
  const release = trackTemp(tmp); // removed if the process exits half-way (SIGINT/SIGTERM)
  await fsp.mkdir(tmp, { recursive: true });
  try {
    const xShape = [features.count, features.dim];
    const yShape = [features.count];
    await writeNpy(path.join(tmp, 'features.npy'), features.x, xShape);
    await writeNpy(path.join(tmp, 'labels.npy'), features.y, yShape);
    const full: FeatureCacheMeta = {
      ...meta,
      files: {
        'features.npy': { sha256: await npySha256(features.x, xShape), bytes: (await fsp.stat(path.join(tmp, 'features.npy'))).size },
        'labels.npy': { sha256: await npySha256(features.y, yShape), bytes: (await fsp.stat(path.join(tmp, 'labels.npy'))).size },
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
      // Someone else committed the same entry first: keep theirs if it is valid, else replace it
      // (also the stale or foreign entry this extraction rebuilds).
      if ((await checkFeatureCacheEntry(final, expected)).why === null) {
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
  } finally {
    release();
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
  const fingerprint = files
    ? createHash('sha256').update(`${await fileSplitDigest(files, opts.cacheRoot)}\n${decode}`).digest('hex')
    : await splitFingerprintAsync(data as ImageSplit); // in chunks with yield points; memoised
  const { key, id } = featureCacheKey(dataset, split, backbone, fingerprint);
  const dir = featureCacheDir(opts.cacheRoot);
  const entryDir = path.join(dir, id);
  await sweepStaleTemps(dir);

  let rebuilt: string | null = null;
  const expected: EntryExpectation = {
    id,
    key,
    backbone: backbone.id,
    preprocessing: backbone.preprocessingId,
    split,
    count: data.count,
    dim: backbone.dim(),
    labels: data.labels,
    ...(files ? { decode } : {}),
  };
  if (await pathExists(entryDir)) {
    const hit = await checkFeatureCacheEntry(entryDir, expected);
    if (hit.why === null) {
      if (!files) return { features: hit.features, cacheId: id, cached: true, ms: performance.now() - t0, rebuilt: null };
      // The entry is the split's images minus those it left out; the same files, decoded the same
      // way, fail the same way: without --skip-bad-images that is an error, as on the first run.
      const skipped = [...(hit.meta.skipped ?? [])].sort((p, q) => p.index - q.index);
      if (skipped.length > 0 && !files.skipBadImages) {
        const b = skipped[0];
        throw new UserError(
          `cannot decode image ${path.join(files.root, b.file)}: ${b.error}${skipped.length > 1 ? ` (and ${skipped.length - 1} more)` : ''}`,
          'replace or remove the file, or pass --skip-bad-images to leave unreadable images out (the run record lists them)',
        );
      }
      return { features: hit.features, cacheId: id, cached: true, ms: performance.now() - t0, rebuilt: null, skipped, decode };
    }
    // Partial, corrupt or not the requested features: rebuild (the entry is replaced on commit), and say why.
    rebuilt = `feature cache entry ${id} is rebuilt: ${hit.why}`;
    if (opts.onRebuild) opts.onRebuild(rebuilt);
    else if (!opts.quiet) process.stderr.write(`${rebuilt}\n`);
  }

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
  // Images left out, in split order (decoders report them as they finish, not in order).
  skipped.sort((p, q) => p.index - q.index);
  const nonFinite = await firstNonFinite(x, dim);
  if (nonFinite) {
    // Name the image: for image folders its file (row r is the r-th image not left out).
    const image = (r: number): string => {
      if (!files) return `image ${r}`;
      let i = r;
      for (const b of skipped) if (b.index <= i) i++;
      return `image ${i} (${files.files[i].path})`;
    };
    throw new UserError(
      `backbone ${backbone.id} produced ${describeNonFinite(nonFinite, count, dim, image)} for ${dataset.name}/${split}; nothing was cached`,
      'the model or its input is broken: check the output chosen with #<output>, --input-norm, --input-size and --input-layout, or try --preprocess js',
    );
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
  }, features, { ...expected, dim });
  return { features, cacheId: id, cached: false, ms: performance.now() - t0, rebuilt, ...(files ? { skipped, decode } : {}) };
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
    await yieldPoint(); // between chunks: a signal stops the extraction here
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
