/** `cl run <scenario> --method <name>`: stream a scenario through a learner and store every increment. */
import chalk from 'chalk';
import { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { RUN_OPTIONS } from '../experiment-options.js';
import { METHODS } from '../learners/index.js';
import { resolveOptions } from '../options.js';
import { markInterrupted, runExperiment, type RunEvent, type RunOptions } from '../run.js';
import { renderRun } from '../report/terminal.js';
import type { RunRecord } from '../types.js';
import { defaultStorePath } from '../paths.js';
import { getRun, openStore } from '../store/store.js';
import { runOptionsFromConfig } from '../study/config.js';
import { getMethodInfo } from '../study/methods.js';
import { commonSpecs, readStudyFile, type CommonConfig } from '../study/study.js';
import { applyOverrides, expandStudy } from '../sweep/grid.js';
import { action, storePath } from './common.js';
import { addDataOptions, addExperimentOptions, addOutputOptions, trainingProgress, experimentInputs, experimentRenderer, runExperimentStream } from './experiment.js';
import { addOptionFlags, givenFlags, methodArgument } from './flags.js';
import { printable } from '../report/printable.js';

/**
 * The `run` command's arguments and options (without its action), on `program`. `argv` is the
 * command line being parsed: the method named there shows its options in --help; the other
 * methods' option flags exist hidden, so that giving one is answered by the option system
 * ("nmc has no option --bias") rather than as an unknown flag.
 */
function defineRun(program: Command, argv: readonly string[]): Command {
  const named = methodArgument(argv);
  const chosen = METHODS.find((m) => m.name === named) ?? null;
  const cmd = program
    .command('run')
    .description('stream a scenario through a learner; record accuracy and forgetting after every increment')
    .argument('[scenario]', 'scenario name (see `cl scenarios`) or path to a scenario .json file (default with --config: the file\'s)')
    .option('-m, --method <name>', `learning method: ${METHODS.map((m) => m.name).join(', ')}`)
    .option('--config <file>', 'experiment file (.json/.yaml, docs/experiments.md) of one run, e.g. from `cl show <id> --config`; flags given here override its values');
  addOptionFlags(cmd, RUN_OPTIONS);
  addExperimentOptions(cmd);
  const own = new Set(cmd.options.map((o) => o.attributeName()));
  const registered = new Set<string>();
  for (const m of chosen ? [chosen, ...METHODS.filter((x) => x !== chosen)] : METHODS) {
    const clash = Object.keys(m.options).find((name) => own.has(name));
    if (clash) throw new Error(`option ${clash} of method ${m.name} collides with a cl run option; rename it`);
    const fresh = Object.fromEntries(Object.entries(m.options).filter(([name]) => !registered.has(name)));
    addOptionFlags(cmd, fresh, m === chosen ? { group: `${m.name} options (${m.docs}):` } : { hidden: true });
    for (const name of Object.keys(fresh)) registered.add(name);
  }
  if (!chosen) cmd.addHelpText('after', '\nMethod options: `cl run --method <name> --help` shows those of one method, `cl methods` lists them all.');
  return cmd;
}

/** Every method option flag typed on the command line (resolveMethodOptions rejects those of other methods). */
function givenMethodFlags(cmd: Command): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of METHODS) Object.assign(out, givenFlags(cmd, m.options));
  return out;
}

/** RunOptions from parsed `run` arguments. */
function runOptionsFrom(scenario: string | undefined, self: Command): RunOptions {
  const opts = self.opts();
  const run = resolveOptions(RUN_OPTIONS, givenFlags(self, RUN_OPTIONS), 'cl run');
  if (opts.config !== undefined) return runOptionsFromFile(String(opts.config), scenario, self, run);
  if (scenario === undefined) throw new UserError('cl run needs a scenario', 'e.g. cl run split-mnist --method nmc (see `cl scenarios`), or cl run --config exp.json');
  if (opts.method === undefined) throw new UserError('cl run needs --method', `e.g. cl run ${scenario} --method nmc; the methods: ${METHODS.map((m) => m.name).join(', ')} (see \`cl methods\`)`);
  return {
    scenario,
    method: String(opts.method),
    methodOptions: givenMethodFlags(self),
    seed: run.seed,
    ...experimentInputs(opts),
    storePath: storePath(opts as { store?: string }),
    overrides: { base: run.base, increment: run.increment, order: run.order },
    command: process.argv.slice(2),
  };
}

/**
 * `cl run --config exp.json [flags]`: the one cell of the experiment file, with the flags typed on
 * the command line in place of the file's values. A file of several cells needs flags that pick one.
 */
function runOptionsFromFile(file: string, scenario: string | undefined, self: Command, run: { seed: number; base?: number; increment?: number | number[]; order?: string }): RunOptions {
  const opts = self.opts();
  const given = (name: string): boolean => self.getOptionValueSource(name) === 'cli';
  const common: CommonConfig = {};
  for (const key of Object.keys(commonSpecs())) if (given(key)) (common as Record<string, unknown>)[key] = key === 'base' || key === 'increment' ? run[key] : opts[key];
  const { study } = applyOverrides(
    readStudyFile(file),
    {
      ...(scenario !== undefined ? { scenario } : {}),
      ...(given('method') ? { methods: [String(opts.method)] } : {}),
      ...(given('seed') ? { seeds: [run.seed] } : {}),
      ...(run.order !== undefined ? { orders: [run.order] } : {}),
      common,
      options: givenMethodFlags(self),
    },
    getMethodInfo,
  );
  const { jobs } = expandStudy(study, getMethodInfo);
  if (jobs.length !== 1) {
    const axes = [
      study.scenarios.length > 1 ? `${study.scenarios.length} scenarios` : '',
      study.methods.length > 1 ? `${study.methods.length} methods` : '',
      (study.orders?.length ?? 1) > 1 ? `${study.orders!.length} orders` : '',
      (study.seeds?.length ?? 1) > 1 ? `${study.seeds!.length} seeds` : '',
      study.methods.some((m) => Object.keys(m.grid).length > 0) ? 'option grids' : '',
    ].filter(Boolean);
    throw new UserError(
      `${file} describes ${jobs.length} runs (${axes.join(', ')}); cl run --config runs one`,
      `pick one with flags (--method, --order, --seed, an option value), or run them all with \`cl sweep ${file}\``,
    );
  }
  return runOptionsFromConfig(jobs[0].config, storePath(opts as { store?: string }), process.argv.slice(2));
}

/** Run (or resume) and print the record. */
async function execute(runOpts: RunOptions, out: { json: boolean; quiet: boolean }): Promise<void> {
  runOpts.quiet = out.quiet;
  const record = await runExperimentStream<RunRecord, RunEvent>(runExperiment(runOpts), renderRunEvents(out.quiet), async (id, why) => {
    await markInterrupted(runOpts.storePath, id, why);
    process.stderr.write(printable(`\nrun ${id} stopped (${why}); its finished tasks are stored. Continue it with: cl resume ${id}${runOpts.storePath === defaultStorePath() ? '' : ` --store ${runOpts.storePath}`}\n`, { keepNewlines: true }));
  });
  if (out.json) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
  else process.stdout.write(`${renderRun(record)}\n`);
}

export function register(program: Command): void {
  const cmd = defineRun(program, process.argv[2] === 'run' ? process.argv.slice(3) : []);
  cmd.action(
    action(async (scenario: string | undefined, opts: Record<string, unknown>, self: Command) => {
      await execute(runOptionsFrom(scenario, self), { json: Boolean(opts.json), quiet: Boolean(opts.quiet) });
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

/**
 * Parse a `cl run` argument list (`['run', <scenario>, ...options]`) into RunOptions exactly as
 * `cl run` would, without running it. Throws the parse error (commander's, or a UserError of an
 * option parser); null when the list is not a run.
 */
export async function parseRunArgs(argv: string[]): Promise<RunOptions | null> {
  const parser = new Command().exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  const cmd = defineRun(parser, argv.slice(1));
  let parsed: RunOptions | null = null;
  cmd.action((scenario: string | undefined, _opts: Record<string, unknown>, self: Command) => {
    parsed = { ...runOptionsFrom(scenario, self), command: argv };
  });
  await parser.parseAsync(argv, { from: 'user' });
  return parsed;
}

/** Parse a stored `cl run` command line back into RunOptions, exactly as `cl run` would. */
async function storedRunOptions(run: RunRecord): Promise<RunOptions> {
  if (run.command[0] !== 'run') throw new UserError(`run ${run.id} was not started by \`cl run\` (command: ${run.command.join(' ')})`, 'only runs of `cl run` can be resumed');
  let parsed: RunOptions | null;
  try {
    parsed = await parseRunArgs(run.command);
  } catch (e) {
    throw new UserError(`run ${run.id}: its stored command no longer parses (${e instanceof Error ? e.message : String(e)})`, 'options changed since the run started (cl upgraded?); start a new run');
  }
  if (!parsed) throw new UserError(`run ${run.id}: its stored command "${run.command.join(' ')}" is not a run`);
  return parsed;
}

/** `cl run`'s own events as terminal lines (stages and extraction progress are shared). */
function renderRunEvents(quiet: boolean) {
  const training = trainingProgress(quiet);
  return experimentRenderer<RunEvent>(quiet, (e, line) => {
    if (e.type !== 'learner' || e.event.type !== 'epoch') training.end();
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
        else training.epoch(`  task ${e.task + 1} ${e.event.phase ?? 'train'}`, e.event.epoch, e.event.epochs, e.event.loss);
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
