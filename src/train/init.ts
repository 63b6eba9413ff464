/**
 * Seeded parameter initialisation (never unseeded tf.random), so that the same seed gives the
 * same numbers on the same backend.
 */
import { tf } from '../tf.js';
import type { Rng } from '../rng.js';

/** U(−bound, bound) values drawn from `rng`, row-major. */
export function uniformValues(rng: Rng, size: number, bound: number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.uniform(-bound, bound);
  return out;
}

/**
 * Kaiming-uniform rows for a layer with `fanIn` inputs: bound = gain·√(3 / fanIn)
 * (He et al., arXiv 1502.01852; gain 1 for a linear output layer as PyCIL's SimpleLinear,
 * √2 before a ReLU).
 */
export function kaimingUniform(rng: Rng, rows: number, fanIn: number, gain = 1): tf.Tensor2D {
  const bound = gain * Math.sqrt(3 / fanIn);
  return tf.tensor2d(uniformValues(rng, rows * fanIn, bound), [rows, fanIn]);
}
