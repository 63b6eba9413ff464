/**
 * Non-finite values (NaN, +Inf, -Inf) in feature matrices: every path that produces features (a
 * backbone's extraction, a feature-cache entry read back, `features:` arrays made elsewhere) scans
 * them with `firstNonFinite` before anything is cached or learned, and reports the first one found
 * and how many there are. The scan yields between chunks (see interrupt.ts), so a signal is handled
 * promptly even on a 300 MB matrix.
 */
import { yieldPoint } from './interrupt.js';

/** Values checked between two yield points. */
const SCAN_CHUNK = 1 << 22;

export interface NonFinite {
  /** Row and column of the first non-finite value, and the value. */
  row: number;
  col: number;
  value: number;
  /** How many values are non-finite. */
  total: number;
}

/**
 * First non-finite value (NaN, +Inf, -Inf) of row-major `count x dim` features, or null.
 * `v - v` is NaN exactly for NaN and +-Inf.
 */
export async function firstNonFinite(x: Float32Array, dim: number): Promise<NonFinite | null> {
  let first = -1;
  let total = 0;
  for (let start = 0; start < x.length; start += SCAN_CHUNK) {
    const end = Math.min(x.length, start + SCAN_CHUNK);
    for (let i = start; i < end; i++) {
      const v = x[i];
      if (v - v !== 0) {
        if (first < 0) first = i;
        total++;
      }
    }
    await yieldPoint();
  }
  if (first < 0) return null;
  const d = Math.max(1, dim);
  return { row: Math.floor(first / d), col: first % d, value: x[first], total };
}

/**
 * `N non-finite values of M (first: NaN at image 3, feature 7)`; `row` names the first value's row
 * (default `image <row>`).
 */
export function describeNonFinite(f: NonFinite, count: number, dim: number, row: (r: number) => string = (r) => `image ${r}`): string {
  return `${f.total} non-finite value${f.total === 1 ? '' : 's'} of ${count * dim} (first: ${f.value} at ${row(f.row)}, feature ${f.col})`;
}
