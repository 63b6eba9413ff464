/**
 * Decoding image files into the canonical uint8 HWC pixels, in chunks, while a backbone extracts
 * features from the previous chunk (docs/datasets.md "Image folders").
 *
 * Decoder: sharp (libvips, prebuilt in its npm package), loaded on first use. Every image becomes
 * 8-bit RGB the way PIL's `Image.open(f).convert("RGB")` does it: alpha dropped (not composited),
 * grey replicated, palettes expanded, no EXIF rotation, embedded ICC profiles ignored. Truncated or
 * corrupt files are errors (sharp `failOn: 'error'`); libjpeg warnings that PIL also tolerates are not.
 *
 * Resize rules (the target size is the backbone's declared input, e.g. 224 x 224):
 *   crop    torchvision/timm evaluation transform of the PTM-CL papers (APER/PILOT `build_transform`):
 *           shorter side to int(256/224 * size) (256 for 224), bicubic, then the centre size x size
 *           crop (offsets round((resized - size) / 2) with Python's round)
 *   squash  straight to size x size, bicubic, aspect ratio not kept
 *   none    no resize here: every image must have one size; the backbone's own preprocessing
 *           resizes it (bilinear, as for CIFAR-100 and the other array datasets)
 * Bicubic is libvips' Catmull-Rom kernel (a = -0.5, PIL's BICUBIC), antialiased when shrinking as
 * PIL's is; it is not bit-identical to PIL. The rule, its numbers and the sharp/libvips versions form
 * the decode id, which is part of the feature-cache key.
 *
 * Content identity: the sha256 of every file (memoised by path, size and mtime in the dataset cache,
 * as git's index does) makes the split's fingerprint, so a cache hit reads no image.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { UserError } from '../errors.js';
import { yieldPoint } from '../interrupt.js';
import { ownedTempName, sweepLeftovers, trackTemp } from '../leftovers.js';
import { datasetCacheDir } from '../paths.js';
import type { FileImageSplit, ImageSplit, ResizeRule } from '../types.js';

type SharpFn = (typeof import('sharp'))['default'];

let sharpPromise: Promise<SharpFn> | null = null;

/** sharp, imported on first use (commands that decode no image never load it). */
export function loadSharp(): Promise<SharpFn> {
  sharpPromise ??= import('sharp').then(
    (m) => {
      const s = m.default;
      s.cache(false); // every file is decoded once; libvips' operation cache would only hold memory
      s.concurrency(1); // one libvips thread per image: parallelism comes from decoding several images at once
      return s;
    },
    (e: unknown) => {
      sharpPromise = null;
      throw new UserError(`the image decoder (npm package sharp) cannot be loaded: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`, 'run `npm ci` in the cl folder; sharp ships prebuilt binaries for Linux, macOS and Windows on x64 and arm64');
    },
  );
  return sharpPromise;
}

export const RESIZE_RULES: readonly ResizeRule[] = ['crop', 'squash', 'none'];
/** torchvision Resize(int(256 / 224 * size)) before CenterCrop(size). */
export const CROP_RATIO = 256 / 224;

export interface DecodeTarget {
  rule: ResizeRule;
  /** Output [height, width]; null for 'none' (native size). */
  size: [number, number] | null;
}

/** The target for a backbone that declares `size` (null: it takes any size, e.g. `pixels`). */
export function decodeTarget(rule: ResizeRule, size: [number, number] | null, backboneId: string): DecodeTarget {
  if (rule === 'none') return { rule, size: null };
  if (!size) {
    throw new UserError(
      `--resize ${rule} needs the backbone's input size, and backbone ${backboneId} declares none`,
      'use --resize none (every image must then have the same size) or a model backbone',
    );
  }
  return { rule, size };
}

/** Python's round(): halves to even. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** torchvision Resize(short) + CenterCrop(h, w) geometry for an image of w x h. */
export function cropGeometry(width: number, height: number, size: [number, number]): { rw: number; rh: number; left: number; top: number } {
  const [ch, cw] = size;
  const short = Math.floor(CROP_RATIO * Math.max(ch, cw));
  let rw: number;
  let rh: number;
  if (width <= height) {
    rw = short;
    rh = Math.floor((short * height) / width);
  } else {
    rh = short;
    rw = Math.floor((short * width) / height);
  }
  return { rw, rh, left: roundHalfEven((rw - cw) / 2), top: roundHalfEven((rh - ch) / 2) };
}

let decoderVersion: string | null = null;

/** Text id of a target, e.g. `crop256-224x224-bicubic (sharp 0.35.5, libvips 8.18.7)`. */
export async function decodeId(t: DecodeTarget): Promise<string> {
  if (!decoderVersion) {
    const s = await loadSharp();
    decoderVersion = `sharp ${s.versions.sharp ?? '?'}, libvips ${s.versions.vips}`;
  }
  const rule =
    t.rule === 'none'
      ? 'native'
      : t.rule === 'crop'
        ? `crop${Math.floor(CROP_RATIO * Math.max(...(t.size as [number, number])))}-${(t.size as [number, number]).join('x')}-bicubic`
        : `squash-${(t.size as [number, number]).join('x')}-bicubic`;
  return `${rule}-rgb8 (${decoderVersion})`;
}

/** Why sharp refused a file, as one line. */
function reason(e: unknown): string {
  const m = (e instanceof Error ? e.message : String(e)).split('\n')[0].trim().replace(/:$/, '');
  return m || 'unreadable image';
}

/** Decodes one file to `out` (h x w x 3); returns its size, or throws with the decoder's reason. */
async function decodeFile(sharp: SharpFn, file: string, t: DecodeTarget): Promise<{ data: Buffer; width: number; height: number }> {
  const input = { failOn: 'error' as const, ignoreIcc: true, sequentialRead: true };
  let img = sharp(file, input);
  if (t.rule === 'crop') {
    const meta = await img.metadata();
    if (!meta.width || !meta.height) throw new Error('no image size in the header');
    const g = cropGeometry(meta.width, meta.height, t.size as [number, number]);
    img = img
      .resize(g.rw, g.rh, { fit: 'fill', kernel: 'cubic', fastShrinkOnLoad: false })
      .extract({ left: g.left, top: g.top, width: (t.size as [number, number])[1], height: (t.size as [number, number])[0] });
  } else if (t.rule === 'squash') {
    const [h, w] = t.size as [number, number];
    img = img.resize(w, h, { fit: 'fill', kernel: 'cubic', fastShrinkOnLoad: false });
  }
  const { data, info } = await img.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) throw new Error(`decoded to ${info.channels} channels, not RGB`);
  return { data, width: info.width, height: info.height };
}

export interface DecodedChunk {
  /** The chunk's images (fixed size, uint8 HWC, RGB) and labels. */
  split: ImageSplit;
  /** Index in the split of each decoded image. */
  indices: number[];
  /** The chunk covers the split's images [start, end) (some may have been left out). */
  start: number;
  end: number;
}

export interface BadImage {
  index: number;
  file: string;
  error: string;
}

export interface DecodeOptions {
  /** Images per chunk (default 256). */
  chunkSize?: number;
  /** Images decoded at once (default 4, libuv's thread pool size). */
  concurrency?: number;
  /** Called for every image left out (only when the split skips bad images). */
  onBad?: (bad: BadImage) => void;
}

const BAD_HINT = 'replace or remove the file, or pass --skip-bad-images to leave unreadable images out (the run record lists them)';

/**
 * Decodes the split in order, chunk by chunk. Chunk k+1 is decoded while the consumer works on chunk k
 * (at most two chunks of pixels exist at a time).
 */
export async function* decodeChunks(split: FileImageSplit, t: DecodeTarget, opts: DecodeOptions = {}): AsyncGenerator<DecodedChunk> {
  const sharp = await loadSharp();
  const chunkSize = Math.max(1, opts.chunkSize ?? 256);
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  let native: { width: number; height: number; file: string } | null = null;

  const decodeChunk = async (start: number): Promise<DecodedChunk> => {
    const end = Math.min(split.count, start + chunkSize);
    const results: ({ data: Buffer; width: number; height: number } | null)[] = new Array(end - start).fill(null);
    const bad: BadImage[] = [];
    let next = start;
    const worker = async (): Promise<void> => {
      while (next < end) {
        await yieldPoint(); // a signal stops decoding here
        if (next >= end) break;
        const i = next++;
        const f = split.files[i];
        try {
          results[i - start] = await decodeFile(sharp, f.path, t);
        } catch (e) {
          if (!split.skipBadImages) throw new UserError(`cannot decode image ${f.path}: ${reason(e)}`, BAD_HINT);
          bad.push({ index: i, file: f.rel, error: reason(e) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, end - start) }, worker));
    // Decodes finish in any order; report skipped files in listing order so records are reproducible.
    bad.sort((a, b) => a.index - b.index);
    for (const b of bad) opts.onBad?.(b);
    const kept: number[] = [];
    for (let i = start; i < end; i++) if (results[i - start]) kept.push(i);
    let height: number;
    let width: number;
    if (t.size) [height, width] = t.size;
    else {
      for (const i of kept) {
        const r = results[i - start] as { width: number; height: number };
        native ??= { width: r.width, height: r.height, file: split.files[i].path };
        if (r.width !== native.width || r.height !== native.height) {
          throw new UserError(
            `--resize none needs images of one size, but ${split.files[i].path} is ${r.width}x${r.height} and ${native.file} is ${native.width}x${native.height}`,
            'use --resize crop (shorter side + centre crop, the default) or --resize squash',
          );
        }
      }
      height = native?.height ?? 0;
      width = native?.width ?? 0;
    }
    const per = height * width * 3;
    const images = new Uint8Array(kept.length * per);
    const labels = new Int32Array(kept.length);
    kept.forEach((i, k) => {
      images.set((results[i - start] as { data: Buffer }).data, k * per);
      labels[k] = split.labels[i];
    });
    return { split: { images, labels, count: kept.length, height, width, channels: 3 }, indices: kept, start, end };
  };

  let pending: Promise<DecodedChunk> | null = split.count > 0 ? decodeChunk(0) : null;
  try {
    for (let start = 0; pending; start += chunkSize) {
      const cur = await pending;
      pending = start + chunkSize < split.count ? decodeChunk(start + chunkSize) : null;
      pending?.catch(() => undefined); // surfaced when awaited; never unhandled if the consumer stops early
      yield cur;
    }
  } finally {
    if (pending) await pending.catch(() => undefined);
  }
}

const MEMO_TMP_SUFFIX = '.tmp';
/** A memo temp whose owner cannot be checked (another host, an older cl) is a leftover after this. */
const MEMO_TMP_STALE_MS = 60 * 60 * 1000;

interface DigestMemo {
  root: string;
  /** rel path -> [size, mtimeMs, sha256]. */
  files: Record<string, [number, number, string]>;
}

async function sha256OfFile(file: string): Promise<string> {
  const h = createHash('sha256');
  try {
    await pipeline(createReadStream(file), h);
  } catch (e) {
    throw new UserError(`cannot read image ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, 'check that the file exists and is readable');
  }
  return h.digest('hex');
}

/**
 * Content fingerprint of a file split: sha256 over every file's path, label and content sha256.
 * Per-file digests are memoised in `<cache root>/datasets/file-digests/` by (path, size, mtime).
 */
export async function fileSplitDigest(split: FileImageSplit, cacheRoot?: string): Promise<string> {
  const memoFile = path.join(datasetCacheDir(cacheRoot), 'file-digests', `${createHash('sha256').update(split.root).digest('hex').slice(0, 24)}.json`);
  let memo: DigestMemo = { root: split.root, files: {} };
  try {
    const m = JSON.parse(await fsp.readFile(memoFile, 'utf8')) as DigestMemo;
    if (m.root === split.root && m.files && typeof m.files === 'object') memo = m;
  } catch {
    // no memo yet (or unreadable): digests are computed
  }
  const digests: string[] = new Array(split.count);
  let changed = false;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < split.count) {
      await yieldPoint(); // a signal stops hashing here
      if (next >= split.count) break;
      const i = next++;
      const f = split.files[i];
      let st;
      try {
        st = await fsp.stat(f.path);
      } catch (e) {
        throw new UserError(`cannot read image ${f.path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, 'the image folder changed while cl listed it; run again');
      }
      const known = memo.files[f.rel];
      if (known && known[0] === st.size && known[1] === st.mtimeMs && /^[0-9a-f]{64}$/.test(known[2])) {
        digests[i] = known[2];
      } else {
        digests[i] = await sha256OfFile(f.path);
        memo.files[f.rel] = [st.size, st.mtimeMs, digests[i]];
        changed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  if (changed) {
    // Best effort: a memo that cannot be written only costs the hashing next time. The temp file is
    // named after its owner (src/leftovers.ts): removed on the way out, or by the next writer once
    // its owner is dead.
    const memoDir = path.dirname(memoFile);
    const tmp = path.join(memoDir, ownedTempName(path.basename(memoFile), MEMO_TMP_SUFFIX));
    const release = trackTemp(tmp);
    try {
      await fsp.mkdir(memoDir, { recursive: true });
      await sweepLeftovers(memoDir, { prefix: '', suffix: MEMO_TMP_SUFFIX, staleMs: MEMO_TMP_STALE_MS });
      await fsp.writeFile(tmp, JSON.stringify(memo));
      await fsp.rename(tmp, memoFile);
    } catch {
      // read-only cache
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
    } finally {
      release();
    }
  }
  const h = createHash('sha256');
  h.update(`cl-file-split 1 ${split.count}\n`);
  split.files.forEach((f, i) => h.update(`${f.rel}\0${f.label}\0${digests[i]}\n`));
  return h.digest('hex');
}
