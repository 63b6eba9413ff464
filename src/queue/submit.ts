/**
 * `cl sweep --queue URL` and `cl sweep --attach <id> --queue URL`: submit a list of runs as BullMQ
 * jobs (ids derived from each run's configuration, so submitting again never duplicates work),
 * follow them, write every increment into the store as it arrives, show the live table, and end
 * with the comparison of the sweep's runs. Ctrl-C leaves the jobs to the workers.
 *
 * The input is a list of cells, each a `cl run` argument list: today the grid of
 * `cl sweep <scenario> --methods … --seeds … --set …`; a study file can produce the same list.
 */
import chalk from 'chalk';
import { UserError } from '../errors.js';
import { loadBaselines, matchingBaselines } from '../report/baselines.js';
import { compareRuns, renderComparison } from '../report/compare.js';
import { openStore, type Store } from '../store/store.js';
import type { RunRecord } from '../types.js';
import { redactArgv, type QueueTarget } from './connection.js';
import { configFromRunArgs } from './experiment.js';
import { followSweep, attachMeta, type CellOutcome } from './follow.js';
import { jobIdOf, makePayload, sweepIdOf, type JobPayload } from './job.js';
import { RunQueue, type SweepCell, type SweepMeta } from './queue.js';
import { storedRun } from './records.js';
import { LiveBlock, renderTable, statusLine } from './table.js';

/** One run to submit: a label and its `cl run` arguments (without "run", --store, --json, --quiet). */
export interface RunCell {
  label: string;
  args: string[];
}

export interface QueueSweepOptions {
  target: QueueTarget;
  queueName: string;
  storePath: string;
  attempts: number;
  backoffMs: number;
  keepSeconds: number;
  pollMs: number;
  /** Submit and return without following. */
  detach: boolean;
  /** The command line as typed (stored redacted with the sweep). */
  argv: string[];
}

interface Output {
  line(text: string): void;
  stop(): void;
  view: (v: Parameters<typeof renderTable>[0]) => void;
}

/** Lines above a live table on a terminal; plain lines plus a status line now and then elsewhere. */
function output(): Output {
  const err = process.stderr;
  if (err.isTTY) {
    const block = new LiveBlock(err);
    return {
      line: (t) => block.log(t),
      view: (v) => block.draw(renderTable(v, Date.now(), Math.max(3, (err.rows || 24) - 8))),
      stop: () => block.done(),
    };
  }
  let last = '';
  let lastAt = 0;
  return {
    line: (t) => err.write(`${t}\n`),
    view: (v) => {
      const s = statusLine(v, Date.now()).replace(/ · ETA .*?(?= ·|$)/, '');
      const now = Date.now();
      if (s !== last && now - lastAt >= 10_000) {
        err.write(`${statusLine(v, now)}\n`);
        last = s;
        lastAt = now;
      }
    },
    stop: () => undefined,
  };
}

const attachHint = (id: string, o: Pick<QueueSweepOptions, 'target' | 'queueName' | 'storePath'>) =>
  `cl sweep --attach ${id} --queue ${o.target.display}${o.queueName === 'runs' ? '' : ` --queue-name ${o.queueName}`} --store ${o.storePath}`;

/** Submit the cells; unless detached, follow them to the end. Returns the exit code. */
export async function submitSweep(cells: RunCell[], o: QueueSweepOptions, signal: AbortSignal): Promise<number> {
  // Everything a local `cl run` checks up front is checked for every cell before anything is queued.
  const byId = new Map<string, { cell: SweepCell; payload: JobPayload }>();
  let duplicates = 0;
  for (const c of cells) {
    let sub;
    try {
      sub = await configFromRunArgs(c.args);
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`run "${c.label}": ${e.message}`, e.hint);
      throw e;
    }
    const jobId = jobIdOf(sub.config);
    if (byId.has(jobId)) {
      duplicates += 1;
      continue;
    }
    byId.set(jobId, { cell: { jobId, label: c.label, command: ['run', ...c.args], tasks: sub.tasks }, payload: makePayload(c.label, sub.config) });
  }
  if (duplicates > 0) process.stderr.write(chalk.dim(`note: ${duplicates} cells of the grid are the same run as another; each runs once\n`));
  const store = await openStore(o.storePath);
  const rq = await RunQueue.open(o.target, o.queueName);
  try {
    const all = [...byId.values()];
    const id = sweepIdOf(o.queueName, all.map((x) => x.cell.jobId));
    const meta: SweepMeta = {
      format: 'cl-sweep',
      version: 1,
      id,
      queue: o.queueName,
      createdAt: new Date().toISOString(),
      command: redactArgv(o.argv, o.target),
      cwd: process.cwd(),
      keepSeconds: o.keepSeconds,
      cells: all.map((x) => x.cell),
    };
    await rq.saveSweep(meta);
    const inStore: string[] = [];
    const toQueue: { id: string; payload: JobPayload }[] = [];
    for (const x of all) {
      const rec = await storedRun(store, x.cell.jobId);
      if (rec?.status === 'finished') inStore.push(x.cell.jobId);
      else toQueue.push({ id: x.cell.jobId, payload: x.payload });
    }
    const sub = await rq.submit(toQueue, { attempts: o.attempts, backoffMs: o.backoffMs, keepSeconds: o.keepSeconds });
    const parts = [`${sub.added} queued`];
    if (sub.existing) parts.push(`${sub.existing} already in the queue`);
    if (sub.retried) parts.push(`${sub.retried} failed before, queued again`);
    if (inStore.length) parts.push(`${inStore.length} already finished in the store`);
    process.stderr.write(`sweep ${id}: ${all.length} runs on ${o.target.display} (queue ${o.queueName}): ${parts.join(', ')}; store ${store.path}\n`);
    if (o.detach) {
      process.stderr.write(`collect the results with: ${attachHint(id, o)}\n`);
      return 0;
    }
    return await follow(rq, store, meta, o, signal);
  } finally {
    await rq.close();
  }
}

/** Follow a sweep submitted earlier (by this or another submitter). Returns the exit code. */
export async function attachSweep(id: string, o: QueueSweepOptions, signal: AbortSignal): Promise<number> {
  const rq = await RunQueue.open(o.target, o.queueName);
  try {
    const meta = await attachMeta(rq, id);
    const store = await openStore(o.storePath);
    process.stderr.write(`sweep ${id}: ${meta.cells.length} runs submitted ${meta.createdAt} on ${o.target.display} (queue ${o.queueName}); store ${store.path}\n`);
    return await follow(rq, store, meta, o, signal);
  } finally {
    await rq.close();
  }
}

async function follow(rq: RunQueue, store: Store, meta: SweepMeta, o: QueueSweepOptions, signal: AbortSignal): Promise<number> {
  const out = output();
  let result;
  try {
    result = await followSweep({ rq, store, meta, pollMs: o.pollMs, signal, out, cwd: meta.cwd });
  } finally {
    out.stop();
  }
  if (result.interrupted) {
    process.stderr.write(`\nsweep ${meta.id}: stopped following; the workers go on with its jobs. Collect the results with:\n  ${attachHint(meta.id, o)}\n`);
    return 130;
  }
  report(result.outcomes, meta, store);
  return result.outcomes.every((x) => x.phase === 'done') ? 0 : 1;
}

function report(outcomes: CellOutcome[], meta: SweepMeta, store: Store): void {
  const runs = outcomes.map((x) => x.record).filter((r): r is RunRecord => r !== undefined && r.status === 'finished');
  if (runs.length > 0) process.stdout.write(renderComparison(compareRuns(runs, { baselines: matchingBaselines(loadBaselines(), runs) })));
  const again = outcomes.filter((x) => x.starts > 1);
  const bad = outcomes.filter((x) => x.phase !== 'done');
  const rerun = again.length > 0 ? `; ${again.length} ran more than once (a worker died or an attempt failed): ${again.map((x) => `${x.cell.label} ×${x.starts}`).join(', ')}` : '';
  if (bad.length === 0) {
    process.stderr.write(`sweep ${meta.id}: all ${outcomes.length} runs finished, stored in ${store.path}${rerun}\n`);
    return;
  }
  process.stderr.write(`${chalk.red(`sweep ${meta.id}: ${bad.length} of ${outcomes.length} runs failed:`)}${rerun}\n`);
  for (const x of bad) process.stderr.write(`  ${x.cell.label}: ${(x.error ?? '').split('\n').join('\n    ')}\n`);
}
