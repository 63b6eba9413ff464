/**
 * A matMul whose gradient uses explicit transposes. tfjs differentiates matMul(a, b) into
 * matMul(dy, b, false, true) and matMul(a, dy, true, false); on the wasm backend those transposed
 * forms run about 10–20× slower than a plain matMul after tf.transpose (measured: 128×1280 · 1280×512
 * forward + backward 415 ms → 46 ms). Same values, same gradients.
 */
import { tf } from '../tf.js';

const plainGradMatMul = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
      tf.matMul(dy as tf.Tensor2D, tf.transpose(saved[1]) as tf.Tensor2D),
      tf.matMul(tf.transpose(saved[0]) as tf.Tensor2D, dy as tf.Tensor2D),
    ],
  };
});

/** a·b for 2-D tensors ([m, k] · [k, n]), with the transpose-free gradient above. */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return plainGradMatMul(a, b) as tf.Tensor2D;
}

/** a·bᵀ ([m, k] · [n, k]ᵀ) through an explicit transpose. */
export function matMulT(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => matMul(a, tf.transpose(b)));
}
