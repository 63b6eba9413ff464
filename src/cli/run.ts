/** `cl run <scenario> --method <name>`: stream a scenario through a learner and store every increment. */
import chalk from 'chalk';
import { Command, Option } from 'commander';
import { lastValueFrom, tap } from 'rxjs';
import type { BackboneOptions } from '../backbones/backbone.js';
import { formatDuration } from '../backbones/wrap.js';
import { progressReporter } from '../data/progress.js';
import { UserError } from '../errors.js';
import { METHODS } from '../learners/index.js';
import type { OptionDef } from '../learners/method.js';
import { markInterrupted, runExperiment, type RunEvent, type RunOptions } from '../run.js';
import { renderRun } from '../report/terminal.js';
import type { RunRecord } from '../types.js';
import { action, addStoreOption, kebab, storePath } from './common.js';

/** Every method's options, once per name (the CLI validates them against the chosen method). */
function methodOptionDefs(): OptionDef[] {
  const seen = new Map<string, OptionDef>();
  for (const m of METHODS) for (const o of m.options) if (!seen.has(o.name)) seen.set(o.name, o);
  return [...seen.values()];
}

function parseIntStrict(flag: string) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v)) throw new UserError(`${flag} expects an integer, got "${v}"`);
    return Number(v);
  };
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

export function register(program: Command): void {
  const cmd = program
    .command('run')
    .description('stream a scenario through a learner; record accuracy and forgetting after every increment')
    .argument('<scenario>', 'scenario name (see `cl scenarios`) or path to a scenario .json file')
    .requiredOption('-m, --method <name>', `learning method: ${METHODS.map((m) => m.name).join(', ')}`)
    .option('--seed <n>', 'trainSeed: seeds everything random in the learner', parseIntStrict('--seed'), 1)
    .option('--backbone <spec>', "frozen feature extractor: pixels | onnx:<path-or-URL>[#output] | hf:<repo>[@rev][#output] | tfjs:<path-or-URL>[#layer] | NAME (see `cl backbones`); default: the scenario's")
    .addOption(new Option('--input-norm <how>', 'input normalisation of image backbones (onnx default: imagenet)').choices(['imagenet', 'none']))
    .option('--input-size <px>', 'model input size when the model does not declare it', parseIntStrict('--input-size'))
    .addOption(new Option('--input-layout <layout>', 'model input layout when the model does not declare it').choices(['NCHW', 'NHWC']))
    .addOption(new Option('--feature-pool <how>', 'how a token/spatial model output becomes one vector').choices(['cls', 'mean', 'gap', 'none']))
    .option('--extract-batch-size <n>', 'batch size of feature extraction', parseIntStrict('--extract-batch-size'))
    .option('--data-dir <dir>', 'local copy of the dataset (archive or folder); env CL_DATA_DIR')
    .option('--cache-dir <dir>', 'cache root for datasets, models and features; env CL_CACHE_DIR')
    .option('--offline', 'never download; use local files and caches only')
    .option('--base <n>', 'override the scenario split: classes in the first task', parseIntStrict('--base'))
    .option('--increment <n|list>', 'override the scenario split: classes per later task (or a list 17,17,16)', parseIncrement)
    .option('--order <spec>', 'class order: icarl-1993 | podnet-fixed | natural | seed:<n> | a comma-separated list')
    .addOption(new Option('--backend <name>', 'tfjs backend (env CL_BACKEND)').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'))
    .option('--json', 'print the finished run record as JSON on stdout')
    .option('-q, --quiet', 'no progress output');
  addStoreOption(cmd);
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
  cmd.action(
    action(async (scenario: string, opts: Record<string, unknown>, self: Command) => {
      const methodOptions: Record<string, unknown> = {};
      for (const o of defs) {
        if (self.getOptionValueSource(o.name) === 'cli') methodOptions[o.name] = opts[o.name];
      }
      const backboneOptions: BackboneOptions = {};
      if (opts.inputNorm) backboneOptions.normalize = opts.inputNorm as BackboneOptions['normalize'];
      if (opts.inputSize) backboneOptions.imageSize = opts.inputSize as number;
      if (opts.inputLayout) backboneOptions.layout = opts.inputLayout as BackboneOptions['layout'];
      if (opts.featurePool) backboneOptions.pool = opts.featurePool as BackboneOptions['pool'];
      if (opts.extractBatchSize) backboneOptions.batchSize = opts.extractBatchSize as number;
      const runOpts: RunOptions = {
        scenario,
        method: String(opts.method),
        methodOptions,
        seed: opts.seed as number,
        backbone: opts.backbone as string | undefined,
        backboneOptions,
        dataDir: (opts.dataDir as string | undefined) ?? process.env.CL_DATA_DIR,
        cacheRoot: opts.cacheDir as string | undefined,
        offline: Boolean(opts.offline),
        storePath: storePath(opts as { store?: string }),
        backend: opts.backend as string,
        overrides: {
          base: opts.base as number | undefined,
          increment: opts.increment as number | number[] | undefined,
          order: opts.order as string | undefined,
        },
        command: process.argv.slice(2),
      };
      const record = await execute(runOpts, { quiet: Boolean(opts.quiet), json: Boolean(opts.json) });
      if (opts.json) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
      else process.stdout.write(`${renderRun(record)}\n`);
    }),
  );
}

/** Run with terminal rendering and Ctrl-C handling; resolves with the finished record. */
async function execute(runOpts: RunOptions, view: { quiet: boolean; json: boolean }): Promise<RunRecord> {
  const render = eventRenderer(view.quiet);
  let runId: string | null = null;
  let finished: RunRecord | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    const exit = () => process.exit(signal === 'SIGINT' ? 130 : 143);
    if (!runId) exit();
    else markInterrupted(runOpts.storePath, runId, `interrupted by ${signal}`).then(exit, exit);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await lastValueFrom(
      runExperiment(runOpts).pipe(
        tap((e) => {
          if (e.type === 'started') runId = e.record.id;
          if (e.type === 'finished') finished = e.record;
          render(e);
        }),
      ),
    );
  } finally {
    render({ type: 'progress-end', label: '*' });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (!finished) throw new Error('the run ended without a result');
  return finished;
}

/** Turn run events into terminal output on stderr (stdout stays clean for --json). */
function eventRenderer(quiet: boolean): (e: RunEvent) => void {
  const bars = new Map<string, ReturnType<typeof progressReporter>>();
  const line = (s: string) => {
    if (!quiet) process.stderr.write(`${s}\n`);
  };
  let lastEpochLine = 0;
  return (e) => {
    switch (e.type) {
      case 'stage':
        line(chalk.dim(`• ${e.message}`));
        break;
      case 'progress': {
        if (quiet) break;
        let bar = bars.get(e.label);
        if (!bar) {
          bar = progressReporter(e.label, e.total, { unit: 'img' });
          bars.set(e.label, bar);
        }
        const eta = e.eta !== undefined ? `, ETA ${formatDuration(e.eta)}` : '';
        bar.update(e.done, e.rate !== undefined ? `${e.rate.toFixed(0)} img/s${eta}` : undefined);
        break;
      }
      case 'progress-end':
        for (const [label, bar] of bars) {
          if (e.label === '*' || e.label === label) {
            bar.stop();
            bars.delete(label);
          }
        }
        break;
      case 'started':
        line(`${chalk.bold('run')} ${e.record.id}  ${e.record.scenario.name} (${e.record.scenario.split}, order ${e.record.scenario.order.id})  method ${e.record.method}  backend ${e.record.backend}`);
        break;
      case 'learner':
        if (e.event.type === 'message') line(chalk.dim(`  ${e.event.text}`));
        else if (Date.now() - lastEpochLine > 1000 || e.event.epoch === e.event.epochs) {
          lastEpochLine = Date.now();
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
      case 'finished':
        break;
    }
  };
}
