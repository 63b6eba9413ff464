/**
 * The submitter's side of the run queue: BullMQ's Queue (add jobs, read their state, logs and
 * results) and QueueEvents (wake-ups), plus the sweep descriptor that lets `cl sweep --attach <id>`
 * find a sweep again. Keys: `cl:<queue>:*` are BullMQ's, `cl:<queue>:sweep:<id>` is ours.
 */
import { Queue, QueueEvents, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { UserError } from '../errors.js';
import { closeNow, createClient, waitReady, type QueueTarget } from './connection.js';
import type { JobPayload } from './job.js';

export const QUEUE_PREFIX = 'cl';
export const DEFAULT_QUEUE_NAME = 'runs';

/** One grid cell of a sweep: its job, and what the submitter stores about it. */
export interface SweepCell {
  jobId: string;
  label: string;
  /** The `cl run` command line the cell stands for (stored in the record). */
  command: string[];
  /** Increments the run will have. */
  tasks: number;
}

/** What Redis keeps about a sweep (for --attach), for `keepSeconds` after a submitter last looked. */
export interface SweepMeta {
  format: 'cl-sweep';
  version: 1;
  id: string;
  queue: string;
  createdAt: string;
  /** The submitting command line, password redacted. */
  command: string[];
  cwd: string;
  keepSeconds: number;
  cells: SweepCell[];
}

export interface SubmitOptions {
  /** Attempts per job (1 = no retry). */
  attempts: number;
  /** First retry delay (ms), doubled each time. */
  backoffMs: number;
  /** Finished jobs (and their results) stay in Redis this long. */
  keepSeconds: number;
}

export interface SubmitOutcome {
  added: number;
  /** Already in the queue (waiting, running or finished): not added again. */
  existing: number;
  /** Failed before and put back in the queue by this submission. */
  retried: number;
}

export const QUEUE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class RunQueue {
  readonly queue: Queue;
  readonly events: QueueEvents;

  private constructor(
    readonly target: QueueTarget,
    readonly name: string,
    readonly client: Redis,
    private readonly eventsClient: Redis,
  ) {
    this.queue = new Queue(name, { connection: client, prefix: QUEUE_PREFIX });
    this.events = new QueueEvents(name, { connection: eventsClient, prefix: QUEUE_PREFIX });
    // Connection errors while Redis is away: the live table says so (follow.ts); without listeners
    // BullMQ would print each one with a stack trace.
    this.queue.on('error', () => undefined);
    this.events.on('error', () => undefined);
  }

  /** Connect (a clear UserError when Redis cannot be reached or refuses the password). */
  static async open(target: QueueTarget, name: string): Promise<RunQueue> {
    const client = createClient(target, 'cl-sweep');
    const eventsClient = createClient(target, 'cl-sweep-events');
    try {
      await waitReady(client, target);
      await waitReady(eventsClient, target);
    } catch (e) {
      closeNow(client);
      closeNow(eventsClient);
      throw e;
    }
    return new RunQueue(target, name, client, eventsClient);
  }

  private sweepKey(id: string): string {
    return `${QUEUE_PREFIX}:${this.name}:sweep:${id}`;
  }

  async saveSweep(meta: SweepMeta): Promise<void> {
    await this.client.set(this.sweepKey(meta.id), JSON.stringify(meta), 'EX', meta.keepSeconds);
  }

  async loadSweep(id: string): Promise<SweepMeta | null> {
    const text = await this.client.get(this.sweepKey(id));
    if (!text) return null;
    const meta = JSON.parse(text) as SweepMeta;
    return meta && meta.format === 'cl-sweep' && Array.isArray(meta.cells) ? meta : null;
  }

  /** Keep the sweep's descriptor for another `keepSeconds` from now. */
  async touchSweep(id: string, keepSeconds: number): Promise<void> {
    await this.client.expire(this.sweepKey(id), keepSeconds);
  }

  /**
   * Add the jobs. A job id already in the queue is left as it is (BullMQ never adds a job id twice),
   * except a failed job, which is retried: submitting a sweep again means "run what is missing".
   */
  async submit(jobs: { id: string; payload: JobPayload }[], opts: SubmitOptions): Promise<SubmitOutcome> {
    const jobOpts: Omit<JobsOptions, 'jobId'> = {
      attempts: opts.attempts,
      backoff: { type: 'exponential', delay: opts.backoffMs },
      removeOnComplete: { age: opts.keepSeconds },
      removeOnFail: { age: opts.keepSeconds },
    };
    const out: SubmitOutcome = { added: 0, existing: 0, retried: 0 };
    const fresh: { id: string; payload: JobPayload }[] = [];
    for (const j of jobs) {
      const state = await this.queue.getJobState(j.id);
      if (state === 'unknown') {
        fresh.push(j);
      } else if (state === 'failed') {
        const job = await this.queue.getJob(j.id);
        await job?.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: false });
        out.retried += 1;
      } else {
        out.existing += 1;
      }
    }
    for (let i = 0; i < fresh.length; i += 500) {
      const batch = fresh.slice(i, i + 500);
      await this.queue.addBulk(batch.map((j) => ({ name: 'run', data: j.payload, opts: { ...jobOpts, jobId: j.id } })));
      out.added += batch.length;
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
    await Promise.allSettled([this.client.quit(), this.eventsClient.quit()]);
    this.client.disconnect();
    this.eventsClient.disconnect();
  }
}

/** "90s", "30m", "12h", "7d" → seconds (UserError naming `flag` otherwise). */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(text.trim());
  if (!m || Number(m[1]) <= 0) throw new UserError(`${flag} "${text}" is not a duration`, `e.g. ${flag} 90s, 30m, 12h or 7d`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Math.max(1, Math.round(Number(m[1]) * unit));
}
