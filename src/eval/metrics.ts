/**
 * Aggregates over the accuracy matrix R (docs/protocols.md "Accuracy aggregates" to "Transfer"). Pure functions; task indices are
 * 0-based here (R[t][i], i ≤ t), the formulas in docs/protocols.md use t = 1..T. R may be the lower
 * triangle only (row t has t + 1 entries); cells above the diagonal are never read.
 */
import type { ForgettingDefinition, IncrementResult, RunSummary } from '../types.js';
import { scopedSummary } from './scope.js';

export type AccuracyMatrix = number[][];

export const FORGETTING_DEFINITIONS: ForgettingDefinition[] = ['max-prev', 'max-all', 'first'];

const mean = (xs: number[]): number => xs.reduce((s, v) => s + v, 0) / xs.length;

function checkMatrix(R: AccuracyMatrix, T: number = R.length): void {
  if (T < 1 || T > R.length || !Number.isInteger(T)) {
    throw new RangeError(`accuracy matrix: T = ${T} outside 1..${R.length}`);
  }
  for (let t = 0; t < T; t++) {
    if (R[t].length < t + 1) throw new RangeError(`accuracy matrix: row ${t} has ${R[t].length} cells, needs ${t + 1}`);
  }
}

/** Ā = (1/T) Σ_t A_t, first task included (iCaRL, PyCIL, PILOT; docs/protocols.md "Accuracy aggregates"). */
export function averageIncrementalAccuracy(curve: number[]): number {
  if (curve.length === 0) throw new RangeError('averageIncrementalAccuracy: empty curve');
  return mean(curve);
}

/** Ā_excl1: the mean of A_t over t ≥ 2 (first task dropped); null with a single task. */
export function aExcl1(curve: number[]): number | null {
  return curve.length < 2 ? null : mean(curve.slice(1));
}

/**
 * F_T (docs/protocols.md "Forgetting") after task T (a count; default: all rows), mean over old tasks i < T of
 *   max-prev: max_{t∈[i,T−1]} R[t][i] − R[T][i]   (Chaudhry et al., arXiv 1801.10112)
 *   max-all:  max_{t∈[i,T]}   R[t][i] − R[T][i]   (Mammoth, PyCIL)
 *   first:    R[i][i] − R[T][i]                   (Avalanche StreamForgetting)
 * (1-based as in the paper; here the last row is R[T − 1]). Null when T = 1.
 */
export function forgetting(R: AccuracyMatrix, def: ForgettingDefinition, T: number = R.length): number | null {
  checkMatrix(R, T);
  if (T === 1) return null;
  const last = T - 1;
  const terms: number[] = [];
  for (let i = 0; i < last; i++) {
    let ref: number;
    if (def === 'first') {
      ref = R[i][i];
    } else {
      const upTo = def === 'max-prev' ? last - 1 : last;
      ref = -Infinity;
      for (let t = i; t <= upTo; t++) ref = Math.max(ref, R[t][i]);
    }
    terms.push(ref - R[last][i]);
  }
  return mean(terms);
}

/** The forgetting curve: F after each task t = 1..T−1 (0-based), i.e. docs/protocols.md's F_t for t = 2..T. */
export function forgettingCurve(R: AccuracyMatrix, def: ForgettingDefinition): number[] {
  checkMatrix(R);
  const curve: number[] = [];
  for (let T = 2; T <= R.length; T++) curve.push(forgetting(R, def, T) as number);
  return curve;
}

/** BWT (GEM, Lopez-Paz & Ranzato, arXiv 1706.08840): (1/(T−1)) Σ_{i<T} (R[T][i] − R[i][i]); null when T = 1. */
export function bwt(R: AccuracyMatrix): number | null {
  checkMatrix(R);
  const last = R.length - 1;
  if (last === 0) return null;
  const terms: number[] = [];
  for (let i = 0; i < last; i++) terms.push(R[last][i] - R[i][i]);
  return mean(terms);
}

/** BWT over all pairs (Díaz-Rodríguez et al., arXiv 1810.13166): Σ_{t≥2} Σ_{i<t} (R[t][i] − R[i][i]) / (T(T−1)/2). */
export function bwtAllPairs(R: AccuracyMatrix): number | null {
  checkMatrix(R);
  const T = R.length;
  if (T === 1) return null;
  let sum = 0;
  for (let t = 1; t < T; t++) for (let i = 0; i < t; i++) sum += R[t][i] - R[i][i];
  return sum / ((T * (T - 1)) / 2);
}

/** Task-balanced final average (1/T) Σ_i R[T][i] (Renate, Mammoth, FACIL avg_accs). */
export function taskBalancedFinal(R: AccuracyMatrix): number {
  checkMatrix(R);
  const T = R.length;
  return mean(R[T - 1].slice(0, T));
}

/** Class-weighted final average Σ_i n_i R[T][i] / Σ_i n_i (FACIL wavg_accs); `sizes[i]` = n_i. */
export function classWeightedFinal(R: AccuracyMatrix, sizes: number[]): number {
  checkMatrix(R);
  const T = R.length;
  if (sizes.length !== T) throw new RangeError(`classWeightedFinal: ${sizes.length} sizes for ${T} tasks`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < T; i++) {
    num += sizes[i] * R[T - 1][i];
    den += sizes[i];
  }
  return num / den;
}

/** Díaz-Rodríguez accuracy: Σ_{t} Σ_{i≤t} R[t][i] / (T(T+1)/2), the mean of the lower triangle. */
export function diazRodriguezAccuracy(R: AccuracyMatrix): number {
  checkMatrix(R);
  const T = R.length;
  let sum = 0;
  for (let t = 0; t < T; t++) for (let i = 0; i <= t; i++) sum += R[t][i];
  return sum / ((T * (T + 1)) / 2);
}

/** The matrix R from stored increments (rows in task order). */
export function accuracyMatrix(increments: IncrementResult[]): AccuracyMatrix {
  return [...increments].sort((a, b) => a.task - b.task).map((inc) => [...inc.accuracyRow]);
}

/**
 * Recompute an accuracy matrix for arbitrary class groups from the stored per-class counts
 * (docs/protocols.md "The accuracy matrix"): cell [t][g] = 100 · Σ correct / Σ total over the classes of group g that are
 * seen after increment t; null when none of them is seen yet.
 */
export function regroupAccuracy(increments: IncrementResult[], groups: number[][]): (number | null)[][] {
  return [...increments]
    .sort((a, b) => a.task - b.task)
    .map((inc) =>
      groups.map((group) => {
        let correct = 0;
        let total = 0;
        for (const c of group) {
          const n = inc.totalPerClass[String(c)];
          if (n === undefined) continue;
          total += n;
          correct += inc.correctPerClass[String(c)] ?? 0;
        }
        return total === 0 ? null : (100 * correct) / total;
      }),
    );
}

/** The run summary stored with a finished run. */
export function summarize(increments: IncrementResult[], totalMs: number): RunSummary {
  if (increments.length === 0) throw new RangeError('summarize: no increments');
  const sorted = [...increments].sort((a, b) => a.task - b.task);
  sorted.forEach((inc, k) => {
    if (inc.task !== k) throw new RangeError(`summarize: increments are not tasks 0..${sorted.length - 1}`);
  });
  const R = accuracyMatrix(sorted);
  const curve = sorted.map((inc) => inc.accuracy);
  const perDef = <V>(f: (d: ForgettingDefinition) => V): Record<ForgettingDefinition, V> => ({
    'max-prev': f('max-prev'),
    'max-all': f('max-all'),
    first: f('first'),
  });
  const taskIL = scopedSummary(sorted.map((inc) => inc.taskIL?.accuracy));
  const top5 = scopedSummary(sorted.map((inc) => inc.top5?.accuracy));
  return {
    tasks: sorted.length,
    finalAccuracy: curve[curve.length - 1],
    averageIncrementalAccuracy: averageIncrementalAccuracy(curve),
    forgetting: perDef((d) => forgetting(R, d)),
    forgettingCurve: perDef((d) => forgettingCurve(R, d)),
    bwt: bwt(R),
    totalMs,
    ...(taskIL ? { taskIL } : {}),
    ...(top5 ? { top5 } : {}),
  };
}
