/**
 * The shared head learner on frozen features (docs/architecture.md "Learners"): a classifier head
 * (linear or MLP, src/learners/head.ts) grown by the new classes of every task, trained by the
 * shared mini-batch loop. The learner owns what every head method needs — the head, the class ↔ row
 * map, the seeded random streams, the optional exemplar memory, the training call, the per-task
 * record and the prediction plumbing — and a method file (wa.ts, replay.ts, lwf.ts, icarl.ts, ...)
 * supplies its own equations through HeadHooks:
 *
 *   trainingSet  which samples the task trains on (new ones, + exemplars, everything seen)
 *   targets      per-sample inputs taken from the head before it grows (teacher outputs)
 *   objective    the mini-batch loss
 *   afterTask    what happens after the last epoch, before evaluation (weight aligning)
 *   predict      the headline decision rule (head logits, nearest mean of exemplars)
 *   extraPredictions, summary   secondary rules and record fields
 *
 * Per task: prepare the samples (checks, optional L2 normalisation); fork the task's random
 * streams (init, shuffle, memory); compute the targets; grow the head (or rebuild it); train;
 * record row norms; afterTask; then herd exemplars for the new classes when there is a memory.
 */
import { tf } from '../tf.js';
import { Rng } from '../rng.js';
import { UserError } from '../errors.js';
import type { ClassScores, Experience, Features, LearnContext, Learner } from '../types.js';
import { ClassifierHead } from './head.js';
import { HEAD_OPTIONS, TRAIN_OPTIONS, headSettings, trainSettings, type HeadSettings, type TrainSettings } from './head-options.js';
import { defineMethod, type MethodContext, type MethodDef } from './method.js';
import type { OptionValues } from '../options.js';
import { ExemplarMemory, type MemoryConfig } from '../train/memory.js';
import { checkOptimizerConfig, createOptimizer, type OptimizerConfig } from '../train/optimizers.js';
import { makeSchedule } from '../train/schedule.js';
import { fit, hostRows, type FitInput, type FitResult, type HostRows } from '../train/loop.js';
import { l2NormalizeRows } from '../train/herding.js';
import { fitLinearHead, type LinearLoss } from '../train/linear-step.js';
import { MLAS_BACKEND } from '../backends.js';

/** What happened in one task, for stateSummary(). */
export interface TaskRecord {
  task: number;
  classes: number[];
  trainSamples: number;
  exemplarsUsed: number;
  /** Weight of the distillation term (wa, lwf); null without one. */
  lambda: number | null;
  /** γ of this task; null when nothing was aligned (first task, no aligning, joint). */
  gamma: number | null;
  meanOldNorm: number | null;
  meanNewNormBefore: number | null;
  meanNewNormAfter: number | null;
  finalLoss: number | null;
  epochs: number;
}

/** The task in progress, as the hooks see it. */
export interface HeadTask {
  exp: Experience;
  /** The new task's samples, prepared (L2-normalised under --normalize). */
  data: Features;
  /** Classes known before this task: head rows 0..n-1. */
  n: number;
  /** New classes: head rows n..n+m-1. */
  m: number;
  /** The head: before targets() it holds the n old rows, from objective() on all n + m. */
  head: ClassifierHead;
  /** This task's record; hooks fill the fields of their method (lambda, gamma, exemplarsUsed, ...). */
  record: TaskRecord;
  learner: HeadLearner;
}

/** A mini-batch: x [B, D] features, y [B] head rows (int32), and every target by name. */
export type Batch = Record<string, tf.Tensor>;

export interface HeadHooks {
  /** The samples this task trains on (default: the new task's samples). */
  trainingSet?(t: HeadTask): Features;
  /** Per-sample inputs from the head as it stands before it grows (e.g. teacher soft targets), by batch name. */
  targets?(t: HeadTask, train: Features): Record<string, HostRows>;
  /** The mini-batch loss. */
  objective(b: Batch, t: HeadTask): tf.Scalar;
  /**
   * The same loss as `objective`, declared as cross-entropy + distillation weights, when it is one
   * (the distillation targets are the batch input `q`). On the wasm-mlas backend a linear head
   * with such a loss trains in train/linear-step.ts (gradients by hand, products on MLAS); without
   * this hook, or on other backends, through `objective` and tfjs autograd.
   */
  linearLoss?(t: HeadTask): LinearLoss;
  /** After the last epoch, before evaluation and before the exemplars of the new classes are chosen. */
  afterTask?(t: HeadTask): void;
  /** The headline prediction (default: argmax of the head's logits). */
  predict?(f: Features, learner: HeadLearner): Int32Array;
  /**
   * Class scores of the headline rule (docs/protocols.md "Evaluation scope"); needed with a
   * predict hook for task-IL and top-5 (without a predict hook: the head's logits).
   */
  scores?(f: Features, learner: HeadLearner): ClassScores;
  /** Secondary decision rules, scored and stored beside the headline. */
  extraPredictions?(f: Features, learner: HeadLearner): Record<string, Int32Array>;
  /** Extra fields of stateSummary(). */
  summary?(learner: HeadLearner): Record<string, unknown>;
}

export interface HeadLearnerConfig {
  name: string;
  seed: number;
  dim: number;
  train: TrainSettings;
  head: HeadSettings;
  /** An exemplar memory of feature copies, herded after every task; null for none. */
  memory: MemoryConfig | null;
  /** Re-initialise the whole head at every task and train it as a first task (joint). */
  rebuild?: boolean;
  /** Options in force, echoed by options() into the run record. */
  options: Record<string, unknown>;
}

/**
 * The config of a head method from its resolved options (the training and head groups, echoed into
 * the record), the method context, and its exemplar memory (null for none).
 */
export function headConfig(
  name: string,
  o: OptionValues<typeof TRAIN_OPTIONS> & OptionValues<typeof HEAD_OPTIONS>,
  ctx: MethodContext,
  memory: MemoryConfig | null,
): HeadLearnerConfig {
  return { name, seed: ctx.seed, dim: ctx.dim, train: trainSettings(o), head: headSettings(o), memory, options: { ...o } };
}

/** One task's training, as trainWithTfjs and trainOnHost take it. */
interface TrainRun {
  task: HeadTask;
  inputs: Record<string, FitInput>;
  optimizer: OptimizerConfig;
  rng: Rng;
  ctx?: LearnContext;
}

/** What a method on the head learner declares: a MethodDef whose learner is built from hooks. */
export interface HeadMethodDef<S extends HeadOptionSpecs> extends Omit<MethodDef<S>, 'create' | 'seeded' | 'check'> {
  /** Rules between options (as MethodDef.check). */
  check?(o: NoInfer<OptionValues<S>>): void;
  /** The exemplar memory, for the rehearsal methods. */
  memory?(o: NoInfer<OptionValues<S>>): MemoryConfig;
  /** Re-initialise the whole head at every task and train it as a first task (joint). */
  rebuild?: boolean;
  /** The method's equations (HeadHooks), from its resolved options and the run's context. */
  hooks(o: NoInfer<OptionValues<S>>, ctx: MethodContext): HeadHooks;
}

/** The option groups every head method has. */
type HeadOptionSpecs = typeof TRAIN_OPTIONS & typeof HEAD_OPTIONS;

/** A method on the head learner (seeded): the learner is the head learner with the method's hooks. */
export function defineHeadMethod<S extends HeadOptionSpecs>(def: HeadMethodDef<S>): MethodDef<S> {
  const { memory, rebuild, hooks, ...rest } = def;
  return defineMethod({
    ...rest,
    seeded: true,
    create(o, ctx) {
      const cfg = headConfig(def.name, o as OptionValues<HeadOptionSpecs>, ctx, memory ? memory(o) : null);
      return new HeadLearner(rebuild ? { ...cfg, rebuild } : cfg, hooks(o, ctx));
    },
  });
}

const PREDICT_CHUNK = 4096;

export class HeadLearner implements Learner {
  readonly name: string;
  private head: ClassifierHead | null = null;
  readonly memory: ExemplarMemory | null;
  private readonly rng: Rng;
  private readonly labelOfRow: number[] = [];
  private readonly rowOfLabel = new Map<number, number>();
  private readonly taskOfRow: number[] = [];
  private readonly records: TaskRecord[] = [];
  private clipOn: boolean | null = null;
  private featureMin: number | null = null;

  constructor(
    readonly cfg: HeadLearnerConfig,
    private readonly hooks: HeadHooks,
  ) {
    this.name = cfg.name;
    this.rng = new Rng(cfg.seed);
    this.memory = cfg.memory ? new ExemplarMemory(cfg.dim, cfg.memory) : null;
    // Scores only where they are the headline rule's: a predict hook without a scores hook has none.
    if (hooks.scores) this.scores = (f) => hooks.scores!(f, this);
    else if (!hooks.predict) this.scores = (f) => this.scoresCnn(f);
  }

  /** Class scores of the headline rule (Learner.scores), when the learner knows them. */
  readonly scores?: (f: Features) => ClassScores;

  get numClasses(): number {
    return this.labelOfRow.length;
  }

  /** The per-task records so far (read-only copies are in stateSummary). */
  taskRecords(): readonly TaskRecord[] {
    return this.records;
  }

  /** The task that introduced each head row. */
  rowTasks(): readonly number[] {
    return this.taskOfRow;
  }

  options(): Record<string, unknown> {
    return { ...this.cfg.options };
  }

  // ---------------------------------------------------------------- learning

  async learn(exp: Experience, ctx?: LearnContext): Promise<void> {
    const data = this.prepare(exp);
    const taskRng = this.rng.fork();
    const initRng = taskRng.fork();
    const shuffleRng = taskRng.fork();
    const memoryRng = taskRng.fork();
    const n = this.numClasses;
    const m = exp.classes.length;
    if (this.clipOn === null) this.decideClip(data);
    if (!this.head) {
      this.head = new ClassifierHead(
        { kind: this.cfg.head.head, dim: this.cfg.dim, hidden: this.cfg.head.hidden, bias: this.cfg.head.bias },
        initRng,
      );
    }
    const head = this.head;
    const t = this.cfg.train;
    const record: TaskRecord = {
      task: exp.index,
      classes: [...exp.classes],
      trainSamples: 0,
      exemplarsUsed: 0,
      lambda: null,
      gamma: null,
      meanOldNorm: null,
      meanNewNormBefore: null,
      meanNewNormAfter: null,
      finalLoss: null,
      epochs: t.epochs,
    };
    const task: HeadTask = { exp, data, n, m, head, record, learner: this };

    const trainSet = this.hooks.trainingSet ? this.hooks.trainingSet(task) : data;
    record.trainSamples = trainSet.count;
    for (const c of exp.classes) {
      this.rowOfLabel.set(c, this.labelOfRow.length);
      this.labelOfRow.push(c);
      this.taskOfRow.push(exp.index);
    }
    const inputs: Record<string, FitInput> = {
      x: hostRows(trainSet.x, this.cfg.dim),
      y: hostRows(this.rowsOf(trainSet.y)),
      ...this.hooks.targets?.(task, trainSet),
    };

    if (this.cfg.rebuild) head.reset(this.numClasses, initRng);
    else head.grow(m, initRng);

    const first = n === 0 || this.cfg.rebuild === true;
    const optimizer: OptimizerConfig = { kind: t.optimizer, lr: t.lr, momentum: t.momentum, weightDecay: first ? t.weightDecayFirst : t.weightDecay };
    const run: TrainRun = { task, inputs, optimizer, rng: shuffleRng, ctx };
    const hostStep = this.hooks.linearLoss && head.config.kind === 'linear' && tf.getBackend() === MLAS_BACKEND;
    const result = await (hostStep ? this.trainOnHost(run) : this.trainWithTfjs(run));
    record.finalLoss = result.epochLosses.at(-1) ?? null;

    if (n > 0 && !this.cfg.rebuild) {
      const before = head.rowNorms();
      record.meanOldNorm = mean(before.subarray(0, n));
      record.meanNewNormBefore = mean(before.subarray(n));
    }
    this.hooks.afterTask?.(task);
    this.records.push(record);

    // Exemplars for the new classes (herding on normalised features; old classes: prefix cut).
    await this.memory?.update(exp.classes, data, memoryRng);
  }

  /** The epochs of one task through the method's objective and tfjs autograd (train/loop.ts). */
  private async trainWithTfjs(r: TrainRun): Promise<FitResult> {
    const t = this.cfg.train;
    const head = r.task.head;
    const optimizer = createOptimizer(head.variables(), r.optimizer);
    try {
      return await fit({
        data: r.inputs,
        loss: (b) => this.hooks.objective(b, r.task),
        groups: [{ optimizer, schedule: makeSchedule(t.schedule, t.lr, t.epochs) }],
        epochs: t.epochs,
        batchSize: t.batchSize,
        rng: r.rng,
        task: r.task.exp.index,
        ctx: r.ctx,
        phase: this.name,
        afterStep: this.clipOn ? () => head.clip() : undefined,
      });
    } finally {
      optimizer.dispose();
    }
  }

  /**
   * The same epochs with the gradient of the method's linearLoss written out (train/linear-step.ts):
   * the wasm-mlas backend's engine for a linear head. Same batches, equations and events.
   */
  private async trainOnHost(r: TrainRun): Promise<FitResult> {
    const t = this.cfg.train;
    const head = r.task.head;
    const q = r.inputs.q as HostRows | undefined;
    const { w, b } = head.columns();
    const result = await fitLinearHead({
      x: (r.inputs.x as HostRows).values as Float32Array,
      dim: this.cfg.dim,
      y: (r.inputs.y as HostRows).values as Int32Array,
      q: q ? { values: q.values as Float32Array, width: q.width } : null,
      w,
      numClasses: head.numClasses,
      b,
      loss: this.hooks.linearLoss!(r.task),
      optimizer: checkOptimizerConfig(r.optimizer),
      schedule: makeSchedule(t.schedule, t.lr, t.epochs),
      epochs: t.epochs,
      batchSize: t.batchSize,
      rng: r.rng,
      clip: this.clipOn === true,
      task: r.task.exp.index,
      ctx: r.ctx,
      phase: this.name,
    });
    head.setColumns(w, b);
    return result;
  }

  private prepare(exp: Experience): Features {
    const f = exp.train;
    if (f.dim !== this.cfg.dim) {
      throw new UserError(
        `${this.name}: task ${exp.index} has ${f.dim}-d features, the learner was built for ${this.cfg.dim}-d`,
        'use one feature cache (one backbone) for the whole run',
      );
    }
    for (const c of exp.classes) {
      if (this.rowOfLabel.has(c)) throw new Error(`${this.name}: class ${c} arrives a second time (task ${exp.index})`);
    }
    const allowed = new Set(exp.classes);
    for (let i = 0; i < f.count; i++) {
      if (!allowed.has(f.y[i])) throw new Error(`${this.name}: task ${exp.index} has a sample of class ${f.y[i]} outside its classes`);
    }
    const x = this.cfg.head.normalize ? l2NormalizeRows(f.x, f.count, f.dim) : Float32Array.from(f.x);
    return { x, y: Int32Array.from(f.y), count: f.count, dim: f.dim };
  }

  private decideClip(data: Features): void {
    let min = Infinity;
    for (let i = 0; i < data.x.length; i++) if (data.x[i] < min) min = data.x[i];
    this.featureMin = min;
    this.clipOn = this.cfg.head.clip === 'auto' ? min >= 0 : this.cfg.head.clip;
  }

  private rowsOf(labels: Int32Array): Int32Array {
    const out = new Int32Array(labels.length);
    for (let i = 0; i < labels.length; i++) {
      const r = this.rowOfLabel.get(labels[i]);
      if (r === undefined) throw new Error(`${this.name}: unknown class ${labels[i]}`);
      out[i] = r;
    }
    return out;
  }

  /**
   * Outputs of the head as it stands (the previous task's model) over its first `n` rows for every
   * sample of `f`, mapped by `map` (e.g. softmax(logits / T)); `rowScale` rescales rows as
   * ClassifierHead.logits does. Computed once per task, in chunks, as a teacher's targets.
   */
  teacherOutputs(f: Features, n: number, map: (logits: tf.Tensor2D) => tf.Tensor2D, rowScale?: Float32Array): Float32Array {
    const head = this.head;
    if (!head) throw new Error('no teacher head');
    const out = new Float32Array(f.count * n);
    for (let s = 0; s < f.count; s += PREDICT_CHUNK) {
      const e = Math.min(f.count, s + PREDICT_CHUNK);
      const q = tf.tidy(() => {
        const x = tf.tensor2d(f.x.subarray(s * f.dim, e * f.dim), [e - s, f.dim]);
        return map(head.logits(x, rowScale));
      });
      out.set(q.dataSync(), s * n);
      q.dispose();
    }
    return out;
  }

  // ---------------------------------------------------------------- prediction

  private inputTensor(f: Features, s: number, e: number): tf.Tensor2D {
    if (f.dim !== this.cfg.dim) {
      throw new UserError(`${this.name}: got ${f.dim}-d features to predict, expected ${this.cfg.dim}-d`, 'evaluate on the same feature cache');
    }
    const raw = f.x.subarray(s * f.dim, e * f.dim);
    const x = this.cfg.head.normalize ? l2NormalizeRows(raw, e - s, f.dim) : raw;
    return tf.tensor2d(x, [e - s, f.dim]);
  }

  /** Labels of argmax_k scores(x)[k] for every row of f, in chunks. */
  predictWith(f: Features, scores: (x: tf.Tensor2D) => tf.Tensor2D): Int32Array {
    const out = new Int32Array(f.count);
    for (let s = 0; s < f.count; s += PREDICT_CHUNK) {
      const e = Math.min(f.count, s + PREDICT_CHUNK);
      const best = tf.tidy(() => tf.argMax(scores(this.inputTensor(f, s, e)), 1));
      const rows = best.dataSync();
      best.dispose();
      for (let i = 0; i < rows.length; i++) out[s + i] = this.labelOfRow[rows[i]];
    }
    return out;
  }

  /** The scores behind predictWith, one column per class row of the head. */
  scoresWith(f: Features, scores: (x: tf.Tensor2D) => tf.Tensor2D): ClassScores {
    const K = this.numClasses;
    const values = new Float32Array(f.count * K);
    for (let s = 0; s < f.count; s += PREDICT_CHUNK) {
      const e = Math.min(f.count, s + PREDICT_CHUNK);
      const out = tf.tidy(() => scores(this.inputTensor(f, s, e)));
      if (out.shape[1] !== K) throw new Error(`${this.name}: the head scores ${out.shape[1]} classes, it knows ${K}`);
      values.set(out.dataSync(), s * K);
      out.dispose();
    }
    return { labels: Int32Array.from(this.labelOfRow.slice(0, K)), values };
  }

  /** The head's logits as class scores (argmax = predictCnn). */
  scoresCnn(f: Features, rowScale?: Float32Array): ClassScores {
    const head = this.requireHead();
    return this.scoresWith(f, (x) => head.logits(x, rowScale));
  }

  /** The NME cosines as class scores (argmax = predictNme). */
  scoresNme(f: Features): ClassScores {
    return this.withNme((score) => this.scoresWith(f, score));
  }

  /** Prediction by the head's logits (`rowScale` as in ClassifierHead.logits). */
  predictCnn(f: Features, rowScale?: Float32Array): Int32Array {
    const head = this.requireHead();
    return this.predictWith(f, (x) => head.logits(x, rowScale));
  }

  /**
   * Nearest mean of exemplars (iCaRL; PyCIL `_eval_nme`; docs/methods/icarl.md): class means of
   * L2-normalised exemplar features, re-normalised; nearest by Euclidean distance to the
   * normalised test feature, i.e. the largest cosine.
   */
  predictNme(f: Features): Int32Array {
    return this.withNme((score) => this.predictWith(f, score));
  }

  /** Runs `fn` with the NME score (cosine to the normalised exemplar means), freeing the means after. */
  private withNme<T>(fn: (score: (x: tf.Tensor2D) => tf.Tensor2D) => T): T {
    const means = this.exemplarMeans();
    try {
      return fn((x) => {
        const xn = tf.div(x, tf.maximum(tf.norm(x, 2, 1, true), 1e-12));
        return tf.matMul(xn, means, false, true) as tf.Tensor2D;
      });
    } finally {
      means.dispose();
    }
  }

  predict(f: Features): Int32Array {
    return this.hooks.predict ? this.hooks.predict(f, this) : this.predictCnn(f);
  }

  extraPredictions(f: Features): Record<string, Int32Array> {
    return this.hooks.extraPredictions?.(f, this) ?? {};
  }

  /** Whether the memory holds any exemplar. */
  hasExemplars(): boolean {
    return this.memory !== null && this.memory.size > 0;
  }

  private exemplarMeans(): tf.Tensor2D {
    const mem = this.memory;
    if (!mem || mem.size === 0) {
      throw new UserError(`${this.name}: the nearest-mean-of-exemplars rule needs an exemplar memory`, 'use a memory > 0');
    }
    const K = this.numClasses;
    const d = this.cfg.dim;
    const means = new Float32Array(K * d);
    for (let r = 0; r < K; r++) {
      const ex = mem.rowsOf(this.labelOfRow[r]);
      if (!ex || ex.count === 0) continue; // a class with no exemplar can never win (mean 0, cosine 0 or less)
      const xn = l2NormalizeRows(ex.rows, ex.count, d);
      const mu = new Float64Array(d);
      for (let i = 0; i < ex.count; i++) for (let j = 0; j < d; j++) mu[j] += xn[i * d + j];
      let norm = 0;
      for (let j = 0; j < d; j++) norm += mu[j] * mu[j];
      const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      for (let j = 0; j < d; j++) means[r * d + j] = mu[j] * inv;
    }
    return tf.tensor2d(means, [K, d]);
  }

  /** A copy of the last layer (rows in class-arrival order) and the labels of its rows. */
  lastLayer(): { w: Float32Array; b: Float32Array | null; shape: [number, number]; labels: number[] } {
    const snap = this.requireHead().snapshot();
    return { ...snap, labels: [...this.labelOfRow] };
  }

  private requireHead(): ClassifierHead {
    if (!this.head || this.numClasses === 0) throw new Error(`${this.name}: predict() before the first learn()`);
    return this.head;
  }

  // ---------------------------------------------------------------- records

  stateSummary(): Record<string, unknown> {
    const s: Record<string, unknown> = {
      classes: this.numClasses,
      tasks: this.records.length,
      head: {
        kind: this.cfg.head.head,
        inputDim: this.cfg.dim,
        hidden: this.cfg.head.head === 'mlp' ? this.cfg.head.hidden : null,
        bias: this.cfg.head.bias,
        rows: this.head?.numClasses ?? 0,
        normalize: this.cfg.head.normalize,
      },
      clip: this.clipOn,
      clipSetting: this.cfg.head.clip,
      featureMin: this.featureMin,
      gamma: this.records.map((r) => r.gamma),
      perTask: this.records.map((r) => ({ ...r })),
    };
    if (this.memory) {
      s.exemplars = {
        mode: this.memory.config.mode,
        herding: this.memory.config.herding,
        quota: this.memory.quota(this.numClasses),
        total: this.memory.size,
        perClass: this.memory.counts(),
      };
    }
    return { ...s, ...this.hooks.summary?.(this) };
  }

  dispose(): void {
    this.head?.dispose();
    this.head = null;
  }
}

/** Arithmetic mean (NaN for none). */
export function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return a.length ? s / a.length : NaN;
}

/** Rows of several feature blocks, one after the other. */
export function concatFeatures(parts: Features[], dim: number): Features {
  const count = parts.reduce((a, p) => a + p.count, 0);
  const x = new Float32Array(count * dim);
  const y = new Int32Array(count);
  let o = 0;
  for (const p of parts) {
    x.set(p.x.subarray(0, p.count * dim), o * dim);
    y.set(p.y.subarray(0, p.count), o);
    o += p.count;
  }
  return { x, y, count, dim };
}

/** Training set of the rehearsal methods: the new samples, then every exemplar in memory (counted in the record). */
export function withExemplars(t: HeadTask): Features {
  const mem = t.learner.memory;
  if (!mem || mem.size === 0) return t.data;
  const ex = mem.features();
  t.record.exemplarsUsed = ex.count;
  return concatFeatures([t.data, ex], t.data.dim);
}
