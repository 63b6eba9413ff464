/**
 * `cl sweep <scenario> --methods a,b --seeds 1,2 --set name=v1,v2 ... --workers N`: run the grid as
 * child `cl run ... --json --quiet --store FILE` processes, at most N at once. Each run stores itself
 * as it goes; a failed run is reported with its error line without stopping the others; the exit
 * code is non-zero when any run failed. Ends with the comparison table of the sweep's runs.
 *
 * With `--queue URL` the same grid runs on `cl worker`s anywhere, through BullMQ on Redis (see
 * src/queue/); `--attach <sweep-id> --queue URL` follows a sweep submitted earlier.
 */
import os from 'node:os';
import path from 'node:path';
import chalk from 'chalk';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { getMethod, resolveMethodOptions } from '../learners/index.js';
import { loadScenario } from '../scenario/scenario.js';
import fs from 'node:fs';
import { getMethodInfo } from '../study/methods.js';
import { readStudyFile } from '../study/study.js';
import { loadBaselines, matchingBaselines } from '../report/baselines.js';
import { compareRuns, renderComparison } from '../report/compare.js';
import { formatNumber } from '../report/stats.js';
import { cliCommand } from '../sweep/cli-entry.js';
import { applyOverrides, expandGrid, expandStudy, parseList, parseOrders, parseRunFlags, parseSeeds, parseSet, runFlagOverrides, type Grid, type SweepJob } from '../sweep/grid.js';
import { runPool, type JobOutcome } from '../sweep/pool.js';
import type { RunRecord } from '../types.js';
import { action, addStoreOption, storePath } from './common.js';
import { printable } from '../report/printable.js';
import { parseRunArgs } from './run.js';

interface SweepOpts {
  methods?: string;
  seeds?: string;
  orders?: string;
  set: string[];
  workers?: number;
  store?: string;
  dryRun?: boolean;
  queue?: string;
  attach?: string;
  queueName: string;
  attempts: number;
  retryDelay: string;
  keep: string;
  poll: string;
  detach?: boolean;
}

/** A word of a shell command line, quoted when it needs to be. */
const shellWord = (w: string): string => (/^[A-Za-z0-9_./:,=@#+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);

const defaultWorkers = (): number => (typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);

function parseWorkers(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UserError(`--workers expects a positive integer, got "${v}"`, 'e.g. --workers 2');
  return Number(v);
}

function parseAttempts(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 100) throw new UserError(`--attempts expects an integer from 1 to 100, got "${v}"`, 'e.g. --attempts 3 (1: never retry)');
  return Number(v);
}

/** `--queue` / `--attach`: submit the grid to Redis (or follow a submitted sweep) instead of running it here. */
async function queueAction(scenario: string | undefined, opts: SweepOpts, gridArgs: () => Promise<{ label: string; args: string[] }[]>): Promise<void> {
  const { queueTarget } = await import('../queue/connection.js');
  const { parseDuration, QUEUE_NAME_PATTERN } = await import('../queue/queue.js');
  const { attachSweep, submitSweep } = await import('../queue/submit.js');
  if (opts.workers !== undefined) throw new UserError('--workers is for sweeps on this machine', 'with --queue, each `cl worker --concurrency N` decides how many runs it takes at once');
  if (!QUEUE_NAME_PATTERN.test(opts.queueName)) throw new UserError(`--queue-name "${opts.queueName}" is not a queue name`, 'letters, digits, ".", "_", "-"');
  const target = queueTarget(opts.queue);
  const o = {
    target,
    queueName: opts.queueName,
    storePath: path.resolve(storePath(opts)),
    attempts: opts.attempts,
    backoffMs: parseDuration('--retry-delay', opts.retryDelay) * 1000,
    keepSeconds: parseDuration('--keep', opts.keep),
    pollMs: parseDuration('--poll', opts.poll) * 1000,
    detach: Boolean(opts.detach),
    argv: ['cl', ...process.argv.slice(2)],
  };
  // Ctrl-C: stop following; the jobs stay with the workers.
  const ctl = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    ctl.abort();
    // Following may wait on an unreachable Redis: do not wait for it longer than a moment.
    setTimeout(() => {
      process.stderr.write(`\nstopped (${signal}); the workers go on. Collect the results with: cl sweep --attach <sweep id> --queue ${target.display} --store ${o.storePath}\n`);
      process.exit(130);
    }, 3000).unref();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (opts.attach) {
      if (scenario) throw new UserError('cl sweep --attach takes no scenario or grid', `the sweep ${opts.attach} already has its runs; drop "${scenario}"`);
      process.exitCode = await attachSweep(opts.attach, o, ctl.signal);
    } else {
      process.exitCode = await submitSweep(await gridArgs(), o, ctl.signal);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The finished run record a successful `cl run --json` printed. */
export function parseRunRecord(stdout: string): RunRecord | null {
  const text = stdout.trim();
  for (const candidate of [text, text.slice(text.indexOf('{'))]) {
    try {
      const v = JSON.parse(candidate) as RunRecord;
      if (v && v.kind === 'run' && Array.isArray(v.increments)) return v;
    } catch {
      // try the next candidate
    }
  }
  return null;
}

function describeOutcome(o: JobOutcome<SweepJob>, record: RunRecord | null): string {
  const secs = `${(o.ms / 1000).toFixed(1)} s`;
  if (!o.ok) return `${chalk.red('failed')} ${o.job.label} (${secs}): ${o.errorLine}`;
  const s = record?.summary;
  const metrics = s ? `A_T ${formatNumber(s.finalAccuracy)} %, Ā ${formatNumber(s.averageIncrementalAccuracy)} %` : 'no summary';
  return `${chalk.green('done')}   ${o.job.label} (${secs}) run ${record?.id ?? '?'}: ${metrics}`;
}

/**
 * Every run of the grid must parse as `cl run` would parse it and name a valid scenario and method
 * options, before any process starts: a typo is one error at once, not N failed runs.
 */
async function checkJobs(jobs: SweepJob[]): Promise<void> {
  for (const job of jobs) {
    try {
      const o = await parseRunArgs(['run', ...job.args]);
      if (!o) continue;
      loadScenario(o.scenario, o.overrides);
      resolveMethodOptions(getMethod(o.method), o.methodOptions);
    } catch (e) {
      const message = (e instanceof Error ? e.message : String(e)).replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
      throw new UserError(`run ${job.label} of the sweep: ${message}`, e instanceof UserError && e.hint ? e.hint : 'see `cl run --help` (options after the scenario go to every run)');
    }
  }
}

/** Is `arg` an experiment file (rather than a scenario name or scenario file)? By extension, then by content. */
function isStudyFile(arg: string): boolean {
  if (/\.ya?ml$/i.test(arg)) return true;
  if (!arg.endsWith('.json') || !fs.existsSync(arg)) return false;
  try {
    const data = JSON.parse(fs.readFileSync(arg, 'utf8')) as Record<string, unknown>;
    return data !== null && typeof data === 'object' && ('method' in data || 'methods' in data);
  } catch {
    return false;
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('sweep')
    .description('run a grid of `cl run`s (methods × option values × class orders × seeds) in parallel, then compare them')
    .argument('[scenario|experiment-file]', 'scenario name or file, or an experiment file (.json/.yaml, docs/experiments.md); further `cl run` options may follow and apply to every run')
    .option('--methods <list>', 'comma-separated methods, e.g. nmc,wa (required with a scenario; with an experiment file: only these of its methods)')
    .option('--seeds <list>', 'comma-separated trainSeeds (unseeded methods such as nmc run once; default 1, or the file\'s)')
    .option('--orders <list>', 'comma-separated class orders, a grid axis: e.g. icarl-1993,seed:1,seed:2 (default: the scenario\'s, or the file\'s)')
    .option('--set <name=values>', 'sweep a method option over values, e.g. --set lr=0.1,0.01 (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--workers <n>', `runs at once (default: number of cores, ${defaultWorkers()} here)`, parseWorkers)
    .option('--dry-run', 'print the runs of the grid (their `cl run` arguments) without running them')
    .option('--queue <url>', 'run the grid on `cl worker`s through Redis instead of here: redis://[:password@]host[:port], rediss://… (TLS) or unix:/path; env CL_QUEUE (password: CL_QUEUE_PASSWORD)')
    .option('--attach <sweep-id>', 'with --queue: follow a sweep submitted earlier and store its results')
    .option('--queue-name <name>', 'with --queue: the queue (workers must use the same)', 'runs')
    .option('--attempts <n>', 'with --queue: attempts per run before it counts as failed', parseAttempts, 3)
    .option('--retry-delay <duration>', 'with --queue: wait before the first retry, doubled each time', '10s')
    .option('--keep <duration>', 'with --queue: finished runs and the sweep stay retrievable in Redis this long (e.g. 12h, 7d)', '7d')
    .option('--poll <duration>', 'with --queue: look at every unfinished job at least this often', '5s')
    .option('--detach', 'with --queue: submit and return; collect later with --attach')
    .allowUnknownOption()
    .allowExcessArguments();
  addStoreOption(cmd);
  cmd.action(
    action(async (target: string | undefined, opts: SweepOpts, self: Command) => {
      if (target?.startsWith('-')) throw new UserError(`cl sweep: the scenario or experiment file must come first, got "${target}"`, 'e.g. cl sweep split-mnist-mini --methods nmc --seeds 1,2, or cl sweep experiments/study.json');
      if (opts.attach !== undefined && opts.queue === undefined && !process.env.CL_QUEUE) throw new UserError('--attach needs the queue', 'add --queue redis://host:6379 (or set CL_QUEUE)');
      const store = storePath(opts);
      let what = target ?? '';
      const makeGrid = (): Grid => {
        if (!target) throw new UserError('cl sweep: no scenario or experiment file given', 'e.g. cl sweep split-mnist-mini --methods nmc --seeds 1,2, or cl sweep experiments/study.json');
        const extra = self.args.slice(self.args.indexOf(target) + 1);
        const orders = opts.orders !== undefined ? parseOrders(opts.orders) : undefined;
        const seeds = opts.seeds !== undefined ? parseSeeds(opts.seeds) : undefined;
        if (isStudyFile(target)) {
          const study = readStudyFile(target);
          const methods = opts.methods !== undefined ? parseList('--methods', opts.methods) : undefined;
          const flagged = applyOverrides(study, { methods, seeds, orders }, getMethodInfo);
          const infos = flagged.study.methods.map((m) => getMethodInfo(m.method));
          const { common, options } = runFlagOverrides(parseRunFlags(extra), infos);
          const set = parseSet(opts.set);
          const over = applyOverrides(flagged.study, { common, options, grid: set }, getMethodInfo);
          const expanded = expandStudy(over.study, getMethodInfo, store);
          what = path.basename(target);
          return { jobs: expanded.jobs, notes: [...flagged.notes, ...over.notes, ...expanded.notes] };
        }
        if (opts.methods === undefined) throw new UserError('cl sweep: --methods is required with a scenario', 'e.g. cl sweep split-mnist-mini --methods nmc,wa, or give an experiment file: cl sweep exp.json');
        return expandGrid({ scenario: target, methods: parseList('--methods', opts.methods), seeds: seeds ?? [1], orders, set: parseSet(opts.set), passthrough: extra }, getMethodInfo, store);
      };
      if (opts.queue !== undefined || opts.attach !== undefined) {
        if (opts.dryRun) throw new UserError('--dry-run is for sweeps on this machine', 'drop --queue to see the runs of the grid');
        await queueAction(target, opts, async () => {
          const grid = makeGrid();
          // The same check as a local sweep's: a typo is one error, whichever way the grid runs.
          await checkJobs(grid.jobs);
          for (const n of grid.notes) process.stderr.write(`${chalk.dim(`note: ${printable(n)}`)}\n`);
          // The cells as `cl run` arguments, without what a local child process adds.
          return grid.jobs.map((j) => ({ label: j.label, args: j.runArgs }));
        });
        return;
      }
      const grid = makeGrid();
      for (const n of grid.notes) process.stderr.write(`${chalk.dim(`note: ${printable(n)}`)}\n`);
      if (grid.jobs.length === 0) throw new UserError(`cl sweep: ${what} describes no runs`, 'check its methods, seeds and orders');
      await checkJobs(grid.jobs);
      if (opts.dryRun) {
        for (const j of grid.jobs) process.stdout.write(`${j.label}\tcl run ${j.runArgs.map(shellWord).join(' ')}\n`);
        return;
      }
      const workers = opts.workers ?? defaultWorkers();
      process.stderr.write(`sweep: ${grid.jobs.length} runs of ${printable(what)}, ${Math.min(workers, grid.jobs.length)} at once, store ${printable(store)}\n`);

      const cl = cliCommand();
      const tty = Boolean(process.stderr.isTTY);
      const bars = tty ? new cliProgress.MultiBar({ format: 'sweep [{bar}] {value}/{total} runs | {failed} failed', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic) : null;
      const bar = bars?.create(grid.jobs.length, 0, { failed: 0 });
      let failed = 0;
      const records = new Map<number, RunRecord>();
      const outcomes = await runPool(grid.jobs, {
        workers,
        command: (job) => ({ file: cl.file, args: [...cl.args, 'run', ...job.args] }),
        onDone: (o, done, total) => {
          const record = o.ok ? parseRunRecord(o.stdout) : null;
          if (record) records.set(o.job.index, record);
          if (!o.ok) failed += 1;
          const line = `[${done}/${total}] ${printable(describeOutcome(o, record), { keepNewlines: true })}`;
          if (bars && bar) {
            bars.log(`${line}\n`);
            bar.update(done, { failed });
          } else {
            process.stderr.write(`${line}\n`);
          }
        },
      });
      bars?.stop();

      const runs = grid.jobs.map((j) => records.get(j.index)).filter((r): r is RunRecord => r !== undefined);
      if (runs.length > 0) {
        process.stdout.write(renderComparison(compareRuns(runs, { baselines: matchingBaselines(loadBaselines(), runs) })));
      }
      const bad = outcomes.filter((o) => !o.ok);
      if (bad.length > 0) {
        process.stderr.write(`${chalk.red(`sweep: ${bad.length} of ${outcomes.length} runs failed:`)}\n`);
        for (const o of bad) process.stderr.write(`  ${printable(o.job.label)}: ${printable(o.errorLine)}\n`);
        process.exitCode = 1;
      } else {
        process.stderr.write(`sweep: all ${outcomes.length} runs finished\n`);
      }
    }),
  );
}
