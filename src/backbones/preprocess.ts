/**
 * Declared image preprocessing for frozen backbones: uint8 HWC images -> the model's float32 input.
 *
 * Pipeline per image: bilinear resize (half-pixel centres, align_corners=False, no antialias: the
 * torchvision / `tf.image.resize(..., half_pixel_centers=True)` convention), multiply by `scale`,
 * subtract `mean[c]`, divide by `std[c]`, write in `layout`. Grayscale inputs are replicated to
 * 3 channels when the model wants 3. The id names every choice, so two feature caches built with
 * different pipelines never share an entry (docs/methods/nmc.md "Pitfalls").
 */
import { UserError } from '../errors.js';
import type { ImageSplit } from '../types.js';

export type Layout = 'NCHW' | 'NHWC';

export interface Preprocessing {
  /** Output [height, width]; null keeps the input size (no resize). */
  size: [number, number] | null;
  resize: 'bilinear';
  /** Multiplier applied to the uint8 value (1/255 maps to [0, 1]). */
  scale: number;
  /** Per-channel mean subtracted after scaling (null: none). */
  mean: number[] | null;
  /** Per-channel std divided after the mean (null: none). */
  std: number[] | null;
  layout: Layout;
  channels: 1 | 3;
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

/** ImageNet-normalised input (torchvision convention), NCHW 224 by default. */
export function imagenetPreset(size = 224, layout: Layout = 'NCHW'): Preprocessing {
  return { size: [size, size], resize: 'bilinear', scale: 1 / 255, mean: IMAGENET_MEAN, std: IMAGENET_STD, layout, channels: 3 };
}

/** [0, 1] input without mean/std (Janson's NMC pipeline, Tiny Darknet). */
export function unitPreset(size = 224, layout: Layout = 'NCHW'): Preprocessing {
  return { size: [size, size], resize: 'bilinear', scale: 1 / 255, mean: null, std: null, layout, channels: 3 };
}

const sameNumbers = (a: number[], b: number[]): boolean => a.length === b.length && a.every((v, i) => v === b[i]);

function fmt(v: number): string {
  return String(Number(v.toPrecision(6)));
}

/** A stable string id, e.g. `bilinear224-unit-imagenetnorm-nchw`. */
export function preprocessingId(p: Preprocessing): string {
  const parts: string[] = [];
  if (!p.size) parts.push('native');
  else parts.push(p.size[0] === p.size[1] ? `${p.resize}${p.size[0]}` : `${p.resize}${p.size[0]}x${p.size[1]}`);
  if (p.scale === 1 / 255) parts.push('unit');
  else if (p.scale === 1) parts.push('raw255');
  else parts.push(`scale${fmt(p.scale)}`);
  if (p.mean || p.std) {
    const mean = p.mean ?? [0, 0, 0];
    const std = p.std ?? [1, 1, 1];
    if (sameNumbers(mean, IMAGENET_MEAN) && sameNumbers(std, IMAGENET_STD)) parts.push('imagenetnorm');
    else if (mean.every((m) => m === 0.5) && std.every((s) => s === 0.5)) parts.push('halfnorm');
    else parts.push(`norm(${mean.map(fmt).join(',')};${std.map(fmt).join(',')})`);
  }
  parts.push(p.layout.toLowerCase());
  if (p.channels === 1) parts.push('gray');
  return parts.join('-');
}

/** Number of floats one preprocessed image occupies for an input of `inH` x `inW`. */
export function outputSize(p: Preprocessing, inH: number, inW: number): [number, number] {
  return p.size ?? [inH, inW];
}

/**
 * One axis of a half-pixel bilinear resize: for output index o, src = (o + 0.5) * in/out - 0.5,
 * clamped at 0 (PyTorch `area_pixel_compute_source_index`), lo = floor(src), hi = min(lo + 1, in - 1),
 * weight of hi = src - lo. Identical to TF's HalfPixelScaler + clamping of lower/upper.
 */
export interface AxisTable {
  lo: Int32Array;
  hi: Int32Array;
  /** Weight of `hi` (the weight of `lo` is 1 - w). */
  w: Float32Array;
}

export function axisTable(inSize: number, outSize: number): AxisTable {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const w = new Float32Array(outSize);
  const ratio = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    let src = (o + 0.5) * ratio - 0.5;
    if (src < 0) src = 0;
    let l = Math.floor(src);
    if (l > inSize - 1) l = inSize - 1;
    lo[o] = l;
    hi[o] = Math.min(l + 1, inSize - 1);
    w[o] = src - l;
  }
  return { lo, hi, w };
}

/**
 * A preprocessor bound to one (input size, channels) -> (output size) pair: index/weight tables are
 * computed once, then `run` fills a slice of the model's float32 input buffer per image.
 */
export class Preprocessor {
  readonly outH: number;
  readonly outW: number;
  readonly floatsPerImage: number;
  private readonly xt: AxisTable;
  private readonly yt: AxisTable;
  /** Per output channel: value = a[c] * pixel + b[c]  (scale, mean and std folded together). */
  private readonly a: Float32Array;
  private readonly b: Float32Array;
  /** Horizontal pass result, planar: outC planes of inH rows x outW, already scaled/normalised. */
  private readonly tmp: Float32Array;

  constructor(
    readonly p: Preprocessing,
    readonly inH: number,
    readonly inW: number,
    readonly inC: number,
  ) {
    if (inC !== 1 && inC !== 3) {
      throw new UserError(`images with ${inC} channels are not supported by the preprocessing`, 'use 1-channel (grayscale) or 3-channel (RGB) images');
    }
    if (inC === 3 && p.channels === 1) {
      throw new UserError('the backbone expects 1-channel (grayscale) input but the dataset has RGB images', 'use a backbone that takes RGB input');
    }
    [this.outH, this.outW] = outputSize(p, inH, inW);
    this.floatsPerImage = this.outH * this.outW * p.channels;
    this.xt = axisTable(inW, this.outW);
    this.yt = axisTable(inH, this.outH);
    this.a = new Float32Array(p.channels);
    this.b = new Float32Array(p.channels);
    for (let c = 0; c < p.channels; c++) {
      const mean = p.mean ? p.mean[c] : 0;
      const std = p.std ? p.std[c] : 1;
      this.a[c] = p.scale / std;
      this.b[c] = -mean / std;
    }
    this.tmp = new Float32Array(p.channels * inH * this.outW);
  }

  /** Preprocess image `index` of `images` (uint8 HWC, back to back) into `out` starting at `offset`. */
  run(images: Uint8Array, index: number, out: Float32Array, offset: number): void {
    const { inH, inW, inC, outH, outW, tmp } = this;
    const outC = this.p.channels;
    const base = index * inH * inW * inC;
    const tPlane = inH * outW;
    // Horizontal pass (separable bilinear: x first, then y) on every input row, one plane per
    // output channel (grey is replicated), with scale/mean/std applied: the affine map commutes
    // with the convex combination of the vertical pass.
    const { lo: xl, hi: xh, w: xw } = this.xt;
    for (let c = 0; c < outC; c++) {
      const sc = inC === 1 ? 0 : c;
      const a = this.a[c];
      const b = this.b[c];
      for (let y = 0; y < inH; y++) {
        const row = base + y * inW * inC + sc;
        let t = c * tPlane + y * outW;
        for (let x = 0; x < outW; x++, t++) {
          const v0 = images[row + xl[x] * inC];
          tmp[t] = (v0 + (images[row + xh[x] * inC] - v0) * xw[x]) * a + b;
        }
      }
    }
    // Vertical pass into the model's layout.
    const { lo: yl, hi: yh, w: yw } = this.yt;
    if (this.p.layout === 'NCHW') {
      const plane = outH * outW;
      for (let c = 0; c < outC; c++) {
        for (let y = 0; y < outH; y++) {
          const r0 = c * tPlane + yl[y] * outW;
          const r1 = c * tPlane + yh[y] * outW;
          const w1 = yw[y];
          const o = offset + c * plane + y * outW;
          if (w1 === 0) {
            out.set(tmp.subarray(r0, r0 + outW), o);
            continue;
          }
          for (let x = 0; x < outW; x++) {
            const v0 = tmp[r0 + x];
            out[o + x] = v0 + (tmp[r1 + x] - v0) * w1;
          }
        }
      }
    } else {
      for (let y = 0; y < outH; y++) {
        const w1 = yw[y];
        for (let c = 0; c < outC; c++) {
          const r0 = c * tPlane + yl[y] * outW;
          const r1 = c * tPlane + yh[y] * outW;
          let o = offset + y * outW * outC + c;
          for (let x = 0; x < outW; x++, o += outC) {
            const v0 = tmp[r0 + x];
            out[o] = v0 + (tmp[r1 + x] - v0) * w1;
          }
        }
      }
    }
  }

  /** Preprocess images [start, start + n) of `split` into `out` (n * floatsPerImage floats). */
  runBatch(split: ImageSplit, start: number, n: number, out: Float32Array): void {
    for (let i = 0; i < n; i++) this.run(split.images, start + i, out, i * this.floatsPerImage);
  }
}

/** Check that a split's geometry is consistent before preprocessing it. */
export function checkSplit(split: ImageSplit, what = 'image split'): void {
  const expected = split.count * split.height * split.width * split.channels;
  if (split.images.length !== expected) {
    throw new UserError(
      `${what}: ${split.images.length} pixel bytes for ${split.count} images of ${split.height}x${split.width}x${split.channels} (expected ${expected})`,
      'the dataset reader produced an inconsistent split; re-read or re-download the dataset',
    );
  }
  if (split.labels.length !== split.count) {
    throw new UserError(`${what}: ${split.labels.length} labels for ${split.count} images`, 'the dataset reader produced an inconsistent split');
  }
}
