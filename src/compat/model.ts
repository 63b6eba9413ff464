/**
 * Embedding model versions on frozen backbone features (docs/methods/compat.md "The model"):
 *   f = [LayerNorm](x)·W1 + b1 → ReLU → ·W2 + b2  (D → hidden → d_t, no final non-linearity)
 *   embedding h = f / ‖f‖₂ (unit norm, width d_t)
 * `EmbeddingHead` holds tf.Variables while a version trains; `freeze()` copies the weights to the
 * host as an `EmbeddingModel`, so finished versions hold no tensors (the tensor count stays constant
 * across versions) and embed in chunks inside tf.tidy.
 */
import { tf } from '../tf.js';
import type { Rng } from '../rng.js';
import { kaimingUniform } from '../train/init.js';
import { l2Normalize } from './losses.js';
import { matMul } from './matmul.js';

export interface HeadShape {
  /** Input (backbone feature) dimension D. */
  inputDim: number;
  hidden: number;
  /** Embedding width d_t. */
  dim: number;
  /** Non-affine LayerNorm on the input features. */
  layerNorm: boolean;
}

const LN_EPS = 1e-5;

function layerNorm(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, 1, true);
    return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, LN_EPS))) as tf.Tensor2D;
  });
}

interface Weights<T> {
  w1: T;
  b1: T;
  w2: T;
  b2: T;
}

function forward(x: tf.Tensor2D, w: Weights<tf.Tensor>, shape: HeadShape): tf.Tensor2D {
  return tf.tidy(() => {
    const inp = shape.layerNorm ? layerNorm(x) : x;
    const hidden = tf.relu(tf.add(matMul(inp, w.w1 as tf.Tensor2D), w.b1));
    return tf.add(matMul(hidden as tf.Tensor2D, w.w2 as tf.Tensor2D), w.b2) as tf.Tensor2D;
  });
}

/** A trainable embedding head (seeded Kaiming-uniform initialisation, zero biases). */
export class EmbeddingHead {
  private readonly w: Weights<tf.Variable>;

  constructor(
    readonly shape: HeadShape,
    rng: Rng,
  ) {
    const { inputDim, hidden, dim } = shape;
    this.w = {
      w1: tf.tidy(() => tf.variable(tf.transpose(kaimingUniform(rng, hidden, inputDim, Math.SQRT2)), true)),
      b1: tf.tidy(() => tf.variable(tf.zeros([hidden]), true)),
      w2: tf.tidy(() => tf.variable(tf.transpose(kaimingUniform(rng, dim, hidden, 1)), true)),
      b2: tf.tidy(() => tf.variable(tf.zeros([dim]), true)),
    };
  }

  variables(): tf.Variable[] {
    return [this.w.w1, this.w.b1, this.w.w2, this.w.b2];
  }

  parameterCount(): number {
    return this.variables().reduce((s, v) => s + v.size, 0);
  }

  /** Raw output f [B, d_t] (docs/methods/compat.md "Forward pass"). */
  raw(x: tf.Tensor2D): tf.Tensor2D {
    return forward(x, this.w, this.shape);
  }

  /** Unit-norm embedding h_new = f / ‖f‖ (docs/methods/compat.md "Forward pass"). */
  embedTensor(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => l2Normalize(this.raw(x)));
  }

  /** Host copy of the weights: the finished, frozen version. */
  freeze(version: number): EmbeddingModel {
    const copy = (v: tf.Variable): Float32Array => Float32Array.from(v.dataSync());
    return new EmbeddingModel(version, this.shape, {
      w1: copy(this.w.w1),
      b1: copy(this.w.b1),
      w2: copy(this.w.w2),
      b2: copy(this.w.b2),
    });
  }

  dispose(): void {
    for (const v of this.variables()) v.dispose();
  }
}

/** A finished model version: `embed(features) → unit-norm N × dim` (docs/methods/compat.md "The orthogonal layer"). Holds no tensors. */
export class EmbeddingModel {
  constructor(
    readonly version: number,
    readonly shape: HeadShape,
    private readonly weights: Weights<Float32Array>,
  ) {}

  get dim(): number {
    return this.shape.dim;
  }

  /** Embeds `count` rows of `inputDim` floats, `chunk` rows at a time. */
  embed(x: Float32Array, count: number, chunk = 2048): Float32Array {
    const { inputDim, hidden, dim } = this.shape;
    if (x.length !== count * inputDim) throw new RangeError(`embed: ${x.length} floats for ${count} rows of ${inputDim}`);
    const out = new Float32Array(count * dim);
    const w = tf.tidy(() => ({
      w1: tf.tensor2d(this.weights.w1, [inputDim, hidden]),
      b1: tf.tensor1d(this.weights.b1),
      w2: tf.tensor2d(this.weights.w2, [hidden, dim]),
      b2: tf.tensor1d(this.weights.b2),
    }));
    try {
      for (let s = 0; s < count; s += chunk) {
        const rows = Math.min(chunk, count - s);
        const e = tf.tidy(() => l2Normalize(forward(tf.tensor2d(x.subarray(s * inputDim, (s + rows) * inputDim), [rows, inputDim]), w, this.shape)));
        try {
          out.set(e.dataSync(), s * dim);
        } finally {
          e.dispose();
        }
      }
    } finally {
      for (const t of Object.values(w)) t.dispose();
    }
    return out;
  }

  parameterCount(): number {
    return Object.values(this.weights).reduce((s, a) => s + a.length, 0);
  }
}
