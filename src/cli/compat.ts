/** `cl compat <scenario> --method independent|bct|oca --steps N`: backward-compatible embedding upgrades. */
import chalk from 'chalk';
import { Command, Option } from 'commander';
import { lastValueFrom, tap } from 'rxjs';
import type { BackboneOptions } from '../backbones/backbone.js';
import { COMPAT_METRICS } from '../compat/record.js';
import { COMPAT_DEFAULTS, COMPAT_METHODS, COMPAT_OPTION_SPECS, type CompatOptions } from '../compat/options.js';
import { compatExperiment, markCompatInterrupted, type CompatEvent, type CompatRunOptions } from '../compat/runner.js';
import type { CompatRecord } from '../compat/record.js';
import { progressReporter } from '../data/progress.js';
import { UserError } from '../errors.js';
import { renderCompat } from '../report/compat.js';
import { action, addStoreOption, kebab, storePath } from './common.js';

function parseIntStrict(flag: string) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v)) throw new UserError(`${flag} expects an integer, got "${v}"`);
    return Number(v);
  };
}

export function register(program: Command): void {
  const cmd = program
    .command('compat')
    .description('backward-compatible embedding upgrades: train model versions on growing class sets, fill the compatibility matrix (top-1, top-5, mAP), AC, AM')
    .argument('<scenario>', 'scenario name (see `cl scenarios`) or path to a scenario .json file; its class order is cut into --steps blocks')
    .addOption(new Option('-m, --method <name>', 'compatibility method').choices(COMPAT_METHODS).makeOptionMandatory())
    .requiredOption('--steps <n>', 'model versions: the class order is cut into n blocks as equal as possible (100 in 3: 34, 33, 33), version t trains on blocks 1..t', parseIntStrict('--steps'))
    .option('--seed <n>', 'trainSeed: seeds everything random', parseIntStrict('--seed'), 1)
    .option('--order <spec>', 'class order override: icarl-1993 | podnet-fixed | natural | seed:<n> | a comma-separated list')
    .option('--backbone <spec>', "frozen feature extractor (default: the scenario's)")
    .addOption(new Option('--input-norm <how>', 'input normalisation of image backbones').choices(['imagenet', 'none']))
    .option('--input-size <px>', 'model input size when the model does not declare it', parseIntStrict('--input-size'))
    .addOption(new Option('--input-layout <layout>', 'model input layout when the model does not declare it').choices(['NCHW', 'NHWC']))
    .addOption(new Option('--feature-pool <how>', 'how a token/spatial model output becomes one vector').choices(['cls', 'mean', 'gap', 'none']))
    .option('--extract-batch-size <n>', 'batch size of feature extraction', parseIntStrict('--extract-batch-size'))
    .option('--data-dir <dir>', 'local copy of the dataset (archive or folder); env CL_DATA_DIR')
    .option('--cache-dir <dir>', 'cache root for datasets, models and features; env CL_CACHE_DIR')
    .option('--offline', 'never download; use local files and caches only')
    .addOption(new Option('--backend <name>', 'tfjs backend (env CL_BACKEND)').choices(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'))
    .option('--json', 'print the finished record as JSON on stdout')
    .option('-q, --quiet', 'no progress output');
  addStoreOption(cmd);
  const names = Object.keys(COMPAT_OPTION_SPECS) as (keyof CompatOptions)[];
  for (const name of names) {
    const spec = COMPAT_OPTION_SPECS[name];
    const arg = spec.type === 'boolean' ? 'true|false' : spec.type === 'choice' ? spec.choices!.join('|') : 'value';
    cmd.option(`--${kebab(name)} <${arg}>`, `[${spec.methods.join(', ')}] ${spec.help} (default ${String(COMPAT_DEFAULTS[name])})`);
  }
  cmd.action(
    action(async (scenario: string, opts: Record<string, unknown>, self: Command) => {
      const methodOptions: Record<string, unknown> = {};
      for (const name of names) if (self.getOptionValueSource(name) === 'cli') methodOptions[name] = opts[name];
      const backboneOptions: BackboneOptions = {};
      if (opts.inputNorm) backboneOptions.normalize = opts.inputNorm as BackboneOptions['normalize'];
      if (opts.inputSize) backboneOptions.imageSize = opts.inputSize as number;
      if (opts.inputLayout) backboneOptions.layout = opts.inputLayout as BackboneOptions['layout'];
      if (opts.featurePool) backboneOptions.pool = opts.featurePool as BackboneOptions['pool'];
      if (opts.extractBatchSize) backboneOptions.batchSize = opts.extractBatchSize as number;
      const runOpts: CompatRunOptions = {
        scenario,
        method: String(opts.method),
        steps: opts.steps as number,
        seed: opts.seed as number,
        methodOptions,
        order: opts.order as string | undefined,
        backbone: opts.backbone as string | undefined,
        backboneOptions,
        dataDir: (opts.dataDir as string | undefined) ?? process.env.CL_DATA_DIR,
        cacheRoot: opts.cacheDir as string | undefined,
        offline: Boolean(opts.offline),
        storePath: storePath(opts as { store?: string }),
        backend: opts.backend as string,
        command: process.argv.slice(2),
      };
      const record = await execute(runOpts, Boolean(opts.quiet));
      if (opts.json) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
      else process.stdout.write(`${renderCompat(record)}\n`);
    }),
  );
}

/** Run with terminal rendering and Ctrl-C handling; resolves with the finished record. */
async function execute(runOpts: CompatRunOptions, quiet: boolean): Promise<CompatRecord> {
  const render = eventRenderer(quiet);
  let id: string | null = null;
  let finished: CompatRecord | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    const exit = () => process.exit(signal === 'SIGINT' ? 130 : 143);
    if (!id) exit();
    else markCompatInterrupted(runOpts.storePath, id, `interrupted by ${signal}`).then(exit, exit);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await lastValueFrom(
      compatExperiment(runOpts).pipe(
        tap((e) => {
          if (e.type === 'started') id = e.record.id;
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
  if (!finished) throw new Error('the compat run ended without a result');
  return finished;
}

/** Compat events as terminal lines on stderr (stdout stays clean for --json). */
function eventRenderer(quiet: boolean): (e: CompatEvent) => void {
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
        bar.update(e.done, e.rate !== undefined ? `${e.rate.toFixed(0)} img/s` : undefined);
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
        line(`${chalk.bold('compat')} ${e.record.id}  ${e.record.scenario.name} (${e.record.steps} versions, order ${e.record.scenario.order.id})  method ${e.record.method}  backend ${e.record.backend}`);
        break;
      case 'learner':
        if (e.event.type === 'message') line(chalk.yellow(`  ${e.event.text}`));
        else if (Date.now() - lastEpochLine > 1000 || e.event.epoch === e.event.epochs) {
          lastEpochLine = Date.now();
          line(chalk.dim(`  φ${e.version} ${e.phase === 'backfill' ? 'backfill reference' : (e.event.phase ?? 'train')} epoch ${e.event.epoch}/${e.event.epochs} loss ${e.event.loss.toFixed(4)}`));
        }
        break;
      case 'version': {
        const t = e.version.version;
        const cells = COMPAT_METRICS.map((m) => {
          const row = e.record.matrices[m][t - 1].slice(0, t).map((v) => (v === null ? '–' : v.toFixed(1)));
          return `${m} ${row.join(' ')}`;
        });
        line(`  φ${t} (d ${e.version.dim}, ${e.version.trainClasses.length} classes)  ${cells.join('  |  ')}  ${chalk.dim(`train ${(e.version.trainMs / 1000).toFixed(1)} s, eval ${(e.version.evalMs / 1000).toFixed(1)} s`)}`);
        break;
      }
      case 'finished':
        break;
    }
  };
}
