/**
 * NAPA-VQ (methods/napa-vq.md): non-exemplar class-incremental learning with neighbourhood-aware
 * prototype augmentation. Malepathirana, Senanayake, Halgamuge, ICCV 2023, arXiv 2308.09297;
 * reference code `TamashaM/NAPA-VQ` (parent: PASS). Frozen-feature setting (§4): a trainable MLP
 * adapter z = g_θ(standardise(f)) on cached backbone features plays the encoder; one coding vector
 * (CV) per class is the distance-based classifier; a competitive-Hebbian class graph (graph.ts)
 * names each class's neighbours; L_NA separates a sample from its neighbours' CVs; NA-PA
 * (augment.ts) interpolates stored class prototypes toward graph neighbours; feature distillation
 * to the previous adapter protects it. Nothing of an old class is kept but per-class vectors
 * (backbone mean, adapter prototype, CV, graph row, count); stateSummary() lists them.
 *
 * Also exported: `finetune-adapter`, the same adapter + CV classifier trained with L_DCE alone on
 * each task, every CV trainable (no protection at all): the forgetting baseline of the issue.
 */
import { tfMatMul } from '../train/ops.js';
import { tf } from '../tf.js';
import { Rng } from '../rng.js';
import { UserError } from '../errors.js';
import type { Experience, Features, LearnContext, Learner } from '../types.js';
import type { MethodDef, MethodOptions, OptionDef } from './method.js';
import { kaimingUniform } from '../train/init.js';
import { createOptimizer, type Optimizer } from '../train/optimizers.js';
import { stepSchedule } from '../train/schedule.js';
import { fit, hostRows, type FitInput, type ParamGroup } from '../train/loop.js';
import { ClassGraph, GRAPH_DECAY, GRAPH_PRUNE, nearestUnits } from './napa-vq/graph.js';
import { dceLoss, KD_FORMS, kdLoss, naCoefficients, naLoss, squaredDistances, type KdForm } from './napa-vq/losses.js';
import { augmentPrototypes, NEIGHBOUR_PICKS, type NeighbourPick } from './napa-vq/augment.js';

export { ClassGraph, nearestUnits, neighboursOf } from './napa-vq/graph.js';
export { augmentPrototypes } from './napa-vq/augment.js';
export { dceLoss, kdLoss, naCoefficients, naLoss, squaredDistances } from './napa-vq/losses.js';

export type NapaMode = 'faithful' | 'frozen-adapter' | 'regen-prototypes';
export const NAPA_MODES: NapaMode[] = ['faithful', 'frozen-adapter', 'regen-prototypes'];
export type TestRule = 'cosine' | 'euclidean';
export const TEST_RULES: TestRule[] = ['cosine', 'euclidean'];

/** The resolved configuration (what options() reports). */
export interface NapaVqConfig {
  /** 'napa-vq', or 'ce' for finetune-adapter (L_DCE only, all CVs trainable). */
  objective: 'napa-vq' | 'ce';
  mode: NapaMode;
  graph: boolean;
  separation: boolean;
  napa: boolean;
  epochsBase: number;
  epochs: number;
  batchSize: number;
  hidden: number;
  embedDim: number;
  adapterLr: number;
  adapterLrLater: number;
  weightDecay: number;
  cvLr: number;
  cvLrLaterFactor: number;
  tau: number;
  naWeight: number;
  paWeight: number;
  kdWeight: number;
  kdForm: KdForm;
  k: number;
  softminScale: 'auto' | number;
  neighbourPick: NeighbourPick;
  napaSamples: number;
  standardize: boolean;
  testRule: TestRule;
}

/*
 * Frozen-feature defaults sized for 2 CPU cores (wasm backend), measured on synthetic 1280-d
 * features (1 epoch, batch 64, 2 busy shared cores): adapter 1280→256→128 costs about 5–6 ms per
 * training row, 1280→512→256 about 12.5 ms, the spec's 1280→1024→512 about 20–26 ms. A CIFAR-100
 * B50-Inc10 run (25,000 base rows, 5 × 5,000 later) at 5 base / 3 later epochs is 200k row-epochs:
 * about 15–20 min on those busy cores, a few minutes on idle ones; at the spec's 1024/512 adapter
 * and 50 / 30 epochs it would take many hours. All are one flag away (--hidden 1024
 * --embed-dim 512 --epochs-base 50 --epochs 30).
 */
const SHARED_OPTIONS: OptionDef[] = [
  { name: 'epochsBase', type: 'integer', default: 20, min: 1, help: 'epochs of the base task (paper: 100 on images; spec frozen-feature suggestion 50; 20 measured on CIFAR-100 MobileNetV2 features: A_T 50.5 vs 35.6 with 5, ~10 min on 2 CPU cores for B50-Inc10)' },
  { name: 'epochs', type: 'integer', default: 10, min: 1, help: 'epochs of every later task (spec frozen-feature suggestion 30; 10 measured together with --epochs-base 20)' },
  { name: 'batchSize', type: 'integer', default: 64, min: 1, help: 'mini-batch size (reference: 64 images)' },
  { name: 'hidden', type: 'integer', default: 256, min: 1, help: 'adapter hidden width (D -> hidden ReLU -> embed-dim; spec 1024, 4x slower on CPU)' },
  { name: 'embedDim', type: 'integer', default: 128, min: 1, help: 'adapter output width p, the CV space (reference ResNet-18 and spec: 512)' },
  { name: 'adapterLr', type: 'number', default: 1e-3, min: 0, help: 'adapter Adam learning rate in the base task (x0.1 at 45% of the epochs)' },
  { name: 'adapterLrLater', type: 'number', default: 1e-4, min: 0, help: 'adapter Adam learning rate in later tasks' },
  { name: 'weightDecay', type: 'number', default: 2e-4, min: 0, help: 'adapter L2 weight decay (coupled, as torch Adam)' },
  { name: 'cvLr', type: 'number', default: 5, min: 0, help: 'CV SGD learning rate in the base task (reference value; x0.1 every 20% of the epochs; spec sweep 0.05 / 0.5 / 5)' },
  { name: 'cvLrLaterFactor', type: 'number', default: 0.1, min: 0, help: 'CV learning rate of later tasks = cv-lr x this (reference 0.5 / 5)' },
  { name: 'tau', type: 'number', default: 0.1, min: 1e-6, help: 'temperature of the distance-based cross-entropy (DCE and PA)' },
  { name: 'standardize', type: 'boolean', default: true, help: 'standardise features per dimension with base-task statistics (frozen afterwards)' },
  { name: 'testRule', type: 'string', default: 'cosine', choices: TEST_RULES, help: 'prediction: cosine to unit-norm CVs (paper) or Euclidean nearest CV (training-consistent)' },
];

export const NAPA_VQ_OPTIONS: OptionDef[] = [
  {
    name: 'mode',
    type: 'string',
    default: 'faithful',
    choices: NAPA_MODES,
    help:
      'faithful: reference logic, stale adapter-space prototypes + KD; adapted modes (cl additions, prototypes exact in backbone space): ' +
      'frozen-adapter (adapter trains in the base task only) or regen-prototypes (prototypes = g(backbone mean), regenerated every epoch)',
  },
  { name: 'graph', type: 'boolean', default: true, help: 'class graph on; --graph false is the no-graph ablation (a class is its own only neighbour)' },
  { name: 'separation', type: 'boolean', default: true, help: 'neighbourhood-aware separation loss L_NA (spec: naLoss)' },
  { name: 'napa', type: 'boolean', default: true, help: 'prototype augmentation NA-PA in later tasks (false = no prototype replay)' },
  ...SHARED_OPTIONS,
  { name: 'naWeight', type: 'number', default: 1, min: 0, help: 'weight of L_NA (both calls)' },
  { name: 'paWeight', type: 'number', default: 10, min: 0, help: 'weight of the prototype cross-entropy L_PA' },
  { name: 'kdWeight', type: 'number', default: 10, min: 0, help: 'weight of the feature distillation L_KD' },
  { name: 'kdForm', type: 'string', default: 'frobenius', choices: KD_FORMS, help: 'frobenius: ||F_new - F_old||_F over the batch (reference); mean-l2: mean row distance' },
  { name: 'k', type: 'integer', default: 15, min: 1, help: 'graph winners per sample (clipped to the number of classes)' },
  {
    name: 'softminScale',
    type: 'string',
    default: 'auto',
    help: 'softmin scale s of the neighbour weights exp(-s d^2): auto = 0.5 / median(d^2) of base-task samples to the initial CVs, or a number (reference 0.001)',
  },
  { name: 'neighbourPick', type: 'string', default: 'uniform', choices: NEIGHBOUR_PICKS, help: 'NA-PA neighbour pick: uniform (reference) or by edge strength (deviation)' },
  { name: 'napaSamples', type: 'integer', default: 64, min: 1, help: 'augmented prototypes per step' },
];

/**
 * finetune-adapter: plain fine-tuning, so the same rates on every task (the lower adapter and CV
 * rates of NAPA-VQ's later tasks are part of its protection recipe, PASS lineage).
 */
export const FINETUNE_ADAPTER_OPTIONS: OptionDef[] = SHARED_OPTIONS.map((o) =>
  o.name === 'adapterLrLater' ? { ...o, default: 1e-3 } : o.name === 'cvLrLaterFactor' ? { ...o, default: 1 } : o,
);

function num(o: Partial<MethodOptions>, name: string, fallback: number): number {
  const v = o[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new UserError(`napa-vq: option ${name} must be a number, got ${String(v)}`, 'see cl run --help');
  return v;
}

function choice<T extends string>(o: Partial<MethodOptions>, name: string, choices: readonly T[], fallback: T): T {
  const v = o[name] ?? fallback;
  if (!choices.includes(v as T)) throw new UserError(`napa-vq: option ${name} is ${String(v)}`, `use one of: ${choices.join(', ')}`);
  return v as T;
}

function bool(o: Partial<MethodOptions>, name: string, fallback: boolean): boolean {
  const v = o[name] ?? fallback;
  if (typeof v !== 'boolean') throw new UserError(`napa-vq: option ${name} must be true or false, got ${String(v)}`, 'see cl run --help');
  return v;
}

/** Options (defaults filled) → config; `objective` picks napa-vq or finetune-adapter. */
export function napaVqConfig(o: Partial<MethodOptions> = {}, objective: 'napa-vq' | 'ce' = 'napa-vq'): NapaVqConfig {
  const defs = objective === 'ce' ? FINETUNE_ADAPTER_OPTIONS : NAPA_VQ_OPTIONS;
  const def = (name: string): number | boolean | string => (defs.find((d) => d.name === name) ?? NAPA_VQ_OPTIONS.find((d) => d.name === name)!).default;
  const int = (name: string): number => {
    const v = num(o, name, def(name) as number);
    if (!Number.isInteger(v) || v < 1) throw new UserError(`napa-vq: option ${name} must be a positive integer, got ${v}`, 'see cl run --help');
    return v;
  };
  const rawScale = String(o.softminScale ?? 'auto').trim();
  let softminScale: 'auto' | number = 'auto';
  if (rawScale !== 'auto') {
    const s = Number(rawScale);
    if (!Number.isFinite(s) || s <= 0) throw new UserError(`napa-vq: --softmin-scale ${rawScale} is neither "auto" nor a positive number`, 'use --softmin-scale auto or e.g. 0.001');
    softminScale = s;
  }
  const cfg: NapaVqConfig = {
    objective,
    mode: choice(o, 'mode', NAPA_MODES, 'faithful'),
    graph: bool(o, 'graph', true),
    separation: bool(o, 'separation', true),
    napa: bool(o, 'napa', true),
    epochsBase: int('epochsBase'),
    epochs: int('epochs'),
    batchSize: int('batchSize'),
    hidden: int('hidden'),
    embedDim: int('embedDim'),
    adapterLr: num(o, 'adapterLr', def('adapterLr') as number),
    adapterLrLater: num(o, 'adapterLrLater', def('adapterLrLater') as number),
    weightDecay: num(o, 'weightDecay', def('weightDecay') as number),
    cvLr: num(o, 'cvLr', def('cvLr') as number),
    cvLrLaterFactor: num(o, 'cvLrLaterFactor', def('cvLrLaterFactor') as number),
    tau: num(o, 'tau', def('tau') as number),
    naWeight: num(o, 'naWeight', 1),
    paWeight: num(o, 'paWeight', 10),
    kdWeight: num(o, 'kdWeight', 10),
    kdForm: choice(o, 'kdForm', KD_FORMS, 'frobenius'),
    k: int('k'),
    softminScale,
    neighbourPick: choice(o, 'neighbourPick', NEIGHBOUR_PICKS, 'uniform'),
    napaSamples: int('napaSamples'),
    standardize: bool(o, 'standardize', true),
    testRule: choice(o, 'testRule', TEST_RULES, 'cosine'),
  };
  for (const k of ['adapterLr', 'adapterLrLater', 'cvLr', 'cvLrLaterFactor'] as const) {
    if (!(cfg[k] > 0)) throw new UserError(`napa-vq: ${k} must be > 0, got ${cfg[k]}`, 'learning rates are positive numbers');
  }
  if (!(cfg.tau > 0)) throw new UserError(`napa-vq: tau must be > 0, got ${cfg.tau}`, 'the reference uses 0.1');
  if (objective === 'ce') {
    // finetune-adapter: L_DCE only; none of NAPA-VQ's protections.
    Object.assign(cfg, { mode: 'faithful', graph: false, separation: false, napa: false, naWeight: 0, paWeight: 0, kdWeight: 0 });
  }
  return cfg;
}

/** Per-class state: the only things kept of a class after its task (exemplar-free, §4). */
interface ClassUnit {
  label: number;
  task: number;
  /** Training samples the class had (a number, not the samples). */
  count: number;
  /** μ^f: backbone-space mean (raw features), exact forever. */
  muF: Float64Array;
  /** μ^z: adapter-space prototype that NA-PA interpolates. */
  muZ: Float64Array;
}

/** What happened in one task (stateSummary). */
export interface NapaTaskRecord {
  task: number;
  classes: number[];
  samples: number;
  epochs: number;
  steps: number;
  finalLoss: number | null;
  adapterTrained: boolean;
  graphEdges: number;
  ms: number;
}

/** Checkpoint (plain JSON). */
export interface NapaVqState {
  format: 'cl-napa-vq';
  version: 1;
  config: NapaVqConfig;
  dim: number;
  seed: number;
  softminScale: number | null;
  standardisation: { mean: number[]; invStd: number[] } | null;
  adapter: { w1: number[]; b1: number[]; w2: number[]; b2: number[] } | null;
  codingVectors: number[];
  units: { label: number; task: number; count: number; muF: number[]; muZ: number[] }[];
  graph: number[];
  tasks: NapaTaskRecord[];
}

const PREDICT_CHUNK = 2048;
/** Rows of base-task features used for the auto softmin scale. */
const SCALE_ROWS = 1024;

/** The adapter z = relu(x·W1 + b1)·W2 + b2 (§3: D → hidden (ReLU) → p). */
class Adapter {
  constructor(
    readonly w1: tf.Variable,
    readonly b1: tf.Variable,
    readonly w2: tf.Variable,
    readonly b2: tf.Variable,
  ) {}

  static create(dim: number, hidden: number, out: number, rng: Rng): Adapter {
    const [w1, b1, w2, b2] = tf.tidy(() => [
      tf.variable(tf.transpose(kaimingUniform(rng, hidden, dim, Math.SQRT2)), true),
      tf.variable(tf.zeros([hidden]), true),
      tf.variable(tf.transpose(kaimingUniform(rng, out, hidden, 1)), true),
      tf.variable(tf.zeros([out]), true),
    ]) as tf.Variable[];
    return new Adapter(w1, b1, w2, b2);
  }

  variables(): tf.Variable[] {
    return [this.w1, this.b1, this.w2, this.b2];
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    // tf.matMul's values and gradients, its transposed products on XNNPACK (train/ops.ts); x is data.
    return tf.tidy(() => tf.add(tfMatMul(tf.relu(tf.add(tfMatMul(x, this.w1 as tf.Tensor2D, { aIsData: true }), this.b1)) as tf.Tensor2D, this.w2 as tf.Tensor2D), this.b2) as tf.Tensor2D);
  }

  dispose(): void {
    for (const v of this.variables()) v.dispose();
  }
}

/** A seeded Rng per task, derived from (seed, task index) so that a resumed run draws the same numbers. */
function taskRng(seed: number, task: number): Rng {
  return new Rng((seed ^ Math.imul(task + 1, 0x9e3779b1)) >>> 0);
}

function median(values: Float32Array): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export class NapaVqLearner implements Learner {
  readonly name: string;
  readonly config: NapaVqConfig;
  private units: ClassUnit[] = [];
  private readonly unitOf = new Map<number, number>();
  private readonly graph = new ClassGraph();
  private adapter: Adapter | null = null;
  /** All CVs [U, p], a constant between tasks (old CVs never change: §2.1 freezing). */
  private cvs: tf.Tensor2D | null = null;
  private stdMean: Float32Array | null = null;
  private stdInvStd: Float32Array | null = null;
  private scale: number | null = null;
  private readonly records: NapaTaskRecord[] = [];

  constructor(
    config: NapaVqConfig,
    readonly dim: number,
    readonly seed: number,
    name?: string,
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`napa-vq: feature dimension must be a positive integer, got ${dim}`);
    this.config = { ...config };
    this.name = name ?? (config.objective === 'ce' ? 'finetune-adapter' : 'napa-vq');
  }

  get numClasses(): number {
    return this.units.length;
  }

  /** Class labels in unit (arrival) order. */
  labels(): number[] {
    return this.units.map((u) => u.label);
  }

  /** The softmin scale in force (null before the first task). */
  softminScale(): number | null {
    return this.scale;
  }

  options(): Record<string, unknown> {
    const cfg: Record<string, unknown> = { ...this.config };
    delete cfg.objective;
    return this.config.objective === 'ce' ? Object.fromEntries(FINETUNE_ADAPTER_OPTIONS.map((o) => [o.name, cfg[o.name]])) : cfg;
  }

  private checkDim(f: Features, what: string): void {
    if (f.dim !== this.dim) {
      throw new UserError(
        `${this.name}: ${what} features have dimension ${f.dim} but the learner was built for ${this.dim}`,
        'use the same backbone / feature cache for training and evaluation',
      );
    }
  }

  /** Standardised features as a tensor (§3 "input standardisation"). */
  private input(x: Float32Array, rows: number): tf.Tensor2D {
    return tf.tidy(() => {
      const t = tf.tensor2d(x, [rows, this.dim]);
      if (!this.stdMean || !this.stdInvStd) return t;
      return tf.mul(tf.sub(t, tf.tensor1d(this.stdMean)), tf.tensor1d(this.stdInvStd)) as tf.Tensor2D;
    });
  }

  private fitStandardisation(f: Features): void {
    const D = this.dim;
    const mean = new Float64Array(D);
    const sq = new Float64Array(D);
    for (let i = 0; i < f.count; i++) for (let d = 0; d < D; d++) mean[d] += f.x[i * D + d];
    for (let d = 0; d < D; d++) mean[d] /= f.count;
    for (let i = 0; i < f.count; i++) {
      for (let d = 0; d < D; d++) {
        const v = f.x[i * D + d] - mean[d];
        sq[d] += v * v;
      }
    }
    this.stdMean = Float32Array.from(mean);
    // A dimension that is constant in the base task is only centred (scale 1, as scikit-learn's
    // StandardScaler does): dividing by a ~0 std would multiply its later, non-constant values by
    // up to 1e6 (raw MNIST pixels: the base digits leave border pixels at 0, later digits do not).
    this.stdInvStd = Float32Array.from(sq, (s) => {
      const std = Math.sqrt(s / f.count);
      return std > 1e-6 ? 1 / std : 1;
    });
  }

  /** Per-class means of the rows of a [n, w] matrix (float64), for the given unit rows. */
  private static classMeans(values: ArrayLike<number>, width: number, unitRows: Int32Array, unitIds: number[]): Map<number, Float64Array> {
    const sums = new Map<number, Float64Array>(unitIds.map((u) => [u, new Float64Array(width)]));
    const counts = new Map<number, number>(unitIds.map((u) => [u, 0]));
    for (let i = 0; i < unitRows.length; i++) {
      const s = sums.get(unitRows[i])!;
      for (let d = 0; d < width; d++) s[d] += values[i * width + d];
      counts.set(unitRows[i], counts.get(unitRows[i])! + 1);
    }
    for (const [u, s] of sums) {
      const c = counts.get(u)!;
      for (let d = 0; d < width; d++) s[d] /= c;
    }
    return sums;
  }

  /** Adapter outputs of standardised rows, chunked (no gradient). */
  private embedAll(xs: tf.Tensor2D): tf.Tensor2D {
    const adapter = this.adapter!;
    const n = xs.shape[0];
    if (n <= PREDICT_CHUNK) return adapter.apply(xs);
    return tf.tidy(() => {
      const parts: tf.Tensor2D[] = [];
      for (let s = 0; s < n; s += PREDICT_CHUNK) parts.push(adapter.apply(tf.slice(xs, [s, 0], [Math.min(PREDICT_CHUNK, n - s), -1])));
      return tf.concat(parts, 0);
    });
  }

  /** μ^z_u = g(standardise(μ^f_u)) for every unit (regen-prototypes, §4). */
  private regenPrototypes(): void {
    const U = this.units.length;
    const flat = new Float32Array(U * this.dim);
    this.units.forEach((u, i) => flat.set(u.muF, i * this.dim));
    const z = tf.tidy(() => this.adapter!.apply(this.input(flat, U)));
    const v = z.dataSync();
    z.dispose();
    const p = this.config.embedDim;
    this.units.forEach((u, i) => {
      u.muZ = Float64Array.from(v.subarray(i * p, (i + 1) * p));
    });
  }

  // ------------------------------------------------------------------ learning

  async learn(exp: Experience, ctx?: LearnContext): Promise<void> {
    const started = performance.now();
    const cfg = this.config;
    const train = exp.train;
    this.checkDim(train, 'training');
    const fresh = exp.classes.filter((c) => !this.unitOf.has(c));
    if (fresh.length !== exp.classes.length) {
      throw new UserError(
        `${this.name}: task ${exp.index} repeats already learned classes (${exp.classes.filter((c) => this.unitOf.has(c)).join(', ')})`,
        `${this.name} is a class-incremental learner: every task must bring new classes`,
      );
    }
    const inTask = new Set(exp.classes);
    const present = new Set<number>();
    for (let i = 0; i < train.count; i++) {
      if (!inTask.has(train.y[i])) throw new Error(`${this.name}: sample ${i} has label ${train.y[i]}, not a class of task ${exp.index}`);
      present.add(train.y[i]);
    }
    const missing = exp.classes.filter((c) => !present.has(c));
    if (missing.length > 0) {
      throw new UserError(`${this.name}: task ${exp.index} has no training samples of class(es) ${missing.join(', ')}`, 'check the scenario split and the feature cache');
    }

    const rng = taskRng(this.seed, exp.index);
    const initRng = rng.fork();
    const shuffleRng = rng.fork();
    const napaRng = rng.fork();
    const first = this.units.length === 0;
    const nOld = this.units.length;
    const m = exp.classes.length;
    const p = cfg.embedDim;
    const napaOn = cfg.objective === 'napa-vq';

    if (first) {
      if (cfg.standardize) this.fitStandardisation(train);
      this.adapter = Adapter.create(this.dim, cfg.hidden, p, initRng);
    }
    // New units: CVs from a standard normal, no scaling (§2.1); graph rows padded with identity.
    exp.classes.forEach((c, i) => this.unitOf.set(c, nOld + i));
    const unitRows = Int32Array.from(train.y, (c) => this.unitOf.get(c)!);
    const newUnitIds = exp.classes.map((_, i) => nOld + i);
    const muF = NapaVqLearner.classMeans(train.x, this.dim, unitRows, newUnitIds);
    for (const [i, c] of exp.classes.entries()) {
      this.units.push({ label: c, task: exp.index, count: 0, muF: muF.get(nOld + i)!, muZ: new Float64Array(p) });
    }
    for (let i = 0; i < train.count; i++) this.units[unitRows[i]].count++;
    this.graph.grow(m);
    const cvInit = new Float32Array(m * p);
    for (let i = 0; i < cvInit.length; i++) cvInit[i] = initRng.normal();

    const adapter = this.adapter!;
    const adapterTrains = first || cfg.objective === 'ce' || cfg.mode !== 'frozen-adapter';
    const useKd = !first && adapterTrains && cfg.kdWeight > 0 && napaOn;
    const tensors: Record<string, tf.Tensor> = {};
    let newCvs: tf.Variable<tf.Rank.R2> | null = null;
    let oldCvs: tf.Tensor2D | null = null;
    const optimizers: Optimizer[] = [];
    let finalLoss: number | null = null;
    let steps = 0;
    const epochs = first ? cfg.epochsBase : cfg.epochs;
    try {
      const xs = this.input(train.x, train.count);
      // Pre-task adapter outputs (later tasks): the KD teacher F_old (the previous adapter), the
      // inputs of a frozen adapter, and the pre-task prototypes of the new classes (§2.6).
      const zPre = !first && napaOn ? this.embedAll(xs) : null;
      if (adapterTrains) tensors.x = xs;
      else {
        tensors.z = zPre!;
        xs.dispose();
      }
      tensors.y = tf.tensor1d(unitRows, 'int32');
      if (useKd) tensors.t = zPre!;
      if (zPre) {
        const means = NapaVqLearner.classMeans(zPre.dataSync(), p, unitRows, newUnitIds);
        for (const u of newUnitIds) this.units[u].muZ = means.get(u)!;
        if (!useKd && adapterTrains) zPre.dispose();
      }

      if (cfg.objective === 'ce') {
        // finetune-adapter: every CV is trainable (no protection).
        newCvs = tf.tidy(() => {
          const add = tf.tensor2d(cvInit, [m, p]);
          return tf.variable(this.cvs ? tf.concat([this.cvs, add], 0) : add, true);
        });
        this.cvs?.dispose();
        this.cvs = null;
      } else {
        newCvs = tf.tidy(() => tf.variable(tf.tensor2d(cvInit, [m, p]), true));
        oldCvs = this.cvs;
        this.cvs = null;
      }
      const cvVar = newCvs;
      const allCvs = (): tf.Tensor2D => (oldCvs ? (tf.concat([oldCvs, cvVar], 0) as tf.Tensor2D) : cvVar);

      if (first && napaOn && this.scale === null) {
        this.scale = cfg.softminScale === 'auto' ? this.autoScale(xs, cvVar) : cfg.softminScale;
      }
      const scale = this.scale ?? 0.001;

      // Optimisers (§2.7): adapter Adam (×0.1 at 45 % of the epochs), CVs SGD without momentum
      // (×0.1 every 20 % of the epochs), fresh every task.
      const groups: ParamGroup[] = [];
      if (adapterTrains) {
        const lr = first ? cfg.adapterLr : cfg.adapterLrLater;
        const opt = createOptimizer(adapter.variables(), { kind: 'adam', lr, weightDecay: cfg.weightDecay });
        optimizers.push(opt);
        groups.push({ optimizer: opt, schedule: stepSchedule(lr, [Math.floor(0.45 * epochs)].filter((e) => e > 0), 0.1), flag: first ? '--adapter-lr' : '--adapter-lr-later' });
      }
      const cvLr = first ? cfg.cvLr : cfg.cvLr * cfg.cvLrLaterFactor;
      const cvOpt = createOptimizer([cvVar], { kind: 'sgd', lr: cvLr, momentum: 0, weightDecay: 0 });
      optimizers.push(cvOpt);
      const cvMilestones = [...new Set([1, 2, 3, 4].map((i) => Math.round((i * epochs) / 5)))].filter((e) => e > 0 && e < epochs);
      groups.push({ optimizer: cvOpt, schedule: stepSchedule(cvLr, cvMilestones, 0.1), flag: first ? '--cv-lr' : '--cv-lr × --cv-lr-later-factor' });

      const oldUnits = Array.from({ length: nOld }, (_, i) => i);
      const napaActive = napaOn && !first && cfg.napa && nOld > 0;
      const stepsPerEpoch = Math.ceil(train.count / cfg.batchSize);
      const U = this.units.length;
      const graph = cfg.graph && napaOn ? this.graph : null;
      const k = cfg.k;

      /** L_NA(·) of one call: updates the graph (§2.2) and returns the loss on squared distances. */
      const naTerm = (d2: tf.Tensor2D, labels: Int32Array): tf.Scalar | null => {
        if (!graph && !cfg.separation) return null;
        const rows = labels.length;
        const values = d2.dataSync();
        let pre: Float64Array | null = null;
        if (graph) {
          const nn = nearestUnits(values, rows, U, k);
          pre = graph.update(nn.knn, rows, nn.k);
        }
        if (!cfg.separation || cfg.naWeight === 0) return null;
        const coef = tf.tensor2d(naCoefficients(values, labels, rows, U, pre, scale), [rows, U]);
        return naLoss(d2, coef);
      };

      // Host-side rows: fit gathers mini-batches in JS on wasm/cpu (tf.gather is slow there) and
      // uploads once on device backends.
      const data: Record<string, FitInput> = {};
      for (const [key, t] of Object.entries(tensors)) {
        const values = t.dataSync() as Float32Array | Int32Array;
        data[key] = t.rank === 1 ? hostRows(values) : hostRows(values, t.shape[1]);
      }
      const result = await fit({
        data,
        loss: (b) => {
          if (cfg.mode === 'regen-prototypes' && napaActive && steps % stepsPerEpoch === 0) this.regenPrototypes();
          steps++;
          const z = adapterTrains ? adapter.apply(b.x as tf.Tensor2D) : (b.z as tf.Tensor2D);
          const cvs = allCvs();
          const y = b.y as tf.Tensor1D;
          const d2 = squaredDistances(z, cvs);
          // Base task: L_DCE + L_NA(z). Later: + L_NA(p) + 10·L_PA + 10·L_KD (§2.5).
          let loss: tf.Scalar = dceLoss(d2, y, cfg.tau);
          if (napaOn) {
            const na = naTerm(d2, y.dataSync() as Int32Array);
            if (na) loss = tf.add(loss, tf.mul(na, cfg.naWeight));
          }
          if (napaActive) {
            const aug = augmentPrototypes(cfg.napaSamples, oldUnits, this.units.map((u) => u.muZ), graph ? graph.matrix() : null, U, napaRng, cfg.neighbourPick);
            const pt = tf.tensor2d(aug.p, [cfg.napaSamples, p]);
            const dp2 = squaredDistances(pt, cvs);
            if (cfg.paWeight > 0) loss = tf.add(loss, tf.mul(dceLoss(dp2, tf.tensor1d(aug.anchors, 'int32'), cfg.tau), cfg.paWeight));
            const naP = naTerm(dp2, aug.anchors);
            if (naP) loss = tf.add(loss, tf.mul(naP, cfg.naWeight));
          }
          if (useKd) loss = tf.add(loss, tf.mul(kdLoss(z, b.t as tf.Tensor2D, cfg.kdForm), cfg.kdWeight));
          return loss;
        },
        groups,
        epochs,
        batchSize: cfg.batchSize,
        rng: shuffleRng,
        task: exp.index,
        ctx,
        phase: this.name,
      });
      finalLoss = result.epochLosses.at(-1) ?? null;
      steps = result.steps;

      // Freeze this task's CVs: from now on they are constants (§2.1).
      this.cvs = tf.tidy(() => (oldCvs ? tf.concat([oldCvs, cvVar], 0) : tf.clone(cvVar)) as tf.Tensor2D);
      // After training: this task's prototypes from the trained adapter overwrite the pre-task ones (§2.6).
      if (napaOn) {
        const zPost = tensors.x ? this.embedAll(tensors.x as tf.Tensor2D) : null;
        if (zPost) {
          const means = NapaVqLearner.classMeans(zPost.dataSync(), p, unitRows, newUnitIds);
          zPost.dispose();
          for (const u of newUnitIds) this.units[u].muZ = means.get(u)!;
        }
      }
    } catch (err) {
      // Keep the previous CVs owned by the learner (dispose() frees them); a failed task leaves
      // the learner unfit for further tasks.
      if (this.cvs === null) {
        this.cvs = oldCvs;
        oldCvs = null;
      }
      throw err;
    } finally {
      oldCvs?.dispose();
      newCvs?.dispose();
      for (const o of optimizers) o.dispose();
      const seen = new Set<tf.Tensor>();
      for (const t of Object.values(tensors)) {
        if (!seen.has(t)) t.dispose();
        seen.add(t);
      }
    }
    this.records.push({
      task: exp.index,
      classes: [...exp.classes],
      samples: train.count,
      epochs,
      steps,
      finalLoss,
      adapterTrained: adapterTrains,
      graphEdges: this.graph.edgeCount(),
      ms: Math.round(performance.now() - started),
    });
  }

  /** §3 "softmin scale auto": 0.5 / median(d²) of (up to 1024) base-task samples to the initial CVs. */
  private autoScale(xs: tf.Tensor2D, cvs: tf.Tensor2D): number {
    const d2 = tf.tidy(() => squaredDistances(this.adapter!.apply(tf.slice(xs, [0, 0], [Math.min(SCALE_ROWS, xs.shape[0]), -1])), cvs));
    const med = median(d2.dataSync() as Float32Array);
    d2.dispose();
    return med > 0 && Number.isFinite(med) ? 0.5 / med : 0.001;
  }

  // ------------------------------------------------------------------ inference

  predict(x: Features): Int32Array {
    return this.predictWith(x, this.config.testRule);
  }

  /** The other test rule, scored and stored beside the headline (cosine vs Euclidean nearest CV). */
  extraPredictions(x: Features): Record<string, Int32Array> {
    const other: TestRule = this.config.testRule === 'cosine' ? 'euclidean' : 'cosine';
    return { [other]: this.predictWith(x, other) };
  }

  /**
   * §2.8: cosine = highest cosine between z and the CVs (the paper's rule); euclidean = nearest
   * CV in raw distance (the training rule). Ties go to the class that arrived first.
   */
  predictWith(x: Features, rule: TestRule): Int32Array {
    this.checkDim(x, 'test');
    const cvs = this.cvs;
    if (!cvs || !this.adapter) throw new Error(`${this.name}: predict() called before any class was learned`);
    const out = new Int32Array(x.count);
    for (let start = 0; start < x.count; start += PREDICT_CHUNK) {
      const n = Math.min(PREDICT_CHUNK, x.count - start);
      const idx = tf.tidy(() => {
        const z = this.adapter!.apply(this.input(x.x.subarray(start * x.dim, (start + n) * x.dim), n));
        if (rule === 'euclidean') return tf.argMin(squaredDistances(z, cvs), 1);
        const unit = (t: tf.Tensor2D): tf.Tensor2D => tf.div(t, tf.maximum(tf.norm(t, 'euclidean', 1, true), 1e-12));
        return tf.argMax(tf.matMul(unit(z), unit(cvs), false, true), 1);
      });
      const rows = idx.dataSync();
      idx.dispose();
      for (let i = 0; i < n; i++) out[start + i] = this.units[rows[i]].label;
    }
    return out;
  }

  // ------------------------------------------------------------------ state

  /** Copies of the CVs, one Float32Array per class in unit order. */
  codingVectors(): Float32Array[] {
    if (!this.cvs) return [];
    const v = this.cvs.dataSync();
    const p = this.config.embedDim;
    return this.units.map((_, i) => Float32Array.from(v.subarray(i * p, (i + 1) * p)));
  }

  /** Copies of the stored prototypes of a class: backbone mean μ^f and adapter prototype μ^z. */
  prototypes(label: number): { muF: Float64Array; muZ: Float64Array } | null {
    const u = this.unitOf.get(label);
    if (u === undefined) return null;
    return { muF: Float64Array.from(this.units[u].muF), muZ: Float64Array.from(this.units[u].muZ) };
  }

  /** The symmetric class graph (U×U, unit order). */
  graphMatrix(): Float64Array {
    return this.graph.matrix();
  }

  /** Copies of the adapter weights (W1 [D,H], b1, W2 [H,p], b2). */
  adapterWeights(): Float32Array[] {
    return this.adapter ? this.adapter.variables().map((v) => Float32Array.from(v.dataSync())) : [];
  }

  stateSummary(): Record<string, unknown> {
    const cfg = this.config;
    const U = this.units.length;
    const D = this.dim;
    const p = cfg.embedDim;
    const napa = cfg.objective === 'napa-vq';
    const perClass = [
      ...(napa
        ? [
            { name: 'backboneMean', length: D, dtype: 'float64' },
            { name: 'adapterPrototype', length: p, dtype: 'float64' },
            { name: 'graphRow', length: U, dtype: 'float64' },
          ]
        : []),
      { name: 'codingVector', length: p, dtype: 'float32' },
      { name: 'sampleCount', length: 1, dtype: 'int' },
    ];
    const bytesPerClass = napa ? D * 8 + p * 8 + p * 4 + U * 8 + 8 : p * 4 + 8;
    const countsPerClass: Record<string, number> = {};
    for (const u of this.units) countsPerClass[String(u.label)] = u.count;
    const adapterShapes = [
      [D, cfg.hidden],
      [cfg.hidden],
      [cfg.hidden, p],
      [p],
    ];
    return {
      exemplarFree: true,
      storedSamples: 0,
      storedFeatureMatrices: 0,
      mode: napa ? cfg.mode : 'finetune',
      classes: U,
      labels: this.labels(),
      countsPerClass,
      perClass,
      bytesPerClass,
      shared: {
        adapter: { shapes: this.adapter ? adapterShapes : [], params: this.adapter ? D * cfg.hidden + cfg.hidden + cfg.hidden * p + p : 0 },
        standardisation: this.stdMean ? { vectors: 2, length: D } : null,
      },
      bytes: U * bytesPerClass + (this.adapter ? 4 * (D * cfg.hidden + cfg.hidden + cfg.hidden * p + p) : 0) + (this.stdMean ? 8 * D : 0),
      ...(napa
        ? { graph: { units: this.graph.units, edges: this.graph.edgeCount(), k: Math.min(cfg.k, Math.max(U, 1)), decay: GRAPH_DECAY, prune: GRAPH_PRUNE }, softminScale: this.scale }
        : {}),
      tasks: this.records.map((r) => ({ ...r })),
    };
  }

  getState(): NapaVqState {
    const arr = (t: tf.Tensor): number[] => Array.from(t.dataSync());
    return {
      format: 'cl-napa-vq',
      version: 1,
      config: { ...this.config },
      dim: this.dim,
      seed: this.seed,
      softminScale: this.scale,
      standardisation: this.stdMean && this.stdInvStd ? { mean: Array.from(this.stdMean), invStd: Array.from(this.stdInvStd) } : null,
      adapter: this.adapter ? { w1: arr(this.adapter.w1), b1: arr(this.adapter.b1), w2: arr(this.adapter.w2), b2: arr(this.adapter.b2) } : null,
      codingVectors: this.cvs ? arr(this.cvs) : [],
      units: this.units.map((u) => ({ label: u.label, task: u.task, count: u.count, muF: Array.from(u.muF), muZ: Array.from(u.muZ) })),
      graph: Array.from(this.graph.matrix()),
      tasks: this.records.map((r) => ({ ...r, classes: [...r.classes] })),
    };
  }

  /** Replace the state with a checkpoint from getState() (same options, dimension and seed). */
  setState(state: unknown): void {
    const bad = (why: string): UserError =>
      new UserError(`${this.name} checkpoint is unusable: ${why}`, 'resume with the method options, seed and backbone the run was started with, or start a new run');
    const st = state as Partial<NapaVqState> | null;
    if (!st || typeof st !== 'object' || st.format !== 'cl-napa-vq' || st.version !== 1) throw bad('not a napa-vq state (format cl-napa-vq, version 1)');
    if (st.dim !== this.dim) throw bad(`feature dimension ${String(st.dim)}, learner has ${this.dim}`);
    if (st.seed !== this.seed) throw bad(`seed ${String(st.seed)}, learner has ${this.seed}`);
    for (const key of Object.keys(this.config) as (keyof NapaVqConfig)[]) {
      if (st.config?.[key] !== this.config[key]) throw bad(`option ${key} was ${String(st.config?.[key])}, now ${String(this.config[key])}`);
    }
    const cfg = this.config;
    const D = this.dim;
    const p = cfg.embedDim;
    const units = st.units ?? [];
    const U = units.length;
    const finite = (a: unknown, n: number): a is number[] => Array.isArray(a) && a.length === n && a.every(Number.isFinite);
    if (!finite(st.codingVectors, U * p)) throw bad(`coding vectors are not ${U} × ${p} finite numbers`);
    if (!finite(st.graph, U * U)) throw bad(`graph is not ${U} × ${U} numbers`);
    for (const u of units) {
      if (!Number.isInteger(u.label) || !finite(u.muF, D) || !finite(u.muZ, p)) throw bad(`class ${String(u.label)}: prototypes of the wrong size`);
    }
    const a = st.adapter;
    if (U > 0 && (!a || !finite(a.w1, D * cfg.hidden) || !finite(a.b1, cfg.hidden) || !finite(a.w2, cfg.hidden * p) || !finite(a.b2, p))) {
      throw bad('adapter weights of the wrong size');
    }
    if (st.standardisation && (!finite(st.standardisation.mean, D) || !finite(st.standardisation.invStd, D))) throw bad('standardisation of the wrong size');
    this.disposeTensors();
    this.units = units.map((u) => ({ label: u.label, task: u.task, count: u.count, muF: Float64Array.from(u.muF), muZ: Float64Array.from(u.muZ) }));
    this.unitOf.clear();
    this.units.forEach((u, i) => this.unitOf.set(u.label, i));
    this.graph.setMatrix(st.graph, U);
    this.scale = st.softminScale ?? null;
    this.stdMean = st.standardisation ? Float32Array.from(st.standardisation.mean) : null;
    this.stdInvStd = st.standardisation ? Float32Array.from(st.standardisation.invStd) : null;
    if (a && U > 0) {
      const [w1, b1, w2, b2] = tf.tidy(() => [
        tf.variable(tf.tensor2d(a.w1, [D, cfg.hidden]), true),
        tf.variable(tf.tensor1d(a.b1), true),
        tf.variable(tf.tensor2d(a.w2, [cfg.hidden, p]), true),
        tf.variable(tf.tensor1d(a.b2), true),
      ]) as tf.Variable[];
      this.adapter = new Adapter(w1, b1, w2, b2);
      this.cvs = tf.tensor2d(st.codingVectors, [U, p]);
    }
    this.records.length = 0;
    for (const r of st.tasks ?? []) this.records.push({ ...r, classes: [...r.classes] });
  }

  private disposeTensors(): void {
    this.adapter?.dispose();
    this.adapter = null;
    this.cvs?.dispose();
    this.cvs = null;
  }

  dispose(): void {
    this.disposeTensors();
  }
}

const CITATION =
  'Malepathirana, Senanayake, Halgamuge, NAPA-VQ: Neighborhood-Aware Prototype Augmentation with Vector Quantization for Continual Learning, ICCV 2023, arXiv 2308.09297 (code TamashaM/NAPA-VQ)';

export const napaVqMethod: MethodDef = {
  name: 'napa-vq',
  description:
    'NAPA-VQ, exemplar-free: MLP adapter on frozen features, coding-vector classifier, class graph, neighbourhood separation, prototype augmentation, feature KD',
  citation: CITATION,
  seeded: true,
  options: NAPA_VQ_OPTIONS,
  create(options, ctx) {
    return new NapaVqLearner(napaVqConfig(options, 'napa-vq'), ctx.dim, ctx.seed);
  },
};

export const adapterFinetuneMethod: MethodDef = {
  name: 'finetune-adapter',
  description: "finetune lower bound for NAPA-VQ: the same adapter + coding vectors, plain distance cross-entropy on each task, no protection",
  citation: CITATION,
  seeded: true,
  options: FINETUNE_ADAPTER_OPTIONS,
  create(options, ctx) {
    return new NapaVqLearner(napaVqConfig(options, 'ce'), ctx.dim, ctx.seed, 'finetune-adapter');
  },
};
