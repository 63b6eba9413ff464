/**
 * The incremental head learner behind wa, replay, finetune and joint (they differ only in
 * memory, distillation, alignment and whether the head is retrained from scratch).
 *
 * Per task (wa.md §2): grow the head (or rebuild it, joint); train on new samples ∪ exemplars with
 * (1−λ)·CE + λ·KD against the previous aligned head; clip W ≥ 0 after every step if on; align
 * the new rows (γ); then select exemplars for the new classes. Exemplars are feature copies.
 */
import { tf } from '../tf.js';
import { Rng } from '../rng.js';
import { UserError } from '../errors.js';
import type { Experience, Features, LearnContext, Learner } from '../types.js';
import { ClassifierHead } from './head.js';
import type { HeadSettings, TrainSettings } from './head-options.js';
import { ExemplarMemory, type MemoryConfig } from '../train/memory.js';
import { crossEntropy, distillation, softTargets } from '../train/losses.js';
import { createOptimizer } from '../train/optimizers.js';
import { makeSchedule } from '../train/schedule.js';
import { fit, hostRows, type FitInput } from '../train/loop.js';
import { l2NormalizeRows } from '../train/herding.js';

export type EvalMode = 'cnn' | 'nme' | 'both';
export const EVAL_MODES: EvalMode[] = ['cnn', 'nme', 'both'];

export interface KdSettings {
  temperature: number;
  /** 'ratio' = n / (n + m) (wa.md §2 step 3), or a fixed weight in [0, 1]. */
  lambda: 'ratio' | number;
  /** Distil from the aligned previous head (correct) or its pre-alignment logits (pitfall demo). */
  teacher: 'aligned' | 'raw';
}

export interface HeadLearnerConfig {
  name: string;
  seed: number;
  dim: number;
  train: TrainSettings;
  head: HeadSettings;
  /** null: no exemplar memory. */
  memory: MemoryConfig | null;
  /** null: no distillation. */
  kd: KdSettings | null;
  align: boolean;
  /** Retrain a fresh head on all data seen so far at every task (keeps every feature). */
  joint: boolean;
  eval: EvalMode;
  /** Options in force, echoed by options(). */
  options: Record<string, unknown>;
}

/** What happened in one task, for stateSummary(). */
export interface TaskRecord {
  task: number;
  classes: number[];
  trainSamples: number;
  exemplarsUsed: number;
  lambda: number | null;
  /** γ of this task; null when nothing was aligned (first task, align off, joint). */
  gamma: number | null;
  meanOldNorm: number | null;
  meanNewNormBefore: number | null;
  meanNewNormAfter: number | null;
  finalLoss: number | null;
  epochs: number;
}

const PREDICT_CHUNK = 4096;

export class HeadLearner implements Learner {
  readonly name: string;
  private head: ClassifierHead | null = null;
  private readonly memory: ExemplarMemory | null;
  private readonly rng: Rng;
  private readonly labelOfRow: number[] = [];
  private readonly rowOfLabel = new Map<number, number>();
  private readonly taskOfRow: number[] = [];
  private readonly records: TaskRecord[] = [];
  /** joint only: every feature seen so far. */
  private readonly seen: Features[] = [];
  private clipOn: boolean | null = null;
  private featureMin: number | null = null;

  constructor(private readonly cfg: HeadLearnerConfig) {
    this.name = cfg.name;
    this.rng = new Rng(cfg.seed);
    this.memory = cfg.memory ? new ExemplarMemory(cfg.dim, cfg.memory) : null;
  }

  get numClasses(): number {
    return this.labelOfRow.length;
  }

  /** γ of every task so far (null where nothing was aligned). */
  gammas(): Array<number | null> {
    return this.records.map((r) => r.gamma);
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

    // Training set: new samples ∪ exemplars (or everything seen, joint).
    let trainSet: Features = data;
    let exemplarsUsed = 0;
    if (this.cfg.joint) {
      this.seen.push(data);
      trainSet = concatFeatures(this.seen, this.cfg.dim);
    } else if (this.memory && this.memory.size > 0) {
      const mem = this.memory.features();
      exemplarsUsed = mem.count;
      trainSet = concatFeatures([data, mem], this.cfg.dim);
    }
    for (const c of exp.classes) {
      this.rowOfLabel.set(c, this.labelOfRow.length);
      this.labelOfRow.push(c);
      this.taskOfRow.push(exp.index);
    }

    const tensors: Record<string, FitInput> = {
      x: hostRows(trainSet.x, this.cfg.dim),
      y: hostRows(this.rowsOf(trainSet.y)),
    };
    // Teacher soft targets over the n old classes, from the head as it stands (aligned), once per task.
    const kd = this.cfg.kd && n > 0 && !this.cfg.joint ? this.cfg.kd : null;
    if (kd) tensors.q = hostRows(this.teacherTargets(trainSet, n, kd), n);
    const lambda = kd ? (kd.lambda === 'ratio' ? n / (n + m) : kd.lambda) : 0;

    if (this.cfg.joint) head.reset(this.numClasses, initRng);
    else head.grow(m, initRng);

    const t = this.cfg.train;
    const first = n === 0 || this.cfg.joint;
    const optimizer = createOptimizer(head.variables(), {
      kind: t.optimizer,
      lr: t.lr,
      momentum: t.momentum,
      weightDecay: first ? t.weightDecayFirst : t.weightDecay,
    });
    let finalLoss: number | null = null;
    try {
      const result = await fit({
        data: tensors,
        // Eq. of wa.md §2 step 3: L = (1 − λ)·CE + λ·KD.
        loss: (b) => {
          const logits = head.logits(b.x as tf.Tensor2D);
          const ce = crossEntropy(logits, b.y as tf.Tensor1D);
          if (!kd) return ce;
          const kdl = distillation(logits, b.q as tf.Tensor2D, kd.temperature);
          return tf.add(tf.mul(ce, 1 - lambda), tf.mul(kdl, lambda)) as tf.Scalar;
        },
        groups: [{ optimizer, schedule: makeSchedule(t.schedule, t.lr, t.epochs) }],
        epochs: t.epochs,
        batchSize: t.batchSize,
        rng: shuffleRng,
        task: exp.index,
        ctx,
        phase: this.name,
        afterStep: this.clipOn ? () => head.clip() : undefined,
      });
      finalLoss = result.epochLosses.at(-1) ?? null;
    } finally {
      optimizer.dispose();
    }

    // Weight aligning after the last epoch, before evaluation (wa.md §2 step 5, pitfall 4).
    const record: TaskRecord = {
      task: exp.index,
      classes: [...exp.classes],
      trainSamples: trainSet.count,
      exemplarsUsed,
      lambda: kd ? lambda : null,
      gamma: null,
      meanOldNorm: null,
      meanNewNormBefore: null,
      meanNewNormAfter: null,
      finalLoss,
      epochs: t.epochs,
    };
    if (n > 0 && !this.cfg.joint) {
      const before = head.rowNorms();
      record.meanOldNorm = mean(before.subarray(0, n));
      record.meanNewNormBefore = mean(before.subarray(n));
      if (this.cfg.align) {
        record.gamma = head.align(n);
        record.meanNewNormAfter = mean(head.rowNorms().subarray(n));
      }
    }
    this.records.push(record);

    // Exemplars for the new classes (herding on normalised features; old classes: prefix cut).
    await this.memory?.update(exp.classes, data, memoryRng);
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

  /** q̂ = softmax(ô/T) of the current (previous-task) head over its n rows, for every row of f. */
  private teacherTargets(f: Features, n: number, kd: KdSettings): Float32Array {
    const head = this.head;
    if (!head) throw new Error('no teacher head');
    // 'raw': undo the previous task's alignment to show the pitfall of wa.md §7.2.
    const scale = kd.teacher === 'raw' ? this.unalignScale(n) : undefined;
    const out = new Float32Array(f.count * n);
    for (let s = 0; s < f.count; s += PREDICT_CHUNK) {
      const e = Math.min(f.count, s + PREDICT_CHUNK);
      const q = tf.tidy(() => {
        const x = tf.tensor2d(f.x.subarray(s * f.dim, e * f.dim), [e - s, f.dim]);
        return softTargets(head.logits(x, scale), kd.temperature);
      });
      out.set(q.dataSync(), s * n);
      q.dispose();
    }
    return out;
  }

  /** Per-row scale that undoes the last task's γ on its new rows (rows < k only). */
  private unalignScale(k: number): Float32Array | undefined {
    const last = this.records.at(-1);
    if (!last || last.gamma === null) return undefined;
    const scale = new Float32Array(k).fill(1);
    const g = last.gamma;
    for (let r = 0; r < k; r++) if (this.taskOfRow[r] === last.task) scale[r] = 1 / g;
    return scale;
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

  private predictWith(f: Features, scores: (x: tf.Tensor2D) => tf.Tensor2D): Int32Array {
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

  /** CNN prediction with the aligned head (WA's headline accuracy). */
  predictCnn(f: Features): Int32Array {
    const head = this.requireHead();
    return this.predictWith(f, (x) => head.logits(x));
  }

  /** CNN prediction with the last task's alignment undone (old-class accuracy before/after γ). */
  predictUnaligned(f: Features): Int32Array {
    const head = this.requireHead();
    return this.predictWith(f, (x) => head.logits(x, this.unalignScale(this.numClasses)));
  }

  /**
   * Nearest mean of exemplars (iCaRL; PyCIL `_eval_nme`): class means of L2-normalised exemplar
   * features, re-normalised; nearest by Euclidean distance to the normalised test feature, i.e.
   * the largest cosine.
   */
  predictNme(f: Features): Int32Array {
    const means = this.exemplarMeans();
    try {
      return this.predictWith(f, (x) => {
        const xn = tf.div(x, tf.maximum(tf.norm(x, 2, 1, true), 1e-12));
        return tf.matMul(xn, means, false, true) as tf.Tensor2D;
      });
    } finally {
      means.dispose();
    }
  }

  predict(f: Features): Int32Array {
    return this.cfg.eval === 'nme' ? this.predictNme(f) : this.predictCnn(f);
  }

  /**
   * The predictions other than the headline one, by name, for the evaluator to score beside
   * predict(): 'nme' / 'cnn' (per the eval option) and 'unaligned' (when alignment is on).
   */
  extraPredictions(f: Features): Record<string, Int32Array> {
    const out: Record<string, Int32Array> = {};
    const hasMemory = this.memory !== null && this.memory.size > 0;
    if (this.cfg.eval === 'both' && hasMemory) out.nme = this.predictNme(f);
    if (this.cfg.eval === 'nme') out.cnn = this.predictCnn(f);
    if (this.cfg.align && this.records.at(-1)?.gamma != null) out.unaligned = this.predictUnaligned(f);
    return out;
  }

  private exemplarMeans(): tf.Tensor2D {
    const mem = this.memory;
    if (!mem || mem.size === 0) {
      throw new UserError(`${this.name}: NME needs an exemplar memory`, 'use --eval cnn, or a memory > 0');
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
      gamma: this.gammas(),
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
    if (this.cfg.joint) s.storedFeatures = this.seen.reduce((a, f) => a + f.count, 0);
    return s;
  }

  dispose(): void {
    this.head?.dispose();
    this.head = null;
  }
}

function mean(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return a.length ? s / a.length : NaN;
}

function concatFeatures(parts: Features[], dim: number): Features {
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
