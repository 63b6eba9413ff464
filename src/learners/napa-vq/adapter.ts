/**
 * The trainable encoder of NAPA-VQ on frozen features (docs/methods/napa-vq.md "Frozen features"):
 * an MLP adapter z = relu(x·W1 + b1)·W2 + b2 (features → hidden (ReLU) → p) on standardised
 * backbone features, and the per-dimension standardisation fitted on the base task.
 */
import { tf } from '../../tf.js';
import { Rng } from '../../rng.js';
import type { Features } from '../../types.js';
import { kaimingUniform } from '../../train/init.js';

export class Adapter {
  constructor(
    readonly w1: tf.Variable,
    readonly b1: tf.Variable,
    readonly w2: tf.Variable,
    readonly b2: tf.Variable,
  ) {}

  static create(dim: number, hidden: number, out: number, rng: Rng): Adapter {
    const [w1, b1, w2, b2] = tf.tidy(() => [
      tf.variable(tf.transpose(kaimingUniform(rng, hidden, dim, Math.SQRT2)), true),
      tf.variable(tf.zeros([hidden]), true),
      tf.variable(tf.transpose(kaimingUniform(rng, out, hidden, 1)), true),
      tf.variable(tf.zeros([out]), true),
    ]) as tf.Variable[];
    return new Adapter(w1, b1, w2, b2);
  }

  /** An adapter with the given weights (checkpoint restore): W1 [D, H], b1 [H], W2 [H, p], b2 [p]. */
  static fromValues(w: { w1: number[]; b1: number[]; w2: number[]; b2: number[] }, dim: number, hidden: number, out: number): Adapter {
    const [w1, b1, w2, b2] = tf.tidy(() => [
      tf.variable(tf.tensor2d(w.w1, [dim, hidden]), true),
      tf.variable(tf.tensor1d(w.b1), true),
      tf.variable(tf.tensor2d(w.w2, [hidden, out]), true),
      tf.variable(tf.tensor1d(w.b2), true),
    ]) as tf.Variable[];
    return new Adapter(w1, b1, w2, b2);
  }

  variables(): tf.Variable[] {
    return [this.w1, this.b1, this.w2, this.b2];
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, this.w1), this.b1)), this.w2), this.b2) as tf.Tensor2D);
  }

  dispose(): void {
    for (const v of this.variables()) v.dispose();
  }
}

/** Per-dimension standardisation x ↦ (x − mean) · invStd, fitted once on the base task. */
export interface Standardisation {
  mean: Float32Array;
  invStd: Float32Array;
}

export function fitStandardisation(f: Features): Standardisation {
  const D = f.dim;
  const mean = new Float64Array(D);
  const sq = new Float64Array(D);
  for (let i = 0; i < f.count; i++) for (let d = 0; d < D; d++) mean[d] += f.x[i * D + d];
  for (let d = 0; d < D; d++) mean[d] /= f.count;
  for (let i = 0; i < f.count; i++) {
    for (let d = 0; d < D; d++) {
      const v = f.x[i * D + d] - mean[d];
      sq[d] += v * v;
    }
  }
  // A dimension that is constant in the base task is only centred (scale 1, as scikit-learn's
  // StandardScaler does): dividing by a ~0 std would multiply its later, non-constant values by
  // up to 1e6 (raw MNIST pixels: the base digits leave border pixels at 0, later digits do not).
  return {
    mean: Float32Array.from(mean),
    invStd: Float32Array.from(sq, (s) => {
      const std = Math.sqrt(s / f.count);
      return std > 1e-6 ? 1 / std : 1;
    }),
  };
}

/** A seeded Rng per task, derived from (seed, task index) so that a resumed run draws the same numbers. */
export function taskRng(seed: number, task: number): Rng {
  return new Rng((seed ^ Math.imul(task + 1, 0x9e3779b1)) >>> 0);
}
