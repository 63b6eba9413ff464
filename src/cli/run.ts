/** `cl run <scenario> --method <name>`: stream a scenario through a learner and store every increment. */
import chalk from 'chalk';
import { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { METHODS } from '../learners/index.js';
import type { OptionDef } from '../learners/method.js';
import { markInterrupted, runExperiment, type RunEvent, type RunOptions } from '../run.js';
import { renderRun } from '../report/terminal.js';
import type { RunRecord } from '../types.js';
import { defaultStorePath } from '../paths.js';
import { getRun, openStore } from '../store/store.js';
import { action, kebab, storePath } from './common.js';
import { addDataOptions, addExperimentOptions, addOutputOptions, epochThrottle, experimentInputs, experimentRenderer, parseIntStrict, runExperimentStream } from './experiment.js';

/** Every method's options, once per name (the CLI validates them against the chosen method). */
function methodOptionDefs(): OptionDef[] {
  const seen = new Map<string, OptionDef>();
  for (const m of METHODS) for (const o of m.options) if (!seen.has(o.name)) seen.set(o.name, o);
  return [...seen.values()];
}

function parseIncrement(v: string): number | number[] {
  const list = v.replace(/^\[|\]$/g, '');
  const parts = list.split(',').map((s) => s.trim());
  if (parts.some((s) => !/^\d+$/.test(s))) {
    throw new UserError(`--increment expects a number or a list like 17,17,16, got "${v}"`);
  }
  const nums = parts.map(Number);
  return nums.length === 1 && !v.includes(',') && !v.includes('[') ? nums[0] : nums;
}

/** The `run` command's arguments and options (without its action), on `program`. */
function defineRun(program: Command): { cmd: Command; defs: OptionDef[] } {
  const cmd = program
    .command('run')
    .description('stream a scenario through a learner; record accuracy and forgetting after every increment')
    .argument('<scenario>', 'scenario name (see `cl scenarios`) or path to a scenario .json file')
    .requiredOption('-m, --method <name>', `learning method: ${METHODS.map((m) => m.name).join(', ')}`)
    .option('--seed <n>', 'trainSeed: seeds everything random in the learner', parseIntStrict('--seed'), 1)
    .option('--base <n>', 'override the scenario split: classes in the first task', parseIntStrict('--base'))
    .option('--increment <n|list>', 'override the scenario split: classes per later task (or a list 17,17,16)', parseIncrement)
    .option('--order <spec>', 'class order: icarl-1993 | podnet-fixed | natural | seed:<n> | a comma-separated list');
  addExperimentOptions(cmd);
  const defs = methodOptionDefs();
  for (const o of defs) {
    const owners = METHODS.filter((m) => m.options.some((x) => x.name === o.name)).map((m) => m.name);
    if (cmd.options.some((x) => x.long === `--${kebab(o.name)}`)) {
      throw new Error(`method option ${o.name} collides with a cl run option; rename it`);
    }
    const flag = `--${kebab(o.name)} <${o.type === 'boolean' ? 'true|false' : o.type === 'string' && o.choices ? o.choices.join('|') : 'value'}>`;
    const defaults = METHODS.flatMap((m) => m.options.filter((x) => x.name === o.name).map((x) => `${m.name} ${String(x.default)}`));
    const sameDefault = new Set(defaults.map((d) => d.slice(d.indexOf(' ') + 1))).size === 1;
    const dflt = sameDefault ? `default ${String(o.default)}` : `defaults: ${defaults.join(', ')}`;
    cmd.option(flag, `[${owners.join(', ')}] ${o.help} (${dflt})`);
  }
  return { cmd, defs };
}

/** RunOptions from parsed `run` arguments. */
function runOptionsFrom(scenario: string, opts: Record<string, unknown>, self: Command, defs: OptionDef[]): RunOptions {
  const methodOptions: Record<string, unknown> = {};
  for (const o of defs) {
    if (self.getOptionValueSource(o.name) === 'cli') methodOptions[o.name] = opts[o.name];
  }
  return {
    scenario,
    method: String(opts.method),
    methodOptions,
    seed: opts.seed as number,
    ...experimentInputs(opts),
    storePath: storePath(opts as { store?: string }),
    overrides: {
      base: opts.base as number | undefined,
      increment: opts.increment as number | number[] | undefined,
      order: opts.order as string | undefined,
    },
    command: process.argv.slice(2),
  };
}

/** Run (or resume) and print the record. */
async function execute(runOpts: RunOptions, out: { json: boolean; quiet: boolean }): Promise<void> {
  const record = await runExperimentStream<RunRecord, RunEvent>(runExperiment(runOpts), renderRunEvents(out.quiet), async (id, why) => {
    await markInterrupted(runOpts.storePath, id, why);
    process.stderr.write(`\nrun ${id} stopped (${why}); its finished tasks are stored. Continue it with: cl resume ${id}${runOpts.storePath === defaultStorePath() ? '' : ` --store ${runOpts.storePath}`}\n`);
  });
  if (out.json) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
  else process.stdout.write(`${renderRun(record)}\n`);
}

export function register(program: Command): void {
  const { cmd, defs } = defineRun(program);
  cmd.action(
    action(async (scenario: string, opts: Record<string, unknown>, self: Command) => {
      await execute(runOptionsFrom(scenario, opts, self, defs), { json: Boolean(opts.json), quiet: Boolean(opts.quiet) });
    }),
  );

  const resume = program
    .command('resume')
    .description(
      'continue an interrupted or failed run on its record: its stored command runs again, the stored tasks are restored from the learner checkpoint or relearned, and checked against the stored numbers',
    )
    .argument('<id>', 'run id or unique prefix (see `cl ls`)');
  addDataOptions(resume, "the dataset's location when it moved since the run started (the features must come out the same)");
  addOutputOptions(resume);
  resume.action(
    action(async (id: string, opts: Record<string, unknown>) => {
      const store = storePath(opts as { store?: string });
      const run = await getRun(await openStore(store), id);
      const runOpts = await storedRunOptions(run);
      runOpts.storePath = path.resolve(store);
      runOpts.resume = run.id;
      // The backend that ran it, not what `auto` picks today: replayed tasks must match bit for bit.
      runOpts.backend = run.backend;
      if (opts.dataDir) runOpts.dataDir = path.resolve(opts.dataDir as string);
      if (opts.cacheDir) runOpts.cacheRoot = path.resolve(opts.cacheDir as string);
      if (opts.offline) runOpts.offline = true;
      // Relative paths of the stored command are relative to where it was typed.
      if (run.cwd && run.cwd !== process.cwd()) {
        if (!fs.existsSync(run.cwd)) throw new UserError(`run ${run.id} was started in ${run.cwd}, which no longer exists`, 'recreate that folder (relative paths in the command refer to it), or start a new run');
        process.chdir(run.cwd);
      }
      await execute(runOpts, { json: Boolean(opts.json), quiet: Boolean(opts.quiet) });
    }),
  );
}

/** Parse a stored `cl run` command line back into RunOptions, exactly as `cl run` would. */
async function storedRunOptions(run: RunRecord): Promise<RunOptions> {
  if (run.command[0] !== 'run') throw new UserError(`run ${run.id} was not started by \`cl run\` (command: ${run.command.join(' ')})`, 'only runs of `cl run` can be resumed');
  try {
    return await parseRunCommand(run.command);
  } catch (e) {
    throw new UserError(`run ${run.id}: its stored command no longer parses (${e instanceof Error ? e.message : String(e)})`, 'options changed since the run started (cl upgraded?); start a new run');
  }
}

/**
 * Parse a `cl run` command line (argv after `cl`, starting with "run") into RunOptions with the
 * parser of `cl run` itself (also used by `cl sweep --queue` to turn each grid cell into a job).
 * Throws commander's error (or the option parser's UserError) when it does not parse.
 */
export async function parseRunCommand(argv: string[]): Promise<RunOptions> {
  const parser = new Command().exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  const { cmd, defs } = defineRun(parser);
  let parsed: RunOptions | null = null;
  cmd.action((scenario: string, opts: Record<string, unknown>, self: Command) => {
    parsed = { ...runOptionsFrom(scenario, opts, self, defs), command: argv };
  });
  await parser.parseAsync(argv, { from: 'user' });
  if (!parsed) throw new Error(`"${argv.join(' ')}" is not a \`cl run\` command`);
  return parsed;
}

/** `cl run`'s own events as terminal lines (stages and extraction progress are shared). */
function renderRunEvents(quiet: boolean) {
  const showEpoch = epochThrottle();
  return experimentRenderer<RunEvent>(quiet, (e, line) => {
    switch (e.type) {
      case 'started':
        line(`${chalk.bold('run')} ${e.record.id}  ${e.record.scenario.name} (${e.record.scenario.split}, order ${e.record.scenario.order.id})  method ${e.record.method}  backend ${e.record.backend}`);
        break;
      case 'resuming': {
        const r = e.record;
        line(
          `${chalk.bold('resume')} ${r.id}  ${r.scenario.name} (${r.scenario.split}, order ${r.scenario.order.id})  method ${r.method}  backend ${r.backend}` +
            (e.fromTask > 0 ? `  ${e.fromTask} stored task${e.fromTask === 1 ? '' : 's'}, continuing from task ${e.fromTask + 1}` : '  from task 1'),
        );
        break;
      }
      case 'checkpoint':
        line(
          e.restored
            ? `  tasks 1..${e.tasks} restored from the learner checkpoint (task ${e.tasks} scores exactly as stored)`
            : chalk.dim(`  relearning tasks 1..${e.tasks} (${e.why ?? 'no checkpoint'})`),
        );
        break;
      case 'replayed':
        line(chalk.dim(`  task ${String(e.task + 1).padStart(2)}/${e.tasks}  replayed: A_t ${e.accuracy.toFixed(2)} as stored`));
        break;
      case 'learner':
        if (e.event.type === 'message') line(chalk.dim(`  ${e.event.text}`));
        else if (showEpoch(e.event.epoch, e.event.epochs)) {
          line(chalk.dim(`  task ${e.task + 1} ${e.event.phase ?? 'train'} epoch ${e.event.epoch}/${e.event.epochs} loss ${e.event.loss.toFixed(4)}`));
        }
        break;
      case 'increment': {
        const r = e.result;
        const old = r.oldAccuracy === null ? '   –  ' : r.oldAccuracy.toFixed(2).padStart(6);
        line(
          `  task ${String(r.task + 1).padStart(2)}/${e.tasks}  classes ${String(r.seenClasses).padStart(3)}  ` +
            `A_t ${chalk.bold(r.accuracy.toFixed(2).padStart(6))}  old ${old}  new ${r.newAccuracy.toFixed(2).padStart(6)}  ` +
            chalk.dim(`learn ${(r.learnMs / 1000).toFixed(2)} s  eval ${(r.evalMs / 1000).toFixed(2)} s`),
        );
        break;
      }
      default:
        break;
    }
  });
}
