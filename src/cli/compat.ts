/** `cl compat <scenario> --method independent|bct|oca --steps N`: backward-compatible embedding upgrades. */
import chalk from 'chalk';
import { Command, Option } from 'commander';
import { COMPAT_METRICS } from '../compat/record.js';
import { COMPAT_DEFAULTS, COMPAT_METHODS, COMPAT_OPTION_SPECS, type CompatOptions } from '../compat/options.js';
import { compatExperiment, markCompatInterrupted, type CompatEvent, type CompatRunOptions } from '../compat/runner.js';
import type { CompatRecord } from '../compat/record.js';
import { renderCompat } from '../report/compat.js';
import { action, kebab, storePath } from './common.js';
import { addExperimentOptions, epochThrottle, experimentInputs, experimentRenderer, parseIntStrict, runExperimentStream } from './experiment.js';

export function register(program: Command): void {
  const cmd = program
    .command('compat')
    .description('backward-compatible embedding upgrades: train model versions on growing class sets, fill the compatibility matrix (top-1, top-5, mAP), AC, AM')
    .argument('<scenario>', 'scenario name (see `cl scenarios`) or path to a scenario .json file; its class order is cut into --steps blocks')
    .addOption(new Option('-m, --method <name>', 'compatibility method').choices(COMPAT_METHODS).makeOptionMandatory())
    .requiredOption('--steps <n>', 'model versions: the class order is cut into n blocks as equal as possible (100 in 3: 34, 33, 33), version t trains on blocks 1..t', parseIntStrict('--steps'))
    .option('--seed <n>', 'trainSeed: seeds everything random', parseIntStrict('--seed'), 1)
    .option('--order <spec>', 'class order override: icarl-1993 | podnet-fixed | natural | seed:<n> | a comma-separated list');
  addExperimentOptions(cmd);
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
      const runOpts: CompatRunOptions = {
        scenario,
        method: String(opts.method),
        steps: opts.steps as number,
        seed: opts.seed as number,
        methodOptions,
        order: opts.order as string | undefined,
        ...experimentInputs(opts),
        storePath: storePath(opts as { store?: string }),
        command: process.argv.slice(2),
      };
      const record = await runExperimentStream<CompatRecord, CompatEvent>(compatExperiment(runOpts), renderCompatEvents(Boolean(opts.quiet)), (id, why) =>
        markCompatInterrupted(runOpts.storePath, id, why),
      );
      if (opts.json) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
      else process.stdout.write(`${renderCompat(record)}\n`);
    }),
  );
}

/** `cl compat`'s own events as terminal lines (stages and extraction progress are shared). */
function renderCompatEvents(quiet: boolean) {
  const showEpoch = epochThrottle();
  return experimentRenderer<CompatEvent>(quiet, (e, line) => {
    switch (e.type) {
      case 'started':
        line(`${chalk.bold('compat')} ${e.record.id}  ${e.record.scenario.name} (${e.record.steps} versions, order ${e.record.scenario.order.id})  method ${e.record.method}  backend ${e.record.backend}`);
        break;
      case 'learner':
        if (e.event.type === 'message') line(chalk.yellow(`  ${e.event.text}`));
        else if (showEpoch(e.event.epoch, e.event.epochs)) {
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
      default:
        break;
    }
  });
}
