/**
 * RanPAC: a frozen random projection with a nonlinearity, then a ridge-regression classifier from
 * accumulated second-order statistics (McDonnell et al., "RanPAC: Random Projections and
 * Pre-trained Models for Continual Learning", NeurIPS 2023; docs/methods/ranpac.md).
 *
 *   h = ReLU(Wᵣᵀx)             Wᵣ ∈ R^{D×M}, entries N(0, 1), drawn once from the seed
 *   G = Σ h·hᵀ,  C = Σ h·yᵀ     (y one-hot; accumulated over everything seen, never samples)
 *   W = (G + λI)⁻¹·C            float64 Cholesky solve after every update
 *   ŷ = argmax_k (hᵀW)_k
 * M = 0 skips the projection (h = x, the paper's "decorrelation only" ablation).
 * λ: a fixed value, or `auto` (the paper): on every increment (learn / learnBatch call) its rows
 * are split 80/20 by a seeded shuffle, W_λ is fitted on the 80 % alone for
 * λ ∈ {10⁻⁸, 10⁻⁷, …, 10⁸} and the λ with the least mean squared error on the 20 % is kept.
 * Skipped: the paper's first-session fine-tuning of the backbone (PETL); features are frozen here.
 */
import { UserError } from '../errors.js';
import { yieldPoint } from '../interrupt.js';
import { defineOptions, resolveOptions, type OptionValues } from '../options.js';
import { matmul } from '../linalg/gemm.js';
import { cholesky, choleskySolve, gram, NotPositiveDefiniteError, packedSize, packUpper, unpackSymmetric } from '../linalg/dense.js';
import { Rng } from '../rng.js';
import type { ClassScores, Experience, Features, Learner } from '../types.js';
import {
  predictedLabels,
  checkFeatures,
  classSummary,
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

/** RanPAC's options; the default width M is discussed in docs/methods/ranpac.md "Hyperparameters". */
export const RANPAC_OPTIONS = defineOptions({
  projection: {
    type: 'integer',
    default: 2048,
    min: 0,
    max: 65536,
    help: 'width M of the random ReLU projection (paper 10000; 0 = no projection, ridge on the raw features)',
  },
  ridge: {
    type: 'keyword-or-number',
    keyword: 'auto',
    default: 'auto',
    gt: 0,
    help: 'ridge λ: auto (the paper: chosen from 1e-8…1e8 on a held-out 20 % of each increment) or a fixed positive number',
  },
});

/**
 * The resolved configuration: `projection` is the width M of the random projection (0: none),
 * `ridge` the ridge λ or 'auto' (chosen per increment on held-out data).
 */
export type RanpacConfig = OptionValues<typeof RANPAC_OPTIONS>;

/** Run a stepwise computation to its end, synchronously. */
function drain<T>(g: Generator<void, T>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

/** The paper's λ grid, 10⁻⁸ … 10⁸ (written out: no pow() rounding). */
export const RIDGE_GRID: readonly number[] = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8];
/** Share of an increment's rows that fit W_λ in the λ search (the rest validates). */
export const RIDGE_TRAIN_SHARE = 0.8;
/** Below this many rows an increment is too small to choose λ on (the previous λ stays). */
export const RIDGE_MIN_ROWS = 10;

/** Wᵣ (D×M, row-major), entries N(0, 1) from the seed's stream. */
export function randomProjection(seed: number, dim: number, m: number): Float64Array {
  const rng = new Rng(seed);
  const w = new Float64Array(dim * m);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal();
  return w;
}

/** The shuffle that splits increment number `increment` (0-based) for the λ search. */
export function ridgeSplit(seed: number, increment: number, n: number): { train: number[]; val: number[] } {
  const rng = new Rng((Math.imul(increment + 1, 0x9e3779b1) ^ seed) >>> 0);
  const perm = rng.permutation(n);
  const nTrain = Math.floor(n * RIDGE_TRAIN_SHARE);
  return { train: perm.slice(0, nTrain), val: perm.slice(nTrain) };
}

interface ClassStat {
  label: number;
  count: number;
  /** Column of C: Σ h over the class's samples. */
  c: Float64Array;
}

/** Checkpoint of a RanPAC learner (typed arrays; see src/store/checkpoints.ts). */
export interface RanpacState {
  format: 'cl-ranpac';
  version: 1;
  config: RanpacConfig;
  dim: number;
  seed: number;
  /** Σ of Wᵣ's entries, to detect a changed random generator (Wᵣ itself is redrawn). */
  projectionChecksum: number;
  increments: number;
  /** λ in force (null: none chosen yet). */
  lambda: number | null;
  /** Validation errors of the last λ search, per grid value (null: none yet). */
  ridgeLosses: (number | null)[] | null;
  classes: { label: number; count: number; c: Float64Array }[];
  /** G, packed upper triangle. */
  gram: Float64Array;
}

export interface RidgeChoice {
  lambda: number;
  /** Validation MSE per grid value (null: G + λI not positive definite at that λ). */
  losses: (number | null)[];
}

export class RanpacLearner implements Learner {
  readonly name = 'ranpac';
  /** Feature width after the projection (M, or D when M = 0). */
  readonly width: number;
  private readonly proj: Float64Array | null;
  private classes: ClassStat[] = [];
  private byLabel = new Map<number, ClassStat>();
  private gram: Float64Array;
  private increments = 0;
  private lambda: number | null;
  private lastChoice: RidgeChoice | null = null;
  private model: { w: Float64Array; labels: Int32Array } | null = null;

  constructor(
    readonly config: RanpacConfig,
    readonly dim: number,
    readonly seed: number,
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`ranpac: feature dimension must be a positive integer, got ${dim}`);
    this.width = config.projection > 0 ? config.projection : dim;
    this.proj = config.projection > 0 ? randomProjection(seed, dim, config.projection) : null;
    this.gram = new Float64Array(this.width * this.width);
    this.lambda = config.ridge === 'auto' ? null : config.ridge;
  }

  private slot(label: number): ClassStat {
    let s = this.byLabel.get(label);
    if (!s) {
      s = { label, count: 0, c: new Float64Array(this.width) };
      this.classes.push(s);
      this.byLabel.set(label, s);
    }
    return s;
  }

  /** h = ReLU(Wᵣᵀx) for rows [start, start+n) (or the raw rows when M = 0), float64 n×width. */
  embed(f: Features, start: number, n: number): Float64Array {
    const x = rows64(f, start, n);
    if (!this.proj) return x;
    const h = matmul(x, this.proj, n, this.dim, this.width);
    for (let i = 0; i < h.length; i++) if (h[i] < 0) h[i] = 0;
    return h;
  }

  /**
   * Task-free update (docs/methods/ranpac.md "Algorithm"): G += Σ hhᵀ and C[:, y] += h for every
   * row; with ridge auto, λ is chosen again on this block when it has at least RIDGE_MIN_ROWS rows.
   */
  learnBatch(features: Features): void {
    drain(this.steps(features));
  }

  /**
   * learnBatch's work, pausing after every row block and every λ of the search (each well under a
   * second) so that learn() can let the event loop run (src/interrupt.ts) between them.
   */
  private *steps(features: Features): Generator<void, void> {
    checkFeatures('ranpac', features, this.dim, 'training');
    const n = features.count;
    if (n === 0) return;
    const M = this.width;
    const select = this.config.ridge === 'auto' && n >= RIDGE_MIN_ROWS;
    // Validation rows of the λ search (their h is kept for the search); the others fit.
    const isVal = new Uint8Array(n);
    if (select) for (const i of ridgeSplit(this.seed, this.increments, n).val) isVal[i] = 1;
    const gTrain = new Float64Array(M * M);
    const gVal = new Float64Array(M * M);
    const batchLabels: number[] = [];
    const batchIndex = new Map<number, number>();
    const cTrain: Float64Array[] = [];
    const valRows: { h: Float64Array; k: number }[] = [];
    for (let start = 0; start < n; start += ROW_BLOCK) {
      const b = Math.min(ROW_BLOCK, n - start);
      const h = this.embed(features, start, b);
      const trainIdx: number[] = [];
      const valIdx: number[] = [];
      for (let i = 0; i < b; i++) (isVal[start + i] ? valIdx : trainIdx).push(i);
      for (const [idx, g] of [[trainIdx, gTrain], [valIdx, gVal]] as const) {
        if (idx.length === 0) continue;
        const part = idx.length === b ? h : gather(h, idx, M);
        const p = gram(part, idx.length, M);
        for (let t = 0; t < g.length; t++) g[t] += p[t];
      }
      for (let i = 0; i < b; i++) {
        const label = features.y[start + i];
        const s = this.slot(label);
        const row = h.subarray(i * M, (i + 1) * M);
        for (let d = 0; d < M; d++) s.c[d] += row[d];
        s.count++;
        if (!select) continue;
        let k = batchIndex.get(label);
        if (k === undefined) {
          k = batchLabels.length;
          batchLabels.push(label);
          batchIndex.set(label, k);
          cTrain.push(new Float64Array(M));
        }
        if (isVal[start + i]) valRows.push({ h: row.slice(), k });
        else {
          const ct = cTrain[k];
          for (let d = 0; d < M; d++) ct[d] += row[d];
        }
      }
      yield;
    }
    for (let t = 0; t < this.gram.length; t++) this.gram[t] += gTrain[t] + gVal[t];
    if (select) {
      this.lastChoice = yield* ridgeSearch(gTrain, cTrain, valRows, M);
      this.lambda = this.lastChoice.lambda;
    }
    this.increments++;
    this.model = null;
  }

  async learn(exp: Experience): Promise<void> {
    for (const c of presentClasses(exp)) this.slot(c);
    for (const _ of this.steps(exp.train)) await yieldPoint();
  }

  labels(): number[] {
    return seenLabels(this.classes);
  }

  /** λ in force (null before the first λ search). */
  ridge(): number | null {
    return this.lambda;
  }

  /** The last λ search (grid losses), if any. */
  ridgeSearch(): RidgeChoice | null {
    return this.lastChoice;
  }

  /** G (full width×width, float64). */
  gramMatrix(): Float64Array {
    return this.gram.slice();
  }

  /** Column of C for a class (Σ h), or null. */
  classSum(label: number): Float64Array | null {
    const s = this.byLabel.get(label);
    return s && s.count > 0 ? s.c.slice() : null;
  }

  /** W = (G + λI)⁻¹C (width×K, classes in `labels()` order). */
  private build(): NonNullable<RanpacLearner['model']> {
    if (this.model) return this.model;
    if (this.lambda === null) {
      throw new UserError(
        `ranpac: no ridge λ has been chosen (every block so far had fewer than ${RIDGE_MIN_ROWS} samples)`,
        'learn larger blocks, or fix λ with --ridge <value>',
      );
    }
    const seen = this.classes.filter((s) => s.count > 0);
    const K = seen.length;
    const M = this.width;
    const c = new Float64Array(M * K);
    seen.forEach((s, k) => {
      for (let d = 0; d < M; d++) c[d * K + k] = s.c[d];
    });
    const w = ridgeSolve(this.gram, c, M, K, this.lambda);
    this.model = { w, labels: Int32Array.from(seen, (s) => s.label) };
    return this.model;
  }

  /** Scores hᵀW (n×K, classes in `labels()` order). */
  rawScores(x: Features): Float64Array {
    checkFeatures('ranpac', x, this.dim, 'test');
    if (!this.classes.some((s) => s.count > 0)) throw new Error('ranpac: predict() called before any class was learned');
    const { w, labels } = this.build();
    const K = labels.length;
    const out = new Float64Array(x.count * K);
    for (let start = 0; start < x.count; start += ROW_BLOCK) {
      const n = Math.min(ROW_BLOCK, x.count - start);
      out.set(matmul(this.embed(x, start, n), w, n, this.width, K), start * K);
    }
    return out;
  }

  /** The ridge outputs hᵀW as class scores (float64; argmax = predict()). */
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
    const M = this.width;
    return {
      rule:
        (this.proj ? `ridge regression on ReLU(random projection to ${M})` : 'ridge regression on the raw features (no projection)') +
        `, λ ${this.config.ridge === 'auto' ? 'chosen per increment' : 'fixed'}`,
      lambda: this.lambda,
      ...(this.lastChoice ? { ridgeLosses: this.lastChoice.losses } : {}),
      ...classSummary(this.classes),
      dim: this.dim,
      projection: this.config.projection,
      ...memorySummary([
        kept('Gram matrix G = Σhhᵀ (symmetric; checkpoints hold the upper triangle)', [M, M]),
        kept('class sums C = Σhyᵀ', [K, M]),
        ...(this.proj ? [kept('random projection Wᵣ (redrawn from the seed, not checkpointed)', [this.dim, M], 'float64', true)] : []),
        kept('ridge weights W (derived, rebuilt after an update)', [M, K], 'float64', true),
      ]),
    };
  }

  private projectionChecksum(): number {
    if (!this.proj) return 0;
    let s = 0;
    for (let i = 0; i < this.proj.length; i++) s += this.proj[i];
    return s;
  }

  getState(): RanpacState {
    return {
      format: 'cl-ranpac',
      version: 1,
      config: { ...this.config },
      dim: this.dim,
      seed: this.seed,
      projectionChecksum: this.projectionChecksum(),
      increments: this.increments,
      lambda: this.lambda,
      ridgeLosses: this.lastChoice ? [...this.lastChoice.losses] : null,
      classes: this.classes.map((s) => ({ label: s.label, count: s.count, c: s.c.slice() })),
      gram: packUpper(this.gram, this.width),
    };
  }

  setState(state: unknown): void {
    const { st, bad } = openState<RanpacState>(state, 'ranpac', 'cl-ranpac', 1, this.dim, this.config);
    if (st.seed !== this.seed) throw bad(`seed ${String(st.seed)}, the learner was built with ${this.seed}`);
    if (st.projectionChecksum !== this.projectionChecksum()) throw bad('the random projection drawn from the seed differs from the checkpoint (changed generator?)');
    if (!Number.isInteger(st.increments) || (st.increments as number) < 0) throw bad(`increment count ${String(st.increments)}`);
    if (st.lambda !== null && !(typeof st.lambda === 'number' && st.lambda > 0)) throw bad(`ridge λ ${String(st.lambda)}`);
    const losses = st.ridgeLosses;
    if (losses !== null && !(Array.isArray(losses) && losses.length === RIDGE_GRID.length && losses.every((v) => v === null || typeof v === 'number'))) {
      throw bad('ridge search losses are not one number per grid value');
    }
    if ((losses === null) !== (st.lambda === null || this.config.ridge !== 'auto')) throw bad('ridge search losses and λ do not go together');
    const M = this.width;
    const { classes, byLabel } = restoreClasses<ClassStat>(st.classes, bad, (c) => ({
      label: c.label,
      count: c.count,
      c: stateVector(c.c, M, `class ${c.label} column of C`, bad),
    }));
    const gram = unpackSymmetric(stateVector(st.gram, packedSize(M), 'Gram matrix', bad), M);
    this.classes = classes;
    this.byLabel = byLabel;
    this.gram = gram;
    this.increments = st.increments as number;
    this.lambda = st.lambda ?? null;
    this.lastChoice = losses && this.lambda !== null ? { lambda: this.lambda, losses: [...losses] } : null;
    this.model = null;
  }

  dispose(): void {
    this.model = null;
  }
}

function gather(h: Float64Array, idx: number[], m: number): Float64Array {
  const out = new Float64Array(idx.length * m);
  idx.forEach((i, r) => out.set(h.subarray(i * m, (i + 1) * m), r * m));
  return out;
}

/** (G + λI)⁻¹·C by a float64 Cholesky solve (G is width×width, C width×K). */
export function ridgeSolve(g: Float64Array, c: Float64Array, m: number, k: number, lambda: number): Float64Array {
  const a = g.slice();
  for (let d = 0; d < m; d++) a[d * m + d] += lambda;
  try {
    return choleskySolve(cholesky(a, m, true), m, c, k);
  } catch (e) {
    if (e instanceof NotPositiveDefiniteError) {
      throw new UserError(`ranpac: G + λI is not positive definite for λ = ${lambda}`, 'use a larger --ridge (or --ridge auto)');
    }
    throw e;
  }
}

/**
 * The paper's λ search: W_λ from the fitting rows' statistics (G_fit, C_fit columns per class of
 * the block), mean squared error of h·W_λ against the one-hot targets on the validation rows;
 * the first λ with the least error wins.
 */
export function chooseRidge(gFit: Float64Array, cFit: Float64Array[], val: { h: Float64Array; k: number }[], m: number): RidgeChoice {
  return drain(ridgeSearch(gFit, cFit, val, m));
}

/** chooseRidge, pausing after every λ. */
function* ridgeSearch(gFit: Float64Array, cFit: Float64Array[], val: { h: Float64Array; k: number }[], m: number): Generator<void, RidgeChoice> {
  const K = cFit.length;
  const c = new Float64Array(m * K);
  cFit.forEach((col, k) => {
    for (let d = 0; d < m; d++) c[d * K + k] = col[d];
  });
  const hv = new Float64Array(val.length * m);
  val.forEach((r, i) => hv.set(r.h, i * m));
  const losses: (number | null)[] = [];
  for (const lambda of RIDGE_GRID) {
    let w: Float64Array;
    try {
      w = ridgeSolve(gFit, c, m, K, lambda);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      losses.push(null); // numerically singular at this λ: not a candidate
      yield;
      continue;
    }
    const pred = matmul(hv, w, val.length, m, K);
    let se = 0;
    val.forEach((r, i) => {
      for (let k = 0; k < K; k++) {
        const e = pred[i * K + k] - (k === r.k ? 1 : 0);
        se += e * e;
      }
    });
    losses.push(se / (val.length * K));
    yield;
  }
  let best = -1;
  for (let i = 0; i < losses.length; i++) {
    const v = losses[i];
    if (v !== null && (best < 0 || v < (losses[best] as number))) best = i;
  }
  if (best < 0) throw new UserError('ranpac: G + λI is not positive definite for any λ of the grid', 'fix λ with --ridge <value>');
  return { lambda: RIDGE_GRID[best], losses };
}

// ---- the method -------------------------------------------------------------------------------

/** The resolved configuration of given options (validated like every option, defaults filled). */
export function ranpacConfig(given: Record<string, unknown> = {}): RanpacConfig {
  return resolveOptions(RANPAC_OPTIONS, given, 'ranpac');
}

export const ranpacMethod = defineMethod({
  name: 'ranpac',
  description: 'RanPAC: frozen random ReLU projection + ridge classifier from accumulated Gram statistics, closed-form; exemplar-free',
  citation: 'McDonnell et al., RanPAC: Random Projections and Pre-trained Models for Continual Learning, NeurIPS 2023, arXiv 2307.02251',
  docs: 'docs/methods/ranpac.md',
  seeded: true,
  options: RANPAC_OPTIONS,
  create: (o, ctx) => new RanpacLearner(o, ctx.dim, ctx.seed),
});
