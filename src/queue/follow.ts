/**
 * Following a sweep: read every job's state, log and result from Redis and write them into the
 * user's store as they come (see records.ts), until every job has finished or failed.
 *
 * Wake-ups come from BullMQ's QueueEvents (progress, completion, failure, stalls); a full pass over
 * the unfinished jobs every `pollMs` covers events missed while Redis or the submitter was away, so
 * nothing depends on an event being delivered. Everything read is idempotent to apply again: a
 * second submitter, or `--attach` after Ctrl-C, converges on the same store content.
 */
import type { Redis } from 'ioredis';
import { UserError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { RunRecord } from '../types.js';
import type { JobLogEntry, JobResult } from './job.js';
import type { RunQueue, SweepCell, SweepMeta } from './queue.js';
import { recordFailed, recordFinished, recordIncrement, recordStarted, storedRun, type LocalFacts } from './records.js';
import { estimateSeconds, type CellPhase, type CellView, type SweepView } from './table.js';

export interface CellOutcome {
  cell: SweepCell;
  phase: CellPhase;
  record?: RunRecord;
  /** The job's failure (`cl: error: ...`, maybe a hint line) or why it is gone. */
  error?: string;
  /** Times the job was started (BullMQ attemptsStarted): > 1 means it ran again. */
  starts: number;
  /** Wall time of the last attempt (ms). */
  ms?: number;
  worker?: string;
}

export interface FollowEvents {
  /** A line worth keeping (a job started again, finished, failed). */
  line(text: string): void;
  /** The current picture (for the live table). */
  view(v: SweepView): void;
}

export interface FollowOptions {
  rq: RunQueue;
  store: Store;
  meta: SweepMeta;
  /** Full pass over unfinished jobs at least this often (ms). */
  pollMs: number;
  signal: AbortSignal;
  out: FollowEvents;
  cwd?: string;
}

interface CellState extends CellOutcome {
  logOffset: number;
  /** Attempts whose 'started' entry was applied. */
  applied: Set<number>;
  /** Increments that arrived before their attempt's 'started' entry. */
  pending: Extract<JobLogEntry, { cl: 'increment' }>[];
  attempt: number;
  done: number;
  since?: number;
}

const TERMINAL: CellPhase[] = ['done', 'failed', 'gone'];

export function redisDownTracker(client: Redis): { downSince: () => number | null; dispose: () => void } {
  let down: number | null = null;
  const lost = () => {
    down ??= Date.now();
  };
  const back = () => {
    down = null;
  };
  client.on('close', lost);
  client.on('reconnecting', lost);
  client.on('ready', back);
  return {
    downSince: () => down,
    dispose: () => {
      client.off('close', lost);
      client.off('reconnecting', lost);
      client.off('ready', back);
    },
  };
}

function formatMetrics(r: RunRecord | undefined): string {
  const s = r?.summary;
  return s ? `A_T ${s.finalAccuracy.toFixed(2)} %, Ā ${s.averageIncrementalAccuracy.toFixed(2)} %` : 'no summary';
}

/** Follow the sweep until every job is done or failed (or the signal aborts). */
export async function followSweep(o: FollowOptions): Promise<{ outcomes: CellOutcome[]; interrupted: boolean }> {
  const { rq, store, meta } = o;
  const local = (cell: SweepCell): LocalFacts => ({ sweep: meta.id, command: cell.command, cwd: o.cwd ?? meta.cwd });
  const states = new Map<string, CellState>();
  for (const cell of meta.cells) {
    states.set(cell.jobId, { cell, phase: 'queued', starts: 0, logOffset: 0, applied: new Set(), pending: [], attempt: 0, done: 0 });
  }
  const total = meta.cells.length;
  let finished = 0;
  const startedAt = Date.now();
  let incrementsSeen = 0;

  const dirty = new Set<string>(states.keys());
  let wake: (() => void) | null = null;
  const poke = (jobId: string | undefined) => {
    if (jobId && states.has(jobId)) {
      dirty.add(jobId);
      wake?.();
    }
  };
  const onEvent = ({ jobId }: { jobId: string }) => poke(jobId);
  const names = ['active', 'progress', 'completed', 'failed', 'stalled', 'waiting', 'delayed', 'retries-exhausted'] as const;
  for (const n of names) rq.events.on(n, onEvent);
  const redis = redisDownTracker(rq.client);

  const view = (): SweepView => {
    const cells: CellView[] = [...states.values()].map((s) => ({
      label: s.cell.label,
      phase: s.phase,
      done: s.phase === 'done' ? s.cell.tasks : s.done,
      tasks: s.cell.tasks,
      worker: s.worker,
      attempt: s.attempt,
      since: s.since,
    }));
    return { id: meta.id, cells, etaSeconds: estimateSeconds(cells, incrementsSeen, (Date.now() - startedAt) / 1000), redisDownSince: redis.downSince() };
  };
  const timer = setInterval(() => o.out.view(view()), 500);

  const end = (s: CellState, phase: CellPhase) => {
    s.phase = phase;
    finished += 1;
    const where = `${s.ms !== undefined ? `${(s.ms / 1000).toFixed(1)} s` : '?'}${s.worker ? `, ${s.worker}` : ''}${s.starts > 1 ? `, started ${s.starts}×` : ''}`;
    if (phase === 'done') o.out.line(`[${finished}/${total}] done   ${s.cell.label} (${where}) run ${s.cell.jobId}: ${formatMetrics(s.record)}`);
    else o.out.line(`[${finished}/${total}] failed ${s.cell.label} (${where}): ${(s.error ?? '').split('\n').join('\n    ')}`);
  };

  const applyIncrement = async (s: CellState, e: Extract<JobLogEntry, { cl: 'increment' }>) => {
    if (await recordIncrement(store, s.cell.jobId, e.attempt, e.result)) {
      if (e.attempt === s.attempt) {
        if (e.result.task + 1 > s.done) incrementsSeen += 1;
        s.done = Math.max(s.done, e.result.task + 1);
      }
    }
  };

  const apply = async (s: CellState, e: JobLogEntry) => {
    if (e.cl === 'started') {
      if (e.attempt < s.attempt) return;
      const outcome = await recordStarted(store, s.cell.jobId, e.attempt, e.worker, e.record, local(s.cell));
      if (outcome === 'stale' || outcome === 'finished') return;
      s.applied.add(e.attempt);
      if (e.attempt > s.attempt) {
        if (s.attempt > 0) o.out.line(`again  ${s.cell.label} on ${e.worker} (attempt ${e.attempt}; the previous attempt on ${s.worker ?? '?'} did not finish)`);
        s.attempt = e.attempt;
        s.worker = e.worker;
        s.done = 0;
        s.since = Date.parse(e.record.createdAt) || Date.now();
      }
      const ready = s.pending.filter((p) => p.attempt === e.attempt);
      s.pending = s.pending.filter((p) => p.attempt !== e.attempt);
      for (const p of ready) await applyIncrement(s, p);
    } else if (e.cl === 'increment') {
      if (e.attempt < s.attempt) return;
      if (!s.applied.has(e.attempt)) s.pending.push(e);
      else await applyIncrement(s, e);
    }
  };

  const refresh = async (s: CellState) => {
    const id = s.cell.jobId;
    const state = await rq.queue.getJobState(id);
    let { logs, count } = await rq.queue.getJobLogs(id, s.logOffset, -1);
    if (count < s.logOffset) {
      // The job was removed and submitted again: its log starts over.
      s.logOffset = 0;
      ({ logs, count } = await rq.queue.getJobLogs(id, 0, -1));
    }
    s.logOffset += logs.length;
    for (const text of logs) {
      let entry: JobLogEntry | null = null;
      try {
        entry = JSON.parse(text) as JobLogEntry;
      } catch {
        entry = null;
      }
      if (entry && (entry.cl === 'started' || entry.cl === 'increment') && Number.isInteger(entry.attempt)) await apply(s, entry);
    }
    if (state === 'completed' || state === 'failed') {
      const job = await rq.queue.getJob(id);
      if (!job) return; // removed just now: the next pass sees 'unknown'
      s.starts = job.attemptsStarted;
      s.ms = job.finishedOn && job.processedOn ? job.finishedOn - job.processedOn : undefined;
      if (state === 'completed') {
        const res = job.returnvalue as JobResult | null;
        const rec = res?.record;
        if (!res || res.cl !== 'finished' || !rec || rec.kind !== 'run' || !Array.isArray(rec.increments) || rec.increments.length !== s.cell.tasks || !rec.summary) {
          s.error = `cl: error: job ${id} finished without a complete run record (${rec?.increments?.length ?? 0} of ${s.cell.tasks} increments)`;
          await recordFailed(store, id, s.error);
          end(s, 'failed');
          return;
        }
        s.worker = res.worker;
        s.record = await recordFinished(store, id, res.attempt, res.worker, rec, local(s.cell));
        end(s, 'done');
      } else {
        s.error = job.failedReason || 'failed without a reason';
        await recordFailed(store, id, s.error.split('\n')[0]);
        end(s, 'failed');
      }
    } else if (state === 'unknown') {
      const rec = await storedRun(store, id);
      if (rec?.status === 'finished') {
        s.record = rec;
        s.worker = rec.queue?.worker;
        end(s, 'done');
      } else {
        s.error = `job ${id} is no longer in Redis (finished jobs are kept for ${Math.round(meta.keepSeconds / 3600)} h) and its record in ${store.path} is not finished`;
        end(s, 'gone');
      }
    } else if (state === 'active') {
      s.phase = 'running';
    } else {
      s.phase = s.attempt > 0 || state === 'delayed' ? 'retry' : 'queued';
    }
  };

  let lastFull = Date.now();
  try {
    while (!o.signal.aborted && finished < total) {
      if (Date.now() - lastFull >= o.pollMs) {
        lastFull = Date.now();
        for (const s of states.values()) if (!TERMINAL.includes(s.phase)) dirty.add(s.cell.jobId);
        await rq.touchSweep(meta.id, meta.keepSeconds);
      }
      for (const id of [...dirty]) {
        if (o.signal.aborted) break;
        dirty.delete(id);
        const s = states.get(id) as CellState;
        if (!TERMINAL.includes(s.phase)) await refresh(s);
      }
      o.out.view(view());
      if (finished >= total || o.signal.aborted) break;
      if (dirty.size === 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, Math.max(50, o.pollMs - (Date.now() - lastFull)));
          function done() {
            clearTimeout(t);
            wake = null;
            o.signal.removeEventListener('abort', done);
            resolve();
          }
          wake = done;
          o.signal.addEventListener('abort', done);
        });
      }
    }
  } finally {
    clearInterval(timer);
    redis.dispose();
    for (const n of names) rq.events.off(n, onEvent);
  }
  if (!o.signal.aborted) await rq.touchSweep(meta.id, meta.keepSeconds);
  return { outcomes: [...states.values()].map(({ cell, phase, record, error, starts, ms, worker }) => ({ cell, phase, record, error, starts, ms, worker })), interrupted: o.signal.aborted };
}

/** The sweep's descriptor, or a UserError saying why --attach cannot find it. */
export async function attachMeta(rq: RunQueue, id: string): Promise<SweepMeta> {
  if (!/^s[0-9a-f]{12}$/.test(id)) throw new UserError(`"${id}" is not a sweep id`, 'a sweep id looks like s1a2b3c4d5e6f (printed when the sweep was submitted)');
  const meta = await rq.loadSweep(id);
  if (!meta) {
    throw new UserError(
      `no sweep ${id} on queue "${rq.name}" at ${rq.target.display}`,
      'sweeps are kept for --keep (default 7 days) after a submitter last looked at them; submitting the same grid again collects the finished runs still in Redis',
    );
  }
  return meta;
}
