/** The summary of a run: the stored one, or (for a run still running or cut short) recomputed from its increments. */
import { summarize } from '../eval/metrics.js';
import type { RunRecord, RunSummary } from '../types.js';

export function runSummary(record: RunRecord): RunSummary | null {
  if (record.summary) return record.summary;
  if (record.increments.length === 0) return null;
  const ms = record.increments.reduce((s, inc) => s + inc.learnMs + inc.evalMs, 0);
  try {
    return summarize(record.increments, ms);
  } catch {
    return null; // increments are not a contiguous 0..n−1 prefix: nothing trustworthy to summarise
  }
}

/** Total number of tasks of the run's scenario. */
export const plannedTasks = (record: RunRecord): number => record.scenario.taskClasses.length;

/** Wall time of a run (ms): the summary's total, else learn + eval time of its increments. */
export function wallMs(record: RunRecord): number | null {
  if (record.summary) return record.summary.totalMs;
  if (record.increments.length === 0) return null;
  return record.increments.reduce((s, inc) => s + inc.learnMs + inc.evalMs, 0);
}
