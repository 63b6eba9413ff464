/**
 * finetune-adapter (docs/methods/finetune-adapter.md): NAPA-VQ's adapter + coding-vector classifier
 * trained with the distance-based cross-entropy L_DCE alone on each task, every coding vector
 * trainable, no protection at all. It is the forgetting lower bound of NAPA-VQ on the same
 * features, as finetune is of wa.
 */
import { defineOptions, withDefaults } from '../options.js';
import { tf } from '../tf.js';
import type { Experience, LearnContext } from '../types.js';
import type { Optimizer } from '../train/optimizers.js';
import { hostRows } from '../train/loop.js';
import { defineMethod } from './method.js';
import { CodingVectorLearner } from './napa-vq/cv-learner.js';
import { dceLoss, squaredDistances } from './napa-vq/losses.js';
import { ADAPTER_OPTIONS, STANDARDIZE_OPTIONS, type AdapterConfig } from './napa-vq/options.js';

/**
 * Plain fine-tuning uses the same rates on every task: NAPA-VQ's lower adapter and coding-vector
 * rates of later tasks are part of its protection recipe (PASS lineage).
 */
export const FINETUNE_ADAPTER_OPTIONS = defineOptions({
  ...withDefaults(ADAPTER_OPTIONS, { adapterLrLater: 1e-3, cvLrLaterFactor: 1 }),
  ...STANDARDIZE_OPTIONS,
});

export class FinetuneAdapterLearner extends CodingVectorLearner {
  constructor(config: AdapterConfig, dim: number, seed: number) {
    super('finetune-adapter', config, dim, seed);
  }

  async learn(exp: Experience, ctx?: LearnContext): Promise<void> {
    const cfg = this.config;
    const task = this.startTask(exp);
    const { m, unitRows, cvInit, epochs } = task;
    const p = cfg.embedDim;
    const adapter = this.adapter!;
    const optimizers: Optimizer[] = [];
    let cvVar: tf.Variable<tf.Rank.R2> | null = null;
    let xs: tf.Tensor2D | null = null;
    let result: { epochLosses: number[]; steps: number };
    try {
      xs = this.input(exp.train.x, exp.train.count);
      // Every CV, old and new, is one trainable matrix: nothing protects the old classes.
      cvVar = tf.tidy(() => {
        const add = tf.tensor2d(cvInit, [m, p]);
        return tf.variable(this.cvs ? tf.concat([this.cvs, add], 0) : add, true);
      });
      this.cvs?.dispose();
      this.cvs = null;
      const cvs = cvVar;
      const groups = this.optimizerGroups(task, true, cvs, optimizers);
      result = await this.fitTask(
        task,
        { x: hostRows(xs.dataSync() as Float32Array, this.dim), y: hostRows(unitRows) },
        // L_DCE: cross-entropy over −‖z − c_j‖ / τ.
        (b) => dceLoss(squaredDistances(adapter.apply(b.x as tf.Tensor2D), cvs), b.y as tf.Tensor1D, cfg.tau),
        groups,
        ctx,
      );
      this.cvs = tf.clone(cvs);
    } finally {
      cvVar?.dispose();
      xs?.dispose();
      for (const o of optimizers) o.dispose();
    }
    this.records.push({
      task: exp.index,
      classes: [...exp.classes],
      samples: exp.train.count,
      epochs,
      steps: result.steps,
      finalLoss: result.epochLosses.at(-1) ?? null,
      adapterTrained: true,
      ms: Math.round(performance.now() - task.started),
    });
  }

  stateSummary(): Record<string, unknown> {
    const p = this.config.embedDim;
    const U = this.units.length;
    const base = this.summaryBase();
    const bytesPerClass = p * 4 + 8;
    return {
      exemplarFree: true,
      storedSamples: 0,
      storedFeatureMatrices: 0,
      mode: 'finetune',
      classes: U,
      labels: this.labels(),
      countsPerClass: base.counts,
      perClass: [
        { name: 'codingVector', length: p, dtype: 'float32' },
        { name: 'sampleCount', length: 1, dtype: 'int' },
      ],
      bytesPerClass,
      shared: base.adapter,
      bytes: U * bytesPerClass + base.adapterBytes + base.stdBytes,
      tasks: this.records.map((r) => ({ ...r })),
    };
  }
}

export const finetuneAdapterMethod = defineMethod({
  name: 'finetune-adapter',
  description: 'finetune lower bound for NAPA-VQ: the same adapter + coding vectors, plain distance cross-entropy on each task, no protection',
  citation:
    'Malepathirana, Senanayake, Halgamuge, NAPA-VQ: Neighborhood-Aware Prototype Augmentation with Vector Quantization for Continual Learning, ICCV 2023, arXiv 2308.09297 (code TamashaM/NAPA-VQ)',
  docs: 'docs/methods/finetune-adapter.md',
  seeded: true,
  options: FINETUNE_ADAPTER_OPTIONS,
  create: (o, ctx) => new FinetuneAdapterLearner(o, ctx.dim, ctx.seed),
});
