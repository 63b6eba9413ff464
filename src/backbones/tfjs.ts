/**
 * `tfjs:<path-or-URL>[#layer]`: a TensorFlow.js model (layers or graph format) as a frozen backbone.
 *
 * The target is a folder holding model.json, a model.json path, or the URL of a model.json (downloaded
 * once, with its weight shards, into `modelCacheDir()/tfjs/<hash>/`). Plain @tensorflow/tfjs has no
 * file-system IO handler in Node, so `fileSystemHandler` reads model.json and the shards itself.
 * `#layer` picks the feature: for a layers model a sub-model whose output is that layer, for a graph
 * model the named node. Outputs are pooled with the same code as ONNX outputs (pool.ts): spatial
 * maps [N, H, W, C] by global average pooling, token outputs [N, T, D] by [CLS] or mean.
 * Input is NHWC (the TensorFlow convention); the default pixel pipeline is [0, 1] without mean/std.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { downloadFile } from '../data/download.js';
import { UserError } from '../errors.js';
import { modelCacheDir } from '../paths.js';
import { currentBackend, initBackend, tf } from '../tf.js';
import type { ImageSplit } from '../types.js';
import type { Backbone, BackboneOptions, BackboneSpec, ExtractOptions, PoolMode } from './types.js';
import { isUrl } from './model-file.js';
import { allowedPools, defaultPool, pooledDim, poolInto } from './pool.js';
import { IMAGENET_MEAN, IMAGENET_STD, Preprocessor, checkSplit, preprocessingId, type Preprocessing } from './preprocess.js';

/** The parts of a model.json cl reads. */
interface ModelJson {
  modelTopology?: unknown;
  format?: string;
  weightsManifest?: tf.io.WeightsManifestConfig;
  [k: string]: unknown;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, string: 0 };

/** Byte size of one manifest weight (quantised weights are stored in the quantisation dtype). */
function weightBytes(w: tf.io.WeightsManifestEntry): number | null {
  const n = w.shape.reduce((a, b) => a * b, 1);
  const dt = w.quantization?.dtype ?? w.dtype;
  const b = DTYPE_BYTES[dt];
  return b ? n * b : null; // strings have variable size: not checkable
}

async function readModelJson(file: string): Promise<ModelJson> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    throw new UserError(`TensorFlow.js model not found: ${file}`, 'point tfjs: at a folder holding model.json, at a model.json file, or at its URL');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UserError(`${file}: not valid JSON`, 'a TensorFlow.js model.json is needed (re-download it if it was cut short)');
  }
  const m = json as ModelJson;
  if (!m || typeof m !== 'object' || !m.modelTopology || !Array.isArray(m.weightsManifest)) {
    throw new UserError(`${file}: not a TensorFlow.js model.json (no modelTopology / weightsManifest)`, 'convert the model with tensorflowjs_converter, or give the model.json of a tfjs model');
  }
  return m;
}

/** Check that every weight group's shards hold exactly the bytes its manifest declares. */
async function checkShards(dir: string, manifest: tf.io.WeightsManifestConfig, modelFile: string): Promise<void> {
  for (const group of manifest) {
    let have = 0;
    for (const p of group.paths) {
      const f = path.join(dir, p);
      try {
        have += (await fsp.stat(f)).size;
      } catch {
        throw new UserError(`${modelFile}: weight shard ${p} is missing`, `put every shard listed in model.json next to it (${dir})`);
      }
    }
    const sizes = group.weights.map(weightBytes);
    if (sizes.every((s) => s !== null)) {
      const want = (sizes as number[]).reduce((a, b) => a + b, 0);
      if (have !== want) {
        throw new UserError(`${modelFile}: weight shards ${group.paths.join(', ')} hold ${have} bytes, the manifest declares ${want}`, 'the shards are truncated or belong to another model; re-download or re-convert the model');
      }
    }
  }
}

/**
 * A tf.io.IOHandler that loads a model.json and its weight shards from the local file system
 * (plain @tensorflow/tfjs only has http and browser handlers).
 */
export function fileSystemHandler(modelJsonPath: string): tf.io.IOHandler {
  const dir = path.dirname(modelJsonPath);
  return {
    load: async (): Promise<tf.io.ModelArtifacts> => {
      const json = await readModelJson(modelJsonPath);
      await checkShards(dir, json.weightsManifest ?? [], modelJsonPath);
      return tf.io.getModelArtifactsForJSON(json as unknown as tf.io.ModelJSON, async (manifest) => {
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          for (const p of group.paths) {
            const b = await fsp.readFile(path.join(dir, p));
            buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer);
          }
        }
        return [tf.io.getWeightSpecs(manifest), tf.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}

export interface TfjsModelFiles {
  /** Local model.json. */
  modelJson: string;
  url?: string;
  /** sha256 over model.json and every shard, in manifest order. */
  sha256: string;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Local model.json for a folder / file / URL target; URLs are downloaded once into the model cache. */
export async function resolveTfjsModel(target: string, opts: { cacheRoot?: string; offline?: boolean; quiet?: boolean }): Promise<TfjsModelFiles> {
  let modelJson: string;
  let url: string | undefined;
  if (isUrl(target)) {
    url = target;
    const dir = path.join(modelCacheDir(opts.cacheRoot), 'tfjs', createHash('sha256').update(target).digest('hex').slice(0, 16));
    modelJson = path.join(dir, 'model.json');
    const complete = path.join(dir, '.complete');
    if (!(await exists(complete))) {
      if (opts.offline) {
        throw new UserError(`TensorFlow.js model ${target} is not in the model cache and offline mode forbids downloading it`, 'run once without --offline, or download the model folder yourself and pass its local path');
      }
      await downloadFile(target, modelJson, { label: `tfjs model.json`, quiet: opts.quiet });
      const json = await readModelJson(modelJson);
      for (const group of json.weightsManifest ?? []) {
        for (const p of group.paths) {
          if (p.includes('..') || path.isAbsolute(p)) throw new UserError(`${target}: weight path "${p}" leaves the model folder`, 'use a model.json whose shard paths are relative file names');
          const dest = path.join(dir, p);
          if (!(await exists(dest))) await downloadFile(new URL(p, target).toString(), dest, { label: `tfjs ${p}`, quiet: opts.quiet });
        }
      }
      await checkShards(dir, json.weightsManifest ?? [], modelJson);
      await fsp.writeFile(complete, `${target}\n`);
    }
  } else {
    const p = path.resolve(target);
    let st;
    try {
      st = await fsp.stat(p);
    } catch {
      throw new UserError(`TensorFlow.js model not found: ${p}`, 'point tfjs: at a folder holding model.json, at a model.json file, or at its URL');
    }
    modelJson = st.isDirectory() ? path.join(p, 'model.json') : p;
  }
  const json = await readModelJson(modelJson);
  const dir = path.dirname(modelJson);
  await checkShards(dir, json.weightsManifest ?? [], modelJson);
  const h = createHash('sha256').update(await fsp.readFile(modelJson));
  for (const group of json.weightsManifest ?? []) for (const p of group.paths) h.update(await fsp.readFile(path.join(dir, p)));
  return { modelJson, ...(url ? { url } : {}), sha256: h.digest('hex') };
}

/** Whether a model.json holds a graph model (TF SavedModel / frozen graph conversion) rather than a Keras layers model. */
function isGraphModel(json: ModelJson): boolean {
  if (json.format === 'graph-model') return true;
  if (json.format === 'layers-model') return false;
  const topo = json.modelTopology as Record<string, unknown>;
  return Array.isArray(topo.node);
}

function someNames(names: string[], n = 12): string {
  if (names.length <= n) return names.join(', ');
  const tail = names.slice(-n);
  return `… ${tail.join(', ')} (${names.length} in all)`;
}

/** What a tfjs backbone runs: input -> one feature tensor. */
interface Runner {
  /** Input shape without the batch dim, null for unknown dims. */
  inputShape: (number | null)[];
  /** Output shape without the batch dim, null for unknown dims. */
  outputShape: (number | null)[] | null;
  /** The layer / node used as the feature. */
  output: string;
  format: 'layers-model' | 'graph-model';
  run(x: tf.Tensor4D): tf.Tensor;
  dispose(): void;
}

const dims = (shape: readonly (number | null | undefined)[] | undefined): (number | null)[] => (shape ?? []).map((d) => (typeof d === 'number' && d > 0 ? d : null));

async function layersRunner(file: string, layer: string | undefined): Promise<Runner> {
  const model = await tf.loadLayersModel(fileSystemHandler(file));
  try {
    if (model.inputs.length !== 1) throw new UserError(`${file}: the model has ${model.inputs.length} inputs; an image backbone takes one`, 'use a single-input image model');
    let sub: tf.LayersModel = model;
    let output = model.outputs[0].sourceLayer.name;
    if (layer !== undefined) {
      let target: tf.layers.Layer;
      try {
        target = model.getLayer(layer);
      } catch {
        throw new UserError(`${file}: no layer named "${layer}"`, `layers: ${someNames(model.layers.map((l) => l.name))} (choose one with tfjs:<model>#<layer>)`);
      }
      const out = target.output;
      if (Array.isArray(out)) throw new UserError(`${file}: layer "${layer}" has ${out.length} outputs`, 'pick a layer with a single output');
      sub = tf.model({ inputs: model.inputs, outputs: out });
      output = layer;
    }
    const outShape = sub.outputs[0].shape;
    return {
      inputShape: dims(model.inputs[0].shape.slice(1)),
      outputShape: dims(outShape.slice(1)),
      output,
      format: 'layers-model',
      run: (x) => sub.predict(x) as tf.Tensor,
      dispose: () => model.dispose(),
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

async function graphRunner(file: string, json: ModelJson, node: string | undefined): Promise<Runner> {
  const model = await tf.loadGraphModel(fileSystemHandler(file));
  try {
    if (model.inputs.length !== 1) throw new UserError(`${file}: the graph has ${model.inputs.length} inputs; an image backbone takes one`, 'use a single-input image model');
    const names = ((json.modelTopology as { node?: { name: string }[] }).node ?? []).map((n) => n.name);
    const output = node ?? model.outputs[0].name;
    if (node !== undefined && !names.includes(node)) {
      throw new UserError(`${file}: no node named "${node}"`, `nodes: ${someNames(names)} (choose one with tfjs:<model>#<node>)`);
    }
    const declared = node === undefined ? model.outputs[0].shape : undefined;
    return {
      inputShape: dims(model.inputs[0].shape?.slice(1)),
      outputShape: declared ? dims(declared.slice(1)) : null,
      output,
      format: 'graph-model',
      run: (x) => model.execute(x, output) as tf.Tensor,
      dispose: () => model.dispose(),
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

class TfjsBackbone implements Backbone {
  readonly kind = 'tfjs';
  readonly preprocessingId: string;
  private featureDim: number | null;

  constructor(
    readonly id: string,
    readonly preprocessing: Preprocessing,
    private readonly runner: Runner,
    /** pool null: chosen from the output's rank at the first batch (graph nodes without a declared shape). */
    private readonly info: { model: string; url?: string; sha256: string; pool: PoolMode | null; batchSize: number },
  ) {
    this.preprocessingId = preprocessingId(preprocessing);
    this.featureDim = runner.outputShape && info.pool ? pooledDim(runner.outputShape, info.pool, true) : null;
  }

  dim(): number | null {
    return this.featureDim;
  }

  describe(): Record<string, unknown> {
    const i = this.info;
    const backend = currentBackend();
    return {
      kind: 'tfjs',
      model: i.url ?? i.model,
      ...(i.url ? { file: i.model } : {}),
      format: this.runner.format,
      sha256: i.sha256,
      output: this.runner.output,
      outputShape: this.runner.outputShape,
      pool: i.pool,
      dim: this.featureDim,
      batchSize: i.batchSize,
      runtime: `@tensorflow/tfjs ${tf.version.tfjs}${backend ? ` (${backend.name})` : ''}`,
    };
  }

  async extract(split: ImageSplit, opts: ExtractOptions = {}): Promise<Float32Array> {
    checkSplit(split, `${path.basename(path.dirname(this.info.model))} input`);
    const p = this.preprocessing;
    const pre = new Preprocessor(p, split.height, split.width, split.channels);
    const bs = Math.max(1, Math.floor(opts.batchSize ?? this.info.batchSize));
    const buf = new Float32Array(bs * pre.floatsPerImage);
    const total = split.count;
    const t0 = performance.now();
    let out: Float32Array | null = null;
    for (let done = 0; done < total; ) {
      const n = Math.min(bs, total - done);
      pre.runBatch(split, done, n, buf);
      const y = tf.tidy(() => this.runner.run(tf.tensor4d(buf.subarray(0, n * pre.floatsPerImage), [n, pre.outH, pre.outW, p.channels])));
      let data: Float32Array;
      let per: number[];
      try {
        if (y.dtype !== 'float32') throw new UserError(`${this.info.model}: output "${this.runner.output}" has dtype ${y.dtype}; features must be float32`, 'pick another layer with #<layer>');
        per = y.shape.slice(1);
        data = (await y.data()) as Float32Array;
      } finally {
        y.dispose();
      }
      const pool = this.info.pool ?? defaultPool(per.length + 1);
      if (!allowedPools(per.length + 1).includes(pool)) {
        throw new UserError(`${this.info.model}: pooling "${pool}" does not apply to "${this.runner.output}" of rank ${per.length + 1}`, `use one of: ${allowedPools(per.length + 1).join(', ')}`);
      }
      const dim = pooledDim(per, pool, true) as number;
      if (out === null) {
        this.featureDim = dim;
        out = new Float32Array(total * dim);
      } else if (dim !== this.featureDim) {
        throw new UserError(`${this.info.model}: "${this.runner.output}" changed size between batches (${this.featureDim} vs ${dim})`, 'use a model with a fixed output size');
      }
      poolInto(data, n, { dims: per, channelsLast: true }, pool, out, done, dim);
      done += n;
      const secs = Math.max((performance.now() - t0) / 1000, 1e-9);
      opts.onProgress?.(done, total, done / secs);
    }
    return out ?? new Float32Array(0);
  }

  async dispose(): Promise<void> {
    this.runner.dispose();
  }
}

/** Declarations a named backbone makes on top of a `tfjs:` spec. */
export interface TfjsDeclared {
  /** The pixel pipeline (overridden by an explicit `normalize` option). */
  preprocessing?: Preprocessing;
  /** Layer / node used when the spec names none. */
  layer?: string;
}

/** Build a `tfjs:` backbone. */
export async function createTfjsBackbone(spec: BackboneSpec, opts: BackboneOptions, declared: TfjsDeclared = {}): Promise<Backbone> {
  await initBackend();
  const files = await resolveTfjsModel(spec.target, { cacheRoot: opts.cacheRoot, offline: opts.offline, quiet: opts.quiet });
  const json = await readModelJson(files.modelJson);
  const layer = spec.output ?? declared.layer;
  const runner = isGraphModel(json) ? await graphRunner(files.modelJson, json, layer) : await layersRunner(files.modelJson, layer);
  try {
    const shape = runner.inputShape;
    if (shape.length !== 3) throw new UserError(`${files.modelJson}: the model input has rank ${shape.length + 1}; an image model takes [N, H, W, C]`, 'use an image model');
    const [h, w, c] = shape;
    if (c !== null && c !== 1 && c !== 3) throw new UserError(`${files.modelJson}: the model expects ${c} input channels`, 'only 1- and 3-channel image models are supported');
    if (opts.imageSize !== undefined && ((h !== null && h !== opts.imageSize) || (w !== null && w !== opts.imageSize))) {
      throw new UserError(`${files.modelJson}: the model declares a ${h}x${w} input but the image size option asks for ${opts.imageSize}`, 'drop the image size option; it only applies to models without a static input size');
    }
    if (opts.layout === 'NCHW') throw new UserError('tfjs backbones take NHWC input', 'drop the layout option');
    const size = opts.imageSize ?? declared.preprocessing?.size?.[0] ?? 224;
    const channels = c === 1 ? 1 : 3;
    const base: Preprocessing = declared.preprocessing ?? { size: [size, size], resize: 'bilinear', scale: 1 / 255, mean: null, std: null, layout: 'NHWC', channels };
    const normalize = opts.normalize;
    const preprocessing: Preprocessing = {
      ...base,
      size: [h ?? size, w ?? size],
      layout: 'NHWC',
      channels,
      ...(normalize === 'imagenet' ? { scale: 1 / 255, mean: IMAGENET_MEAN.slice(0, channels), std: IMAGENET_STD.slice(0, channels) } : {}),
      ...(normalize === 'none' ? { scale: 1 / 255, mean: null, std: null } : {}),
    };
    const rank = runner.outputShape ? runner.outputShape.length + 1 : null;
    const pool = opts.pool ?? (rank === null ? null : defaultPool(rank));
    if (rank !== null && pool !== null && !allowedPools(rank).includes(pool)) {
      throw new UserError(`${files.modelJson}: pooling "${pool}" does not apply to "${runner.output}" of rank ${rank}`, `use one of: ${allowedPools(rank).join(', ')}`);
    }
    const dirName = path.basename(path.dirname(files.modelJson));
    const name = files.url ? (new URL(files.url).pathname.split('/').slice(-2, -1)[0] ?? 'model') : dirName;
    const id = `tfjs:${name}@${files.sha256.slice(0, 12)}#${runner.output}${rank === null || rank > 2 ? `/${pool ?? 'auto'}` : ''}`;
    return new TfjsBackbone(id, preprocessing, runner, { model: files.modelJson, ...(files.url ? { url: files.url } : {}), sha256: files.sha256, pool, batchSize: opts.batchSize ?? 16 });
  } catch (e) {
    runner.dispose();
    throw e;
  }
}
