/**
 * Seeded synthetic Gaussian class clusters for fast learner tests (test helper, not a test file).
 */
import { Rng } from '../../src/rng.js';
import type { Experience, Features } from '../../src/types.js';

export interface ClusterSpec {
  classes: number;
  dim: number;
  trainPerClass: number;
  testPerClass: number;
  /** Noise standard deviation around each class mean. */
  sigma: number;
  seed: number;
  /** Clamp features at 0 (like post-ReLU backbone features). */
  nonNegative?: boolean;
}

export interface ClusterData {
  train: Features;
  test: Features;
  means: Float32Array;
}

function sample(rng: Rng, means: Float32Array, spec: ClusterSpec, perClass: number): Features {
  const { classes, dim, sigma } = spec;
  const count = classes * perClass;
  const x = new Float32Array(count * dim);
  const y = new Int32Array(count);
  let i = 0;
  for (let c = 0; c < classes; c++) {
    for (let k = 0; k < perClass; k++, i++) {
      y[i] = c;
      for (let j = 0; j < dim; j++) {
        const v = means[c * dim + j] + sigma * rng.normal();
        x[i * dim + j] = spec.nonNegative ? Math.max(0, v) : v;
      }
    }
  }
  return { x, y, count, dim };
}

export function gaussianClusters(spec: ClusterSpec): ClusterData {
  const rng = new Rng(spec.seed);
  const means = new Float32Array(spec.classes * spec.dim);
  for (let i = 0; i < means.length; i++) means[i] = spec.nonNegative ? rng.uniform(0, 1) : rng.normal();
  return { train: sample(rng, means, spec, spec.trainPerClass), test: sample(rng, means, spec, spec.testPerClass), means };
}

/** Rows `idx` of `f`, in that order (a copy). */
export function rowsAt(f: Features, idx: ArrayLike<number>): Features {
  const x = new Float32Array(idx.length * f.dim);
  const y = new Int32Array(idx.length);
  for (let k = 0; k < idx.length; k++) {
    const r = idx[k];
    x.set(f.x.subarray(r * f.dim, (r + 1) * f.dim), k * f.dim);
    y[k] = f.y[r];
  }
  return { x, y, count: idx.length, dim: f.dim };
}

/** Rows of `f` whose label is in `classes`. */
export function subset(f: Features, classes: readonly number[]): Features {
  const keep = new Set(classes);
  const idx: number[] = [];
  for (let i = 0; i < f.count; i++) if (keep.has(f.y[i])) idx.push(i);
  return rowsAt(f, idx);
}

/** B0-Inc{inc} experiences over classes 0..C-1 in natural order. */
export function experiences(train: Features, numClasses: number, inc: number): Experience[] {
  const out: Experience[] = [];
  for (let t = 0; t * inc < numClasses; t++) {
    const classes = Array.from({ length: inc }, (_, k) => t * inc + k);
    out.push({ index: t, classes, train: subset(train, classes) });
  }
  return out;
}

/** Accuracy (%) of `pred` against `truth.y`, restricted to rows whose label is in `classes` if given. */
export function accuracy(pred: Int32Array, truth: Features, classes?: readonly number[]): number {
  const keep = classes ? new Set(classes) : null;
  let ok = 0;
  let n = 0;
  for (let i = 0; i < truth.count; i++) {
    if (keep && !keep.has(truth.y[i])) continue;
    n++;
    if (pred[i] === truth.y[i]) ok++;
  }
  return n ? (100 * ok) / n : NaN;
}
