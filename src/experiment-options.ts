/**
 * The options of an experiment itself, declared in the one option system (src/options.ts) like
 * every method option: the training seed and the class order of `cl run` and `cl compat`, the
 * split override of `cl run`, the number of model versions of `cl compat`.
 */
import { BACKEND_CHOICES } from './backends.js';
import { defineOptions } from './options.js';

/** Largest trainSeed: seeds become the 32-bit state of the RNG (src/rng.ts); a larger one would wrap. */
export const MAX_SEED = 0xffffffff;

const SEED = {
  type: 'integer',
  default: 1,
  min: 0,
  max: MAX_SEED,
  help: 'trainSeed: seeds everything random in the learner (initialisation, shuffles, sampling)',
} as const;

const ORDER = {
  type: 'string',
  help: "class order: icarl-1993 | podnet-fixed | natural | seed:<n> | a comma-separated list (default: the scenario's)",
} as const;

export const RUN_OPTIONS = defineOptions({
  seed: SEED,
  base: { type: 'integer', min: 0, help: 'override the scenario split: classes in the first task (0: as many as every later task)' },
  increment: { type: 'integers', min: 1, help: 'override the scenario split: classes per later task, or a list such as 17,17,16' },
  order: ORDER,
});

export const COMPAT_RUN_OPTIONS = defineOptions({
  steps: {
    type: 'integer',
    required: true,
    min: 2,
    help: 'model versions: the class order is cut into n blocks as equal as possible (100 in 3: 34, 33, 33), version t trains on blocks 1..t',
  },
  seed: { ...SEED, help: 'trainSeed: seeds everything random in the model versions' },
  order: ORDER,
});

/** The frozen feature extractor and how images reach it (flags of `cl run` / `cl compat`, keys of experiment files). */
export const BACKBONE_OPTIONS = defineOptions({
  backbone: {
    type: 'string',
    help: "frozen feature extractor: pixels | onnx:<path-or-URL>[#output] | hf:<repo>[@rev][#output] | tfjs:<path-or-URL>[#layer] | NAME (see `cl backbones`); default: the scenario's",
  },
  inputNorm: { type: 'choice', choices: ['imagenet', 'none'], help: 'input normalisation of image backbones (onnx default: imagenet)' },
  inputSize: { type: 'integer', min: 1, help: 'model input size when the model does not declare it (default 224)' },
  inputLayout: { type: 'choice', choices: ['NCHW', 'NHWC'], help: 'model input layout when the model does not declare it' },
  featurePool: { type: 'choice', choices: ['cls', 'mean', 'gap', 'none'], help: 'how a token/spatial model output becomes one vector' },
  preprocess: {
    type: 'choice',
    choices: ['auto', 'js'],
    default: 'auto',
    help: 'where ONNX backbones resize/normalise: auto = inside onnxruntime when the model allows, js = in JavaScript',
  },
  extractBatchSize: { type: 'integer', min: 1, help: 'batch size of feature extraction (default 16)' },
});

/** Where the data and caches are (paths in an experiment file are relative to the file). */
export const DATA_OPTIONS = defineOptions({
  dataDir: { type: 'string', help: 'local copy of the dataset (archive or folder); env CL_DATA_DIR' },
  cacheDir: { type: 'string', help: 'cache root for datasets, models and features; env CL_CACHE_DIR' },
  offline: { type: 'boolean', default: false, help: 'never download; use local files and caches only' },
});

/** How image folders (`imagefolder:<dir>` datasets, docs/datasets.md) are read. */
export const IMAGE_FOLDER_OPTIONS = defineOptions({
  resize: {
    type: 'choice',
    choices: ['crop', 'squash', 'none'],
    default: 'crop',
    help: 'image folders: crop = shorter side to 256/224 of the input size + centre crop (timm/PILOT eval), squash = straight to the input size, none = images of one size, resized by the backbone',
  },
  skipBadImages: { type: 'boolean', default: false, help: 'image folders: leave unreadable images out (listed in the record) instead of stopping' },
});

export const BACKEND_OPTIONS = defineOptions({
  backend: { type: 'choice', choices: BACKEND_CHOICES, default: 'auto', help: 'tfjs backend (env CL_BACKEND; docs/architecture.md "Backends")' },
});
