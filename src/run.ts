/**
 * `cl run`: the whole class-incremental pipeline as one RxJS chain (ARCHITECTURE "The flow").
 *
 *   scenario ─► dataset ─► frozen backbone ─► feature cache ─► Observable<Experience>
 *        ─concatMap─► learner.learn ─► evaluate R[t][*] ─► store (one increment at a time) ─► summary
 *
 * Everything the CLI shows (stages, progress, training epochs, increments) travels on one typed
 * event stream; the store is written after every increment, so a crash loses at most the
 * increment in flight and leaves the record marked as not finished.
 */
import os from 'node:os';
import { Observable, concatMap, defer, reduce, switchMap } from 'rxjs';
import type { BackboneOptions } from './backbones/backbone.js';
import { scenarioFeatures, type FeatureEvent } from './features.js';
import { evaluateIncrement, seenTestSubset } from './eval/accuracy.js';
import { summarize } from './eval/metrics.js';
import { getMethod, resolveMethodOptions } from './learners/index.js';
import { loadScenario, type ResolvedScenario } from './scenario/scenario.js';
import { experienceStream } from './scenario/stream.js';
import { appendIncrement, finishRun, getRun, markFailed, newRunId, openStore, type Store } from './store/store.js';
import { initBackend, tf } from './tf.js';
import type { Experience, ExtraEvaluation, Features, IncrementResult, Learner, LearnerEvent, RunRecord } from './types.js';
import { clVersion } from './version.js';

export interface RunOptions {
  scenario: string;
  method: string;
  /** Method options given by the user (strings from the CLI are coerced and validated). */
  methodOptions: Record<string, unknown>;
  /** trainSeed: seeds everything random in the learner. */
  seed: number;
  /** Backbone spec; default: the scenario's. */
  backbone?: string;
  backboneOptions?: BackboneOptions;
  dataDir?: string;
  cacheRoot?: string;
  offline?: boolean;
  storePath: string;
  backend?: string;
  overrides?: { base?: number; increment?: number | number[]; order?: string };
  /** argv as typed, for the record. */
  command: string[];
}

export type RunEvent =
  | FeatureEvent
  | { type: 'started'; record: RunRecord }
  | { type: 'learner'; task: number; event: LearnerEvent }
  | { type: 'increment'; result: IncrementResult; tasks: number }
  | { type: 'finished'; record: RunRecord };

interface Prepared {
  scenario: ResolvedScenario;
  train: Features;
  test: Features;
  learner: Learner;
  store: Store;
  record: RunRecord;
  startedAt: number;
}

type Emit = (e: RunEvent) => void;

/** Run one experiment. Subscribing starts it; the returned stream ends with a 'finished' event. */
export function runExperiment(opts: RunOptions): Observable<RunEvent> {
  return new Observable<RunEvent>((out) => {
    const emit: Emit = (e) => out.next(e);
    let prepared: Prepared | null = null;
    const sub = defer(() => prepare(opts, emit))
      .pipe(
        switchMap((p) => {
          prepared = p;
          return experienceStream(p.train, p.scenario.taskClasses).pipe(
            concatMap((exp) => defer(() => learnAndEvaluate(p, exp, emit))),
            reduce((all, inc) => [...all, inc], [] as IncrementResult[]),
            concatMap((incs) => defer(() => finish(p, incs))),
          );
        }),
      )
      .subscribe({
        next: (record) => emit({ type: 'finished', record }),
        error: (err: unknown) => {
          const p = prepared;
          prepared = null;
          p?.learner.dispose();
          const message = err instanceof Error ? err.message : String(err);
          const done = p ? markFailed(p.store, p.record.id, 'failed', message) : Promise.resolve();
          done.then(
            () => out.error(err),
            () => out.error(err),
          );
        },
        complete: () => {
          prepared?.learner.dispose();
          prepared = null;
          out.complete();
        },
      });
    return () => sub.unsubscribe();
  });
}

/** Mark a run that is being torn down by a signal (Ctrl-C) as interrupted. */
export async function markInterrupted(storePath: string, id: string, why: string): Promise<void> {
  const store = await openStore(storePath);
  await markFailed(store, id, 'interrupted', why);
}

async function prepare(opts: RunOptions, emit: Emit): Promise<Prepared> {
  // Validate everything cheap before any heavy work, so a typo fails in milliseconds.
  const scenario = await loadScenario(opts.scenario, opts.overrides);
  const method = getMethod(opts.method);
  const methodOptions = resolveMethodOptions(method, opts.methodOptions);
  const store = await openStore(opts.storePath);
  const backend = await initBackend(opts.backend ?? 'auto');
  const backboneSpec = opts.backbone ?? scenario.backbone;

  // The explicit keys come last: opts.backbone may be undefined (= the scenario's).
  const { train, test, backbone: backboneInfo } = await scenarioFeatures({ ...opts, dataset: scenario.dataset, backbone: backboneSpec }, emit);

  const learner = method.create(methodOptions, { seed: opts.seed, dim: train.dim, numClasses: scenario.numClasses });
  const now = new Date().toISOString();
  const record: RunRecord = {
    id: newRunId(),
    kind: 'run',
    createdAt: now,
    updatedAt: now,
    status: 'running',
    pid: process.pid,
    host: os.hostname(),
    scenario: {
      name: scenario.name,
      dataset: scenario.dataset,
      split: scenario.split,
      taskClasses: scenario.taskClasses,
      order: scenario.order,
    },
    method: method.name,
    methodOptions: learner.options(),
    trainSeed: opts.seed,
    backbone: backboneInfo,
    backend: backend.name,
    clVersion: clVersion(),
    command: opts.command,
    increments: [],
  };
  await store.insert(record);
  emit({ type: 'started', record });
  return { scenario, train, test, learner, store, record, startedAt: Date.now() };
}

/** One increment: learn, evaluate over all seen classes, persist the accuracy row. */
async function learnAndEvaluate(p: Prepared, exp: Experience, emit: Emit): Promise<IncrementResult> {
  const t0 = performance.now();
  await p.learner.learn(exp, { emit: (event) => emit({ type: 'learner', task: exp.index, event }) });
  const t1 = performance.now();
  const row = evaluateIncrement({
    predict: (x) => p.learner.predict(x),
    test: p.test,
    taskClasses: p.scenario.taskClasses,
    task: exp.index,
  });
  const t2 = performance.now();
  const extra = evaluateExtras(p, exp.index);
  const result: IncrementResult = {
    ...row,
    ...(extra ? { extra } : {}),
    learnMs: t1 - t0,
    evalMs: t2 - t1,
    learnerState: { ...p.learner.stateSummary(), tfTensors: tf.memory().numTensors },
  };
  await appendIncrement(p.store, p.record.id, result);
  emit({ type: 'increment', result, tasks: p.scenario.taskClasses.length });
  return result;
}

/** Score the learner's secondary decision rules (if any) on the same seen-class test samples. */
function evaluateExtras(p: Prepared, task: number): Record<string, ExtraEvaluation> | undefined {
  const learner = p.learner;
  if (!learner.extraPredictions) return undefined;
  // Same rows, same order as evaluateIncrement scores them.
  const preds = learner.extraPredictions(seenTestSubset(p.test, p.scenario.taskClasses, task));
  const names = Object.keys(preds);
  if (names.length === 0) return undefined;
  const out: Record<string, ExtraEvaluation> = {};
  for (const name of names) {
    const r = evaluateIncrement({ predict: () => preds[name], test: p.test, taskClasses: p.scenario.taskClasses, task });
    out[name] = { accuracyRow: r.accuracyRow, accuracy: r.accuracy, oldAccuracy: r.oldAccuracy, newAccuracy: r.newAccuracy };
  }
  return out;
}

/** Summary metrics over all increments; the stored record is marked finished. */
async function finish(p: Prepared, incs: IncrementResult[]): Promise<RunRecord> {
  await finishRun(p.store, p.record.id, summarize(incs, Date.now() - p.startedAt));
  return getRun(p.store, p.record.id);
}
