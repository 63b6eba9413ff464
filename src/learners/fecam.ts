/**
 * FeCAM: per-class feature covariances and a Mahalanobis-distance classifier over frozen features
 * (Goswami et al., "FeCAM: Exploiting the Heterogeneity of Class Distributions in Exemplar-Free
 * Continual Learning", NeurIPS 2023; docs/methods/fecam.md).
 *
 * Per class k the learner keeps n_k, Σx (raw features) and, of the Tukey-transformed features
 * t = x^β, their sum and centred scatter S_k (float64, exact per-batch merges, never samples).
 * The classifier, rebuilt for a class after it changes:
 *   Σ_k   = S_k / (n_k − 1)                                   (sample covariance of t)
 *   Σ_s   = Σ_k + γ₁·V₁·I + γ₂·V₂·(1 − I)                     (shrinkage; V₁ mean variance,
 *                                                               V₂ mean non-zero covariance)
 *   Σ̂_k   = Σ_s / (σ_i·σ_j), σ_i = √Σ_s(i,i)                  (correlation normalisation)
 *   μ̃_k   = unit(tukey(Σx / n_k)),  x̃ = unit(tukey(x))
 *   d_k(x) = (x̃ − μ̃_k)ᵀ Σ̂_k⁻¹ (x̃ − μ̃_k),                 ŷ = argmin_k d_k(x)
 * Σ̂_k⁻¹ enters through its Cholesky factor: d_k = ‖L_k⁻¹(x̃ − μ̃_k)‖², computed for all test rows at
 * once as a float64 product with the (upper-triangular) L_k⁻ᵀ.
 */
import { UserError } from '../errors.js';
import { defineOptions, resolveOptions, type OptionValues } from '../options.js';
import { matmul } from '../linalg/gemm.js';
import { cholesky, gram, lowerInverse, NotPositiveDefiniteError, packedSize, transpose, unpackSymmetric } from '../linalg/dense.js';
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
  seenLabels,
  stateVector,
} from './closed-form.js';
import { defineMethod } from './method.js';

export const FECAM_OPTIONS = defineOptions({
  tukey: {
    type: 'number',
    default: 0.5,
    gt: 0,
    max: 1,
    help: "Tukey's ladder-of-powers exponent β: features x ↦ x^β before the statistics (paper 0.5; 1 = off, needed for features with negative values)",
  },
  gamma1: { type: 'number', default: 1, min: 0, help: 'covariance shrinkage: γ₁·V₁ (mean variance) added to the diagonal' },
  gamma2: { type: 'number', default: 1, min: 0, help: 'covariance shrinkage: γ₂·V₂ (mean non-zero covariance) added off the diagonal' },
  normalizeCovariance: { type: 'boolean', default: true, help: 'turn each shrunk covariance into a correlation matrix (the paper: yes)' },
});

/**
 * The resolved configuration: Tukey exponent β (x ↦ x^β; 1 turns the transform off), γ₁ (weight of
 * the mean variance V₁ added to the diagonal), γ₂ (weight of the mean covariance V₂ added off the
 * diagonal), and whether the shrunk covariance becomes a correlation matrix.
 */
export type FecamConfig = OptionValues<typeof FECAM_OPTIONS>;

const EPS = 1e-12;

interface ClassStat {
  label: number;
  count: number;
  /** Σ x (raw features): the prototype is tukey(mean x). */
  sumRaw: Float64Array;
  /** Mean of t = tukey(x). */
  meanT: Float64Array;
  /** Σ (t − mean t)(t − mean t)ᵀ, packed upper triangle. */
  scatter: Float64Array;
  /** Classifier of this class (null: rebuild before predicting). */
  model: { proto: Float64Array; inv: Float64Array[] | null; m: Float64Array | null; shrinkage: { v1: number; v2: number } } | null;
}

/** Checkpoint of a FeCAM learner (typed arrays; see src/store/checkpoints.ts). */
export interface FecamState {
  format: 'cl-fecam';
  version: 1;
  config: FecamConfig;
  dim: number;
  classes: { label: number; count: number; sumRaw: Float64Array; meanT: Float64Array; scatter: Float64Array }[];
}

/** Tukey's ladder of powers, t = x^β (β = 1: identity). */
function tukeyInPlace(v: Float64Array, beta: number): void {
  if (beta === 1) return;
  if (beta === 0.5) for (let i = 0; i < v.length; i++) v[i] = Math.sqrt(v[i]);
  else for (let i = 0; i < v.length; i++) v[i] = Math.pow(v[i], beta);
}

/** Scale each row of an n×D block to unit L2 norm (zero rows stay zero). */
function unitRows(v: Float64Array, n: number, D: number): void {
  for (let i = 0; i < n; i++) {
    const o = i * D;
    let s = 0;
    for (let d = 0; d < D; d++) s += v[o + d] * v[o + d];
    const inv = 1 / Math.max(Math.sqrt(s), EPS);
    for (let d = 0; d < D; d++) v[o + d] *= inv;
  }
}

/** Column blocks of the distance product (upper-triangular factor: block j needs rows 0..j1). */
const DIST_BLOCKS = 4;

/** Column bounds of the distance blocks of a D-dimensional factor. */
const blockBounds = (D: number): number[] => Array.from({ length: DIST_BLOCKS + 1 }, (_, b) => Math.round((b * D) / DIST_BLOCKS));

/**
 * The upper-triangular L⁻ᵀ (D×D, row-major) as the operands of the distance products: block b is
 * rows 0..j1 × columns j0..j1 (the rows below j1 are zero there), j1×w row-major. Kept in this
 * form (10/16 of D² values, packed would be 8/16) so that no product has to gather it again.
 */
function distanceBlocks(upper: Float64Array, D: number): Float64Array[] {
  const bounds = blockBounds(D);
  const out: Float64Array[] = [];
  for (let b = 0; b < DIST_BLOCKS; b++) {
    const j0 = bounds[b];
    const j1 = bounds[b + 1];
    const w = j1 - j0;
    const blk = new Float64Array(j1 * w);
    for (let r = 0; r < j1; r++) blk.set(upper.subarray(r * D + j0, r * D + j1), r * w);
    out.push(blk);
  }
  return out;
}

/** Values of distanceBlocks for dimension D. */
const distanceBlockSize = (D: number): number => {
  const b = blockBounds(D);
  let n = 0;
  for (let i = 0; i < DIST_BLOCKS; i++) n += b[i + 1] * (b[i + 1] - b[i]);
  return n;
};

/** Distinct rows the distance memo holds before it starts over (×4·D bytes of row copies). */
export const FECAM_MEMO_ROWS = 100_000;

/** Distinct feature rows by content: FNV-1a of the float bits, exact comparison on a hash hit. */
class RowIndex {
  private byHash = new Map<number, number[]>();
  private chunks: Float32Array[] = [];
  private n = 0;
  private static readonly CHUNK = 4096;

  constructor(private readonly dim: number) {}

  get size(): number {
    return this.n;
  }

  private row(id: number): Float32Array {
    const c = RowIndex.CHUNK;
    const o = (id % c) * this.dim;
    return this.chunks[Math.floor(id / c)].subarray(o, o + this.dim);
  }

  /** Id of every row of x (new rows are added). */
  ids(x: Features): Int32Array {
    const D = this.dim;
    const out = new Int32Array(x.count);
    const bits = new Uint32Array(x.x.buffer, x.x.byteOffset, x.count * D);
    for (let i = 0; i < x.count; i++) {
      const o = i * D;
      let h = 0x811c9dc5;
      for (let d = 0; d < D; d++) h = Math.imul(h ^ bits[o + d], 0x01000193);
      const src = x.x.subarray(o, o + D);
      const list = this.byHash.get(h);
      let id = -1;
      if (list) {
        for (const cand of list) {
          const r = this.row(cand);
          let same = true;
          for (let d = 0; d < D && same; d++) same = Object.is(r[d], src[d]);
          if (same) {
            id = cand;
            break;
          }
        }
      }
      if (id < 0) {
        id = this.n++;
        const c = Math.floor(id / RowIndex.CHUNK);
        if (c === this.chunks.length) this.chunks.push(new Float32Array(RowIndex.CHUNK * D));
        this.row(id).set(src);
        if (list) list.push(id);
        else this.byHash.set(h, [id]);
      }
      out[i] = id;
    }
    return out;
  }
}

/** Computed distances per class label, indexed by row id (NaN: not computed). */
class DistanceMemo {
  readonly rows: RowIndex;
  private perClass = new Map<number, Float64Array>();

  constructor(dim: number) {
    this.rows = new RowIndex(dim);
  }

  forClass(label: number): Float64Array {
    let c = this.perClass.get(label);
    if (!c || c.length < this.rows.size) {
      const grown = new Float64Array(Math.max(this.rows.size, 1024) * 2).fill(NaN);
      if (c) grown.set(c);
      this.perClass.set(label, (c = grown));
    }
    return c;
  }

  forget(label: number): void {
    this.perClass.delete(label);
  }

  /** Memo entries held (for the state summary). */
  entries(): number {
    let n = 0;
    for (const c of this.perClass.values()) n += c.length;
    return n;
  }
}

export class FecamLearner implements Learner {
  readonly name = 'fecam';
  private classes: ClassStat[] = [];
  private byLabel = new Map<number, ClassStat>();
  private memo: DistanceMemo;

  constructor(
    readonly config: FecamConfig,
    readonly dim: number,
    /** Distinct test rows the distance memo may hold (FECAM_MEMO_ROWS; 0 turns it off). */
    private readonly memoRows = FECAM_MEMO_ROWS,
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`fecam: feature dimension must be a positive integer, got ${dim}`);
    this.memo = new DistanceMemo(dim);
  }

  private slot(label: number): ClassStat {
    let s = this.byLabel.get(label);
    if (!s) {
      const D = this.dim;
      s = { label, count: 0, sumRaw: new Float64Array(D), meanT: new Float64Array(D), scatter: new Float64Array(packedSize(D)), model: null };
      this.classes.push(s);
      this.byLabel.set(label, s);
    }
    return s;
  }

  private checkTukeyDomain(f: Features, what: 'training' | 'test'): void {
    if (this.config.tukey === 1) return;
    const x = f.x;
    for (let i = 0, n = f.count * f.dim; i < n; i++) {
      if (x[i] < 0) {
        throw new UserError(
          `fecam: ${what} feature row ${Math.floor(i / f.dim)} has a negative value (${x[i]}); Tukey's transform x^${this.config.tukey} needs non-negative features`,
          'use --tukey 1 (no transform; the paper uses it only for non-negative ReLU features)',
        );
      }
    }
  }

  /** Task-free update with every row of `features` (docs/methods/fecam.md "Algorithm"). */
  learnBatch(features: Features): void {
    checkFeatures('fecam', features, this.dim, 'training');
    this.checkTukeyDomain(features, 'training');
    const D = this.dim;
    for (const [label, idx] of groupByClass(features.y, features.count)) {
      const s = this.slot(label);
      const nb = idx.length;
      const z = new Float64Array((nb + 1) * D); // row 0: merge term; rows 1..nb: centred samples
      const mb = new Float64Array(D);
      idx.forEach((i, r) => {
        const src = features.x.subarray(i * D, (i + 1) * D);
        const o = (r + 1) * D;
        for (let d = 0; d < D; d++) {
          s.sumRaw[d] += src[d];
          z[o + d] = src[d];
        }
      });
      const t = z.subarray(D);
      tukeyInPlace(t, this.config.tukey);
      for (let r = 0; r < nb; r++) for (let d = 0; d < D; d++) mb[d] += t[r * D + d];
      for (let d = 0; d < D; d++) mb[d] /= nb;
      for (let r = 0; r < nb; r++) for (let d = 0; d < D; d++) t[r * D + d] -= mb[d];
      const na = s.count;
      const w = na > 0 ? Math.sqrt((na * nb) / (na + nb)) : 0;
      for (let d = 0; d < D; d++) z[d] = w * (s.meanT[d] - mb[d]);
      const g = gram(z, nb + 1, D);
      let p = 0;
      for (let i = 0; i < D; i++) for (let j = i; j < D; j++) s.scatter[p++] += g[i * D + j];
      for (let d = 0; d < D; d++) s.meanT[d] = (na * s.meanT[d] + nb * mb[d]) / (na + nb);
      s.count = na + nb;
      s.model = null;
      this.memo.forget(label);
    }
  }

  async learn(exp: Experience): Promise<void> {
    for (const c of presentClasses(exp)) this.slot(c);
    this.learnBatch(exp.train);
  }

  labels(): number[] {
    return seenLabels(this.classes);
  }

  /**
   * The class's normalised shrunk covariance Σ̂ (full D×D), or null when it has none (fewer than
   * two samples, or all its features constant): then the class uses the identity (Euclidean).
   */
  normalizedCovariance(label: number): { cov: Float64Array; v1: number; v2: number } | null {
    const s = this.byLabel.get(label);
    if (!s || s.count < 2) return null;
    const D = this.dim;
    const cov = unpackSymmetric(s.scatter, D);
    const scale = 1 / (s.count - 1);
    let v1 = 0;
    let offSum = 0;
    let offCount = 0;
    for (let i = 0; i < D; i++) {
      for (let j = 0; j < D; j++) {
        const v = (cov[i * D + j] *= scale);
        if (i === j) v1 += v;
        else if (v !== 0) {
          offSum += v;
          offCount++;
        }
      }
    }
    v1 /= D;
    const v2 = offCount > 0 ? offSum / offCount : 0;
    if (!(v1 > 0)) return null;
    const { gamma1, gamma2 } = this.config;
    for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) cov[i * D + j] += i === j ? gamma1 * v1 : gamma2 * v2;
    if (this.config.normalizeCovariance) {
      const sd = new Float64Array(D);
      for (let i = 0; i < D; i++) sd[i] = Math.sqrt(cov[i * D + i]);
      for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) cov[i * D + j] /= sd[i] * sd[j];
    }
    return { cov, v1, v2 };
  }

  /** The prototype μ̃ = unit(tukey(mean x)). */
  prototype(label: number): Float64Array | null {
    const s = this.byLabel.get(label);
    if (!s || s.count === 0) return null;
    const p = new Float64Array(this.dim);
    for (let d = 0; d < this.dim; d++) p[d] = s.sumRaw[d] / s.count;
    tukeyInPlace(p, this.config.tukey);
    unitRows(p, 1, this.dim);
    return p;
  }

  /** Build the class's classifier: prototype, packed L⁻ᵀ (upper) and m = μ̃ᵀL⁻ᵀ. */
  private build(s: ClassStat): NonNullable<ClassStat['model']> {
    if (s.model) return s.model;
    const D = this.dim;
    const proto = this.prototype(s.label)!;
    const nc = this.normalizedCovariance(s.label);
    if (!nc) {
      s.model = { proto, inv: null, m: null, shrinkage: { v1: 0, v2: 0 } };
      return s.model;
    }
    let l: Float64Array;
    try {
      l = cholesky(nc.cov, D, true);
    } catch (e) {
      if (e instanceof NotPositiveDefiniteError) {
        throw new UserError(
          `fecam: the shrunk covariance of class ${s.label} is not positive definite (γ₁ = ${this.config.gamma1}, γ₂ = ${this.config.gamma2}, V₁ = ${nc.v1}, V₂ = ${nc.v2})`,
          'use a larger --gamma1 or a smaller --gamma2',
        );
      }
      throw e;
    }
    const upper = transpose(lowerInverse(l, D), D, D); // L⁻ᵀ
    const m = matmul(proto, upper, 1, D, D);
    s.model = { proto, inv: distanceBlocks(upper, D), m, shrinkage: { v1: nc.v1, v2: nc.v2 } };
    return s.model;
  }

  /**
   * Distances d_k (n×K, classes in `labels()` order) of every row. A distance already computed
   * for a row with the same content and a class unchanged since is reused (docs/methods/fecam.md
   * "What is kept (exemplar-free), and its cost"): evaluation re-scores the same test rows after every increment, and recomputing them for
   * the old classes would be most of the work. The products are row-independent, so reused and
   * recomputed values are the same bits.
   */
  distances(x: Features): Float64Array {
    checkFeatures('fecam', x, this.dim, 'test');
    this.checkTukeyDomain(x, 'test');
    const seen = this.classes.filter((s) => s.count > 0);
    if (seen.length === 0) throw new Error('fecam: predict() called before any class was learned');
    const models = seen.map((s) => this.build(s));
    const K = seen.length;
    const n = x.count;
    if (this.memo.rows.size + n > this.memoRows) this.memo = new DistanceMemo(this.dim);
    const ids = this.memo.rows.ids(x);
    const caches = seen.map((s) => this.memo.forClass(s.label));
    // Classes that miss the same rows are computed together (shared transformed rows).
    const groups = new Map<string, { pos: Int32Array; classes: number[] }[]>();
    caches.forEach((c, k) => {
      const miss: number[] = [];
      for (let i = 0; i < n; i++) if (Number.isNaN(c[ids[i]])) miss.push(i);
      if (miss.length === 0) return;
      const key = `${miss.length}:${miss[0]}:${miss[miss.length - 1]}`;
      const list = groups.get(key) ?? [];
      groups.set(key, list);
      const pos = Int32Array.from(miss);
      const same = list.find((g) => g.pos.length === pos.length && g.pos.every((v, i) => v === pos[i]));
      if (same) same.classes.push(k);
      else list.push({ pos, classes: [k] });
    });
    for (const g of [...groups.values()].flat()) {
      this.computeDistances(
        x,
        g.pos,
        g.classes.map((k) => models[k]),
        (k, j, d) => (caches[g.classes[k]][ids[g.pos[j]]] = d),
      );
    }
    const out = new Float64Array(n * K);
    for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) out[i * K + k] = caches[k][ids[i]];
    return out;
  }

  /** d(x̃, class) for the rows `pos` of x and the given classes; set(classIndex, rowIndex, d). */
  private computeDistances(x: Features, pos: Int32Array, models: NonNullable<ClassStat['model']>[], set: (k: number, j: number, d: number) => void): void {
    const D = this.dim;
    const bounds = blockBounds(D);
    for (let start = 0; start < pos.length; start += ROW_BLOCK) {
      const n = Math.min(ROW_BLOCK, pos.length - start);
      const xt = new Float64Array(n * D);
      for (let j = 0; j < n; j++) {
        const src = x.x.subarray(pos[start + j] * D, (pos[start + j] + 1) * D);
        for (let d = 0; d < D; d++) xt[j * D + d] = src[d];
      }
      tukeyInPlace(xt, this.config.tukey);
      unitRows(xt, n, D);
      // Column prefixes x̃[:, 0:j1] for the triangular blocks (shared by every class).
      const prefixes = bounds.slice(1).map((j1) => {
        if (j1 === D) return xt;
        const p = new Float64Array(n * j1);
        for (let i = 0; i < n; i++) p.set(xt.subarray(i * D, i * D + j1), i * j1);
        return p;
      });
      models.forEach((mdl, k) => {
        if (!mdl.inv) {
          for (let i = 0; i < n; i++) {
            let v = 0;
            for (let d = 0; d < D; d++) {
              const e = xt[i * D + d] - mdl.proto[d];
              v += e * e;
            }
            set(k, start + i, v);
          }
          return;
        }
        const acc = new Float64Array(n);
        for (let b = 0; b < DIST_BLOCKS; b++) {
          const j0 = bounds[b];
          const j1 = bounds[b + 1];
          const w = j1 - j0;
          if (w === 0) continue;
          const z = matmul(prefixes[b], mdl.inv[b], n, j1, w);
          const m = mdl.m!;
          for (let i = 0; i < n; i++) {
            let v = 0;
            const zo = i * w;
            for (let c = 0; c < w; c++) {
              const e = z[zo + c] - m[j0 + c];
              v += e * e;
            }
            acc[i] += v;
          }
        }
        for (let i = 0; i < n; i++) set(k, start + i, acc[i]);
      });
    }
  }

  /** Minus the Mahalanobis distances as class scores (float64; argmax = predict()). */
  scores(x: Features): ClassScores {
    const values = this.distances(x);
    for (let i = 0; i < values.length; i++) values[i] = -values[i];
    return { labels: Int32Array.from(this.labels()), values };
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
    const c = this.config;
    return {
      rule:
        `Mahalanobis distance to per-class covariances` +
        (c.tukey !== 1 ? `, Tukey x^${c.tukey}` : '') +
        `, shrinkage γ₁ = ${c.gamma1}, γ₂ = ${c.gamma2}` +
        (c.normalizeCovariance ? ', correlation-normalised' : ''),
      ...classSummary(this.classes),
      dim: D,
      ...memorySummary([
        kept('class sums of raw features Σx', [K, D]),
        kept('class means of Tukey features', [K, D]),
        kept('class scatter matrices of Tukey features (packed upper triangle)', [K, packedSize(D)]),
        kept('inverse Cholesky factors L⁻ᵀ, one per class (derived, rebuilt after a change; in the column blocks of the distance products)', [K, distanceBlockSize(D)], 'float64', true),
      ]),
    };
  }

  getState(): FecamState {
    return {
      format: 'cl-fecam',
      version: 1,
      config: { ...this.config },
      dim: this.dim,
      classes: this.classes.map((s) => ({ label: s.label, count: s.count, sumRaw: s.sumRaw, meanT: s.meanT, scatter: s.scatter })),
    };
  }

  setState(state: unknown): void {
    const { st, bad } = openState<FecamState>(state, 'fecam', 'cl-fecam', 1, this.dim, this.config);
    const D = this.dim;
    const { classes, byLabel } = restoreClasses<ClassStat>(st.classes, bad, (c) => ({
      label: c.label,
      count: c.count,
      sumRaw: stateVector(c.sumRaw, D, `class ${c.label} feature sum`, bad),
      meanT: stateVector(c.meanT, D, `class ${c.label} mean`, bad),
      scatter: stateVector(c.scatter, packedSize(D), `class ${c.label} scatter matrix`, bad),
      model: null,
    }));
    this.classes = classes;
    this.byLabel = byLabel;
    this.memo = new DistanceMemo(this.dim);
  }

  dispose(): void {
    for (const s of this.classes) s.model = null;
    this.memo = new DistanceMemo(this.dim);
  }
}

// ---- the method -------------------------------------------------------------------------------

/** The resolved configuration of given options (validated like every option, defaults filled). */
export function fecamConfig(given: Record<string, unknown> = {}): FecamConfig {
  return resolveOptions(FECAM_OPTIONS, given, 'fecam');
}

export const fecamMethod = defineMethod({
  name: 'fecam',
  description: 'FeCAM: per-class covariances (Tukey, shrinkage, correlation normalisation), Mahalanobis classifier; task-free, exemplar-free',
  citation: 'Goswami et al., FeCAM: Exploiting the Heterogeneity of Class Distributions in Exemplar-Free Continual Learning, NeurIPS 2023, arXiv 2309.14062',
  docs: 'docs/methods/fecam.md',
  seeded: false,
  options: FECAM_OPTIONS,
  create: (o, ctx) => new FecamLearner(o, ctx.dim),
});
