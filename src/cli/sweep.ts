/**
 * `cl sweep <scenario> --methods a,b --seeds 1,2 --set name=v1,v2 ... --workers N`: run the grid as
 * child `cl run ... --json --quiet --store FILE` processes, at most N at once. Each run stores itself
 * as it goes; a failed run is reported with its error line without stopping the others; the exit
 * code is non-zero when any run failed. Ends with the comparison table of the sweep's runs.
 */
import os from 'node:os';
import chalk from 'chalk';
import cliProgress from 'cli-progress';
import { Command, Option } from 'commander';
import { UserError } from '../errors.js';
import { getMethod, resolveMethodOptions } from '../learners/index.js';
import { loadScenario } from '../scenario/scenario.js';
import { loadBaselines, matchingBaselines } from '../report/baselines.js';
import { compareRuns, renderComparison } from '../report/compare.js';
import { formatNumber } from '../report/stats.js';
import { cliCommand } from '../sweep/cli-entry.js';
import { expandGrid, parseList, parseSeeds, parseSet, type SweepJob } from '../sweep/grid.js';
import { runPool, type JobOutcome } from '../sweep/pool.js';
import type { RunRecord } from '../types.js';
import { action, addStoreOption, pathOption, storePath } from './common.js';
import { printable } from '../report/printable.js';
import { parseRunArgs } from './run.js';

/** `cl run` options a sweep passes on unchanged (others may follow the scenario verbatim). */
const PASS_VALUE = ['backbone', 'dataDir', 'cacheDir', 'base', 'increment', 'order', 'backend'] as const;

interface SweepOpts {
  methods: string;
  seeds: string;
  set: string[];
  workers?: number;
  store?: string;
  offline?: boolean;
  [k: string]: unknown;
}

const defaultWorkers = (): number => (typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);

function parseWorkers(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UserError(`--workers expects a positive integer, got "${v}"`, 'e.g. --workers 2');
  return Number(v);
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

export function register(program: Command): void {
  const cmd = program
    .command('sweep')
    .description('run a grid of `cl run`s (methods × option values × seeds) in parallel, then compare them')
    .argument('<scenario>', 'scenario name or file; further `cl run` options may follow it and are passed to every run')
    .requiredOption('--methods <list>', 'comma-separated methods, e.g. nmc,wa')
    .option('--seeds <list>', 'comma-separated trainSeeds (unseeded methods such as nmc run once)', '1')
    .option('--set <name=values>', 'sweep a method option over values, e.g. --set lr=0.1,0.01 (repeatable)', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--workers <n>', `runs at once (default: number of cores, ${defaultWorkers()} here)`, parseWorkers)
    .option('--backbone <spec>', 'passed to every run')
    .option('--data-dir <dir>', 'passed to every run', pathOption('--data-dir', 'any'))
    .option('--cache-dir <dir>', 'passed to every run', pathOption('--cache-dir', 'folder'))
    .option('--offline', 'passed to every run')
    .option('--base <n>', 'passed to every run')
    .option('--increment <n|list>', 'passed to every run')
    .option('--order <spec>', 'passed to every run')
    .addOption(new Option('--backend <name>', 'passed to every run').choices(['auto', 'tensorflow', 'wasm', 'cpu']))
    .allowUnknownOption()
    .allowExcessArguments();
  addStoreOption(cmd);
  cmd.action(
    action(async (scenario: string, opts: SweepOpts, self: Command) => {
      if (scenario.startsWith('-')) throw new UserError(`cl sweep: the scenario must come first, got "${scenario}"`, 'e.g. cl sweep split-mnist-mini --methods nmc --seeds 1,2');
      const extra = self.args.slice(self.args.indexOf(scenario) + 1);
      const passthrough: string[] = [];
      for (const k of PASS_VALUE) {
        if (opts[k] !== undefined) passthrough.push(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(opts[k]));
      }
      if (opts.offline) passthrough.push('--offline');
      passthrough.push(...extra);
      const store = storePath(opts);
      const grid = expandGrid(
        { scenario, methods: parseList('--methods', opts.methods), seeds: parseSeeds(opts.seeds), set: parseSet(opts.set), passthrough },
        (name) => {
          const m = getMethod(name);
          return { name: m.name, seeded: m.seeded, options: Object.keys(m.options).map((o) => ({ name: o })) };
        },
        store,
      );
      await checkJobs(grid.jobs);
      const workers = opts.workers ?? defaultWorkers();
      for (const n of grid.notes) process.stderr.write(`${chalk.dim(`note: ${printable(n)}`)}\n`);
      process.stderr.write(`sweep: ${grid.jobs.length} runs of ${printable(scenario)}, ${Math.min(workers, grid.jobs.length)} at once, store ${printable(store)}\n`);

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
