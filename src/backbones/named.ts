/**
 * Named pretrained backbones (`--backbone NAME`, listed by `cl backbones`). Each entry declares where
 * the model comes from, which tensor is the feature, how it is pooled and the pixel pipeline, so a
 * run record names one well-defined feature extractor. The backbone id is `<name>@<model sha256,
 * 12 hex>`: the name for people (and published baselines), the hash so that a changed upstream file
 * never reuses stale cached features.
 */
import type { Backbone, BackboneOptions, PoolMode } from './types.js';
import { createHfBackbone } from './hf.js';
import { preprocessingId, type Preprocessing } from './preprocess.js';
import { createTfjsBackbone } from './tfjs.js';
import { withIdentity } from './wrap.js';

export interface NamedBackbone {
  name: string;
  /** One line for `cl backbones`. */
  title: string;
  /** The spec form it runs as (`hf:...`, `tfjs:...`). */
  source: string;
  /** Where the weights come from (human-readable, with the licence when known). */
  origin: string;
  /** The tensor used as the feature. */
  output: string;
  pool: PoolMode;
  /** What the feature is, exactly. */
  feature: string;
  dim: number;
  preprocessing: Preprocessing;
  /** Why the pipeline looks like this (paper / reference code). */
  preprocessingNote: string;
  /** Rough size of the download. */
  download: string;
  create(opts: BackboneOptions): Promise<Backbone>;
}

const unit = (layout: 'NCHW' | 'NHWC'): Preprocessing => ({ size: [224, 224], resize: 'bilinear', scale: 1 / 255, mean: null, std: null, layout, channels: 3 });
const imagenet = (layout: 'NCHW' | 'NHWC'): Preprocessing => ({ ...unit(layout), mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
const half = (layout: 'NCHW' | 'NHWC'): Preprocessing => ({ ...unit(layout), mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });

/** Give a built backbone the named identity; the engine's own describe() is kept under `engine`. */
function named(n: Omit<NamedBackbone, 'create'>, inner: Backbone): Backbone {
  const engine = inner.describe();
  const sha = typeof engine.sha256 === 'string' ? engine.sha256 : '';
  return withIdentity(inner, {
    id: `${n.name}@${sha.slice(0, 12)}`,
    kind: 'named',
    describe: {
      kind: 'named',
      name: n.name,
      source: n.source,
      output: n.output,
      pool: n.pool,
      feature: n.feature,
      preprocessing: inner.preprocessingId,
      declaredPreprocessing: preprocessingId(n.preprocessing),
      sha256: sha,
    },
  });
}

function hfNamed(n: Omit<NamedBackbone, 'create' | 'source'> & { repo: string; normalize: 'imagenet' | 'none'; file?: string }): NamedBackbone {
  const { repo, normalize, file, ...rest } = n;
  const entry: Omit<NamedBackbone, 'create'> = { ...rest, source: `hf:${repo}#${n.output}${file ? ` (file ${file})` : ''}` };
  return {
    ...entry,
    create: async (opts) => {
      // Declared choices win over the model's own defaults, but an explicit user option still applies
      // (and shows in the preprocessing id, so it never shares a feature cache entry).
      const inner = await createHfBackbone({ kind: 'hf', target: repo, output: n.output, raw: entry.source }, { ...opts, pool: opts.pool ?? n.pool }, { normalize, imageSize: 224, ...(file ? { file } : {}) });
      return named(entry, inner);
    },
  };
}

function tfjsNamed(n: Omit<NamedBackbone, 'create' | 'source'> & { url: string }): NamedBackbone {
  const { url, ...rest } = n;
  const entry: Omit<NamedBackbone, 'create'> = { ...rest, source: `tfjs:${url}#${n.output}` };
  return {
    ...entry,
    create: async (opts) => {
      const inner = await createTfjsBackbone({ kind: 'tfjs', target: url, output: n.output, raw: entry.source }, { ...opts, pool: opts.pool ?? n.pool }, { preprocessing: n.preprocessing });
      return named(entry, inner);
    },
  };
}

/** The named backbones, in the order `cl backbones` lists them. */
export const NAMED_BACKBONES: readonly NamedBackbone[] = [
  hfNamed({
    name: 'vit-b16-in21k',
    title: 'ViT-B/16 pretrained on ImageNet-21k: the backbone of the NMC paper (Janson et al.) and SimpleCIL',
    repo: 'Xenova/vit-base-patch16-224-in21k',
    origin: 'Hugging Face hub ONNX export of google/vit-base-patch16-224-in21k (Apache-2.0), ~350 MB float32',
    output: 'last_hidden_state',
    pool: 'cls',
    feature: '[CLS] token of last_hidden_state (after the final LayerNorm; not pooler_output, which is tanh(Dense(CLS)))',
    dim: 768,
    normalize: 'none',
    preprocessing: unit('NCHW'),
    preprocessingNote: 'as Janson et al.\'s code: bilinear resize of the full image to 224, pixels in [0, 1], no mean/std (the hub config asks for mean/std 0.5; not applied, docs/methods/nmc.md "Pitfalls")',
    download: '~350 MB',
  }),
  hfNamed({
    name: 'vit-b16-in21k-int8',
    title: 'vit-b16-in21k with int8 weights (the hub\'s dynamically quantised export): 2.8x faster on a 2-core CPU (docs/performance.md), NOT the paper\'s features',
    repo: 'Xenova/vit-base-patch16-224-in21k',
    file: 'onnx/model_quantized.onnx',
    origin: 'Hugging Face hub ONNX export of google/vit-base-patch16-224-in21k, dynamically quantised to int8 by transformers.js (Apache-2.0), ~88 MB',
    output: 'last_hidden_state',
    pool: 'cls',
    feature:
      '[CLS] token of last_hidden_state as vit-b16-in21k, computed with int8 weights and int8 activations in every projection: ' +
      'different numbers, so accuracies are not comparable with published vit-b16-in21k results (no published baseline is drawn beside it)',
    dim: 768,
    normalize: 'none',
    preprocessing: unit('NCHW'),
    preprocessingNote: 'as vit-b16-in21k: bilinear resize to 224, pixels in [0, 1], no mean/std',
    download: '~88 MB',
  }),
  hfNamed({
    name: 'dinov2-s14',
    title: 'DINOv2 ViT-S/14 (self-supervised, LVD-142M): a small transformer, about 4x cheaper than ViT-B/16',
    repo: 'Xenova/dinov2-small',
    origin: 'Hugging Face hub ONNX export of facebook/dinov2-small (Apache-2.0), ~90 MB float32',
    output: 'last_hidden_state',
    pool: 'cls',
    feature: '[CLS] token of last_hidden_state (after the final LayerNorm; equals the export\'s pooler_output)',
    dim: 384,
    normalize: 'imagenet',
    preprocessing: imagenet('NCHW'),
    preprocessingNote: 'bilinear resize to 224 (16x16 patches of 14 px), ImageNet mean/std as the model\'s preprocessor config',
    download: '~90 MB',
  }),
  tfjsNamed({
    name: 'mobilenet-v1-tfjs',
    title: 'MobileNetV1 1.0/224 (ImageNet-1k): fast on CPU (about 0.6 GFLOPs per image), TensorFlow.js layers model',
    url: 'https://storage.googleapis.com/tfjs-models/tfjs/mobilenet_v1_1.0_224/model.json',
    origin: 'TensorFlow.js models bucket (the model of the tfjs transfer-learning examples, Apache-2.0), ~17 MB',
    output: 'conv_pw_13_relu',
    pool: 'gap',
    feature: 'global average pool of conv_pw_13_relu [7, 7, 1024], the last ReLU before the classifier (what Keras MobileNet(pooling="avg") returns)',
    dim: 1024,
    preprocessing: half('NHWC'),
    preprocessingNote: 'bilinear resize to 224, pixels scaled to [-1, 1] (the Keras MobileNet convention), NHWC',
    download: '~17 MB',
  }),
];

export function findNamedBackbone(name: string): NamedBackbone | undefined {
  return NAMED_BACKBONES.find((n) => n.name === name.toLowerCase());
}
