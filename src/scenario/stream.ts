/**
 * The experience stream: one Experience per task of the split, each holding the training samples of
 * that task's classes in dataset order (a fixed within-class order, which makes NMC's sums
 * bit-identical under any split, docs/protocols.md "Split invariance of NMC").
 *
 * Laziness / back-pressure. RxJS has no pull channel, so a downstream `concatMap` buffers whatever
 * the source pushes. The stream therefore emits cheap Experience shells (index, classes) and builds
 * each `train` block only when it is first read (then keeps it). Consumed as
 *   experienceStream(train, tasks).pipe(concatMap((exp) => defer(() => learnAndEvaluate(exp))))
 * block k+1 is materialised only after learnAndEvaluate(exp_k) has completed. Do not read
 * `exp.train` in an operator placed before that concatMap.
 */
import { Observable } from 'rxjs';
import type { Experience, Features } from '../types.js';

/**
 * The rows of `features` whose label is in `classes`, in their original (dataset) order. With
 * `into`, the rows are written to the front of those arrays (at least as long as the input's)
 * and the result views them: no new allocation for callers that select repeatedly.
 */
export function selectClasses(features: Features, classes: readonly number[], into?: { x: Float32Array; y: Int32Array }): Features {
  const { x, y, dim } = features;
  const rows = rowsOfClasses(y, features.count, classes);
  const n = rows.length;
  if (into && (into.x.length < n * dim || into.y.length < n)) throw new RangeError('selectClasses: the output arrays are too short');
  // Every value is written below, so the block need not be zeroed first: memory the allocator hands
  // back without zeroing saves the page faults of a fresh 25 MB block per CIFAR-100 task (~40 ms
  // over the 10 tasks of B0-Inc10, test/bench/nmc.ts).
  const outX = into ? into.x.subarray(0, n * dim) : new Float32Array(Buffer.allocUnsafeSlow(n * dim * 4).buffer, 0, n * dim);
  const outY = into ? into.y.subarray(0, n) : new Int32Array(n);
  // Runs of consecutive rows are copied with one set() each.
  for (let r = 0; r < n; ) {
    let e = r + 1;
    while (e < n && rows[e] === rows[e - 1] + 1) e++;
    outX.set(x.subarray(rows[r] * dim, (rows[e - 1] + 1) * dim), r * dim);
    for (let k = r; k < e; k++) outY[k] = y[rows[k]];
    r = e;
  }
  return { x: outX, y: outY, count: n, dim };
}

/** Indices of the rows whose label is in `classes`, ascending. */
function rowsOfClasses(y: Int32Array, count: number, classes: readonly number[]): Int32Array {
  let max = -1;
  let small = true;
  for (const c of classes) {
    if (!Number.isInteger(c) || c < 0 || c > 0xffff) small = false;
    else if (c > max) max = c;
  }
  // Labels are small non-negative integers in practice: a lookup table instead of a Set.
  const table = small ? new Uint8Array(max + 1) : null;
  if (table) for (const c of classes) table[c] = 1;
  const want = table ? null : new Set(classes);
  const hit = (v: number): boolean => (table ? v >= 0 && v <= max && table[v] === 1 : want!.has(v));
  let n = 0;
  for (let i = 0; i < count; i++) if (hit(y[i])) n++;
  const rows = new Int32Array(n);
  let r = 0;
  for (let i = 0; i < count; i++) if (hit(y[i])) rows[r++] = i;
  return rows;
}

export interface StreamOptions {
  /** Called when experience `index`'s training block is built (progress display, tests). */
  onMaterialise?: (index: number) => void;
}

/** An Experience whose `train` block is built on first access. */
class LazyExperience implements Experience {
  private block: Features | null = null;

  constructor(
    readonly index: number,
    readonly classes: number[],
    private readonly source: Features,
    private readonly onMaterialise?: (index: number) => void,
  ) {}

  get train(): Features {
    if (!this.block) {
      this.block = selectClasses(this.source, this.classes);
      this.onMaterialise?.(this.index);
    }
    return this.block;
  }
}

function checkTasks(taskClasses: number[][]): void {
  const seen = new Map<number, number>();
  taskClasses.forEach((classes, t) => {
    for (const c of classes) {
      const prev = seen.get(c);
      if (prev !== undefined) {
        throw new Error(`experienceStream: class ${c} is listed in task ${prev} and again in task ${t}; tasks must be disjoint`);
      }
      seen.set(c, t);
    }
  });
}

/**
 * A cold Observable emitting one Experience per task, in task order, then completing. Samples whose
 * label is in no task are left out. Each subscription starts again from task 0.
 */
export function experienceStream(train: Features, taskClasses: number[][], opts: StreamOptions = {}): Observable<Experience> {
  checkTasks(taskClasses);
  return new Observable<Experience>((subscriber) => {
    for (let t = 0; t < taskClasses.length && !subscriber.closed; t++) {
      subscriber.next(new LazyExperience(t, [...taskClasses[t]], train, opts.onMaterialise));
    }
    subscriber.complete();
  });
}
