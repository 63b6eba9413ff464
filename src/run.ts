/**
 * `cl run`: the whole class-incremental pipeline as one RxJS chain (ARCHITECTURE "The flow").
 *
 *   scenario ─► dataset ─► frozen backbone ─► feature cache ─► Observable<Experience>
 *        ─concatMap─► learner.learn ─► evaluate R[t][*] ─► store (one increment at a time) ─► summary
 *
 * Everything the CLI shows (stages, progress, training epochs, increments) travels on one typed
 * event stream; the store is written after every increment, so a crash loses at most the
 * increment in flight and leaves the record marked as not finished.
 *
 * Resume (`cl resume <id>`): the stored command is run again on the same record. The learner
 * relearns the stored increments (seeded, so deterministic on one backend) without storing them, and
 * each replayed increment must reproduce its stored per-class correct counts exactly before the
 * run continues; otherwise the resume stops with an error and the stored increments stay as they
 * were. Learners with getState/setState (nmc, napa-vq) skip the replay: their state is
 * checkpointed after every stored increment, and on resume the restored learner must score the
 * last stored task exactly as stored (else the tasks are replayed after all).
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
import { UserError } from './errors.js';
import { readCheckpoint, removeCheckpoint, writeCheckpoint } from './store/checkpoints.js';
import { appendIncrement, effectiveStatus, finishRun, getRun, markFailed, newRunId, openStore, type RecordBase, type Store } from './store/store.js';
import { initBackend, tf } from './tf.js';
import type { Experience, ExtraEvaluation, Features, IncrementResult, Learner, LearnerEvent, ResizeRule, RunRecord } from './types.js';
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
  /** Image folders: resize rule and --skip-bad-images (see FeatureRequest). */
  resize?: ResizeRule;
  skipBadImages?: boolean;
  storePath: string;
  backend?: string;
  overrides?: { base?: number; increment?: number | number[]; order?: string };
  /** argv as typed, for the record. */
  command: string[];
  /** Continue this stored run (interrupted or failed) instead of starting a new record. */
  resume?: string;
}

export type RunEvent =
  | FeatureEvent
  | { type: 'started'; record: RunRecord }
  | { type: 'resuming'; record: RunRecord; fromTask: number }
  | { type: 'replayed'; task: number; tasks: number; accuracy: number }
  /** Resume: whether the stored tasks were restored from the learner checkpoint (else replayed, and why). */
  | { type: 'checkpoint'; restored: boolean; tasks: number; why: string | null }
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
  /** Resume: the stored increments (tasks 0..k-1) that are replayed, not recomputed. */
  stored: IncrementResult[];
  /** Resume: time spent replaying (excluded from the run's total time). */
  replayMs: number;
  /** Resume: tasks 0..restored-1 come from the learner checkpoint (neither learned nor replayed). */
  restored: number;
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
  if (opts.resume) resumable(await getRun(store, opts.resume), store.path);
  const backend = await initBackend(opts.backend ?? 'auto');
  const backboneSpec = opts.backbone ?? scenario.backbone;

  // The explicit keys come last: opts.backbone may be undefined (= the scenario's).
  const { train, test, backbone: backboneInfo, data } = await scenarioFeatures({ ...opts, dataset: scenario.dataset, backbone: backboneSpec, scenario }, emit);

  const ctx = { seed: opts.seed, dim: train.dim, numClasses: scenario.numClasses };
  let learner = method.create(methodOptions, ctx);
  if (opts.resume) {
    try {
      const record = await claimForResume(store, opts.resume, {
        scenario: scenario.taskClasses,
        method: method.name,
        methodOptions: learner.options(),
        trainSeed: opts.seed,
        backend: backend.name,
        featureCacheId: backboneInfo.featureCacheId,
      });
      const stored = [...record.increments].sort((a, b) => a.task - b.task);
      emit({ type: 'resuming', record, fromTask: stored.length });
      let restored = 0;
      if (stored.length > 0) {
        const r = await restoreCheckpoint(store, record, learner, method.name, test, scenario.taskClasses, stored);
        if (r === null) restored = stored.length;
        else {
          // setState may have half-applied a bad state: replay on a clean learner.
          learner.dispose();
          learner = method.create(methodOptions, ctx);
        }
        emit({ type: 'checkpoint', restored: r === null, tasks: stored.length, why: r });
      }
      return { scenario, train, test, learner, store, record, startedAt: Date.now(), stored, replayMs: 0, restored };
    } catch (e) {
      learner.dispose();
      throw e;
    }
  }
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
    data,
    backend: backend.name,
    clVersion: clVersion(),
    command: opts.command,
    cwd: process.cwd(),
    increments: [],
  };
  await store.insert(record);
  emit({ type: 'started', record });
  return { scenario, train, test, learner, store, record, startedAt: Date.now(), stored: [], replayMs: 0, restored: 0 };
}

const sameCounts = (a: { correctPerClass: Record<string, number>; accuracyRow: number[] }, b: typeof a): boolean =>
  JSON.stringify(a.correctPerClass) === JSON.stringify(b.correctPerClass) && JSON.stringify(a.accuracyRow) === JSON.stringify(b.accuracyRow);

/**
 * Put the learner in the state it had after the last stored task, from the run's checkpoint, and
 * check that it scores that task exactly as stored. Returns null when restored, else why not.
 */
async function restoreCheckpoint(
  store: Store,
  run: RunRecord,
  learner: Learner,
  method: string,
  test: Features,
  taskClasses: number[][],
  stored: IncrementResult[],
): Promise<string | null> {
  if (!learner.setState) return `${method} keeps no checkpoints`;
  const { checkpoint, why } = await readCheckpoint(store.path, run.id);
  if (!checkpoint) return why;
  const last = stored.length - 1;
  if (checkpoint.task !== last) return `the checkpoint was taken after task ${checkpoint.task + 1}, the run stored ${stored.length}`;
  if (checkpoint.method !== method) return `the checkpoint is of ${checkpoint.method}, the run of ${method}`;
  try {
    learner.setState(checkpoint.state);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  const row = evaluateIncrement({ predict: (x) => learner.predict(x), test, taskClasses, task: last });
  return sameCounts(row, stored[last]) ? null : `the restored learner does not reproduce task ${last + 1}'s stored counts`;
}

/** Throw a UserError unless the run may be resumed (interrupted or failed, with stored tasks 0..k-1). */
function resumable(run: RunRecord, storePath: string): void {
  const status = effectiveStatus(run);
  if (status === 'finished') throw new UserError(`run ${run.id} has already finished`, `see it with \`cl show ${run.id}\``);
  if (status === 'running') {
    throw new UserError(`run ${run.id} is still running (pid ${run.pid} on ${run.host})`, 'stop that process first, or wait for it to finish');
  }
  if (status !== 'interrupted' && status !== 'failed') throw new UserError(`run ${run.id} has status "${status}" and cannot be resumed`);
  const tasks = run.increments.map((i) => i.task).sort((a, b) => a - b);
  if (tasks.some((t, k) => t !== k)) {
    throw new UserError(`run ${run.id} in ${storePath} has stored tasks ${tasks.join(', ')}, not a prefix 0..k-1`, 'the record was edited by hand; start a new run');
  }
}

interface RunIdentity {
  scenario: number[][];
  method: string;
  methodOptions: Record<string, unknown>;
  trainSeed: number;
  backend: string;
  featureCacheId: string;
}

/**
 * Take over a stored run for this process: check (under the store lock) that it is still resumable
 * and that the re-created experiment is the same one, then mark it running with our pid.
 */
async function claimForResume(store: Store, id: string, now: RunIdentity): Promise<RunRecord> {
  return store.update<RunRecord & RecordBase>(id, (run) => {
    resumable(run, store.path);
    const same = (what: string, stored: unknown, current: unknown, hint: string): void => {
      if (JSON.stringify(stored) !== JSON.stringify(current)) {
        throw new UserError(`cannot resume run ${run.id}: its ${what} was ${JSON.stringify(stored)}, now ${JSON.stringify(current)}`, hint);
      }
    };
    same('class split', run.scenario.taskClasses, now.scenario, 'the scenario file changed since the run started; start a new run');
    same('method', run.method, now.method, 'start a new run');
    same('method options', run.methodOptions, now.methodOptions, 'the method defaults changed since the run started (cl upgraded?); start a new run');
    same('trainSeed', run.trainSeed, now.trainSeed, 'start a new run');
    same('tfjs backend', run.backend, now.backend, `resume on a machine where the ${run.backend} backend is available`);
    same('features', run.backbone.featureCacheId, now.featureCacheId, 'the dataset, backbone or preprocessing differ from the run (check --data-dir / the model file); start a new run');
    const fromTask = run.increments.length;
    run.status = 'running';
    run.pid = process.pid;
    run.host = os.hostname();
    delete run.error;
    run.resumes = [...(run.resumes ?? []), { at: new Date().toISOString(), pid: process.pid, fromTask }];
  });
}

/** Relearn a stored increment and check that it reproduces the stored per-class counts exactly. */
async function replay(p: Prepared, exp: Experience, emit: Emit): Promise<IncrementResult> {
  const t0 = performance.now();
  const stored = p.stored[exp.index];
  await p.learner.learn(exp, { emit: (event) => emit({ type: 'learner', task: exp.index, event }) });
  const row = evaluateIncrement({ predict: (x) => p.learner.predict(x), test: p.test, taskClasses: p.scenario.taskClasses, task: exp.index });
  if (!sameCounts(row, stored)) {
    throw new UserError(
      `cannot resume run ${p.record.id}: relearning task ${exp.index + 1} gave A_t ${row.accuracy.toFixed(2)} % where the run stored ${stored.accuracy.toFixed(2)} %, so the learner does not reproduce it here`,
      'resume on the machine and backend that started the run, or start a new run; the stored increments are unchanged',
    );
  }
  p.replayMs += performance.now() - t0;
  emit({ type: 'replayed', task: exp.index, tasks: p.scenario.taskClasses.length, accuracy: stored.accuracy });
  return stored;
}

/** One increment: learn, evaluate over all seen classes, persist the accuracy row. */
async function learnAndEvaluate(p: Prepared, exp: Experience, emit: Emit): Promise<IncrementResult> {
  if (exp.index < p.restored) return p.stored[exp.index];
  if (exp.index < p.stored.length) return replay(p, exp, emit);
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
  // After the increment is stored: a checkpoint never runs ahead of the record.
  if (p.learner.getState) await writeCheckpoint(p.store.path, { run: p.record.id, task: exp.index, method: p.record.method, state: p.learner.getState() });
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
  // A resumed run counts the stored increments' own learn + eval time, not the replay.
  const before = p.stored.reduce((s, i) => s + i.learnMs + i.evalMs, 0);
  await finishRun(p.store, p.record.id, summarize(incs, Date.now() - p.startedAt - p.replayMs + before));
  await removeCheckpoint(p.store.path, p.record.id);
  return getRun(p.store, p.record.id);
}
