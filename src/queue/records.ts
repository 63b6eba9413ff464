/**
 * The submitter writes the workers' results into the user's store as they arrive (every increment
 * at once: results are precious). Each job has exactly one record, whose id is the job id, so a
 * job that runs again (its worker died, or it failed and was retried) never leaves a second one.
 *
 * The record holds one attempt's results. Its `queue.attempt` is the fence: entries of an older
 * attempt (a worker that lost its lock but is still reporting) are ignored; the first entry of a
 * newer attempt takes the record over and clears the older attempt's increments, so a record never
 * mixes two executions. Every check and write happens under the store's lock. Keep all store calls
 * of the queue here.
 */
import { UserError } from '../errors.js';
import { appendIncrement, finishRun, markFailed, type RecordBase, type Store } from '../store/store.js';
import type { IncrementResult, RunRecord } from '../types.js';

export interface LocalFacts {
  sweep: string;
  /** The cell's `cl run` command line. */
  command: string[];
  /** The submitter's working directory. */
  cwd: string;
}

async function find(store: Store, id: string): Promise<RunRecord | null> {
  try {
    const r = await store.get<RecordBase>(id);
    return r.id === id ? (r as unknown as RunRecord) : null;
  } catch (e) {
    if (e instanceof UserError) return null;
    throw e;
  }
}

/** The stored record of a job, or null. */
export async function storedRun(store: Store, jobId: string): Promise<RunRecord | null> {
  return find(store, jobId);
}

/** The record a worker started, as this store keeps it (our id, command, cwd; no increments yet). */
function fresh(jobId: string, attempt: number, worker: string, r: RunRecord, local: LocalFacts): RunRecord {
  const { resumes: _resumes, summary: _summary, error: _error, ...rest } = r;
  return {
    ...rest,
    id: jobId,
    status: 'running',
    command: local.command,
    cwd: local.cwd,
    increments: [],
    queue: { sweep: local.sweep, job: jobId, attempt, worker },
  };
}

export type StartOutcome = 'created' | 'taken-over' | 'current' | 'stale' | 'finished';

/**
 * A worker started attempt `attempt` of the job: create the record, or hand it to the newer attempt.
 * `force` hands it over even from a newer attempt (the finished result of the job is authoritative).
 */
export async function recordStarted(store: Store, jobId: string, attempt: number, worker: string, r: RunRecord, local: LocalFacts, force = false): Promise<StartOutcome> {
  const existing = await find(store, jobId);
  if (!existing) {
    try {
      await store.insert(fresh(jobId, attempt, worker, r, local) as unknown as RecordBase);
      return 'created';
    } catch (e) {
      // Another submitter of the same sweep inserted it meanwhile: fall through to the update.
      if (!(e instanceof Error) || !e.message.includes('already exists')) throw e;
    }
  }
  let outcome: StartOutcome = 'current';
  await store.update<RecordBase>(jobId, (rec) => {
    const run = rec as unknown as RunRecord;
    const have = run.queue?.attempt ?? 0;
    if (run.status === 'finished') outcome = 'finished';
    else if (attempt < have && !force) outcome = 'stale';
    else if (attempt === have) outcome = 'current';
    else {
      const next = fresh(jobId, attempt, worker, r, local);
      for (const k of Object.keys(run) as (keyof RunRecord)[]) if (k !== 'id' && k !== 'createdAt') delete run[k];
      Object.assign(run, { ...next, createdAt: rec.createdAt });
      outcome = 'taken-over';
    }
  });
  return outcome;
}

/** Store one increment of attempt `attempt`; false (nothing written) when the record belongs to another attempt. */
export async function recordIncrement(store: Store, jobId: string, attempt: number, inc: IncrementResult): Promise<boolean> {
  const run = await find(store, jobId);
  if (!run || run.status === 'finished' || run.queue?.attempt !== attempt) return false;
  // The fence is checked again under the store's lock: the record may change hands meanwhile.
  let current = false;
  await store.update<RecordBase>(jobId, (rec) => {
    const r = rec as unknown as RunRecord;
    current = r.status !== 'finished' && r.queue?.attempt === attempt;
    if (current) {
      r.increments = r.increments.filter((x) => x.task !== inc.task);
      r.increments.push(inc);
      r.increments.sort((a, b) => a.task - b.task);
    }
  });
  return current;
}

/** The job finished: the record becomes that attempt's complete record (all increments, summary). */
export async function recordFinished(store: Store, jobId: string, attempt: number, worker: string, r: RunRecord, local: LocalFacts): Promise<RunRecord> {
  const start = await recordStarted(store, jobId, attempt, worker, r, local, true);
  if (start !== 'finished') {
    const stored = (await find(store, jobId)) as RunRecord;
    const same = (a: IncrementResult, b: IncrementResult | undefined) => b !== undefined && JSON.stringify(a) === JSON.stringify(b);
    for (const inc of r.increments) {
      if (!same(inc, stored.increments.find((x) => x.task === inc.task))) await appendIncrement(store, jobId, inc);
    }
    if (!r.summary) throw new Error(`job ${jobId} finished without a summary`);
    await finishRun(store, jobId, r.summary);
  }
  return (await find(store, jobId)) as RunRecord;
}

/** The job failed for good: an unfinished record says why. */
export async function recordFailed(store: Store, jobId: string, message: string): Promise<void> {
  const run = await find(store, jobId);
  if (run && run.status !== 'finished') await markFailed(store, jobId, 'failed', message);
}
