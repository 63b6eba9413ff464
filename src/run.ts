/**
 * `cl run`: the whole class-incremental pipeline as one RxJS chain (docs/architecture.md "The flow").
 *
 *   scenario ─► dataset ─► frozen backbone ─► feature cache ─► Observable<Experience>
 *        ─concatMap─► learner.learn ─► evaluate R[t][*] ─► store (one increment at a time) ─► summary
 *
 * Everything the CLI shows (stages, progress, training epochs, increments) travels on one typed
 * event stream; the store is written after every increment, so a crash loses at most the
 * increment in flight and leaves the record marked as not finished. The driver (src/driver.ts)
 * runs the chain; `cl resume` continues a stored run through src/resume.ts.
 */
import type { Observable } from 'rxjs';
import { concatMap, defer } from 'rxjs';
import { drive, type ExperimentSetup } from './driver.js';
import { evaluateIncrement, seenTestSubset } from './eval/accuracy.js';
import { answerInBlocks, predictInBlocks, type Answers } from './eval/answers.js';
import { confusionMatrix, scoreAccuracies } from './eval/scope.js';
import { summarize } from './eval/metrics.js';
import { RUN_OPTIONS } from './experiment-options.js';
import { scenarioFeatures, type FeatureEvent } from './features.js';
import { getMethod, resolveMethodOptions } from './learners/index.js';
import { resolveOptions } from './options.js';
import { checkResumable, claimForResume, countsMismatch, restoreCheckpoint, scoreExtras, scoreTask } from './resume.js';
import { loadScenario, type ResolvedScenario } from './scenario/scenario.js';
import { experienceStream } from './scenario/stream.js';
import { UserError } from './errors.js';
import { removeCheckpoint, writeCheckpoint } from './store/checkpoints.js';
import { appendIncrement, finishRun, getRun, newRecordBase, openStore, type Store } from './store/store.js';
import { initBackend, tf } from './tf.js';
import type { Experience, Features, IncrementResult, Learner, LearnerEvent, RunRecord } from './types.js';
import { clVersion } from './version.js';
import { provenanceNow } from './provenance.js';
import { resolvedConfig } from './study/config.js';

export { markInterrupted } from './driver.js';

export interface RunOptions extends ExperimentSetup {
  scenario: string;
  /** Method options given by the user (strings from the CLI are coerced and validated). */
  methodOptions: Record<string, unknown>;
  overrides?: { base?: number; increment?: number | number[]; order?: string };
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
  /** Resume: the stored increments (tasks 0..k-1), replayed or restored, not recomputed. */
  stored: IncrementResult[];
  /** Resume: time spent replaying (excluded from the run's total time). */
  replayMs: number;
  /** Resume: tasks 0..restored-1 come from the learner checkpoint (neither learned nor replayed). */
  restored: number;
}

type Emit = (e: RunEvent) => void;

/** Run one experiment. Subscribing starts it; the returned stream ends with a 'finished' event. */
export function runExperiment(opts: RunOptions): Observable<RunEvent> {
  return drive<RunEvent, Prepared, IncrementResult, RunRecord>({
    prepare: (emit) => prepare(opts, emit),
    steps: (p, emit) => experienceStream(p.train, p.scenario.taskClasses).pipe(concatMap((exp) => defer(() => learnAndEvaluate(p, exp, emit)))),
    finish,
    release: (p) => p.learner.dispose(),
  });
}

async function prepare(opts: RunOptions, emit: Emit): Promise<Prepared> {
  // Validate everything cheap before any heavy work, so a typo fails in milliseconds.
  resolveOptions(RUN_OPTIONS, { seed: opts.seed, ...opts.overrides }, 'cl run');
  const scenario = await loadScenario(opts.scenario, opts.overrides);
  const method = getMethod(opts.method);
  const methodOptions = resolveMethodOptions(method, opts.methodOptions);
  const store = await openStore(opts.storePath);
  if (opts.resume) await checkResumable(store, opts.resume);
  const backend = await initBackend(opts.backend ?? 'auto');
  const backboneSpec = opts.backbone ?? scenario.backbone;

  // The explicit keys come last: opts.backbone may be undefined (= the scenario's).
  const { train, test, backbone: backboneInfo, data } = await scenarioFeatures({ ...opts, dataset: scenario.dataset, backbone: backboneSpec, scenario }, emit);

  const ctx = { seed: opts.seed, dim: train.dim, numClasses: scenario.numClasses };
  const learner = method.create(methodOptions, ctx);
  const base = { scenario, train, test, store, startedAt: Date.now(), replayMs: 0 };
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
      if (stored.length === 0) return { ...base, learner, record, stored, restored: 0 };
      const why = await restoreCheckpoint(store, record, learner, { test, taskClasses: scenario.taskClasses }, stored);
      emit({ type: 'checkpoint', restored: why === null, tasks: stored.length, why });
      if (why === null) return { ...base, learner, record, stored, restored: stored.length };
      // setState may have half-applied a bad state: replay on a clean learner.
      learner.dispose();
      return { ...base, learner: method.create(methodOptions, ctx), record, stored, restored: 0 };
    } catch (e) {
      learner.dispose();
      throw e;
    }
  }
  const record: RunRecord = {
    ...newRecordBase('run'),
    kind: 'run',
    status: 'running',
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
    config: resolvedConfig(opts, { methodOptions, scenario, backend: backend.name }),
    provenance: await provenanceNow(backend.name, backend.provider),
    increments: [],
  };
  await store.insert(record);
  emit({ type: 'started', record });
  return { ...base, learner, record, stored: [], restored: 0 };
}

/** Relearn a stored increment and check that it reproduces the stored counts exactly. */
async function replay(p: Prepared, exp: Experience, emit: Emit): Promise<IncrementResult> {
  const t0 = performance.now();
  const stored = p.stored[exp.index];
  await p.learner.learn(exp, { emit: (event) => emit({ type: 'learner', task: exp.index, event }) });
  const now = scoreTask(p.learner, { test: p.test, taskClasses: p.scenario.taskClasses }, exp.index);
  if (countsMismatch(now, stored) !== null) {
    const accuracy = evaluateIncrement({ predict: (x) => p.learner.predict(x), test: p.test, taskClasses: p.scenario.taskClasses, task: exp.index }).accuracy;
    throw new UserError(
      `cannot resume run ${p.record.id}: relearning task ${exp.index + 1} gave A_t ${accuracy.toFixed(2)} % where the run stored ${stored.accuracy.toFixed(2)} %, so the learner does not reproduce it here`,
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
  const losses: Record<string, number[]> = {};
  await p.learner.learn(exp, {
    emit: (event) => {
      if (event.type === 'epoch') (losses[event.phase ?? 'train'] ??= []).push(event.loss);
      emit({ type: 'learner', task: exp.index, event });
    },
  });
  const t1 = performance.now();
  const at = { test: p.test, taskClasses: p.scenario.taskClasses };
  // Scored block by block (a signal is handled between blocks), then counted.
  const subset = seenTestSubset(p.test, p.scenario.taskClasses, exp.index);
  const predictions = await predictInBlocks(p.learner, subset);
  const row = evaluateIncrement({ predict: () => predictions, ...at, task: exp.index });
  const t2 = performance.now();
  const answers = await answerInBlocks(p.learner, subset, predictions);
  const extra = scoreExtras(answers, at, exp.index);
  const result: IncrementResult = {
    ...row,
    ...(extra ? { extra } : {}),
    ...evaluateScope(p, answers, exp.index, predictions),
    ...(Object.keys(losses).length > 0 ? { losses } : {}),
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

/** Confusion matrix of the headline predictions; task-IL and top-5 from the class scores where the learner has them. */
function evaluateScope(p: Prepared, answers: Answers, task: number, predictions: Int32Array): Pick<IncrementResult, 'confusion' | 'taskIL' | 'top5'> {
  const subset = seenTestSubset(p.test, p.scenario.taskClasses, task);
  const out: Pick<IncrementResult, 'confusion' | 'taskIL' | 'top5'> = {};
  out.confusion = confusionMatrix(subset, predictions, p.scenario.taskClasses, task);
  if (answers.scores) {
    const { taskIL, topK } = scoreAccuracies(subset, answers.scores(subset), p.scenario.taskClasses, task, 5);
    out.taskIL = taskIL;
    out.top5 = topK;
  }
  return out;
}

/** Summary metrics over all increments; the stored record is marked finished. */
async function finish(p: Prepared, incs: IncrementResult[]): Promise<RunRecord> {
  // A resumed run counts the stored increments' own learn + eval time, not the replay.
  const before = p.stored.reduce((s, i) => s + i.learnMs + i.evalMs, 0);
  await p.store.update<RunRecord>(p.record.id, (r) => {
    if (r.provenance) r.provenance.endedAt = new Date().toISOString();
  });
  await finishRun(p.store, p.record.id, summarize(incs, Date.now() - p.startedAt - p.replayMs + before));
  await removeCheckpoint(p.store.path, p.record.id);
  return getRun(p.store, p.record.id);
}
