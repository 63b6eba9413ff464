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

/** The rows of `features` whose label is in `classes`, in their original (dataset) order. */
export function selectClasses(features: Features, classes: readonly number[]): Features {
  const want = new Set(classes);
  const { x, y, dim } = features;
  let n = 0;
  for (let i = 0; i < features.count; i++) if (want.has(y[i])) n++;
  const outX = new Float32Array(n * dim);
  const outY = new Int32Array(n);
  let r = 0;
  for (let i = 0; i < features.count; i++) {
    if (!want.has(y[i])) continue;
    outX.set(x.subarray(i * dim, (i + 1) * dim), r * dim);
    outY[r++] = y[i];
  }
  return { x: outX, y: outY, count: n, dim };
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
