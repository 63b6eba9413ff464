/**
 * The shared mini-batch loop. The whole training set of a task is one block per input with a
 * common first dimension; each epoch draws a seeded permutation, gathers the batches, takes
 * gradients with tf.variableGrads and steps every parameter group's optimiser. The loss is summed
 * on the device and read once per epoch: that value feeds the progress event and the divergence
 * guard (NaN/Inf/explosion -> TrainingDivergedError).
 *
 * Gathering: tf.gather on tfjs-wasm 4.22 costs ~15-20 ms for 128 rows of 1280 floats whatever the
 * table size (tf.slice of a big tensor even copies all of it), while copying the rows in JS and
 * uploading them costs ~0.5 ms. So host-side inputs (HostRows) are gathered in JS on the wasm and
 * cpu backends and uploaded once and gathered with tf.gather on device backends (tensorflow,
 * webgl); inputs passed as tensors are always gathered with tf.gather.
 */
import { yieldPoint } from '../interrupt.js';
import { tf } from '../tf.js';
import type { Rng } from '../rng.js';
import type { LearnContext } from '../types.js';
import { batchRanges, shuffledIndices } from './batches.js';
import { checkLoss, DEFAULT_MAX_LOSS } from './diverged.js';
import type { Optimizer } from './optimizers.js';
import type { LrSchedule } from './schedule.js';

export interface ParamGroup {
  optimizer: Optimizer;
  schedule: LrSchedule;
  /** The CLI option that sets this group's learning rate, for the divergence message (default --lr). */
  flag?: string;
}

/** Training rows kept on the host: `width` values per row; `vector` rows (labels) batch as a 1-D tensor. */
export interface HostRows {
  values: Float32Array | Int32Array;
  width: number;
  vector: boolean;
}

export type FitInput = tf.Tensor | HostRows;

/** hostRows(labels) -> 1-D batches; hostRows(features, dim) -> [B, dim] batches (also for dim 1). */
export function hostRows(values: Float32Array | Int32Array, width?: number): HostRows {
  return { values, width: width ?? 1, vector: width === undefined };
}

function isHostRows(v: FitInput): v is HostRows {
  return !(v instanceof tf.Tensor);
}

export interface FitOptions {
  /** Training inputs, all with the same number of rows (e.g. { x, y, q }). Not disposed by fit. */
  data: Record<string, FitInput>;
  /** Batch loss; called inside tf.variableGrads with the gathered batch of every tensor in `data`. */
  loss: (batch: Record<string, tf.Tensor>) => tf.Scalar;
  groups: ParamGroup[];
  epochs: number;
  batchSize: number;
  rng: Rng;
  /** 0-based task index (events, error messages). */
  task: number;
  ctx?: LearnContext;
  /** Shown by the CLI beside the epoch (e.g. 'head'). */
  phase?: string;
  /** Runs after every optimiser step, inside a tidy (e.g. weight clipping). */
  afterStep?: () => void;
  /** An epoch's mean loss above this counts as diverged (default 1e12); NaN/Inf always do. */
  maxLoss?: number;
}

export interface FitResult {
  /** Mean batch loss per epoch. */
  epochLosses: number[];
  steps: number;
}

function rowsOf(v: FitInput): number {
  return isHostRows(v) ? v.values.length / v.width : (v.shape[0] ?? 0);
}

function sizeOf(data: Record<string, FitInput>): number {
  const sizes = Object.values(data).map(rowsOf);
  if (sizes.length === 0) throw new Error('fit: no training tensors');
  if (sizes.some((s) => s !== sizes[0])) throw new Error(`fit: training tensors differ in length (${sizes.join(', ')})`);
  return sizes[0];
}

/** Lets the event loop run (progress rendering, signals) between epochs. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Backends where tensors live off the JS heap and tf.gather is the fast way to batch. */
function deviceGather(): boolean {
  const b = tf.getBackend();
  return b === 'tensorflow' || b === 'webgl' || b === 'webgpu';
}

/** Copies rows idx of a host block into one new tensor. */
function hostBatch(src: HostRows, idx: Int32Array): tf.Tensor {
  const w = src.width;
  const out = src.values instanceof Int32Array ? new Int32Array(idx.length * w) : new Float32Array(idx.length * w);
  if (w === 1) for (let k = 0; k < idx.length; k++) out[k] = src.values[idx[k]];
  else for (let k = 0; k < idx.length; k++) out.set(src.values.subarray(idx[k] * w, idx[k] * w + w), k * w);
  const dtype = out instanceof Int32Array ? 'int32' : 'float32';
  return src.vector ? tf.tensor1d(out, dtype) : tf.tensor2d(out, [idx.length, w], dtype);
}

export async function fit(opts: FitOptions): Promise<FitResult> {
  const n = sizeOf(opts.data);
  const epochLosses: number[] = [];
  const vars = opts.groups.flatMap((g) => g.optimizer.variables);
  const ranges = batchRanges(n, opts.batchSize);
  let steps = 0;
  if (n === 0) return { epochLosses, steps };
  // Inputs to gather on the device: tensors as given, host rows uploaded once where that pays.
  const uploaded: tf.Tensor[] = [];
  const onDevice: Record<string, tf.Tensor> = {};
  const onHost: Record<string, HostRows> = {};
  for (const [k, v] of Object.entries(opts.data)) {
    if (!isHostRows(v)) onDevice[k] = v;
    else if (deviceGather()) {
      const t = hostBatch(v, Int32Array.from({ length: n }, (_, i) => i));
      uploaded.push(t);
      onDevice[k] = t;
    } else onHost[k] = v;
  }
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      for (const g of opts.groups) g.optimizer.learningRate = g.schedule(epoch);
      const perm = shuffledIndices(n, opts.rng);
      let lossSum: tf.Scalar = tf.scalar(0);
      try {
        for (const [s, e] of ranges) {
          const rows = perm.subarray(s, e);
          const next = tf.tidy(() => {
            const batch: Record<string, tf.Tensor> = {};
            for (const [k, v] of Object.entries(onHost)) batch[k] = hostBatch(v, rows);
            if (Object.keys(onDevice).length > 0) {
              const idx = tf.tensor1d(rows, 'int32');
              for (const [k, t] of Object.entries(onDevice)) batch[k] = tf.gather(t, idx);
            }
            const { value, grads } = tf.variableGrads(() => opts.loss(batch), vars);
            for (const g of opts.groups) g.optimizer.apply(grads);
            opts.afterStep?.();
            return tf.add(lossSum, value) as tf.Scalar;
          });
          lossSum.dispose();
          lossSum = next;
          steps++;
          // Between mini-batches: lets a SIGINT/SIGTERM handler run (and stops here once it has).
          await yieldPoint();
        }
      } catch (err) {
        lossSum.dispose();
        throw err;
      }
      const mean = (await lossSum.data())[0] / ranges.length;
      lossSum.dispose();
      epochLosses.push(mean);
      checkLoss(
        mean,
        { task: opts.task, epoch: epoch + 1, epochs: opts.epochs, lrs: opts.groups.map((g) => ({ flag: g.flag ?? '--lr', lr: g.schedule(0) })) },
        opts.maxLoss ?? DEFAULT_MAX_LOSS,
      );
      opts.ctx?.emit({ type: 'epoch', task: opts.task, epoch: epoch + 1, epochs: opts.epochs, loss: mean, phase: opts.phase });
      await yieldToEventLoop();
    }
  } finally {
    for (const t of uploaded) t.dispose();
  }
  return { epochLosses, steps };
}
