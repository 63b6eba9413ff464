/** Data and stream helpers for the closed-form learner tests (ranpac, fecam, slda). */
import { concatMap, defer, lastValueFrom, toArray } from 'rxjs';
import { Rng } from '../../src/rng.js';
import { taskClasses } from '../../src/scenario/split.js';
import { experienceStream, selectClasses } from '../../src/scenario/stream.js';
import type { Experience, Features, Learner } from '../../src/types.js';

export interface Data {
  train: Features;
  test: Features;
}

/**
 * Gaussian class clusters with class-specific anisotropic spread (so per-class covariances
 * differ); `nonNegative` takes |x| like pooled ReLU features.
 */
export function clusters(seed: number, K: number, D: number, nTrain: number, nTest: number, opts: { sep?: number; nonNegative?: boolean } = {}): Data {
  const rng = new Rng(seed);
  const sep = opts.sep ?? 1;
  const means = Array.from({ length: K }, () => Array.from({ length: D }, () => rng.normal() * sep));
  const scales = Array.from({ length: K }, () => Array.from({ length: D }, () => 0.3 + rng.next()));
  const mix = Array.from({ length: K }, () => rng.normal() * 0.5); // a shared direction: correlated dims
  const make = (n: number): Features => {
    const labels: number[] = [];
    for (let c = 0; c < K; c++) for (let i = 0; i < n; i++) labels.push(c);
    rng.shuffle(labels);
    const x = new Float32Array(labels.length * D);
    labels.forEach((c, i) => {
      const common = rng.normal();
      for (let d = 0; d < D; d++) {
        const v = means[c][d] + scales[c][d] * rng.normal() + mix[c] * common;
        x[i * D + d] = opts.nonNegative ? Math.abs(v) : v;
      }
    });
    return { x, y: Int32Array.from(labels), count: labels.length, dim: D };
  };
  return { train: make(nTrain), test: make(nTest) };
}

export function rows(f: Features, idx: number[]): Features {
  const x = new Float32Array(idx.length * f.dim);
  idx.forEach((i, r) => x.set(f.x.subarray(i * f.dim, (i + 1) * f.dim), r * f.dim));
  return { x, y: Int32Array.from(idx, (i) => f.y[i]), count: idx.length, dim: f.dim };
}

export function features(rowsList: number[][], labels: number[]): Features {
  const dim = rowsList[0].length;
  return { x: Float32Array.from(rowsList.flat()), y: Int32Array.from(labels), count: rowsList.length, dim };
}

/** Learn a split with the experience stream; predictions on the seen-class test samples after each task. */
export async function runSplit(learner: Learner, data: Data, order: number[], split: string): Promise<{ seen: number[]; pred: Int32Array }[]> {
  const tasks = taskClasses(order, split);
  return lastValueFrom(
    experienceStream(data.train, tasks).pipe(
      concatMap((exp: Experience) =>
        defer(async () => {
          await learner.learn(exp);
          const seen = tasks.slice(0, exp.index + 1).flat();
          return { seen, pred: learner.predict(selectClasses(data.test, seen)) };
        }),
      ),
      toArray(),
    ),
  );
}

export function accuracy(pred: Int32Array, y: Int32Array): number {
  let ok = 0;
  for (let i = 0; i < y.length; i++) if (pred[i] === y[i]) ok++;
  return (100 * ok) / y.length;
}

/** max |a − b| / max(1, max |b|) */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths ${a.length} and ${b.length}`);
  let m = 0;
  let s = 1;
  for (let i = 0; i < b.length; i++) s = Math.max(s, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m / s;
}
