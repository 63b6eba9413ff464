/**
 * Seeded mini-batch iteration: one shuffled permutation of 0..n-1 per epoch, cut into
 * consecutive batches (the last one may be smaller). Same Rng state -> same batches.
 */
import type { Rng } from '../rng.js';

export function shuffledIndices(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  rng.shuffle(p);
  return p;
}

/** [start, end) offsets of the batches covering n items. */
export function batchRanges(n: number, batchSize: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const b = Math.max(1, Math.floor(batchSize));
  for (let s = 0; s < n; s += b) out.push([s, Math.min(n, s + b)]);
  return out;
}

/** The batches of one epoch as index arrays (views into one shuffled permutation). */
export function epochBatches(n: number, batchSize: number, rng: Rng): Int32Array[] {
  const p = shuffledIndices(n, rng);
  return batchRanges(n, batchSize).map(([s, e]) => p.subarray(s, e));
}
