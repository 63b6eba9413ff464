/**
 * Evaluation after one increment (docs/protocols.md "The accuracy matrix", "Old and new accuracy"): one row R[t][0..t] of the accuracy
 * matrix, the sample-weighted A_t, old/new accuracy and the per-class counts that let every
 * aggregate (and any regrouping) be recomputed later.
 */
import { UserError } from '../errors.js';
import { selectClasses } from '../scenario/stream.js';
import type { Features, IncrementResult } from '../types.js';

export type IncrementEvaluation = Omit<IncrementResult, 'learnMs' | 'evalMs' | 'learnerState'>;

export interface EvaluateIncrementArgs {
  /** The learner's prediction (original label ids) for every row of its argument. */
  predict: (x: Features) => Int32Array;
  /** The whole test split (every class); only seen classes are evaluated. */
  test: Features;
  /** Classes of each task (original label ids), in task order. */
  taskClasses: number[][];
  /** 0-based task just learned. */
  task: number;
}

const pct = (correct: number, total: number): number => (100 * correct) / total;


/** Per test split: its rows of the scenario's classes grouped by task, and the seen-class views. */
const byTask = new WeakMap<Features, { key: string; views: Features[] }>();

/**
 * The test rows evaluateIncrement scores after `task`: every sample of a seen class, grouped by
 * task (task 0's classes first), in dataset order within a task. The test split is copied once
 * per scenario in that order, so the rows seen after task t are a prefix of the copy and every
 * call returns a view of it without copying (copying the seen rows anew after every increment
 * was a quarter of NMC's evaluation time). Every learner scores a row on its own, so the order of
 * the rows changes no prediction and no count (tested).
 */
export function seenTestSubset(test: Features, taskClasses: number[][], task: number): Features {
  const key = taskClasses.map((c) => c.join(',')).join(';');
  let c = byTask.get(test);
  if (!c || c.key !== key) {
    const seen = new Set<number>();
    for (const cls of taskClasses.flat()) {
      if (seen.has(cls)) throw new RangeError(`seenTestSubset: class ${cls} appears in two tasks`);
      seen.add(cls);
    }
    const { dim } = test;
    const x = new Float32Array(test.count * dim);
    const y = new Int32Array(test.count);
    const views: Features[] = [];
    let n = 0;
    for (const classes of taskClasses) {
      n += selectClasses(test, classes, { x: x.subarray(n * dim), y: y.subarray(n) }).count;
      views.push({ x: x.subarray(0, n * dim), y: y.subarray(0, n), count: n, dim });
    }
    c = { key, views };
    byTask.set(test, c);
  }
  if (!Number.isInteger(task) || task < 0 || task >= c.views.length) throw new RangeError(`seenTestSubset: task ${task} outside 0..${c.views.length - 1}`);
  return c.views[task];
}

/**
 * Score the learner on the test samples of every class seen up to `task`.
 * Labels stay original ids; a prediction of a label outside the seen classes is simply wrong
 * (it can never equal a seen true label).
 */
export function evaluateIncrement(args: EvaluateIncrementArgs): IncrementEvaluation {
  const { predict, test, taskClasses, task } = args;
  if (!Number.isInteger(task) || task < 0 || task >= taskClasses.length) {
    throw new RangeError(`evaluateIncrement: task ${task} outside 0..${taskClasses.length - 1}`);
  }
  const taskOf = new Map<number, number>();
  for (let i = 0; i <= task; i++) {
    for (const c of taskClasses[i]) {
      if (taskOf.has(c)) throw new RangeError(`evaluateIncrement: class ${c} appears in two tasks`);
      taskOf.set(c, i);
    }
  }

  const subset = seenTestSubset(test, taskClasses, task);
  const pred = predict(subset);
  if (pred.length !== subset.count) {
    throw new RangeError(`evaluateIncrement: predict returned ${pred.length} labels for ${subset.count} rows`);
  }

  const correct = new Map<number, number>();
  const total = new Map<number, number>();
  for (const c of taskOf.keys()) {
    correct.set(c, 0);
    total.set(c, 0);
  }
  for (let r = 0; r < subset.count; r++) {
    const c = subset.y[r];
    total.set(c, total.get(c)! + 1);
    if (pred[r] === c) correct.set(c, correct.get(c)! + 1);
  }

  // Per-task sums: R[t][i] pools the samples of task i's classes.
  const taskCorrect = new Array<number>(task + 1).fill(0);
  const taskTotal = new Array<number>(task + 1).fill(0);
  for (const [c, i] of taskOf) {
    taskCorrect[i] += correct.get(c)!;
    taskTotal[i] += total.get(c)!;
  }
  taskTotal.forEach((n, i) => {
    if (n === 0) {
      throw new UserError(
        `the test split has no samples of task ${i} (classes ${taskClasses[i].join(', ')})`,
        'check the scenario class order against the dataset labels',
      );
    }
  });

  const sum = (a: number[], from: number, to: number): number => a.slice(from, to).reduce((s, v) => s + v, 0);
  const correctPerClass: Record<string, number> = {};
  const totalPerClass: Record<string, number> = {};
  for (const c of [...taskOf.keys()].sort((a, b) => a - b)) {
    correctPerClass[String(c)] = correct.get(c)!;
    totalPerClass[String(c)] = total.get(c)!;
  }

  return {
    task,
    classes: [...taskClasses[task]],
    seenClasses: taskOf.size,
    accuracyRow: taskCorrect.map((k, i) => pct(k, taskTotal[i])),
    accuracy: pct(sum(taskCorrect, 0, task + 1), sum(taskTotal, 0, task + 1)),
    oldAccuracy: task === 0 ? null : pct(sum(taskCorrect, 0, task), sum(taskTotal, 0, task)),
    newAccuracy: pct(taskCorrect[task], taskTotal[task]),
    correctPerClass,
    totalPerClass,
  };
}
