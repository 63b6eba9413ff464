/** Hand-made run records for the report tests (equal-sized tasks, so A_t is the mean of the row). */
import { summarize } from '../../src/eval/metrics.js';
import type { IncrementResult, RunRecord } from '../../src/types.js';

export interface FixtureOptions {
  id: string;
  /** Lower-triangular accuracy matrix R[t][j] (percent). */
  R: number[][];
  seed?: number;
  method?: string;
  methodOptions?: Record<string, unknown>;
  scenario?: string;
  dataset?: string;
  split?: string;
  order?: string;
  backbone?: string;
  classesPerTask?: number;
  /** Planned number of tasks (default R.length). */
  tasks?: number;
  status?: RunRecord['status'];
  createdAt?: string;
  learnMs?: number;
  /** Leave out the stored summary (as for a run still running). */
  noSummary?: boolean;
}

export function makeRun(o: FixtureOptions): RunRecord {
  const k = o.classesPerTask ?? 2;
  const T = o.tasks ?? o.R.length;
  const taskClasses = Array.from({ length: T }, (_, t) => Array.from({ length: k }, (_, c) => t * k + c));
  const increments: IncrementResult[] = o.R.map((row, t) => {
    const mean = (xs: number[]): number => xs.reduce((s, v) => s + v, 0) / xs.length;
    const correct: Record<string, number> = {};
    const total: Record<string, number> = {};
    row.forEach((acc, j) => {
      for (const c of taskClasses[j]) {
        correct[String(c)] = acc;
        total[String(c)] = 100;
      }
    });
    return {
      task: t,
      classes: taskClasses[t],
      seenClasses: (t + 1) * k,
      accuracyRow: row,
      accuracy: mean(row),
      oldAccuracy: t === 0 ? null : mean(row.slice(0, t)),
      newAccuracy: row[t],
      correctPerClass: correct,
      totalPerClass: total,
      learnMs: o.learnMs ?? 1000,
      evalMs: 250,
    };
  });
  const created = o.createdAt ?? '2026-01-01T00:00:00.000Z';
  return {
    id: o.id,
    kind: 'run',
    createdAt: created,
    updatedAt: created,
    status: o.status ?? 'finished',
    pid: 1234,
    host: 'test-host',
    scenario: {
      name: o.scenario ?? 'split-mnist',
      dataset: o.dataset ?? 'mnist-embedded',
      split: o.split ?? `B0-Inc${k}`,
      taskClasses,
      order: { id: o.order ?? 'natural', seed: null, classes: taskClasses.flat() },
    },
    method: o.method ?? 'nmc',
    methodOptions: o.methodOptions ?? {},
    trainSeed: o.seed ?? 1,
    backbone: { id: o.backbone ?? 'pixels', preprocessing: 'none', dim: 784, featureCacheId: 'fc-test' },
    backend: 'cpu',
    clVersion: '0.1.0',
    command: ['cl', 'run', o.scenario ?? 'split-mnist', '--method', o.method ?? 'nmc'],
    increments,
    summary: o.noSummary ? undefined : summarize(increments, increments.length * ((o.learnMs ?? 1000) + 250)),
  };
}

/** docs/protocols.md "Accuracy aggregates" worked matrix: A_t = 80, 80, 73.33, 75; Ā = 77.083; F max-prev 10, max-all 11.667, first 1.667; BWT −1.667. */
export const WORKED_R = [[80], [90, 70], [75, 85, 60], [60, 80, 65, 95]];
