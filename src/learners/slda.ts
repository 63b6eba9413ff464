/**
 * SLDA: streaming linear discriminant analysis over frozen features (Hayes & Kanan, "Lifelong
 * Machine Learning with Deep Streaming Linear Discriminant Analysis", CVPR-W 2020;
 * docs/methods/slda.md).
 *
 * State: running class means μ_k and counts n_k, and one covariance Σ shared by all classes,
 * updated with every sample (task-free `learnBatch`). Prediction is the LDA rule
 *   Λ = ((1 − ε)·Σ + ε·I)⁻¹,   score_k(x) = xᵀΛμ_k − ½·μ_kᵀΛμ_k,   ŷ = argmax_k score_k(x)
 * with Λμ_k from a float64 Cholesky solve (never an explicit inverse).
 *
 * Σ (option `covariance`):
 *   pooled  (default) — the pooled within-class covariance Σ = (1/t)·Σ_k Σ_{i∈k}(x_i − μ_k)(x_i − μ_k)ᵀ,
 *           updated exactly per batch (Chan et al.'s merge of centred scatter matrices); the same
 *           whatever the order or batching of the samples.
 *   running — the paper's update, sample by sample: Δ = x − μ_y (μ_y before the sample),
 *           Σ ← (t·Σ + t/(t+1)·ΔΔᵀ)/(t+1), then μ_y += Δ/(n_y + 1); means start at 0, so each
 *           class's first sample adds its raw outer product. Depends on the sample order.
 * Both are computed as one float64 product ZᵀZ per batch (Z: centred rows scaled by the
 * update's weights) rather than rank-1 loops.
 */
import { UserError } from '../errors.js';
import { defineOptions, resolveOptions, type OptionValues } from '../options.js';
import { matmul } from '../linalg/gemm.js';
import { cholesky, choleskySolve, gram, NotPositiveDefiniteError, packUpper, unpackSymmetric } from '../linalg/dense.js';
import type { ClassScores, Experience, Features, Learner } from '../types.js';
import {
  predictedLabels,
  checkFeatures,
  classSummary,
  groupByClass,
  kept,
  memorySummary,
  openState,
  presentClasses,
  restoreClasses,
  ROW_BLOCK,
  rows64,
  seenLabels,
  stateVector,
} from './closed-form.js';
import { defineMethod } from './method.js';

export const SLDA_OPTIONS = defineOptions({
  shrinkage: { type: 'number', default: 1e-4, min: 0, max: 1, help: 'ε in Λ = ((1 − ε)Σ + εI)⁻¹ (the paper: 1e-4)' },
  covariance: {
    type: 'choice',
    default: 'pooled',
    choices: ['pooled', 'running'],
    help: "pooled: exact pooled within-class covariance (order-invariant); running: the paper's sample-by-sample update (order-dependent)",
  },
});

/** The resolved configuration: ε in Λ = ((1 − ε)Σ + εI)⁻¹ and how Σ is accumulated. */
export type SldaConfig = OptionValues<typeof SLDA_OPTIONS>;
export type SldaCovariance = SldaConfig['covariance'];

interface ClassStat {
  label: number;
  count: number;
  mean: Float64Array;
}

/** Checkpoint of an SLDA learner (typed arrays; see src/store/checkpoints.ts). */
export interface SldaState {
  format: 'cl-slda';
  version: 1;
  config: SldaConfig;
  dim: number;
  /** Samples seen (t). */
  samples: number;
  /** In arrival order (tie-breaking). */
  classes: { label: number; count: number; mean: Float64Array }[];
  /** t·Σ, packed upper triangle (row by row). */
  scatter: Float64Array;
}

export class SldaLearner implements Learner {
  readonly name = 'slda';
  private classes: ClassStat[] = [];
  private byLabel = new Map<number, ClassStat>();
  /** t·Σ (full symmetric D×D). */
  private scatter: Float64Array;
  private samples = 0;
  private model: { w: Float64Array; c: Float64Array; labels: Int32Array } | null = null;

  constructor(
    readonly config: SldaConfig,
    readonly dim: number,
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`slda: feature dimension must be a positive integer, got ${dim}`);
    this.scatter = new Float64Array(dim * dim);
  }

  private slot(label: number): ClassStat {
    let s = this.byLabel.get(label);
    if (!s) {
      s = { label, count: 0, mean: new Float64Array(this.dim) };
      this.classes.push(s);
      this.byLabel.set(label, s);
    }
    return s;
  }

  /** Task-free update with every row of `features` (docs/methods/slda.md "Algorithm"). */
  learnBatch(features: Features): void {
    checkFeatures('slda', features, this.dim, 'training');
    if (features.count === 0) return;
    if (this.config.covariance === 'pooled') this.updatePooled(features);
    else this.updateRunning(features);
    this.model = null;
  }

  /**
   * Exact pooled scatter: per class, the batch's centred scatter plus the merge term
   * n_a·n_b/(n_a + n_b)·(μ_a − m_b)(μ_a − m_b)ᵀ, all as rows of one product ZᵀZ.
   */
  private updatePooled(f: Features): void {
    const D = this.dim;
    const groups = groupByClass(f.y, f.count);
    const batchMean = new Map<number, Float64Array>();
    for (const [label, idx] of groups) {
      const m = new Float64Array(D);
      for (const i of idx) {
        const off = i * D;
        for (let d = 0; d < D; d++) m[d] += f.x[off + d];
      }
      for (let d = 0; d < D; d++) m[d] /= idx.length;
      batchMean.set(label, m);
    }
    // Merge rows first (one per class that already had samples), then the centred sample rows.
    const merge: Float64Array[] = [];
    for (const [label, idx] of groups) {
      const s = this.byLabel.get(label);
      if (!s || s.count === 0) continue;
      const nb = idx.length;
      const w = Math.sqrt((s.count * nb) / (s.count + nb));
      const m = batchMean.get(label)!;
      const r = new Float64Array(D);
      for (let d = 0; d < D; d++) r[d] = w * (s.mean[d] - m[d]);
      merge.push(r);
    }
    if (merge.length > 0) {
      const z = new Float64Array(merge.length * D);
      merge.forEach((r, i) => z.set(r, i * D));
      this.addGram(z, merge.length);
    }
    for (let start = 0; start < f.count; start += ROW_BLOCK) {
      const n = Math.min(ROW_BLOCK, f.count - start);
      const z = rows64(f, start, n);
      for (let i = 0; i < n; i++) {
        const m = batchMean.get(f.y[start + i])!;
        const off = i * D;
        for (let d = 0; d < D; d++) z[off + d] -= m[d];
      }
      this.addGram(z, n);
    }
    for (const [label, idx] of groups) {
      const s = this.slot(label);
      const nb = idx.length;
      const m = batchMean.get(label)!;
      const total = s.count + nb;
      for (let d = 0; d < D; d++) s.mean[d] = (s.count * s.mean[d] + nb * m[d]) / total;
      s.count = total;
    }
    this.samples += f.count;
  }

  /** The paper's running update, row by row; the outer products are summed as one product. */
  private updateRunning(f: Features): void {
    const D = this.dim;
    for (let start = 0; start < f.count; start += ROW_BLOCK) {
      const n = Math.min(ROW_BLOCK, f.count - start);
      const z = new Float64Array(n * D);
      for (let i = 0; i < n; i++) {
        const s = this.slot(f.y[start + i]);
        const t = this.samples;
        const w = Math.sqrt(t / (t + 1));
        const xo = (start + i) * D;
        const zo = i * D;
        const inv = 1 / (s.count + 1);
        for (let d = 0; d < D; d++) {
          const delta = f.x[xo + d] - s.mean[d];
          z[zo + d] = w * delta;
          s.mean[d] += delta * inv;
        }
        s.count++;
        this.samples++;
      }
      this.addGram(z, n);
    }
  }

  private addGram(z: Float64Array, n: number): void {
    const g = gram(z, n, this.dim);
    const s = this.scatter;
    for (let i = 0; i < g.length; i++) s[i] += g[i];
  }

  async learn(exp: Experience): Promise<void> {
    for (const c of presentClasses(exp)) this.slot(c);
    this.learnBatch(exp.train);
  }

  labels(): number[] {
    return seenLabels(this.classes);
  }

  /** Samples seen so far (t). */
  sampleCount(): number {
    return this.samples;
  }

  /** Σ = scatter / t (full D×D, float64). */
  covariance(): Float64Array {
    const out = this.scatter.slice();
    if (this.samples > 0) for (let i = 0; i < out.length; i++) out[i] /= this.samples;
    return out;
  }

  mean(label: number): Float64Array | null {
    const s = this.byLabel.get(label);
    return s && s.count > 0 ? s.mean.slice() : null;
  }

  /** W = Λ·[μ_1 … μ_K] (D×K) and c_k = ½·μ_kᵀΛμ_k, rebuilt after every update. */
  private build(): NonNullable<SldaLearner['model']> {
    if (this.model) return this.model;
    const D = this.dim;
    const seen = this.classes.filter((s) => s.count > 0);
    const K = seen.length;
    const eps = this.config.shrinkage;
    const a = this.covariance();
    for (let i = 0; i < a.length; i++) a[i] *= 1 - eps;
    for (let d = 0; d < D; d++) a[d * D + d] += eps;
    let l: Float64Array;
    try {
      l = cholesky(a, D, true);
    } catch (e) {
      if (e instanceof NotPositiveDefiniteError) {
        throw new UserError(
          `slda: the shrunk covariance (1 − ε)Σ + εI is not positive definite with ε = ${eps}`,
          'use a larger --shrinkage (the paper uses 1e-4; 1e-2 is safe)',
        );
      }
      throw e;
    }
    const mu = new Float64Array(D * K);
    seen.forEach((s, k) => {
      for (let d = 0; d < D; d++) mu[d * K + k] = s.mean[d];
    });
    const w = choleskySolve(l, D, mu, K);
    const c = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      let v = 0;
      for (let d = 0; d < D; d++) v += mu[d * K + k] * w[d * K + k];
      c[k] = 0.5 * v;
    }
    this.model = { w, c, labels: Int32Array.from(seen, (s) => s.label) };
    return this.model;
  }

  /** Scores (n×K, classes in `labels()` order) of every row: xᵀΛμ_k − ½μ_kᵀΛμ_k. */
  rawScores(x: Features): Float64Array {
    checkFeatures('slda', x, this.dim, 'test');
    if (this.samples === 0) throw new Error('slda: predict() called before any class was learned');
    const { w, c, labels } = this.build();
    const K = labels.length;
    const out = new Float64Array(x.count * K);
    for (let start = 0; start < x.count; start += ROW_BLOCK) {
      const n = Math.min(ROW_BLOCK, x.count - start);
      const s = matmul(rows64(x, start, n), w, n, this.dim, K);
      for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) s[i * K + k] -= c[k];
      out.set(s, start * K);
    }
    return out;
  }

  /** The LDA discriminants as class scores (float64; argmax = predict()). */
  scores(x: Features): ClassScores {
    const values = this.rawScores(x);
    return { labels: this.build().labels, values };
  }

  predict(x: Features): Int32Array {
    return predictedLabels(this.scores(x), x.count);
  }

  options(): Record<string, unknown> {
    return { ...this.config };
  }

  stateSummary(): Record<string, unknown> {
    const K = this.classes.length;
    const D = this.dim;
    return {
      rule: `LDA with one shared ${this.config.covariance} covariance, shrinkage ε = ${this.config.shrinkage}`,
      ...classSummary(this.classes),
      dim: D,
      ...memorySummary([
        kept('class means μ_k', [K, D]),
        kept('shared covariance t·Σ (symmetric; checkpoints hold the upper triangle)', [D, D]),
        kept('Λμ_k and ½μ_kᵀΛμ_k (derived, rebuilt after an update)', [D + 1, K], 'float64', true),
      ]),
    };
  }

  getState(): SldaState {
    return {
      format: 'cl-slda',
      version: 1,
      config: { ...this.config },
      dim: this.dim,
      samples: this.samples,
      classes: this.classes.map((s) => ({ label: s.label, count: s.count, mean: s.mean.slice() })),
      scatter: packUpper(this.scatter, this.dim),
    };
  }

  setState(state: unknown): void {
    const { st, bad } = openState<SldaState>(state, 'slda', 'cl-slda', 1, this.dim, this.config);
    if (!Number.isInteger(st.samples) || (st.samples as number) < 0) throw bad(`sample count ${String(st.samples)}`);
    const { classes, byLabel } = restoreClasses<ClassStat>(st.classes, bad, (c) => ({
      label: c.label,
      count: c.count,
      mean: stateVector(c.mean, this.dim, `class ${c.label} mean`, bad),
    }));
    const total = classes.reduce((a, s) => a + s.count, 0);
    if (total !== st.samples) throw bad(`class counts sum to ${total}, the state says ${String(st.samples)} samples`);
    const packed = stateVector(st.scatter, (this.dim * (this.dim + 1)) / 2, 'scatter matrix', bad);
    this.classes = classes;
    this.byLabel = byLabel;
    this.samples = st.samples as number;
    this.scatter = unpackSymmetric(packed, this.dim);
    this.model = null;
  }

  dispose(): void {
    this.model = null;
  }
}

// ---- the method -------------------------------------------------------------------------------

/** The resolved configuration of given options (validated like every option, defaults filled). */
export function sldaConfig(given: Record<string, unknown> = {}): SldaConfig {
  return resolveOptions(SLDA_OPTIONS, given, 'slda');
}

export const sldaMethod = defineMethod({
  name: 'slda',
  description: 'streaming LDA: running class means + one shared covariance, closed-form; task-free, exemplar-free',
  citation: 'Hayes & Kanan, Lifelong Machine Learning with Deep Streaming Linear Discriminant Analysis, CVPR-W 2020, arXiv 1909.01520',
  docs: 'docs/methods/slda.md',
  seeded: false,
  options: SLDA_OPTIONS,
  create: (o, ctx) => new SldaLearner(o, ctx.dim),
});
