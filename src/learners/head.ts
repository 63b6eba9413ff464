/**
 * A classifier head over frozen features, grown one task at a time (docs/methods/wa.md "On frozen features"):
 *   linear: logits = x·Wᵀ (+ b)
 *   mlp:    logits = relu(x·W1 + b1)·Wᵀ (+ b)      hidden layer H, last layer bias-free by default
 * W holds one row per class in arrival order, so row norms, weight aligning and clipping act on
 * the last layer only. Initialisation draws from the seeded Rng. On the device W is stored
 * transposed ([in, K], one column per class) so that the step needs no transposed matmul
 * (slow on tfjs-wasm, see train/ops.ts); snapshot() and setLastLayer() speak rows.
 */
import { tf } from '../tf.js';
import type { Rng } from '../rng.js';
import { kaimingUniform } from '../train/init.js';
import { matMul } from '../train/ops.js';

export type HeadKind = 'linear' | 'mlp';
export const HEAD_KINDS: HeadKind[] = ['linear', 'mlp'];

export interface HeadConfig {
  kind: HeadKind;
  /** Input (feature) dimension D. */
  dim: number;
  /** Hidden width H (mlp only). */
  hidden: number;
  /** Trainable per-class bias on the last layer (PyCIL); never aligned. */
  bias: boolean;
}

export class ClassifierHead {
  private w: tf.Variable<tf.Rank.R2> | null = null; // [in, K]: column k is class row w_k
  private b: tf.Variable | null = null; // [K]
  private w1: tf.Variable | null = null; // [D, H]
  private b1: tf.Variable | null = null; // [H]

  constructor(
    readonly config: HeadConfig,
    rng: Rng,
  ) {
    this.initHidden(rng);
  }

  /** Width of the last layer's input (D for linear, H for mlp). */
  get inputDim(): number {
    return this.config.kind === 'mlp' ? this.config.hidden : this.config.dim;
  }

  get numClasses(): number {
    return this.w ? this.w.shape[1] : 0;
  }

  private initHidden(rng: Rng): void {
    if (this.config.kind !== 'mlp') return;
    const { dim, hidden } = this.config;
    // Kaiming-uniform with ReLU gain √2, stored [D, H] for x·W1.
    this.w1 = tf.tidy(() => tf.variable(tf.transpose(kaimingUniform(rng, hidden, dim, Math.SQRT2)), true));
    this.b1 = tf.tidy(() => tf.variable(tf.zeros([hidden]), true));
  }

  /** Appends m class rows drawn from U(−√(3/in), √(3/in)) (PyCIL SimpleLinear); new biases 0. */
  grow(m: number, rng: Rng): void {
    if (m <= 0) return;
    const old = this.w;
    const w = tf.tidy(() => {
      const cols = tf.transpose(kaimingUniform(rng, m, this.inputDim, 1));
      return old ? tf.concat([old, cols], 1) : cols;
    });
    old?.dispose();
    this.w = tf.variable(w, true);
    w.dispose();
    if (this.config.bias) {
      const oldB = this.b;
      const b = tf.tidy(() => (oldB ? tf.concat([oldB, tf.zeros([m])], 0) : tf.zeros([m])));
      this.b?.dispose();
      this.b = tf.variable(b, true);
      b.dispose();
    }
  }

  /** Re-initialises everything from scratch with K classes (joint retraining). */
  reset(numClasses: number, rng: Rng): void {
    this.disposeVariables();
    this.initHidden(rng);
    this.grow(numClasses, rng);
  }

  variables(): tf.Variable[] {
    return [this.w1, this.b1, this.w, this.b].filter((v): v is tf.Variable => v !== null);
  }

  /** Input of the last layer: x itself, or the ReLU hidden activations. */
  embed(x: tf.Tensor2D): tf.Tensor2D {
    if (!this.w1 || !this.b1) return x;
    const w1 = this.w1;
    const b1 = this.b1;
    return tf.tidy(() => tf.relu(tf.add(matMul(x, w1 as tf.Tensor2D, true), b1)) as tf.Tensor2D);
  }

  /**
   * Logits [B, K]. `rowScale` (length K) multiplies the weight part of each class's logit before
   * the bias: (s_k·⟨w_k, h⟩ + b_k); used to undo or redo an alignment without touching W.
   */
  logits(x: tf.Tensor2D, rowScale?: Float32Array): tf.Tensor2D {
    const w = this.w;
    if (!w) throw new Error('the head has no classes yet');
    return tf.tidy(() => {
      let o = matMul(this.embed(x), w as tf.Tensor2D, this.config.kind === 'linear');
      if (rowScale) o = tf.mul(o, tf.tensor1d(rowScale));
      if (this.b) o = tf.add(o, this.b);
      return o;
    });
  }

  /** L2 norm of every class row of W (float64 arithmetic). */
  rowNorms(): Float64Array {
    if (!this.w) return new Float64Array(0);
    const [d, K] = this.w.shape;
    const v = this.w.dataSync();
    const out = new Float64Array(K);
    for (let j = 0; j < d; j++) for (let k = 0; k < K; k++) out[k] += v[j * K + k] * v[j * K + k];
    for (let k = 0; k < K; k++) out[k] = Math.sqrt(out[k]);
    return out;
  }

  /**
   * Weight aligning (Zhao et al., arXiv 1911.07053, Eq. 6–7; docs/methods/wa.md "Algorithm" step 5):
   * γ = mean_{k<n} ‖w_k‖ / mean_{k≥n} ‖w_k‖, then W_new ← γ·W_new. Old rows (×1) and the bias
   * are untouched. Returns γ (1 when there is nothing to align).
   */
  align(numOld: number): number {
    const w = this.w;
    if (!w || numOld <= 0 || numOld >= w.shape[1]) return 1;
    const gamma = alignmentGamma(this.rowNorms(), numOld);
    const K = w.shape[1];
    const scale = new Float32Array(K).fill(1);
    scale.fill(gamma, numOld);
    tf.tidy(() => {
      w.assign(tf.mul(w, tf.tensor2d(scale, [1, K])));
    });
    return gamma;
  }

  /** Weight clipping W ← max(W, 0) on the last layer (DER's WA baseline, docs/methods/wa.md "Algorithm" step 4). */
  clip(): void {
    const w = this.w;
    if (w) tf.tidy(() => w.assign(tf.relu(w)));
  }

  /** Replaces the last layer (K rows of inputDim values, and the bias when the head has one); checkpoint restore and tests. */
  setLastLayer(w: Float32Array, numClasses: number, b?: Float32Array): void {
    if (w.length !== numClasses * this.inputDim) {
      throw new Error(`setLastLayer: ${w.length} values for ${numClasses} × ${this.inputDim}`);
    }
    this.w?.dispose();
    this.w = tf.tidy(() => tf.variable(tf.transpose(tf.tensor2d(w, [numClasses, this.inputDim])), true));
    if (this.config.bias) {
      this.b?.dispose();
      const values = b ?? new Float32Array(numClasses);
      this.b = tf.tidy(() => tf.variable(tf.tensor1d(values), true));
    }
  }

  /** Copies of the last layer as stored: W [in, K] row-major (column k = class k) and the bias (null without one). */
  columns(): { w: Float32Array; b: Float32Array | null } {
    if (!this.w) throw new Error('the head has no classes yet');
    return { w: Float32Array.from(this.w.dataSync()), b: this.b ? Float32Array.from(this.b.dataSync()) : null };
  }

  /** Writes the last layer back in the layout of columns() (the host training step, train/linear-step.ts). */
  setColumns(w: Float32Array, b: Float32Array | null): void {
    const v = this.w;
    if (!v) throw new Error('the head has no classes yet');
    if (w.length !== v.size) throw new Error(`setColumns: ${w.length} values for ${v.shape.join(' × ')}`);
    tf.tidy(() => v.assign(tf.tensor2d(w, v.shape)));
    const bv = this.b;
    if (bv && b) tf.tidy(() => bv.assign(tf.tensor1d(b)));
  }

  /** Copies of the parameters (for summaries and tests). */
  snapshot(): { w: Float32Array; b: Float32Array | null; shape: [number, number] } {
    if (!this.w) return { w: new Float32Array(0), b: null, shape: [0, this.inputDim] };
    const [d, K] = this.w.shape;
    const t = tf.transpose(this.w);
    const rows = Float32Array.from(t.dataSync());
    t.dispose();
    return { w: rows, b: this.b ? Float32Array.from(this.b.dataSync()) : null, shape: [K, d] };
  }

  private disposeVariables(): void {
    for (const v of this.variables()) v.dispose();
    this.w = this.b = this.w1 = this.b1 = null;
  }

  dispose(): void {
    this.disposeVariables();
  }
}

/** γ from row norms: mean of the first n over mean of the rest (docs/methods/wa.md "Algorithm" step 5). */
export function alignmentGamma(norms: ArrayLike<number>, numOld: number): number {
  let old = 0;
  let neu = 0;
  for (let k = 0; k < norms.length; k++) {
    if (k < numOld) old += norms[k];
    else neu += norms[k];
  }
  const meanOld = old / numOld;
  const meanNew = neu / (norms.length - numOld);
  return meanNew > 0 ? meanOld / meanNew : 1;
}
