/**
 * Backend-friendly building blocks for the training step.
 * tfjs-wasm 4.22 runs batch matmuls with a transposed operand about 10× slower than plain ones
 * (measured: 30 ms vs 3 ms for 128×1280 · 1280×100), and tf.matMul's gradient uses exactly those
 * transposed products. matMul here routes the backward pass through explicit transposes instead,
 * and can skip the gradient of its left operand when that operand is data (features), which
 * saves one product per step.
 */
import { tf } from '../tf.js';

type Save = (tensors: tf.Tensor[]) => void;

const withLeftGrad = tf.customGrad<tf.Tensor2D>((...args: Array<tf.Tensor | Save>) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, Save];
  save([a, b]);
  return {
    value: tf.matMul(a, b) as tf.Tensor2D,
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as tf.Tensor2D[];
      return [tf.matMul(dy, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy)];
    },
  };
});

/**
 * a·b with a gradient for b only: `a` (a data batch) is not an input of the custom gradient but
 * held by the closure, so the tape neither clones it nor asks for its (zero) gradient. Same
 * products, same values as routing it through customGrad.
 */
function dataLeft(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.customGrad<tf.Tensor2D>((...args: Array<tf.Tensor | Save>) => {
    const [w, save] = args as [tf.Tensor2D, Save];
    save([]);
    return {
      value: tf.matMul(a, w) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor2D) => [tf.matMul(tf.transpose(a), dy)],
    };
  })(b) as tf.Tensor2D;
}

/**
 * a · b. `aIsData` = true when no gradient has to flow into a (a is a batch of input features);
 * then the backward pass computes only bᵀ's product.
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D, aIsData = false): tf.Tensor2D {
  return aIsData ? dataLeft(a, b) : (withLeftGrad(a, b) as tf.Tensor2D);
}

/**
 * tfjs-wasm 4.22 computes a product with a transposed operand (which tf.matMul's gradient always
 * asks for) outside XNNPACK, in a scalar loop that sums the shared dimension in blocks of 48:
 * each block from 0 in float32, the block sums added to the output in order. XNNPACK's GEMM sums
 * a block of ≤ 48 products in the same order, so one XNNPACK product per block, added up in the
 * same order, gives every value bit for bit (tested), at ~8× the speed for a 64-row batch against
 * a 1280 × 256 layer. Small products stay on the scalar path, which is then no slower.
 */
const WASM_SLOW_BLOCK = 48;
const BLOCKED_MIN_MACS = 1 << 20;

function tfMatMulValues(a: tf.Tensor2D, b: tf.Tensor2D, transposeA: boolean, transposeB: boolean): tf.Tensor2D {
  const shared = transposeA ? a.shape[0] : a.shape[1];
  const macs = (transposeA ? a.shape[1] : a.shape[0]) * shared * (transposeB ? b.shape[0] : b.shape[1]);
  if ((!transposeA && !transposeB) || tf.getBackend() !== 'wasm' || macs < BLOCKED_MIN_MACS) return tf.matMul(a, b, transposeA, transposeB);
  return tf.tidy(() => {
    let out: tf.Tensor2D | null = null;
    for (let k0 = 0; k0 < shared; k0 += WASM_SLOW_BLOCK) {
      const kb = Math.min(WASM_SLOW_BLOCK, shared - k0);
      const ab = transposeA ? tf.transpose(tf.slice(a, [k0, 0], [kb, -1])) : tf.slice(a, [0, k0], [-1, kb]);
      const bb = transposeB ? tf.transpose(tf.slice(b, [0, k0], [-1, kb])) : tf.slice(b, [k0, 0], [kb, -1]);
      const part = tf.matMul(ab as tf.Tensor2D, bb as tf.Tensor2D);
      // The scalar loop starts from a zeroed output (0 + −0 = +0) and adds each block sum to it.
      out = (out === null ? tf.add(part, 0) : tf.add(out, part)) as tf.Tensor2D;
    }
    return out as tf.Tensor2D;
  });
}

/** The gradients tfjs-core's BatchMatMul gradient asks for, as products of tfMatMulValues. */
function tfMatMulGrads(a: tf.Tensor2D, b: tf.Tensor2D, dy: tf.Tensor2D, tA: boolean, tB: boolean): { da: () => tf.Tensor2D; db: () => tf.Tensor2D } {
  if (!tA && !tB) return { da: () => tfMatMulValues(dy, b, false, true), db: () => tfMatMulValues(a, dy, true, false) };
  if (!tA && tB) return { da: () => tfMatMulValues(dy, b, false, false), db: () => tfMatMulValues(dy, a, true, false) };
  if (tA && !tB) return { da: () => tfMatMulValues(b, dy, false, true), db: () => tfMatMulValues(a, dy, false, false) };
  return { da: () => tfMatMulValues(b, dy, true, true), db: () => tfMatMulValues(dy, a, true, true) };
}

export interface TfMatMulOptions {
  transposeA?: boolean;
  transposeB?: boolean;
  /** `a` is data (needs no gradient): held by the closure, its gradient is never computed. */
  aIsData?: boolean;
}

/**
 * tf.matMul(a, b, transposeA, transposeB) with tf.matMul's gradient, value for value, whose
 * transposed products (forward or backward) run on XNNPACK on the wasm backend (above).
 * Other backends: exactly tf.matMul and its gradient.
 */
export function tfMatMul(a: tf.Tensor2D, b: tf.Tensor2D, opts: TfMatMulOptions = {}): tf.Tensor2D {
  const tA = opts.transposeA ?? false;
  const tB = opts.transposeB ?? false;
  if (opts.aIsData) {
    return tf.customGrad<tf.Tensor2D>((...args: Array<tf.Tensor | Save>) => {
      const [w, save] = args as [tf.Tensor2D, Save];
      save([]);
      return { value: tfMatMulValues(a, w, tA, tB), gradFunc: (dy: tf.Tensor2D) => [tfMatMulGrads(a, w, dy, tA, tB).db()] };
    })(b) as tf.Tensor2D;
  }
  return tf.customGrad<tf.Tensor2D>((...args: Array<tf.Tensor | Save>) => {
    const [x, w, save] = args as [tf.Tensor2D, tf.Tensor2D, Save];
    save([x, w]);
    return {
      value: tfMatMulValues(x, w, tA, tB),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const g = tfMatMulGrads(saved[0] as tf.Tensor2D, saved[1] as tf.Tensor2D, dy, tA, tB);
        return [g.da(), g.db()];
      },
    };
  })(a, b) as tf.Tensor2D;
}
