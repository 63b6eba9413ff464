/**
 * `onnx:<path-or-URL>[#output]`: an ONNX image model on onnxruntime-node.
 *
 * Input geometry (size, layout, channels) comes from the model's input metadata when static, else
 * from the options. Extraction is double-buffered: while `session.run` for batch k executes on
 * onnxruntime's native threads, JS preprocesses batch k+1 into the other input buffer.
 */
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { UserError } from '../errors.js';
import type { ImageSplit } from '../types.js';
import type { Backbone, BackboneOptions, BackboneSpec, ExtractOptions, PoolMode } from './backbone.js';
import { resolveModelFile, sha256File } from './model-file.js';
import { allowedPools, defaultPool, pooledDim, poolInto, type OutputGeometry } from './pool.js';
import { IMAGENET_MEAN, IMAGENET_STD, Preprocessor, checkSplit, preprocessingId, type Layout, type Preprocessing } from './preprocess.js';

type Dim = number | null;

/** Static dims as numbers, symbolic/unknown ones as null. */
function staticDims(meta: ort.InferenceSession.ValueMetadata): Dim[] | null {
  if (!meta.isTensor) return null;
  return meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : null));
}

export interface InputGeometry {
  layout: Layout;
  height: number;
  width: number;
  channels: 1 | 3;
  /** A static batch size declared by the model, else null (any batch). */
  fixedBatch: number | null;
}

/** Work out the input geometry from the model's declared input shape and the user's options. */
export function inputGeometry(shape: Dim[], opts: Pick<BackboneOptions, 'imageSize' | 'layout'>, model: string): InputGeometry {
  if (shape.length !== 4) {
    throw new UserError(`${model}: the model input has rank ${shape.length}; an image model takes [N, C, H, W] or [N, H, W, C]`, 'use an image classification / feature model');
  }
  const isCh = (d: Dim): boolean => d === 1 || d === 3;
  let layout: Layout;
  if (isCh(shape[1]) && !isCh(shape[3])) layout = 'NCHW';
  else if (isCh(shape[3]) && !isCh(shape[1])) layout = 'NHWC';
  else layout = opts.layout ?? 'NCHW';
  if (opts.layout && opts.layout !== layout) {
    throw new UserError(`${model}: the model declares ${layout} input but the layout option asks for ${opts.layout}`, 'drop the layout option; it only applies to models without a static input shape');
  }
  const [hDim, wDim, cDim] = layout === 'NCHW' ? [shape[2], shape[3], shape[1]] : [shape[1], shape[2], shape[3]];
  const fallback = opts.imageSize ?? 224;
  if (opts.imageSize !== undefined && ((hDim !== null && hDim !== opts.imageSize) || (wDim !== null && wDim !== opts.imageSize))) {
    throw new UserError(`${model}: the model declares a ${hDim}x${wDim} input but the image size option asks for ${opts.imageSize}`, 'drop the image size option; it only applies to models without a static input size');
  }
  if (cDim !== null && cDim !== 1 && cDim !== 3) {
    throw new UserError(`${model}: the model expects ${cDim} input channels`, 'only 1- and 3-channel image models are supported');
  }
  return { layout, height: hDim ?? fallback, width: wDim ?? fallback, channels: cDim === 1 ? 1 : 3, fixedBatch: shape[0] };
}

class OnnxBackbone implements Backbone {
  readonly kind = 'onnx';
  readonly preprocessingId: string;
  private featureDim: Dim;

  constructor(
    readonly id: string,
    readonly preprocessing: Preprocessing,
    private readonly session: ort.InferenceSession,
    private readonly info: {
      model: string;
      url?: string;
      sha256: string;
      input: string;
      inputShape: (number | string)[];
      output: string;
      outputShape: (number | string)[];
      geometry: OutputGeometry;
      pool: PoolMode;
      fixedBatch: number | null;
      batchSize: number;
      threads: number;
    },
    dim: Dim,
  ) {
    this.preprocessingId = preprocessingId(preprocessing);
    this.featureDim = dim;
  }

  dim(): number | null {
    return this.featureDim;
  }

  describe(): Record<string, unknown> {
    const i = this.info;
    return {
      kind: 'onnx',
      model: i.url ?? i.model,
      ...(i.url ? { file: i.model } : {}),
      sha256: i.sha256,
      input: { name: i.input, shape: i.inputShape },
      output: { name: i.output, shape: i.outputShape },
      pool: i.pool,
      dim: this.featureDim,
      batchSize: i.batchSize,
      threads: i.threads,
      runtime: `onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}`,
    };
  }

  async extract(split: ImageSplit, opts: ExtractOptions = {}): Promise<Float32Array> {
    checkSplit(split, `${path.basename(this.info.model)} input`);
    const p = this.preprocessing;
    const pre = new Preprocessor(p, split.height, split.width, split.channels);
    const bs = this.info.fixedBatch ?? Math.max(1, Math.floor(opts.batchSize ?? this.info.batchSize));
    const bufs = [new Float32Array(bs * pre.floatsPerImage), new Float32Array(bs * pre.floatsPerImage)];
    const { height: h, width: w } = { height: pre.outH, width: pre.outW };
    const total = split.count;
    const batches = Math.ceil(total / bs);
    const t0 = performance.now();
    let out: Float32Array | null = null;
    let done = 0;

    const prepare = (k: number): { n: number; feed: ort.Tensor } => {
      const start = k * bs;
      const n = Math.min(bs, total - start);
      const buf = bufs[k % 2];
      pre.runBatch(split, start, n, buf);
      // A static batch dim is padded with zeros; otherwise the last batch is just shorter.
      const rows = this.info.fixedBatch ?? n;
      if (rows > n) buf.fill(0, n * pre.floatsPerImage, rows * pre.floatsPerImage);
      const data = rows === bs ? buf : buf.subarray(0, rows * pre.floatsPerImage);
      const dims = p.layout === 'NCHW' ? [rows, p.channels, h, w] : [rows, h, w, p.channels];
      return { n, feed: new ort.Tensor('float32', data, dims) };
    };
    const run = (feed: ort.Tensor): Promise<ort.InferenceSession.ReturnType> =>
      this.session.run({ [this.info.input]: feed }, [this.info.output]).catch((e: unknown) => {
        throw new UserError(`${this.info.model}: onnxruntime failed on a batch of shape [${feed.dims.join(', ')}]: ${e instanceof Error ? e.message : String(e)}`, 'check the input size / layout options against the model');
      });
    const collect = (res: ort.InferenceSession.ReturnType, n: number): void => {
      const t = res[this.info.output] as ort.Tensor;
      if (t.type !== 'float32') {
        throw new UserError(`${this.info.model}: output "${this.info.output}" has type ${t.type}; features must be float32`, 'pick a float32 output with #<output>');
      }
      const per = t.dims.slice(1).map(Number);
      const geometry: OutputGeometry = { dims: per, channelsLast: this.info.geometry.channelsLast };
      const dim = pooledDim(per, this.info.pool, geometry.channelsLast) as number;
      if (out === null) {
        this.featureDim = dim;
        out = new Float32Array(total * dim);
      } else if (dim !== this.featureDim) {
        throw new UserError(`${this.info.model}: output "${this.info.output}" changed size between batches (${this.featureDim} vs ${dim})`, 'use a model with a fixed output size');
      }
      poolInto(t.data as Float32Array, n, geometry, this.info.pool, out, done, dim);
      t.dispose();
      done += n;
      const secs = Math.max((performance.now() - t0) / 1000, 1e-9);
      opts.onProgress?.(done, total, done / secs);
    };

    if (total === 0) return new Float32Array(0);
    // Double buffering (overlap): batch k runs natively while batch k+1 is preprocessed in JS.
    let cur = prepare(0);
    let pending = run(cur.feed);
    for (let k = 1; k < batches; k++) {
      const next = prepare(k);
      collect(await pending, cur.n);
      cur = next;
      pending = run(cur.feed);
    }
    collect(await pending, cur.n);
    return out ?? new Float32Array(0);
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** Session options of every ONNX backbone (exported for the extraction benchmark). */
export function onnxSessionOptions(threads: number): ort.InferenceSession.SessionOptions {
  return { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
}

/** Build an `onnx:` backbone. */
export async function createOnnxBackbone(spec: BackboneSpec, opts: BackboneOptions): Promise<Backbone> {
  const file = await resolveModelFile(spec.target, { cacheRoot: opts.cacheRoot, offline: opts.offline, what: 'ONNX model' });
  const model = file.path;
  const sha256 = await sha256File(model);
  const threads = Math.max(1, opts.threads ?? os.availableParallelism());
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, onnxSessionOptions(threads));
  } catch (e) {
    throw new UserError(`${model}: not a loadable ONNX model (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`, 'check that the file is a complete .onnx model (re-download it if it was cut short)');
  }
  try {
    if (session.inputNames.length !== 1) {
      throw new UserError(`${model}: the model has ${session.inputNames.length} inputs (${session.inputNames.join(', ')}); an image backbone takes exactly one`, 'export the model with a single image input');
    }
    const inMeta = session.inputMetadata[0];
    const inShape = staticDims(inMeta);
    if (!inMeta.isTensor || !inShape || inMeta.type !== 'float32') {
      throw new UserError(`${model}: input "${inMeta.name}" is not a float32 tensor`, 'use a model that takes float32 images');
    }
    const g = inputGeometry(inShape, opts, model);
    const output = spec.output ?? session.outputNames[0];
    const outIndex = session.outputNames.indexOf(output);
    if (outIndex < 0) {
      throw new UserError(`${model}: no output named "${output}"`, `available outputs: ${session.outputNames.join(', ')} (choose one with onnx:<model>#<output>)`);
    }
    const outMeta = session.outputMetadata[outIndex];
    const outShape = staticDims(outMeta);
    if (!outMeta.isTensor || !outShape) throw new UserError(`${model}: output "${output}" is not a tensor`, `available outputs: ${session.outputNames.join(', ')}`);
    const rank = outShape.length;
    const pool = opts.pool ?? defaultPool(rank);
    if (!allowedPools(rank).includes(pool)) {
      throw new UserError(`${model}: pooling "${pool}" does not apply to output "${output}" of rank ${rank}`, `use one of: ${allowedPools(rank).join(', ')}`);
    }
    const channelsLast = g.layout === 'NHWC';
    const dim = pooledDim(outShape.slice(1), pool, channelsLast);
    const normalize = opts.normalize ?? 'imagenet';
    const preprocessing: Preprocessing = {
      size: [g.height, g.width],
      resize: 'bilinear',
      scale: 1 / 255,
      mean: normalize === 'imagenet' ? IMAGENET_MEAN.slice(0, g.channels) : null,
      std: normalize === 'imagenet' ? IMAGENET_STD.slice(0, g.channels) : null,
      layout: g.layout,
      channels: g.channels,
    };
    const name = path.basename(model).replace(/\.onnx$/i, '');
    const id = `onnx:${name}@${sha256.slice(0, 12)}#${output}${rank > 2 ? `/${pool}` : ''}`;
    return new OnnxBackbone(
      id,
      preprocessing,
      session,
      {
        model,
        url: file.url,
        sha256,
        input: inMeta.name,
        inputShape: [...inMeta.shape],
        output,
        outputShape: [...outMeta.shape],
        geometry: { dims: [], channelsLast },
        pool,
        fixedBatch: g.fixedBatch,
        batchSize: opts.batchSize ?? 16,
        threads,
      },
      dim,
    );
  } catch (e) {
    await session.release();
    throw e;
  }
}
