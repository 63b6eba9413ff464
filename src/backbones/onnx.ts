/**
 * `onnx:<path-or-URL>[#output]`: an ONNX image model on onnxruntime-node.
 *
 * Input geometry (size, layout, channels) comes from the model's input metadata when static, else
 * from the options. The declared preprocessing (resize, scale, mean/std, layout) normally runs
 * inside onnxruntime: `onnx-graph.ts` puts it in front of the model as ONNX operators, the session
 * is fed the dataset's uint8 pixels, and JS only pools outputs. Preprocessing in JS on the main
 * thread competed with onnxruntime's threads for the cores and cost ~20 % of throughput on 2 cores.
 * Where a model cannot take the extra operators (or with `preprocess: 'js'`), JS preprocesses
 * batch k+1 into a second buffer while batch k runs.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { UserError } from '../errors.js';
import type { ImageSplit } from '../types.js';
import type { Backbone, BackboneOptions, BackboneSpec, ExtractOptions, OnnxDevice, PoolMode } from './types.js';
import { FUSED_INPUT, fuseBlocker, fusePreprocessing } from './onnx-graph.js';
import { resolveModelFile } from './model-file.js';
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

interface OnnxInfo {
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
  /** Why preprocessing stays in JS (null: it runs inside onnxruntime). */
  jsReason: string | null;
  /** Where the sessions run. */
  device: 'cpu' | 'cuda';
  /** Why `--device auto` stayed on the CPU although the CUDA build is installed. */
  deviceNote?: string;
}

class OnnxBackbone implements Backbone {
  readonly kind = 'onnx';
  readonly preprocessingId: string;
  readonly preprocessingEngine: 'onnxruntime' | 'js';
  readonly device: 'cpu' | 'cuda';
  private featureDim: Dim;
  /** The model as given (null once released in favour of a fused session). */
  private session: ort.InferenceSession | null;
  /** Sessions of the model with preprocessing in front, per input geometry `HxWxC`. */
  private readonly fused = new Map<string, ort.InferenceSession>();
  /** The model bytes read (and hashed) at creation, kept until the first fused session is built. */
  private modelBytes: Uint8Array | null;

  constructor(
    readonly id: string,
    readonly preprocessing: Preprocessing,
    session: ort.InferenceSession,
    private readonly info: OnnxInfo,
    dim: Dim,
    modelBytes: Uint8Array,
  ) {
    this.session = session;
    this.modelBytes = info.jsReason === null ? modelBytes : null;
    this.preprocessingId = preprocessingId(preprocessing);
    this.preprocessingEngine = info.jsReason === null ? 'onnxruntime' : 'js';
    this.device = info.device;
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
      device: i.device,
      ...(i.deviceNote ? { deviceNote: i.deviceNote } : {}),
      preprocessingEngine: this.preprocessingEngine,
      ...(i.jsReason ? { preprocessingInJsBecause: i.jsReason } : {}),
      runtime: `onnxruntime-node ${ort.env.versions.node ?? ort.env.versions.common}`,
    };
  }

  /** The session taking uint8 HWC pixels of this geometry (built on first use). */
  private async fusedSession(h: number, w: number, c: 1 | 3): Promise<ort.InferenceSession> {
    const key = `${h}x${w}x${c}`;
    const have = this.fused.get(key);
    if (have) return have;
    // A second input geometry in one process (rare) reads the file again, checking it is the same model.
    let bytes = this.modelBytes;
    this.modelBytes = null;
    if (!bytes) {
      bytes = new Uint8Array(await fs.readFile(this.info.model));
      if (createHash('sha256').update(bytes).digest('hex') !== this.info.sha256) {
        throw new UserError(`${this.info.model}: the model file changed while cl was using it`, 'run again once the file is complete');
      }
    }
    const fusedModel = fusePreprocessing(bytes, { input: this.info.input, batch: this.info.fixedBatch, inH: h, inW: w, inC: c, p: this.preprocessing });
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(fusedModel, onnxSessionOptions(this.info.threads, this.info.device));
    } catch (e) {
      throw new UserError(
        `${this.info.model}: onnxruntime rejected the model with preprocessing in front (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`,
        'run with --preprocess js to preprocess in JavaScript instead',
      );
    }
    this.fused.set(key, session);
    // The plain model is only needed again if preprocessing falls back to JS; free its weights.
    if (this.session) {
      await this.session.release();
      this.session = null;
    }
    return session;
  }

  private async plainSession(): Promise<ort.InferenceSession> {
    this.session ??= await ort.InferenceSession.create(this.info.model, onnxSessionOptions(this.info.threads, this.info.device));
    return this.session;
  }

  async extract(split: ImageSplit, opts: ExtractOptions = {}): Promise<Float32Array> {
    checkSplit(split, `${path.basename(this.info.model)} input`);
    const p = this.preprocessing;
    const pre = new Preprocessor(p, split.height, split.width, split.channels);
    const bs = this.info.fixedBatch ?? Math.max(1, Math.floor(opts.batchSize ?? this.info.batchSize));
    const total = split.count;
    if (total === 0) return new Float32Array(0);
    const batches = Math.ceil(total / bs);
    const inC = split.channels as 1 | 3;
    const fused = this.info.jsReason === null ? await this.fusedSession(split.height, split.width, inC) : null;
    const session = fused ?? (await this.plainSession());
    const inputName = fused ? FUSED_INPUT : this.info.input;
    const t0 = performance.now();
    let out: Float32Array | null = null;
    let done = 0;

    const bufs = fused ? [] : [new Float32Array(bs * pre.floatsPerImage), new Float32Array(bs * pre.floatsPerImage)];
    const pixelsPerImage = split.height * split.width * inC;
    const prepare = (k: number): { n: number; feed: ort.Tensor } => {
      const start = k * bs;
      const n = Math.min(bs, total - start);
      // A static batch dim is padded with zeros; otherwise the last batch is just shorter.
      const rows = this.info.fixedBatch ?? n;
      if (fused) {
        let data = split.images.subarray(start * pixelsPerImage, (start + n) * pixelsPerImage);
        if (rows > n) {
          const padded = new Uint8Array(rows * pixelsPerImage);
          padded.set(data);
          data = padded;
        }
        return { n, feed: new ort.Tensor('uint8', data, [rows, split.height, split.width, inC]) };
      }
      const buf = bufs[k % 2];
      pre.runBatch(split, start, n, buf);
      if (rows > n) buf.fill(0, n * pre.floatsPerImage, rows * pre.floatsPerImage);
      const data = rows === bs ? buf : buf.subarray(0, rows * pre.floatsPerImage);
      const dims = p.layout === 'NCHW' ? [rows, p.channels, pre.outH, pre.outW] : [rows, pre.outH, pre.outW, p.channels];
      return { n, feed: new ort.Tensor('float32', data, dims) };
    };
    const run = (feed: ort.Tensor): Promise<ort.InferenceSession.ReturnType> =>
      session.run({ [inputName]: feed }, [this.info.output]).catch((e: unknown) => {
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

    // Batch k+1 is prepared (JS path) and started as soon as batch k returns, so the native
    // threads stay busy while JS pools (and, on the JS path, preprocesses) on the main thread.
    let cur = prepare(0);
    let pending = run(cur.feed);
    for (let k = 1; k < batches; k++) {
      const next = prepare(k);
      const res = await pending;
      pending = run(next.feed);
      collect(res, cur.n);
      cur = next;
    }
    collect(await pending, cur.n);
    return out ?? new Float32Array(0);
  }

  async dispose(): Promise<void> {
    this.modelBytes = null;
    await this.session?.release();
    this.session = null;
    for (const s of this.fused.values()) await s.release();
    this.fused.clear();
  }
}

/** Session options of every ONNX backbone (exported for the extraction benchmark). */
export function onnxSessionOptions(threads: number, device: 'cpu' | 'cuda' = 'cpu'): ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // CUDA first; nodes it does not implement fall back to the CPU provider.
    executionProviders: device === 'cuda' ? [{ name: 'cuda', deviceId: 0 }, 'cpu'] : ['cpu'],
  };
}

/**
 * The CUDA execution provider library of onnxruntime-node, present only after the explicit opt-in
 * (`npm run onnxruntime-cuda`, docs/gpu.md): the npm package ships the CPU build.
 */
export function cudaProviderPath(): string {
  const pkg = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
}

const CUDA_HINT = 'see docs/gpu.md (CUDA 12.x + cuDNN 9.x, `npm run onnxruntime-cuda`), or use --device cpu';

/** Whether the NVIDIA driver exposes a GPU to this process (Linux device nodes / driver proc file). */
export function nvidiaGpuVisible(): boolean {
  return existsSync('/dev/nvidia0') || existsSync('/proc/driver/nvidia/version');
}

/**
 * The first session of a model on the requested device: 'cpu' as asked; 'cuda' or a UserError
 * saying why not; 'auto' = CUDA when its provider is installed and a session starts on it, else
 * the CPU (the reason is returned for the log).
 */
async function firstSession(model: string, threads: number, want: OnnxDevice): Promise<{ session: ort.InferenceSession; device: 'cpu' | 'cuda'; why?: string }> {
  const cpu = async (why?: string) => ({ session: await ort.InferenceSession.create(model, onnxSessionOptions(threads, 'cpu')), device: 'cpu' as const, why });
  if (want === 'cpu') return cpu();
  const lib = cudaProviderPath();
  if (!existsSync(lib)) {
    if (want === 'auto') return cpu('the CUDA build of onnxruntime is not installed');
    throw new UserError(`--device cuda: onnxruntime-node has no CUDA execution provider here (${lib} is missing; the npm package ships the CPU build)`, CUDA_HINT);
  }
  if (!nvidiaGpuVisible()) {
    if (want === 'auto') return cpu('no NVIDIA GPU is visible (no /dev/nvidia0)');
    throw new UserError('--device cuda: no NVIDIA GPU is visible to this process (no /dev/nvidia0, no /proc/driver/nvidia)', `run on a machine with a GPU and its driver; ${CUDA_HINT}`);
  }
  try {
    return { session: await ort.InferenceSession.create(model, onnxSessionOptions(threads, 'cuda')), device: 'cuda' };
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    if (want === 'auto') return cpu(`onnxruntime could not start CUDA (${msg})`);
    throw new UserError(`--device cuda: onnxruntime could not start its CUDA execution provider (${msg})`, `check that a GPU is visible (nvidia-smi) and the CUDA/cuDNN libraries are on LD_LIBRARY_PATH; ${CUDA_HINT}`);
  }
}

/** Build an `onnx:` backbone. */
export async function createOnnxBackbone(spec: BackboneSpec, opts: BackboneOptions): Promise<Backbone> {
  const file = await resolveModelFile(spec.target, { cacheRoot: opts.cacheRoot, offline: opts.offline, what: 'ONNX model', quiet: opts.quiet });
  const model = file.path;
  const bytes = new Uint8Array(await fs.readFile(model));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const threads = Math.max(1, opts.threads ?? os.availableParallelism());
  let session: ort.InferenceSession;
  let device: 'cpu' | 'cuda';
  let deviceNote: string | undefined;
  try {
    // From the path, not the bytes: external weight files are found relative to it.
    let why: string | undefined;
    ({ session, device, why } = await firstSession(model, threads, opts.device ?? 'auto'));
    // Only a failed start is worth a note; most machines simply have no CUDA build installed.
    if (why && existsSync(cudaProviderPath())) deviceNote = why;
  } catch (e) {
    if (e instanceof UserError) throw e;
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
        jsReason: opts.preprocess === 'js' ? 'asked for (--preprocess js)' : fuseBlocker(bytes, inMeta.name),
        device,
        ...(deviceNote ? { deviceNote } : {}),
      },
      dim,
      bytes,
    );
  } catch (e) {
    await session.release();
    throw e;
  }
}
