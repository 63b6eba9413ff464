/**
 * Evaluation beside the class-IL headline (docs/protocols.md "Evaluation scope"), on exactly the
 * rows evaluateIncrement scores (seenTestSubset: every test sample of a seen class, task by task):
 *
 *   confusion  C[i][j] = test samples of seen class i predicted as seen class j (headline predictions)
 *   task-IL    the sample's task is given: argmax of the class scores over that task's classes only
 *   top-5      the true class is among the 5 best-scored seen classes
 *
 * Ties in the scores go to the column that comes first (the learner's own order), as in predict(),
 * so that rank 0 is exactly the top-1 prediction.
 */
import type { ClassScores, ConfusionMatrix, Features, ScopedAccuracy } from '../types.js';

const pct = (correct: number, total: number): number => (100 * correct) / total;

/** The seen classes in class order (the tasks' classes one after the other). */
const seenClasses = (taskClasses: number[][], task: number): number[] => taskClasses.slice(0, task + 1).flat();

/** Confusion matrix of `pred` (one label per row of `subset`) over the classes seen after `task`. */
export function confusionMatrix(subset: Features, pred: Int32Array, taskClasses: number[][], task: number): ConfusionMatrix {
  const labels = seenClasses(taskClasses, task);
  const index = new Map(labels.map((c, i) => [c, i]));
  const matrix = labels.map(() => new Array<number>(labels.length).fill(0));
  if (pred.length !== subset.count) throw new RangeError(`confusionMatrix: ${pred.length} predictions for ${subset.count} rows`);
  for (let r = 0; r < subset.count; r++) {
    const i = index.get(subset.y[r]);
    const j = index.get(pred[r]);
    if (i === undefined) throw new RangeError(`confusionMatrix: row ${r} has label ${subset.y[r]}, not a seen class`);
    if (j === undefined) throw new RangeError(`confusionMatrix: row ${r} was predicted as ${pred[r]}, not a seen class`);
    matrix[i][j] += 1;
  }
  return { labels, matrix };
}

/** Per-class correct counts → the per-task row, the sample-weighted accuracy and the counts as stored. */
function scoped(correct: Map<number, number>, total: Map<number, number>, taskClasses: number[][], task: number): ScopedAccuracy {
  const row: number[] = [];
  let allCorrect = 0;
  let allTotal = 0;
  for (let i = 0; i <= task; i++) {
    let k = 0;
    let n = 0;
    for (const c of taskClasses[i]) {
      k += correct.get(c) ?? 0;
      n += total.get(c) ?? 0;
    }
    row.push(n === 0 ? 0 : pct(k, n));
    allCorrect += k;
    allTotal += n;
  }
  const correctPerClass: Record<string, number> = {};
  for (const c of [...total.keys()].sort((a, b) => a - b)) correctPerClass[String(c)] = correct.get(c) ?? 0;
  return { accuracyRow: row, accuracy: allTotal === 0 ? 0 : pct(allCorrect, allTotal), correctPerClass };
}

/**
 * Task-IL and top-`k` accuracy from class scores of the rows of `subset`. A seen class the scores
 * do not cover can never be predicted (it counts as scored below every column).
 */
export function scoreAccuracies(subset: Features, scores: ClassScores, taskClasses: number[][], task: number, k = 5): { taskIL: ScopedAccuracy; topK: ScopedAccuracy } {
  const K = scores.labels.length;
  if (scores.values.length !== subset.count * K) {
    throw new RangeError(`scoreAccuracies: ${scores.values.length} scores for ${subset.count} rows × ${K} classes`);
  }
  const column = new Map<number, number>();
  for (let j = 0; j < K; j++) column.set(scores.labels[j], j);
  // The columns of each task's classes, in column order (so that ties go to the earlier column).
  const taskOf = new Map<number, number>();
  for (let i = 0; i <= task; i++) for (const c of taskClasses[i]) taskOf.set(c, i);
  const taskColumns: number[][] = [];
  for (let i = 0; i <= task; i++) taskColumns.push(taskClasses[i].map((c) => column.get(c)).filter((j): j is number => j !== undefined).sort((a, b) => a - b));

  const total = new Map<number, number>();
  const tilCorrect = new Map<number, number>();
  const topCorrect = new Map<number, number>();
  for (const c of taskOf.keys()) {
    total.set(c, 0);
    tilCorrect.set(c, 0);
    topCorrect.set(c, 0);
  }
  const v = scores.values;
  for (let r = 0; r < subset.count; r++) {
    const c = subset.y[r];
    const t = taskOf.get(c);
    if (t === undefined) throw new RangeError(`scoreAccuracies: row ${r} has label ${c}, not a seen class`);
    total.set(c, total.get(c)! + 1);
    const jc = column.get(c);
    if (jc === undefined) continue;
    const base = r * K;
    const own = v[base + jc];
    // Task-IL: first maximum among the task's columns.
    let best = -1;
    let bestScore = -Infinity;
    for (const j of taskColumns[t]) {
      if (best === -1 || v[base + j] > bestScore) {
        best = j;
        bestScore = v[base + j];
      }
    }
    if (best === jc) tilCorrect.set(c, tilCorrect.get(c)! + 1);
    // Rank of the true class: columns scored higher, plus equal ones before it.
    let rank = 0;
    for (let j = 0; j < K && rank < k; j++) {
      const s = v[base + j];
      if (s > own || (s === own && j < jc)) rank++;
    }
    if (rank < k) topCorrect.set(c, topCorrect.get(c)! + 1);
  }
  return { taskIL: scoped(tilCorrect, total, taskClasses, task), topK: scoped(topCorrect, total, taskClasses, task) };
}

/** Summary of a scoped accuracy over the increments that have it: A_T and Ā (first task included). */
export function scopedSummary(values: (number | undefined)[]): { finalAccuracy: number; averageIncrementalAccuracy: number } | undefined {
  if (values.length === 0 || values.some((x) => x === undefined)) return undefined;
  const xs = values as number[];
  return { finalAccuracy: xs[xs.length - 1], averageIncrementalAccuracy: xs.reduce((s, x) => s + x, 0) / xs.length };
}
