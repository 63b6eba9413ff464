/**
 * `cl worker`: a BullMQ worker on the run queue. Jobs run in child processes (BullMQ sandboxed
 * processors, src/queue/processor.ts), at most `concurrency` at once. BullMQ holds a lock on every
 * active job and renews it from this process; when a worker dies, its locks expire and another
 * worker's stalled-job check puts the job back in the queue (a new attempt, which the submitter
 * recognises by its attemptsStarted).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, type Job } from 'bullmq';
import { pidAlive } from '../leftovers.js';
import { cacheRoot as defaultCacheRoot } from '../paths.js';
import { closeNow, createClient, scrub, waitReady, type QueueTarget } from './connection.js';
import { SETUP_ENV, type WorkerSetup } from './experiment.js';
import type { JobPayload, JobProgress, JobResult } from './job.js';
import { QUEUE_PREFIX } from './queue.js';

export interface WorkerConfig {
  target: QueueTarget;
  queueName: string;
  concurrency: number;
  /** BullMQ lock duration (ms): a dead worker's jobs go back to the queue after about this long. */
  lockMs: number;
  name?: string;
  dataDir?: string;
  cacheRoot?: string;
  offline: boolean;
  backbones: Record<string, string>;
  /** One line of worker output (stderr). */
  log: (line: string) => void;
}

export interface RunningWorker {
  name: string;
  /** Stop taking jobs; `force` abandons the running ones (they go back to the queue). */
  close(force?: boolean): Promise<void>;
}

/** The processor file next to this module (processor.js in dist, processor.ts under tsx). */
function processorFile(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `processor${path.extname(here)}`);
}

/** `<cache>/worker/<host>-<pid>`; scratch folders of dead workers on this host are removed. */
function scratchDir(root: string): string {
  const base = path.join(root, 'worker');
  const host = os.hostname().replace(/[^A-Za-z0-9._-]/g, '_');
  fs.mkdirSync(base, { recursive: true });
  for (const name of fs.readdirSync(base)) {
    const m = new RegExp(`^${host.replace(/[.]/g, '\\.')}-(\\d+)$`).exec(name);
    if (m && !pidAlive(Number(m[1]))) fs.rmSync(path.join(base, name), { recursive: true, force: true });
  }
  return path.join(base, `${host}-${process.pid}`);
}

const labelOf = (job: Job | undefined): string => {
  const data = job?.data as Partial<JobPayload> | undefined;
  // A label comes from whoever submitted the job: no control characters reach the terminal.
  const printable = (t: string) => [...t].map((ch) => (ch.charCodeAt(0) < 0x20 || (ch.charCodeAt(0) >= 0x7f && ch.charCodeAt(0) < 0xa0) ? '?' : ch)).join('');
  const label = typeof data?.label === 'string' ? printable(data.label.slice(0, 120)) : '?';
  return `${label} [${job?.id ?? '?'}]`;
};

export async function startWorker(cfg: WorkerConfig): Promise<RunningWorker> {
  const name = cfg.name ?? `${os.hostname()}:${process.pid}`;
  const root = cfg.cacheRoot ?? defaultCacheRoot();
  const setup: WorkerSetup = {
    name,
    dataDir: cfg.dataDir,
    cacheRoot: cfg.cacheRoot,
    offline: cfg.offline,
    backbones: cfg.backbones,
    scratch: scratchDir(root),
  };
  const client = createClient(cfg.target, `cl-worker:${name}`);
  try {
    await waitReady(client, cfg.target);
  } catch (e) {
    closeNow(client);
    throw e;
  }
  // Children get the worker's setup, never the queue's address or password.
  const env: NodeJS.ProcessEnv = { ...process.env, [SETUP_ENV]: JSON.stringify(setup) };
  delete env.CL_QUEUE;
  delete env.CL_QUEUE_PASSWORD;
  const worker = new Worker(cfg.queueName, processorFile(), {
    connection: client,
    prefix: QUEUE_PREFIX,
    name,
    concurrency: cfg.concurrency,
    lockDuration: cfg.lockMs,
    stalledInterval: cfg.lockMs,
    // A job whose worker died is not at fault: let it survive a few dead workers.
    maxStalledCount: 5,
    useWorkerThreads: false,
    workerForkOptions: { env },
    autorun: false,
  });

  let down = false;
  let lastError = '';
  worker.on('error', (err) => {
    const msg = scrub(err.message, cfg.target);
    if (!down || msg !== lastError) cfg.log(`redis: ${msg}`);
    lastError = msg;
    down = true;
  });
  client.on('ready', () => {
    if (down) cfg.log(`redis: connected again to ${cfg.target.display}`);
    down = false;
    lastError = '';
  });
  const started = new Map<string, number>();
  worker.on('active', (job) => {
    started.set(job.id ?? '', Date.now());
    cfg.log(`start  ${labelOf(job)} (attempt ${job.attemptsStarted})`);
  });
  worker.on('progress', (job, progress) => {
    const p = progress as unknown as JobProgress;
    if (p && typeof p.done === 'number' && p.done > 0) cfg.log(`       ${labelOf(job)} task ${p.done}/${p.tasks}`);
  });
  worker.on('completed', (job, result: JobResult) => {
    const secs = ((Date.now() - (started.get(job.id ?? '') ?? Date.now())) / 1000).toFixed(1);
    const s = result?.record?.summary;
    cfg.log(`done   ${labelOf(job)} in ${secs} s${s ? `: A_T ${s.finalAccuracy.toFixed(2)} %` : ''}`);
  });
  worker.on('failed', (job, err) => {
    const attempts = job?.opts.attempts ?? 1;
    const more = job && job.attemptsMade < attempts && err.name !== 'UnrecoverableError' ? ', will be retried' : '';
    cfg.log(`failed ${labelOf(job)} (attempt ${job?.attemptsMade ?? '?'} of ${attempts}${more}): ${scrub(err.message.split('\n')[0], cfg.target)}`);
  });
  worker.on('stalled', (jobId) => cfg.log(`stalled job ${jobId}: its worker stopped renewing its lock; back in the queue`));

  void worker.run().catch((e: unknown) => cfg.log(`worker stopped: ${scrub(e instanceof Error ? e.message : String(e), cfg.target)}`));
  cfg.log(`worker ${name}: taking jobs from ${cfg.target.display} (queue ${cfg.queueName}), ${cfg.concurrency} at once, cache ${root}`);

  return {
    name,
    close: async (force = false) => {
      await worker.close(force);
      await client.quit().catch(() => client.disconnect());
      fs.rmSync(setup.scratch, { recursive: true, force: true });
    },
  };
}
