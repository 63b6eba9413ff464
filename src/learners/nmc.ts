/**
 * NMC: nearest class mean over frozen features (docs/methods/nmc.md).
 *   janson    — Janson et al., arXiv 2210.04428: L2-normalise each feature, average, do not
 *               re-normalise, predict argmin ‖ẑ − μ_c‖₂ (docs/methods/nmc.md "Algorithm").
 *   simplecil — Zhou et al., arXiv 2303.07338 (SimpleCIL): average raw features, predict
 *               argmax cos(z, p_c).
 *   custom    — any combination of normalize / metric / renormalizePrototypes.
 * State per class: running sum S_c (Float64Array, or float32 + Kahan compensation) and count N_c;
 * rows in arrival order, so ties go to the class that arrived first. Prediction runs as a dense
 * layer (one GEMM per block of test rows, on onnxruntime's CPU kernels: eval/onnx-kernels.ts),
 * rebuilt lazily after every update.
 */
import { UserError } from '../errors.js';
import { denseArgmax, matMulInto } from '../eval/onnx-kernels.js';
import { addScaledRows, rowSquaredNorms } from '../train/rows.js';
import type { ClassScores, Experience, Features, Learner } from '../types.js';
import { defineOptions, resolveOptions, type OptionValues } from '../options.js';
import { defineMethod } from './method.js';

export type NmcVariant = 'janson' | 'simplecil' | 'custom';
export type NmcMetric = 'euclidean' | 'cosine';
export type NmcAccumulator = 'float64' | 'kahan32';

/** The resolved configuration in force (also what `options()` reports). */
export interface NmcConfig {
  variant: NmcVariant;
  normalize: boolean;
  metric: NmcMetric;
  renormalizePrototypes: boolean;
  accumulator: NmcAccumulator;
}

type Preset = Pick<NmcConfig, 'normalize' | 'metric' | 'renormalizePrototypes'>;

/** What the named variants fix (docs/methods/nmc.md "Options"). `custom` starts from janson's values for 'auto'. */
export const NMC_PRESETS: Readonly<Record<'janson' | 'simplecil', Preset>> = Object.freeze({
  janson: { normalize: true, metric: 'euclidean', renormalizePrototypes: false },
  simplecil: { normalize: false, metric: 'cosine', renormalizePrototypes: false },
});

const EPS = 1e-12;
/** Rows per GEMM block in predict (bounds the score matrix: PREDICT_CHUNK × K floats). */
export const PREDICT_CHUNK = 8192;

export const NMC_OPTIONS = defineOptions({
  variant: {
    type: 'choice',
    default: 'janson',
    choices: ['janson', 'simplecil', 'custom'],
    help:
      'janson: L2-normalised features, Euclidean distance to un-normalised means (Janson et al.); ' +
      'simplecil: raw-feature means, cosine (SimpleCIL); custom: set normalize/metric/renormalize-prototypes yourself. ' +
      'janson and simplecil fix those three options: a contradicting value is an error (use --variant custom)',
  },
  normalize: {
    type: 'choice',
    default: 'auto',
    choices: ['auto', 'true', 'false'],
    help: 'L2-normalise each feature before accumulating; auto = the variant preset (janson true, simplecil false, custom true)',
  },
  metric: {
    type: 'choice',
    default: 'auto',
    choices: ['auto', 'euclidean', 'cosine'],
    help: 'decision rule; auto = the variant preset (janson euclidean, simplecil cosine, custom euclidean)',
  },
  renormalizePrototypes: {
    type: 'boolean',
    default: false,
    help: 'unit-norm prototypes before the Euclidean rule (then equal to cosine); only with --variant custom',
  },
  accumulator: {
    type: 'choice',
    default: 'float64',
    choices: ['float64', 'kahan32'],
    help: 'per-class sum precision: float64 (bit-stable) or float32 with Kahan compensation',
  },
});

export type NmcOptions = OptionValues<typeof NMC_OPTIONS>;

/**
 * The resolved configuration of given options (validated like every option, defaults filled). Named
 * variants fix normalize, metric and renormalizePrototypes; an explicit contradicting value is a
 * UserError pointing at --variant custom.
 */
export function nmcConfig(given: Record<string, unknown> = {}): NmcConfig {
  return configOf(resolveOptions(NMC_OPTIONS, given, 'nmc'));
}

function configOf(o: NmcOptions): NmcConfig {
  const { variant, accumulator } = o;
  const normalize = o.normalize === 'auto' ? 'auto' : o.normalize === 'true';
  const preset = NMC_PRESETS[variant === 'custom' ? 'janson' : variant];
  if (variant !== 'custom') {
    const clash: string[] = [];
    if (normalize !== 'auto' && normalize !== preset.normalize) clash.push(`--normalize ${normalize}`);
    if (o.metric !== 'auto' && o.metric !== preset.metric) clash.push(`--metric ${o.metric}`);
    if (o.renormalizePrototypes !== preset.renormalizePrototypes) clash.push(`--renormalize-prototypes ${o.renormalizePrototypes}`);
    if (clash.length > 0) {
      throw new UserError(
        `nmc: ${clash.join(' and ')} contradicts --variant ${variant} (normalize ${preset.normalize}, metric ${preset.metric}, ` +
          `renormalize-prototypes ${preset.renormalizePrototypes})`,
        `add --variant custom to combine the options freely, or drop ${clash.join(' ')}`,
      );
    }
  }
  return {
    variant,
    normalize: normalize === 'auto' ? preset.normalize : normalize,
    metric: o.metric === 'auto' ? preset.metric : o.metric,
    renormalizePrototypes: o.renormalizePrototypes,
    accumulator,
  };
}

/** A readable name of the decision rule, for the run record. */
export function nmcRule(c: NmcConfig): string {
  const feats = c.normalize ? 'L2-normalised features' : 'raw features';
  if (c.metric === 'cosine') return `${feats}, cosine to the class means`;
  return `${feats}, Euclidean distance to ${c.renormalizePrototypes ? 'unit-norm' : 'un-normalised'} class means`;
}

interface ClassSlot {
  label: number;
  count: number;
  /** Σ of (normalised) features: float64, or float32 values under kahan32. */
  sum: Float64Array | Float32Array;
  /** Kahan compensation (kahan32 only). */
  comp: Float32Array | null;
}

/** Checkpoint (plain JSON). */
export interface NmcState {
  format: 'cl-nmc';
  version: 1;
  config: NmcConfig;
  dim: number;
  /** In arrival order (row order: tie-breaking). */
  classes: { label: number; count: number; sum: number[]; compensation?: number[] }[];
}

const f32 = Math.fround;


export class NmcLearner implements Learner {
  readonly name = 'nmc';
  readonly config: NmcConfig;
  private slots: ClassSlot[] = [];
  private byLabel = new Map<number, ClassSlot>();
  private layer: { w: Float32Array; b: Float32Array | null; k: number; labels: Int32Array } | null = null;
  private scratch: Float64Array;

  /** `config`: option values as a user gives them (validated here) or a resolved NmcConfig. */
  constructor(
    config: Record<string, unknown> | NmcConfig,
    readonly dim: number,
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`nmc: feature dimension must be a positive integer, got ${dim}`);
    this.config = nmcConfig({ ...config });
    this.scratch = new Float64Array(dim);
  }

  private slot(label: number): ClassSlot {
    let s = this.byLabel.get(label);
    if (!s) {
      const kahan = this.config.accumulator === 'kahan32';
      s = {
        label,
        count: 0,
        sum: kahan ? new Float32Array(this.dim) : new Float64Array(this.dim),
        comp: kahan ? new Float32Array(this.dim) : null,
      };
      this.slots.push(s);
      this.byLabel.set(label, s);
    }
    return s;
  }

  private checkDim(f: Features, what: string): void {
    if (f.dim !== this.dim) {
      throw new UserError(
        `nmc: ${what} features have dimension ${f.dim} but the learner was built for ${this.dim}`,
        'use the same backbone / feature cache for training and evaluation',
      );
    }
  }

  /**
   * Task-free update (docs/methods/nmc.md "Idea"): S_y += ẑ (or z), N_y += 1 for every row. New labels
   * take rows in order of first appearance. Marks the dense layer for rebuild.
   */
  learnBatch(features: Features): void {
    this.checkDim(features, 'training');
    const { x, y, dim, count } = features;
    if (count === 0) return;
    // Slots are created in order of first appearance (row order = tie-breaking order).
    const slotOf: ClassSlot[] = new Array<ClassSlot>(count);
    for (let i = 0; i < count; i++) slotOf[i] = this.slot(y[i]);
    // ẑ = z / max(‖z‖₂, 1e-12), the norm summed in float64 in coordinate order.
    let scales: Float64Array | null = null;
    if (this.config.normalize) {
      scales = rowSquaredNorms(x, count, dim);
      for (let i = 0; i < count; i++) scales[i] = 1 / Math.max(Math.sqrt(scales[i]), EPS);
    }
    if (this.config.accumulator === 'kahan32') {
      const z = this.scratch;
      for (let i = 0; i < count; i++) {
        const s = slotOf[i];
        const off = i * dim;
        const scale = scales ? scales[i] : 1;
        // Kahan summation in float32.
        for (let d = 0; d < dim; d++) z[d] = x[off + d] * scale;
        const sum = s.sum, c = s.comp as Float32Array;
        for (let d = 0; d < dim; d++) {
          const yv = f32(f32(z[d]) - c[d]);
          const t = f32(sum[d] + yv);
          c[d] = f32(f32(t - sum[d]) - yv);
          sum[d] = t;
        }
        s.count++;
      }
    } else {
      // Float64 sums: each class's rows are added in row order, so grouping the rows by class
      // changes nothing in any sum (bit-identical to adding row by row).
      const groups = new Map<ClassSlot, number[]>();
      for (let i = 0; i < count; i++) {
        const g = groups.get(slotOf[i]);
        if (g) g.push(i);
        else groups.set(slotOf[i], [i]);
      }
      for (const [s, rows] of groups) {
        addScaledRows(s.sum as Float64Array, x, dim, Int32Array.from(rows), 0, rows.length, scales);
        s.count += rows.length;
      }
    }
    this.invalidate();
  }

  async learn(exp: Experience): Promise<void> {
    const train = exp.train;
    // Rows follow the class order of the experience (tie-breaking), not sample order.
    const present = new Set(train.y);
    for (const c of exp.classes) if (present.has(c)) this.slot(c);
    this.learnBatch(train);
  }

  /** Labels in row (arrival) order. */
  labels(): number[] {
    return this.slots.map((s) => s.label);
  }

  count(label: number): number {
    return this.byLabel.get(label)?.count ?? 0;
  }

  /** The class mean S_c / N_c (float64, before any re-normalisation); null for an unseen class. */
  mean(label: number): Float64Array | null {
    const s = this.byLabel.get(label);
    if (!s || s.count === 0) return null;
    const m = new Float64Array(this.dim);
    for (let d = 0; d < this.dim; d++) m[d] = s.sum[d] / s.count;
    return m;
  }

  private invalidate(): void {
    this.layer = null;
  }

  /**
   * Dense layer (docs/methods/nmc.md "Prediction as a dense layer"): Euclidean rule as argmax_c (2·ẑ·μ_c − ‖μ_c‖²),
   * cosine as argmax_c ẑ·p_c/‖p_c‖. W is D×K, columns in arrival order.
   */
  private buildLayer(): NonNullable<NmcLearner['layer']> {
    if (this.layer) return this.layer;
    const seen = this.slots.filter((s) => s.count > 0);
    const K = seen.length;
    const D = this.dim;
    const w = new Float32Array(D * K);
    const b = new Float32Array(K);
    const mu = new Float64Array(D);
    seen.forEach((s, k) => {
      let n2 = 0;
      for (let d = 0; d < D; d++) {
        mu[d] = s.sum[d] / s.count;
        n2 += mu[d] * mu[d];
      }
      const cosine = this.config.metric === 'cosine';
      const unit = cosine || this.config.renormalizePrototypes;
      const inv = unit ? 1 / Math.max(Math.sqrt(n2), EPS) : 1;
      const factor = cosine ? inv : 2 * inv;
      for (let d = 0; d < D; d++) w[d * K + k] = mu[d] * factor;
      if (!cosine) b[k] = unit ? -(n2 * inv * inv) : -n2;
    });
    this.layer = {
      w,
      b: this.config.metric === 'cosine' ? null : b,
      k: K,
      labels: Int32Array.from(seen, (s) => s.label),
    };
    return this.layer;
  }

  /**
   * The scores of rows start..start+n of `x` (the dense layer, the same products predict() takes
   * the argmax of), one column per seen class, written into `out` (n·K floats).
   */
  private scoreRows(x: Features, start: number, n: number, out: Float32Array): void {
    const { w, b, k } = this.buildLayer();
    const rows = x.x.slice(start * x.dim, (start + n) * x.dim);
    if (this.config.normalize || this.config.metric === 'cosine') {
      for (let i = 0; i < n; i++) {
        const row = rows.subarray(i * x.dim, (i + 1) * x.dim);
        let n2 = 0;
        for (let d = 0; d < x.dim; d++) n2 += row[d] * row[d];
        const inv = 1 / Math.max(Math.sqrt(n2), EPS);
        for (let d = 0; d < x.dim; d++) row[d] *= inv;
      }
    }
    matMulInto(rows, n, x.dim, w, k, out);
    if (b) for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) out[i * k + c] += b[c];
  }

  private checkReady(x: Features, what: string): void {
    this.checkDim(x, 'test');
    if (!this.slots.some((s) => s.count > 0)) {
      throw new Error(`nmc: ${what}() called before any class was learned`);
    }
  }

  predict(x: Features): Int32Array {
    this.checkReady(x, 'predict');
    const { w, b, k, labels } = this.buildLayer();
    const normalizeRows = this.config.normalize || this.config.metric === 'cosine';
    const out = new Int32Array(x.count);
    for (let start = 0; start < x.count; start += PREDICT_CHUNK) {
      const n = Math.min(PREDICT_CHUNK, x.count - start);
      // argmax_c (2·ẑ·μ_c − ‖μ_c‖²) or argmax_c ẑ·p_c/‖p_c‖; the first maximum (earliest class) wins ties.
      const rows = denseArgmax(x.x.subarray(start * x.dim, (start + n) * x.dim), n, x.dim, w, k, b, { normalizeRows });
      for (let i = 0; i < n; i++) out[start + i] = labels[rows[i]];
    }
    return out;
  }

  /** The dense layer's scores (docs/protocols.md "Evaluation scope"); argmax = predict(). */
  scores(x: Features): ClassScores {
    this.checkReady(x, 'scores');
    const { labels } = this.buildLayer();
    const values = new Float32Array(x.count * labels.length);
    for (let start = 0; start < x.count; start += PREDICT_CHUNK) {
      const n = Math.min(PREDICT_CHUNK, x.count - start);
      this.scoreRows(x, start, n, values.subarray(start * labels.length, (start + n) * labels.length));
    }
    return { labels: Int32Array.from(labels), values };
  }

  options(): Record<string, unknown> {
    return { ...this.config };
  }

  stateSummary(): Record<string, unknown> {
    const counts: Record<string, number> = {};
    for (const s of this.slots) counts[String(s.label)] = s.count;
    const bytesPerClass = this.dim * 8; // one Float64Array, or float32 sum + float32 compensation
    return {
      rule: nmcRule(this.config),
      classes: this.slots.length,
      labels: this.labels(),
      countsPerClass: counts,
      samples: this.slots.reduce((a, s) => a + s.count, 0),
      dim: this.dim,
      bytes: this.slots.length * bytesPerClass,
    };
  }

  getState(): NmcState {
    return {
      format: 'cl-nmc',
      version: 1,
      config: { ...this.config },
      dim: this.dim,
      classes: this.slots.map((s) => ({
        label: s.label,
        count: s.count,
        sum: Array.from(s.sum),
        ...(s.comp ? { compensation: Array.from(s.comp) } : {}),
      })),
    };
  }

  /** Replace the state with a checkpoint from getState() (same options and dimension required). */
  setState(state: unknown): void {
    const bad = (why: string): UserError =>
      new UserError(`nmc checkpoint is unusable: ${why}`, 'resume with the method options and backbone the run was started with, or start a new run');
    const st = state as Partial<NmcState> | null;
    if (!st || typeof st !== 'object' || st.format !== 'cl-nmc' || st.version !== 1) throw bad('not an nmc state (format cl-nmc, version 1)');
    if (st.dim !== this.dim) throw bad(`feature dimension ${String(st.dim)}, learner has ${this.dim}`);
    const cfg = st.config as Partial<NmcConfig> | undefined;
    for (const k of Object.keys(this.config) as (keyof NmcConfig)[]) {
      if (!cfg || cfg[k] !== this.config[k]) throw bad(`option ${k} was ${String(cfg?.[k])}, now ${String(this.config[k])}`);
    }
    if (!Array.isArray(st.classes)) throw bad('no class list');
    const kahan = this.config.accumulator === 'kahan32';
    const slots: ClassSlot[] = [];
    const byLabel = new Map<number, ClassSlot>();
    for (const c of st.classes) {
      if (!Number.isInteger(c.label) || byLabel.has(c.label)) throw bad(`class label ${String(c.label)} is not a unique integer`);
      if (!Number.isInteger(c.count) || c.count < 0) throw bad(`class ${c.label}: count ${String(c.count)}`);
      if (!Array.isArray(c.sum) || c.sum.length !== this.dim || !c.sum.every(Number.isFinite)) throw bad(`class ${c.label}: sum is not ${this.dim} finite numbers`);
      const comp = c.compensation;
      if (kahan && (!Array.isArray(comp) || comp.length !== this.dim || !comp.every(Number.isFinite))) {
        throw bad(`class ${c.label}: compensation is not ${this.dim} finite numbers`);
      }
      const slot: ClassSlot = {
        label: c.label,
        count: c.count,
        sum: kahan ? Float32Array.from(c.sum) : Float64Array.from(c.sum),
        comp: kahan ? Float32Array.from(comp as number[]) : null,
      };
      slots.push(slot);
      byLabel.set(c.label, slot);
    }
    this.invalidate();
    this.slots = slots;
    this.byLabel = byLabel;
  }

  dispose(): void {
    this.invalidate();
  }
}

export const nmcMethod = defineMethod({
  name: 'nmc',
  description: 'nearest class mean over frozen features (Janson et al. / SimpleCIL); no training, task-free',
  citation:
    'Janson et al., A Simple Baseline that Questions the Use of Pretrained-Models in Continual Learning, arXiv 2210.04428; ' +
    'Zhou et al., Revisiting Class-Incremental Learning with Pre-Trained Models, arXiv 2303.07338 (SimpleCIL)',
  docs: 'docs/methods/nmc.md',
  seeded: false,
  options: NMC_OPTIONS,
  check: (o) => void configOf(o),
  create: (o, ctx) => new NmcLearner(configOf(o), ctx.dim),
});
