/**
 * `cl resume <id>` (docs/architecture.md "Resume"): the stored command of an interrupted or failed
 * run is run again on the same record. Before the run continues, the learner must be in the state
 * it had after the last stored task, shown by reproducing what the record stored:
 *
 *   checkpoint  learners with getState/setState (nmc, napa-vq, finetune-adapter) are restored from
 *               the run's checkpoint; it must pass its checksum and name the last stored task, and
 *               the restored learner must reproduce that task exactly — every per-class correct
 *               and total count, the accuracy row, every secondary rule's row — and report the
 *               learner state stored with it (per-class sample counts, classes, ...). Otherwise
 *               the checkpoint is not used and the tasks are relearned.
 *   replay      every stored task is relearned (seeded, so deterministic on one backend) without
 *               storing it, and must reproduce the stored counts; otherwise the resume stops with
 *               an error and the stored tasks stay as they were.
 */
import os from 'node:os';
import { evaluateIncrement, seenTestSubset } from './eval/accuracy.js';
import { UserError } from './errors.js';
import { readCheckpoint } from './store/checkpoints.js';
import { effectiveStatus, getRun, type RecordBase, type Store } from './store/store.js';
import type { Features, IncrementResult, Learner, RunRecord } from './types.js';

/** Throw a UserError unless the run may be resumed (interrupted or failed, with stored tasks 0..k-1). */
export function resumable(run: RunRecord, storePath: string): void {
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

/** Checks the stored run before any heavy work. */
export async function checkResumable(store: Store, id: string): Promise<void> {
  resumable(await getRun(store, id), store.path);
}

/** What must be the same for the re-created experiment to continue the stored one. */
export interface RunIdentity {
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
export async function claimForResume(store: Store, id: string, now: RunIdentity): Promise<RunRecord> {
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

/** Where a stored task is scored: the test split and the class split of the run. */
export interface ScoringContext {
  test: Features;
  taskClasses: number[][];
}

/** What evaluating `learner` after `task` gives, with its secondary rules, as the record stores it. */
export function scoreTask(learner: Learner, at: ScoringContext, task: number): Pick<IncrementResult, 'correctPerClass' | 'totalPerClass' | 'accuracyRow' | 'extra'> {
  const row = evaluateIncrement({ predict: (x) => learner.predict(x), test: at.test, taskClasses: at.taskClasses, task });
  const extra = scoreExtras(learner, at, task);
  return { correctPerClass: row.correctPerClass, totalPerClass: row.totalPerClass, accuracyRow: row.accuracyRow, ...(extra ? { extra } : {}) };
}

/** The learner's secondary decision rules (if any), scored on the same seen-class test samples. */
export function scoreExtras(learner: Pick<Learner, 'extraPredictions'>, at: ScoringContext, task: number): IncrementResult['extra'] {
  if (!learner.extraPredictions) return undefined;
  // Same rows, same order as evaluateIncrement scores them.
  const preds = learner.extraPredictions(seenTestSubset(at.test, at.taskClasses, task));
  const names = Object.keys(preds);
  if (names.length === 0) return undefined;
  const out: NonNullable<IncrementResult['extra']> = {};
  for (const name of names) {
    const r = evaluateIncrement({ predict: () => preds[name], test: at.test, taskClasses: at.taskClasses, task });
    out[name] = { accuracyRow: r.accuracyRow, accuracy: r.accuracy, oldAccuracy: r.oldAccuracy, newAccuracy: r.newAccuracy };
  }
  return out;
}

/** The first stored count that `now` does not reproduce, or null when every one matches. */
export function countsMismatch(now: ReturnType<typeof scoreTask>, stored: IncrementResult): string | null {
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  if (!same(now.totalPerClass, stored.totalPerClass)) return 'the test samples per class';
  if (!same(now.correctPerClass, stored.correctPerClass)) return 'the correct predictions per class';
  if (!same(now.accuracyRow, stored.accuracyRow)) return 'the accuracy row';
  const rows = (e: IncrementResult['extra']) => Object.fromEntries(Object.entries(e ?? {}).map(([k, v]) => [k, v.accuracyRow]));
  if (!same(rows(now.extra), rows(stored.extra))) return 'the secondary decision rules';
  return null;
}

/** The stored learner state of an increment without what a restore cannot reproduce (tensor count of the process). */
function comparableState(s: Record<string, unknown> | undefined): string {
  const rest = { ...(s ?? {}) };
  delete rest.tfTensors;
  return JSON.stringify(rest);
}

/** Top-level keys whose values differ between two learner states. */
function differingKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => k !== 'tfTensors');
  return keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}

/**
 * Put the learner in the state it had after the last stored task, from the run's checkpoint, and
 * check it against the record. Returns null when restored, else why not (the caller then replays
 * on a fresh learner: setState may have half-applied a bad state).
 */
export async function restoreCheckpoint(store: Store, run: RunRecord, learner: Learner, at: ScoringContext, stored: IncrementResult[]): Promise<string | null> {
  if (!learner.setState) return `${run.method} keeps no checkpoints`;
  const { checkpoint, why } = await readCheckpoint(store.path, run.id);
  if (!checkpoint) return why;
  const last = stored.length - 1;
  if (checkpoint.task !== last) return `the checkpoint was taken after task ${checkpoint.task + 1}, the run stored ${stored.length}`;
  if (checkpoint.method !== run.method) return `the checkpoint is of ${checkpoint.method}, the run of ${run.method}`;
  try {
    learner.setState(checkpoint.state);
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
  const summary = learner.stateSummary();
  if (comparableState(summary) !== comparableState(stored[last].learnerState)) {
    const keys = differingKeys(summary, stored[last].learnerState ?? {});
    return `the restored learner's state (${keys.join(', ')}) differs from the one stored after task ${last + 1}`;
  }
  const wrong = countsMismatch(scoreTask(learner, at, last), stored[last]);
  return wrong === null ? null : `the restored learner does not reproduce task ${last + 1}'s stored counts (${wrong})`;
}
