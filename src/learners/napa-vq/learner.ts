/**
 * The NAPA-VQ learner on frozen features (docs/methods/napa-vq.md; Malepathirana, Senanayake,
 * Halgamuge, ICCV 2023, arXiv 2308.09297; reference code TamashaM/NAPA-VQ, parent PASS).
 *
 * Per task, on top of the shared adapter + coding-vector set-up (cv-learner.ts):
 *   - later tasks: the previous adapter's outputs z_pre are the feature-distillation teacher, the
 *     inputs of a frozen adapter (mode frozen-adapter) and the pre-task prototypes of the new classes;
 *   - old CVs are constants, only the new classes' CVs train ("Freezing");
 *   - loss: L_DCE + L_NA(z) in the base task; later + L_NA(p) + w_PA·L_PA + w_KD·L_KD, where p
 *     are NA-PA prototypes interpolated toward class-graph neighbours ("Loss");
 *   - every L_NA call first updates the competitive-Hebbian class graph (graph.ts);
 *   - after training, this task's prototypes come from the trained adapter.
 * Nothing of an old class is kept but per-class vectors; stateSummary() lists them.
 */
import { tf } from '../../tf.js';
import type { UserError } from '../../errors.js';
import type { Experience, LearnContext } from '../../types.js';
import type { Optimizer } from '../../train/optimizers.js';
import { hostRows, type FitInput } from '../../train/loop.js';
import { augmentPrototypes } from './augment.js';
import { CodingVectorLearner } from './cv-learner.js';
import { ClassGraph, GRAPH_DECAY, GRAPH_PRUNE, nearestUnits } from './graph.js';
import { dceLoss, kdLoss, naCoefficients, naLoss, squaredDistances } from './losses.js';
import type { NapaVqConfig } from './options.js';
import { finite } from './state.js';

/** Rows of base-task features used for the auto softmin scale. */
const SCALE_ROWS = 1024;

function median(values: Float32Array): number {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export class NapaVqLearner extends CodingVectorLearner<NapaVqConfig> {
  private readonly graph = new ClassGraph();
  private scale: number | null = null;

  constructor(config: NapaVqConfig, dim: number, seed: number) {
    super('napa-vq', config, dim, seed);
  }

  /** The softmin scale in force (null before the first task). */
  softminScale(): number | null {
    return this.scale;
  }

  /** The symmetric class graph (U×U, unit order). */
  graphMatrix(): Float64Array {
    return this.graph.matrix();
  }

  protected override onNewUnits(m: number): void {
    // Graph rows of new units are padded with identity.
    this.graph.grow(m);
  }

  /** μ^z_u = g(standardise(μ^f_u)) for every unit (mode regen-prototypes). */
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

  /** softmin scale auto: 0.5 / median(d²) of (up to 1024) base-task samples to the initial CVs. */
  private autoScale(xs: tf.Tensor2D, cvs: tf.Tensor2D): number {
    const d2 = tf.tidy(() => squaredDistances(this.adapter!.apply(tf.slice(xs, [0, 0], [Math.min(SCALE_ROWS, xs.shape[0]), -1])), cvs));
    const med = median(d2.dataSync() as Float32Array);
    d2.dispose();
    return med > 0 && Number.isFinite(med) ? 0.5 / med : 0.001;
  }

  async learn(exp: Experience, ctx?: LearnContext): Promise<void> {
    const cfg = this.config;
    const task = this.startTask(exp);
    const { first, nOld, m, unitRows, newUnitIds, cvInit, epochs } = task;
    const train = exp.train;
    const p = cfg.embedDim;
    const adapter = this.adapter!;
    const adapterTrains = first || cfg.mode !== 'frozen-adapter';
    const useKd = !first && adapterTrains && cfg.kdWeight > 0;
    const tensors: Record<string, tf.Tensor> = {};
    let newCvs: tf.Variable<tf.Rank.R2> | null = null;
    let oldCvs: tf.Tensor2D | null = null;
    const optimizers: Optimizer[] = [];
    let finalLoss: number | null = null;
    let steps = 0;
    try {
      const xs = this.input(train.x, train.count);
      // Pre-task adapter outputs (later tasks): the KD teacher F_old (the previous adapter), the
      // inputs of a frozen adapter, and the pre-task prototypes of the new classes.
      const zPre = !first ? this.embedAll(xs) : null;
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

      // Only the new classes' CVs train; the old ones are constants ("Freezing").
      newCvs = tf.tidy(() => tf.variable(tf.tensor2d(cvInit, [m, p]), true));
      oldCvs = this.cvs;
      this.cvs = null;
      const cvVar = newCvs;
      const allCvs = (): tf.Tensor2D => (oldCvs ? (tf.concat([oldCvs, cvVar], 0) as tf.Tensor2D) : cvVar);

      if (first && this.scale === null) {
        this.scale = cfg.softminScale === 'auto' ? this.autoScale(xs, cvVar) : cfg.softminScale;
      }
      const scale = this.scale ?? 0.001;
      const groups = this.optimizerGroups(task, adapterTrains, cvVar, optimizers);

      const oldUnits = Array.from({ length: nOld }, (_, i) => i);
      const napaActive = !first && cfg.napa && nOld > 0;
      const stepsPerEpoch = Math.ceil(train.count / cfg.batchSize);
      const U = this.units.length;
      const graph = cfg.graph ? this.graph : null;
      const k = cfg.k;

      /** L_NA(·) of one call: updates the class graph, then the loss on squared distances. */
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
      const result = await this.fitTask(
        task,
        data,
        (b) => {
          if (cfg.mode === 'regen-prototypes' && napaActive && steps % stepsPerEpoch === 0) this.regenPrototypes();
          steps++;
          const z = adapterTrains ? adapter.apply(b.x as tf.Tensor2D) : (b.z as tf.Tensor2D);
          const cvs = allCvs();
          const y = b.y as tf.Tensor1D;
          const d2 = squaredDistances(z, cvs);
          // Base task: L_DCE + L_NA(z). Later: + L_NA(p) + w_PA·L_PA + w_KD·L_KD.
          let loss: tf.Scalar = dceLoss(d2, y, cfg.tau);
          const na = naTerm(d2, y.dataSync() as Int32Array);
          if (na) loss = tf.add(loss, tf.mul(na, cfg.naWeight));
          if (napaActive) {
            const aug = augmentPrototypes(cfg.napaSamples, oldUnits, this.units.map((u) => u.muZ), graph ? graph.matrix() : null, U, task.methodRng, cfg.neighbourPick);
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
        ctx,
      );
      finalLoss = result.epochLosses.at(-1) ?? null;
      steps = result.steps;

      // Freeze this task's CVs: from now on they are constants.
      this.cvs = tf.tidy(() => (oldCvs ? tf.concat([oldCvs, cvVar], 0) : tf.clone(cvVar)) as tf.Tensor2D);
      // After training: this task's prototypes from the trained adapter overwrite the pre-task ones.
      const zPost = tensors.x ? this.embedAll(tensors.x as tf.Tensor2D) : null;
      if (zPost) {
        const means = NapaVqLearner.classMeans(zPost.dataSync(), p, unitRows, newUnitIds);
        zPost.dispose();
        for (const u of newUnitIds) this.units[u].muZ = means.get(u)!;
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
      ms: Math.round(performance.now() - task.started),
    });
  }

  stateSummary(): Record<string, unknown> {
    const cfg = this.config;
    const U = this.units.length;
    const D = this.dim;
    const p = cfg.embedDim;
    const base = this.summaryBase();
    const bytesPerClass = D * 8 + p * 8 + p * 4 + U * 8 + 8;
    return {
      exemplarFree: true,
      storedSamples: 0,
      storedFeatureMatrices: 0,
      mode: cfg.mode,
      classes: U,
      labels: this.labels(),
      countsPerClass: base.counts,
      perClass: [
        { name: 'backboneMean', length: D, dtype: 'float64' },
        { name: 'adapterPrototype', length: p, dtype: 'float64' },
        { name: 'graphRow', length: U, dtype: 'float64' },
        { name: 'codingVector', length: p, dtype: 'float32' },
        { name: 'sampleCount', length: 1, dtype: 'int' },
      ],
      bytesPerClass,
      shared: base.adapter,
      bytes: U * bytesPerClass + base.adapterBytes + base.stdBytes,
      graph: { units: this.graph.units, edges: this.graph.edgeCount(), k: Math.min(cfg.k, Math.max(U, 1)), decay: GRAPH_DECAY, prune: GRAPH_PRUNE },
      softminScale: this.scale,
      tasks: this.records.map((r) => ({ ...r })),
    };
  }

  protected override extraState(): Record<string, unknown> {
    return { softminScale: this.scale, graph: Array.from(this.graph.matrix()) };
  }

  protected override restoreExtra(extra: Record<string, unknown>, units: number, bad: (why: string) => UserError): void {
    const scale = extra.softminScale;
    if (scale !== null && !(typeof scale === 'number' && scale > 0)) throw bad(`softmin scale ${String(scale)}`);
    if (!finite(extra.graph, units * units)) throw bad(`graph is not ${units} × ${units} numbers`);
    this.graph.setMatrix(extra.graph, units);
    this.scale = scale;
  }
}
