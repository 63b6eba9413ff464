/**
 * Pieces shared by the closed-form frozen-feature learners (ranpac, fecam, slda; one file each,
 * docs/methods/<name>.md): the class table in arrival order, input checks, row-wise argmax with
 * the earliest class winning ties, float64 row blocks, checkpoint validation and the
 * "what is kept" lines of the learner state summary.
 */
import { UserError } from '../errors.js';
import type { ClassScores, Experience, Features } from '../types.js';

/** Rows per block when a learner converts float32 features to float64 (bounds peak memory). */
export const ROW_BLOCK = 4096;

/** One line of a learner state summary: an array the learner keeps, its shape and size. */
export interface KeptArray {
  what: string;
  shape: number[];
  dtype: 'float64' | 'float32';
  bytes: number;
  /** Derived data (rebuilt from the rest when missing; not part of checkpoints). */
  cache?: boolean;
}

export function kept(what: string, shape: number[], dtype: 'float64' | 'float32' = 'float64', cache = false): KeptArray {
  const n = shape.reduce((a, b) => a * b, 1);
  return { what, shape, dtype, bytes: n * (dtype === 'float64' ? 8 : 4), ...(cache ? { cache: true } : {}) };
}

/** Summary fields every closed-form learner reports: what is kept and its total size. */
export function memorySummary(arrays: KeptArray[]): { kept: KeptArray[]; bytes: number; cacheBytes: number; exemplars: 0 } {
  return {
    kept: arrays,
    bytes: arrays.filter((a) => !a.cache).reduce((s, a) => s + a.bytes, 0),
    cacheBytes: arrays.filter((a) => a.cache).reduce((s, a) => s + a.bytes, 0),
    exemplars: 0,
  };
}

/** Throw the one-line UserError for features of the wrong width or with non-finite values. */
export function checkFeatures(method: string, f: Features, dim: number, what: 'training' | 'test'): void {
  if (f.dim !== dim) {
    throw new UserError(
      `${method}: ${what} features have dimension ${f.dim} but the learner was built for ${dim}`,
      'use the same backbone / feature cache for training and evaluation',
    );
  }
  if (f.x.length < f.count * f.dim || f.y.length < (what === 'training' ? f.count : 0)) {
    throw new Error(`${method}: ${what} block holds fewer values than count × dim`);
  }
  const x = f.x;
  for (let i = 0, n = f.count * f.dim; i < n; i++) {
    if (!Number.isFinite(x[i])) {
      const row = Math.floor(i / f.dim);
      throw new UserError(
        `${method}: ${what} feature row ${row} has a non-finite value (${x[i]}) in column ${i % f.dim}`,
        'the feature cache entry is damaged or the backbone produced NaN/Inf; re-extract it (`cl cache rm <id>`)',
      );
    }
  }
}

/** Rows [start, start + n) of float32 features as a float64 row-major block. */
export function rows64(f: Features, start: number, n: number): Float64Array {
  const out = new Float64Array(n * f.dim);
  const src = f.x.subarray(start * f.dim, (start + n) * f.dim);
  for (let i = 0; i < src.length; i++) out[i] = src[i];
  return out;
}

/**
 * Index of the largest score per row of an n×k block (the first one on ties: the class that
 * arrived first).
 */
export function argmaxRows(scores: Float64Array, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const r = i * k;
    let best = 0;
    let bv = scores[r];
    for (let j = 1; j < k; j++) {
      const v = scores[r + j];
      if (v > bv) {
        bv = v;
        best = j;
      }
    }
    out[i] = best;
  }
  return out;
}

/** predict() of a learner whose float64 class scores decide: each row's label of its first highest score. */
export function predictedLabels(scores: ClassScores, n: number): Int32Array {
  const { labels, values } = scores;
  return argmaxRows(values as Float64Array, n, labels.length).map((i) => labels[i]);
}

/** Labels of a training block grouped by class, classes in order of first appearance. */
export function groupByClass(y: Int32Array, count: number): Map<number, number[]> {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < count; i++) {
    let g = groups.get(y[i]);
    if (!g) groups.set(y[i], (g = []));
    g.push(i);
  }
  return groups;
}

/** setState's error: one line naming the method and what is wrong, with the way out. */
export function stateError(method: string): (why: string) => UserError {
  return (why) =>
    new UserError(`${method} checkpoint is unusable: ${why}`, 'resume with the method options and backbone the run was started with, or start a new run');
}

/** A float64 vector from a checkpoint (Float64Array, or a plain number array), length-checked. */
export function stateVector(v: unknown, length: number, what: string, bad: (why: string) => UserError): Float64Array {
  let out: Float64Array;
  if (v instanceof Float64Array) out = v.slice();
  else if (Array.isArray(v) && v.every((e) => typeof e === 'number')) out = Float64Array.from(v as number[]);
  else throw bad(`${what} is not a float64 array`);
  if (out.length !== length) throw bad(`${what} has ${out.length} values, expected ${length}`);
  for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i])) throw bad(`${what} has a non-finite value`);
  return out;
}

/** Config equality check for setState (every key of the learner's config must match). */
export function checkStateConfig<C extends object>(cfg: unknown, current: C, bad: (why: string) => UserError): void {
  const c = cfg as Partial<C> | null | undefined;
  for (const k of Object.keys(current) as (keyof C)[]) {
    if (!c || c[k] !== current[k]) throw bad(`option ${String(k)} was ${String(c?.[k])}, now ${String(current[k])}`);
  }
}

/** The classes of an experience that have training rows, in the experience's class order (row order: tie-breaking). */
export function presentClasses(exp: Experience): number[] {
  const present = new Set(exp.train.y);
  return exp.classes.filter((c) => present.has(c));
}

/** Labels of the classes that have samples, in arrival order. */
export function seenLabels(classes: readonly { label: number; count: number }[]): number[] {
  return classes.filter((s) => s.count > 0).map((s) => s.label);
}

/** The class fields of a learner state summary: how many, which (arrival order), samples per class and in all. */
export function classSummary(classes: readonly { label: number; count: number }[]): {
  classes: number;
  labels: number[];
  countsPerClass: Record<string, number>;
  samples: number;
} {
  const countsPerClass: Record<string, number> = {};
  for (const s of classes) countsPerClass[String(s.label)] = s.count;
  return { classes: classes.length, labels: classes.map((s) => s.label), countsPerClass, samples: classes.reduce((a, s) => a + s.count, 0) };
}

/**
 * The checks every closed-form setState starts with: the state's format and version, the feature
 * dimension and the options. Returns the state, typed, and setState's error maker.
 */
export function openState<S extends { format: string; version: number; dim: number; config: object }>(
  state: unknown,
  method: string,
  format: S['format'],
  version: number,
  dim: number,
  config: object,
): { st: Partial<S>; bad: (why: string) => UserError } {
  const bad = stateError(method);
  const st = state as Partial<S> | null;
  if (!st || typeof st !== 'object' || st.format !== format || st.version !== version) throw bad(`the state is not of ${method} (format ${format}, version ${version})`);
  if (st.dim !== dim) throw bad(`feature dimension ${String(st.dim)}, learner has ${dim}`);
  checkStateConfig(st.config, config, bad);
  return { st, bad };
}

/**
 * A checkpoint's class list, rebuilt: labels unique integers, counts integers ≥ 0, and `make`
 * turning each entry into the learner's class record (checking its arrays).
 */
export function restoreClasses<T extends { label: number; count: number }>(
  list: unknown,
  bad: (why: string) => UserError,
  make: (c: { label: number; count: number } & Record<string, unknown>) => T,
): { classes: T[]; byLabel: Map<number, T> } {
  if (!Array.isArray(list)) throw bad('no class list');
  const classes: T[] = [];
  const byLabel = new Map<number, T>();
  for (const c of list as ({ label: number; count: number } & Record<string, unknown>)[]) {
    if (!c || !Number.isInteger(c.label) || byLabel.has(c.label)) throw bad(`class label ${String(c?.label)} is not a unique integer`);
    if (!Number.isInteger(c.count) || c.count < 0) throw bad(`class ${c.label}: count ${String(c.count)}`);
    const s = make(c);
    classes.push(s);
    byLabel.set(c.label, s);
  }
  return { classes, byLabel };
}
