/**
 * Run-record helpers on top of the store: a run record is written after every increment
 * (docs/architecture.md "Results are precious"), so a crash loses at most the increment in flight.
 */
import { UserError } from '../errors.js';
import type { IncrementResult, RunRecord, RunSummary, StoredRecord } from '../types.js';
import type { Store } from './store.js';

function asRun(record: StoredRecord, store: Store): RunRecord {
  if (record.kind !== 'run') {
    throw new UserError(`record ${record.id} in ${store.path} is a ${record.kind} record, not a run`, 'pass the id of a run (see `cl ls --kind run`)');
  }
  return record;
}

/** A run record by exact id or unique prefix. */
export async function getRun(store: Store, idOrPrefix: string): Promise<RunRecord> {
  return asRun(await store.get(idOrPrefix), store);
}

/** Store the result of one increment (replacing an earlier result for the same task, e.g. on resume). */
export async function appendIncrement(store: Store, id: string, inc: IncrementResult): Promise<void> {
  await store.update(id, (r) => {
    const run = asRun(r, store);
    run.increments = run.increments.filter((x) => x.task !== inc.task);
    run.increments.push(inc);
    run.increments.sort((a, b) => a.task - b.task);
  });
}

/** Mark a run finished with its summary. */
export async function finishRun(store: Store, id: string, summary: RunSummary): Promise<void> {
  await store.update(id, (r) => {
    const run = asRun(r, store);
    run.summary = summary;
    run.status = 'finished';
    delete run.error;
  });
}

/** Mark a run (or any record) as failed or interrupted, with the reason. */
export async function markFailed(store: Store, id: string, status: 'failed' | 'interrupted', error: string): Promise<void> {
  await store.update(id, (r) => {
    r.status = status;
    r.error = error;
  });
}
