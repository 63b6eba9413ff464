/**
 * What NAPA-VQ and finetune-adapter share (docs/methods/napa-vq.md, docs/methods/finetune-adapter.md):
 * an adapter on standardised frozen features, one coding vector (CV) per class as a distance-based
 * classifier, per-class units (label, sample count, backbone mean μ^f, adapter prototype μ^z), the
 * task set-up (checks, seeded random streams, new units and their initial CVs), the optimisers of
 * the reference recipe, prediction by either test rule, and the checkpointable state. Each method
 * file's learner subclass holds its own learn().
 */
import { tf } from '../../tf.js';
import type { Rng } from '../../rng.js';
import { UserError } from '../../errors.js';
import type { ClassScores, Experience, Features, LearnContext, Learner } from '../../types.js';
import { createOptimizer, type Optimizer } from '../../train/optimizers.js';
import { stepSchedule } from '../../train/schedule.js';
import { fit, type FitInput, type FitResult, type ParamGroup } from '../../train/loop.js';
import { Adapter, fitStandardisation, taskRng, type Standardisation } from './adapter.js';
import { squaredDistances } from './losses.js';
import type { AdapterConfig, TestRule } from './options.js';
import { checkState, unusable, type CvState, type CvTaskRecord } from './state.js';

export type { CvTaskRecord } from './state.js';

/** Per-class state: the only things kept of a class after its task (exemplar-free). */
export interface ClassUnit {
  label: number;
  task: number;
  /** Training samples the class had (a number, not the samples). */
  count: number;
  /** μ^f: backbone-space mean (raw features), exact forever. */
  muF: Float64Array;
  /** μ^z: adapter-space prototype. */
  muZ: Float64Array;
}

/** A task being learned, after the shared set-up. */
export interface CvTask {
  exp: Experience;
  started: number;
  first: boolean;
  /** Units (classes) before this task; the new ones are nOld..nOld+m-1. */
  nOld: number;
  m: number;
  /** Unit of every training row. */
  unitRows: Int32Array;
  newUnitIds: number[];
  /** Initial CVs of the new units [m, p], drawn from N(0, 1) without scaling. */
  cvInit: Float32Array;
  initRng: Rng;
  shuffleRng: Rng;
  /** The method's own stream (NA-PA sampling), forked third. */
  methodRng: Rng;
  epochs: number;
}

const PREDICT_CHUNK = 2048;

/** Cosine of every row of z to every CV (the paper's test rule). */
function cosines(z: tf.Tensor2D, cvs: tf.Tensor2D): tf.Tensor2D {
  const unit = (t: tf.Tensor2D): tf.Tensor2D => tf.div(t, tf.maximum(tf.norm(t, 'euclidean', 1, true), 1e-12));
  return tf.matMul(unit(z), unit(cvs), false, true);
}

export abstract class CodingVectorLearner<C extends AdapterConfig = AdapterConfig> implements Learner {
  readonly config: C;
  protected units: ClassUnit[] = [];
  protected readonly unitOf = new Map<number, number>();
  protected adapter: Adapter | null = null;
  /** All CVs [U, p], a constant between tasks. */
  protected cvs: tf.Tensor2D | null = null;
  protected std: Standardisation | null = null;
  protected readonly records: CvTaskRecord[] = [];

  constructor(
    readonly name: string,
    config: C,
    readonly dim: number,
    readonly seed: number,
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`${name}: feature dimension must be a positive integer, got ${dim}`);
    this.config = { ...config };
  }

  abstract learn(exp: Experience, ctx?: LearnContext): Promise<void>;
  abstract stateSummary(): Record<string, unknown>;

  get numClasses(): number {
    return this.units.length;
  }

  /** Class labels in unit (arrival) order. */
  labels(): number[] {
    return this.units.map((u) => u.label);
  }

  options(): Record<string, unknown> {
    return { ...this.config };
  }

  protected checkDim(f: Features, what: string): void {
    if (f.dim !== this.dim) {
      throw new UserError(
        `${this.name}: ${what} features have dimension ${f.dim} but the learner was built for ${this.dim}`,
        'use the same backbone / feature cache for training and evaluation',
      );
    }
  }

  /** Standardised features as a tensor. */
  protected input(x: Float32Array, rows: number): tf.Tensor2D {
    return tf.tidy(() => {
      const t = tf.tensor2d(x, [rows, this.dim]);
      if (!this.std) return t;
      return tf.mul(tf.sub(t, tf.tensor1d(this.std.mean)), tf.tensor1d(this.std.invStd)) as tf.Tensor2D;
    });
  }

  /** Per-class means of the rows of a [n, w] matrix (float64), for the given unit rows. */
  protected static classMeans(values: ArrayLike<number>, width: number, unitRows: Int32Array, unitIds: number[]): Map<number, Float64Array> {
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
  protected embedAll(xs: tf.Tensor2D): tf.Tensor2D {
    const adapter = this.adapter!;
    const n = xs.shape[0];
    if (n <= PREDICT_CHUNK) return adapter.apply(xs);
    return tf.tidy(() => {
      const parts: tf.Tensor2D[] = [];
      for (let s = 0; s < n; s += PREDICT_CHUNK) parts.push(adapter.apply(tf.slice(xs, [s, 0], [Math.min(PREDICT_CHUNK, n - s), -1])));
      return tf.concat(parts, 0);
    });
  }

  // ------------------------------------------------------------------ the shared task set-up

  /**
   * Checks the task, forks its random streams (init, shuffle, the method's), fits the
   * standardisation and creates the adapter on the base task, and adds one unit per new class with
   * its backbone mean and sample count and an initial CV from N(0, 1).
   */
  protected startTask(exp: Experience): CvTask {
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
    const methodRng = rng.fork();
    const first = this.units.length === 0;
    const nOld = this.units.length;
    const m = exp.classes.length;
    const p = cfg.embedDim;
    if (first) {
      if (cfg.standardize) this.std = fitStandardisation(train);
      this.adapter = Adapter.create(this.dim, cfg.hidden, p, initRng);
    }
    exp.classes.forEach((c, i) => this.unitOf.set(c, nOld + i));
    const unitRows = Int32Array.from(train.y, (c) => this.unitOf.get(c)!);
    const newUnitIds = exp.classes.map((_, i) => nOld + i);
    const muF = CodingVectorLearner.classMeans(train.x, this.dim, unitRows, newUnitIds);
    for (const [i, c] of exp.classes.entries()) {
      this.units.push({ label: c, task: exp.index, count: 0, muF: muF.get(nOld + i)!, muZ: new Float64Array(p) });
    }
    for (let i = 0; i < train.count; i++) this.units[unitRows[i]].count++;
    this.onNewUnits(m);
    const cvInit = new Float32Array(m * p);
    for (let i = 0; i < cvInit.length; i++) cvInit[i] = initRng.normal();
    return { exp, started, first, nOld, m, unitRows, newUnitIds, cvInit, initRng, shuffleRng, methodRng, epochs: first ? cfg.epochsBase : cfg.epochs };
  }

  /** Called when m units were added (NAPA-VQ grows its class graph). */
  protected onNewUnits(m: number): void {
    void m;
  }

  /**
   * The reference optimisers, fresh every task: the adapter with Adam (lr ×0.1 at 45 % of the
   * epochs) when it trains, the CVs with SGD without momentum (lr ×0.1 every 20 % of the epochs).
   */
  protected optimizerGroups(task: CvTask, adapterTrains: boolean, cvVar: tf.Variable, optimizers: Optimizer[]): ParamGroup[] {
    const cfg = this.config;
    const { first, epochs } = task;
    const groups: ParamGroup[] = [];
    if (adapterTrains) {
      const lr = first ? cfg.adapterLr : cfg.adapterLrLater;
      const opt = createOptimizer(this.adapter!.variables(), { kind: 'adam', lr, weightDecay: cfg.weightDecay });
      optimizers.push(opt);
      groups.push({ optimizer: opt, schedule: stepSchedule(lr, [Math.floor(0.45 * epochs)].filter((e) => e > 0), 0.1), flag: first ? '--adapter-lr' : '--adapter-lr-later' });
    }
    const cvLr = first ? cfg.cvLr : cfg.cvLr * cfg.cvLrLaterFactor;
    const cvOpt = createOptimizer([cvVar], { kind: 'sgd', lr: cvLr, momentum: 0, weightDecay: 0 });
    optimizers.push(cvOpt);
    const cvMilestones = [...new Set([1, 2, 3, 4].map((i) => Math.round((i * epochs) / 5)))].filter((e) => e > 0 && e < epochs);
    groups.push({ optimizer: cvOpt, schedule: stepSchedule(cvLr, cvMilestones, 0.1), flag: first ? '--cv-lr' : '--cv-lr × --cv-lr-later-factor' });
    return groups;
  }

  /** The shared training loop over this task's rows (seeded shuffles, progress events, divergence guard). */
  protected fitTask(task: CvTask, data: Record<string, FitInput>, loss: (b: Record<string, tf.Tensor>) => tf.Scalar, groups: ParamGroup[], ctx?: LearnContext): Promise<FitResult> {
    return fit({ data, loss, groups, epochs: task.epochs, batchSize: this.config.batchSize, rng: task.shuffleRng, task: task.exp.index, ctx, phase: this.name });
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
   * cosine = highest cosine between z and the CVs (the paper's rule); euclidean = nearest CV in raw
   * distance (the training rule). Ties go to the class that arrived first.
   */
  predictWith(x: Features, rule: TestRule): Int32Array {
    const cvs = this.readyCvs(x);
    const out = new Int32Array(x.count);
    for (let start = 0; start < x.count; start += PREDICT_CHUNK) {
      const n = Math.min(PREDICT_CHUNK, x.count - start);
      const idx = tf.tidy(() => {
        const z = this.adapter!.apply(this.input(x.x.subarray(start * x.dim, (start + n) * x.dim), n));
        if (rule === 'euclidean') return tf.argMin(squaredDistances(z, cvs), 1);
        return tf.argMax(cosines(z, cvs), 1);
      });
      const rows = idx.dataSync();
      idx.dispose();
      for (let i = 0; i < n; i++) out[start + i] = this.units[rows[i]].label;
    }
    return out;
  }

  private readyCvs(x: Features): tf.Tensor2D {
    this.checkDim(x, 'test');
    const cvs = this.cvs;
    if (!cvs || !this.adapter) throw new Error(`${this.name}: predict() called before any class was learned`);
    return cvs;
  }

  /**
   * Scores of the headline test rule (docs/protocols.md "Evaluation scope"): the cosines to the
   * CVs, or minus the squared distances, so that the argmax is predict()'s class.
   */
  scores(x: Features): ClassScores {
    const cvs = this.readyCvs(x);
    const U = this.units.length;
    const values = new Float32Array(x.count * U);
    for (let start = 0; start < x.count; start += PREDICT_CHUNK) {
      const n = Math.min(PREDICT_CHUNK, x.count - start);
      const s = tf.tidy(() => {
        const z = this.adapter!.apply(this.input(x.x.subarray(start * x.dim, (start + n) * x.dim), n));
        return this.config.testRule === 'euclidean' ? tf.neg(squaredDistances(z, cvs)) : cosines(z, cvs);
      });
      values.set(s.dataSync(), start * U);
      s.dispose();
    }
    return { labels: Int32Array.from(this.units, (u) => u.label), values };
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

  /** Copies of the adapter weights (W1 [D,H], b1, W2 [H,p], b2). */
  adapterWeights(): Float32Array[] {
    return this.adapter ? this.adapter.variables().map((v) => Float32Array.from(v.dataSync())) : [];
  }

  /** The fields of stateSummary() every adapter learner reports. */
  protected summaryBase(): { counts: Record<string, number>; adapter: Record<string, unknown>; adapterBytes: number; stdBytes: number } {
    const cfg = this.config;
    const D = this.dim;
    const p = cfg.embedDim;
    const countsPerClass: Record<string, number> = {};
    for (const u of this.units) countsPerClass[String(u.label)] = u.count;
    const params = D * cfg.hidden + cfg.hidden + cfg.hidden * p + p;
    return {
      counts: countsPerClass,
      adapter: {
        adapter: { shapes: this.adapter ? [[D, cfg.hidden], [cfg.hidden], [cfg.hidden, p], [p]] : [], params: this.adapter ? params : 0 },
        standardisation: this.std ? { vectors: 2, length: D } : null,
      },
      adapterBytes: this.adapter ? 4 * params : 0,
      stdBytes: this.std ? 8 * D : 0,
    };
  }

  /** The method's own parts of a checkpoint, and their restore (NAPA-VQ: graph, softmin scale). */
  protected extraState(): Record<string, unknown> {
    return {};
  }

  protected restoreExtra(extra: Record<string, unknown>, units: number, bad: (why: string) => UserError): void {
    if (Object.keys(extra).length > 0) throw bad(`unexpected parts ${Object.keys(extra).join(', ')} (units ${units})`);
  }

  getState(): CvState {
    const arr = (t: tf.Tensor): number[] => Array.from(t.dataSync());
    return {
      format: `cl-${this.name}`,
      version: 2,
      config: { ...this.config },
      dim: this.dim,
      seed: this.seed,
      standardisation: this.std ? { mean: Array.from(this.std.mean), invStd: Array.from(this.std.invStd) } : null,
      adapter: this.adapter ? { w1: arr(this.adapter.w1), b1: arr(this.adapter.b1), w2: arr(this.adapter.w2), b2: arr(this.adapter.b2) } : null,
      codingVectors: this.cvs ? arr(this.cvs) : [],
      units: this.units.map((u) => ({ label: u.label, task: u.task, count: u.count, muF: Array.from(u.muF), muZ: Array.from(u.muZ) })),
      tasks: this.records.map((r) => ({ ...r, classes: [...r.classes] })),
      extra: this.extraState(),
    };
  }

  /** Replace the state with a checkpoint from getState() (same options, dimension and seed). */
  setState(state: unknown): void {
    const cfg = this.config;
    const bad = unusable(this.name);
    const st = checkState(state, { format: `cl-${this.name}`, dim: this.dim, seed: this.seed, config: cfg, hidden: cfg.hidden, embedDim: cfg.embedDim }, bad);
    const U = st.units.length;
    this.restoreExtra(st.extra, U, bad);
    this.disposeTensors();
    this.units = st.units.map((u) => ({ label: u.label, task: u.task, count: u.count, muF: Float64Array.from(u.muF), muZ: Float64Array.from(u.muZ) }));
    this.unitOf.clear();
    this.units.forEach((u, i) => this.unitOf.set(u.label, i));
    this.std = st.standardisation ? { mean: Float32Array.from(st.standardisation.mean), invStd: Float32Array.from(st.standardisation.invStd) } : null;
    if (st.adapter && U > 0) {
      this.adapter = Adapter.fromValues(st.adapter, this.dim, cfg.hidden, cfg.embedDim);
      this.cvs = tf.tensor2d(st.codingVectors, [U, cfg.embedDim]);
    }
    this.records.length = 0;
    for (const r of st.tasks) this.records.push({ ...r, classes: [...r.classes] });
  }

  protected disposeTensors(): void {
    this.adapter?.dispose();
    this.adapter = null;
    this.cvs?.dispose();
    this.cvs = null;
  }

  dispose(): void {
    this.disposeTensors();
  }
}
