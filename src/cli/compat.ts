/** `cl compat <scenario> --method independent|bct|oca --steps N`: backward-compatible embedding upgrades. */
import chalk from 'chalk';
import { Command, Option } from 'commander';
import { COMPAT_METRICS } from '../compat/record.js';
import { COMPAT_METHODS, COMPAT_OPTIONS } from '../compat/options.js';
import { compatExperiment, type CompatEvent, type CompatRunOptions } from '../compat/runner.js';
import { markInterrupted } from '../driver.js';
import type { CompatRecord } from '../compat/record.js';
import { renderCompat } from '../report/compat.js';
import { COMPAT_RUN_OPTIONS } from '../experiment-options.js';
import { resolveOptions } from '../options.js';
import { action, storePath } from './common.js';
import { addExperimentOptions, trainingProgress, experimentInputs, experimentRenderer, runExperimentStream } from './experiment.js';
import { addOptionFlags, givenFlags } from './flags.js';

export function register(program: Command): void {
  const cmd = program
    .command('compat')
    .description('backward-compatible embedding upgrades: train model versions on growing class sets, fill the compatibility matrix (top-1, top-5, mAP), AC, AM')
    .argument('<scenario>', 'scenario name (see `cl scenarios`) or path to a scenario .json file; its class order is cut into --steps blocks')
    .addOption(new Option('-m, --method <name>', 'compatibility method').choices(COMPAT_METHODS).makeOptionMandatory());
  addOptionFlags(cmd, COMPAT_RUN_OPTIONS);
  addExperimentOptions(cmd);
  addOptionFlags(cmd, COMPAT_OPTIONS, { group: 'Method options ([methods] it acts on; docs/methods/compat.md):' });
  cmd.action(
    action(async (scenario: string, opts: Record<string, unknown>, self: Command) => {
      const run = resolveOptions(COMPAT_RUN_OPTIONS, givenFlags(self, COMPAT_RUN_OPTIONS), 'cl compat');
      const runOpts: CompatRunOptions = {
        scenario,
        method: String(opts.method),
        steps: run.steps,
        seed: run.seed,
        methodOptions: givenFlags(self, COMPAT_OPTIONS),
        order: run.order,
        ...experimentInputs(opts),
        storePath: storePath(opts as { store?: string }),
        command: process.argv.slice(2),
      };
      const record = await runExperimentStream<CompatRecord, CompatEvent>(compatExperiment(runOpts), renderCompatEvents(Boolean(opts.quiet)), (id, why) =>
        markInterrupted(runOpts.storePath, id, why),
      );
      if (opts.json) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
      else process.stdout.write(`${renderCompat(record)}\n`);
    }),
  );
}

/** `cl compat`'s own events as terminal lines (stages and extraction progress are shared). */
function renderCompatEvents(quiet: boolean) {
  const training = trainingProgress(quiet);
  return experimentRenderer<CompatEvent>(quiet, (e, line) => {
    if (e.type !== 'learner' || e.event.type !== 'epoch') training.end();
    switch (e.type) {
      case 'started':
        line(`${chalk.bold('compat')} ${e.record.id}  ${e.record.scenario.name} (${e.record.steps} versions, order ${e.record.scenario.order.id})  method ${e.record.method}  backend ${e.record.backend}`);
        break;
      case 'learner':
        if (e.event.type === 'message') line(chalk.yellow(`  ${e.event.text}`));
        else training.epoch(`  φ${e.version} ${e.phase === 'backfill' ? 'backfill reference' : (e.event.phase ?? 'train')}`, e.event.epoch, e.event.epochs, e.event.loss);
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
