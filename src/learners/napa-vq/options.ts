/**
 * Options of NAPA-VQ (docs/methods/napa-vq.md) and of its adapter baseline finetune-adapter
 * (docs/methods/finetune-adapter.md). Both train the same adapter + coding-vector classifier, so
 * they share ADAPTER_OPTIONS (and STANDARDIZE_OPTIONS, shown last); NAPA-VQ adds its protections.
 *
 * Frozen-feature defaults sized for 2 CPU cores (wasm backend), measured on synthetic 1280-d
 * features (1 epoch, batch 64, 2 busy shared cores): adapter 1280→256→128 costs about 5–6 ms per
 * training row, 1280→512→256 about 12.5 ms, the reference's 1280→1024→512 about 20–26 ms. A
 * CIFAR-100 B50-Inc10 run (25,000 base rows, 5 × 5,000 later) at 5 base / 3 later epochs is 200k
 * row-epochs: about 15–20 min on those busy cores, a few minutes on idle ones; at the reference's
 * 1024/512 adapter and 50 / 30 epochs it would take many hours. All are one flag away
 * (--hidden 1024 --embed-dim 512 --epochs-base 50 --epochs 30).
 */
import { defineOptions, type OptionValues } from '../../options.js';
import { NEIGHBOUR_PICKS } from './augment.js';
import { KD_FORMS } from './losses.js';

export type TestRule = 'cosine' | 'euclidean';
export const TEST_RULES: TestRule[] = ['cosine', 'euclidean'];
export type NapaMode = 'faithful' | 'frozen-adapter' | 'regen-prototypes';
export const NAPA_MODES: NapaMode[] = ['faithful', 'frozen-adapter', 'regen-prototypes'];

/** How the adapter and the coding vectors are trained, whatever protects them. */
export const ADAPTER_OPTIONS = defineOptions({
  epochsBase: {
    type: 'integer',
    default: 20,
    min: 1,
    help: 'epochs of the base task (paper: 100 on images; 20 measured on CIFAR-100 MobileNetV2 features: A_T 50.5 vs 35.6 with 5, ~10 min on 2 CPU cores for B50-Inc10)',
  },
  epochs: { type: 'integer', default: 10, min: 1, help: 'epochs of every later task (10 measured together with --epochs-base 20)' },
  batchSize: { type: 'integer', default: 64, min: 1, help: 'mini-batch size (reference: 64 images)' },
  hidden: { type: 'integer', default: 256, min: 1, help: 'adapter hidden width (features -> hidden ReLU -> embed-dim; reference 1024, 4x slower on CPU)' },
  embedDim: { type: 'integer', default: 128, min: 1, help: 'adapter output width p, the coding-vector space (reference: 512)' },
  adapterLr: { type: 'number', default: 1e-3, gt: 0, help: 'adapter Adam learning rate in the base task (x0.1 at 45% of the epochs)' },
  adapterLrLater: { type: 'number', default: 1e-4, gt: 0, help: 'adapter Adam learning rate in later tasks' },
  weightDecay: { type: 'number', default: 2e-4, min: 0, help: 'adapter L2 weight decay (coupled, as torch Adam)' },
  cvLr: {
    type: 'number',
    default: 5,
    gt: 0,
    help: 'coding-vector SGD learning rate in the base task (reference value; x0.1 every 20% of the epochs; try 0.05, 0.5 or 5)',
  },
  cvLrLaterFactor: { type: 'number', default: 0.1, gt: 0, help: 'coding-vector learning rate of later tasks = cv-lr x this (reference 0.5 / 5)' },
  tau: { type: 'number', default: 0.1, min: 1e-6, help: 'temperature of the distance-based cross-entropy' },
});

/** Input standardisation and the test rule (shown after the method's own options). */
export const STANDARDIZE_OPTIONS = defineOptions({
  standardize: { type: 'boolean', default: true, help: 'standardise features per dimension with base-task statistics (frozen afterwards)' },
  testRule: {
    type: 'choice',
    default: 'cosine',
    choices: TEST_RULES,
    help: 'prediction: cosine to unit-norm coding vectors (paper) or Euclidean nearest coding vector (as in training)',
  },
});

export const NAPA_VQ_OPTIONS = defineOptions({
  mode: {
    type: 'choice',
    default: 'faithful',
    choices: NAPA_MODES,
    help:
      'faithful: the reference logic, stale adapter-space prototypes + KD; adapted modes (cl additions, prototypes exact in backbone space): ' +
      'frozen-adapter (the adapter trains in the base task only) or regen-prototypes (prototypes = g(backbone mean), regenerated every epoch)',
  },
  graph: { type: 'boolean', default: true, help: 'class graph on; --graph false is the no-graph ablation (a class is its own only neighbour)' },
  separation: { type: 'boolean', default: true, help: 'neighbourhood-aware separation loss L_NA' },
  napa: { type: 'boolean', default: true, help: 'prototype augmentation NA-PA in later tasks (false = no prototype replay)' },
  ...ADAPTER_OPTIONS,
  naWeight: { type: 'number', default: 1, min: 0, help: 'weight of L_NA (both calls)' },
  paWeight: { type: 'number', default: 10, min: 0, help: 'weight of the prototype cross-entropy L_PA' },
  kdWeight: { type: 'number', default: 10, min: 0, help: 'weight of the feature distillation L_KD' },
  kdForm: { type: 'choice', default: 'frobenius', choices: KD_FORMS, help: 'frobenius: ||F_new - F_old||_F over the batch (reference); mean-l2: mean row distance' },
  k: { type: 'integer', default: 15, min: 1, help: 'graph winners per sample (clipped to the number of classes)' },
  softminScale: {
    type: 'keyword-or-number',
    keyword: 'auto',
    default: 'auto',
    gt: 0,
    help: 'softmin scale s of the neighbour weights exp(-s d^2): auto = 0.5 / median(d^2) of base-task samples to the initial coding vectors, or a number (reference 0.001)',
  },
  neighbourPick: { type: 'choice', default: 'uniform', choices: NEIGHBOUR_PICKS, help: 'NA-PA neighbour pick: uniform (reference) or by edge strength (deviation)' },
  napaSamples: { type: 'integer', default: 64, min: 1, help: 'augmented prototypes per step' },
  ...STANDARDIZE_OPTIONS,
});

/** What every adapter + coding-vector learner reads. */
export type AdapterConfig = OptionValues<typeof ADAPTER_OPTIONS> & OptionValues<typeof STANDARDIZE_OPTIONS>;
export type NapaVqConfig = OptionValues<typeof NAPA_VQ_OPTIONS>;
