/** `cl scenarios`, `cl methods`, `cl datasets`: what can be run. */
import chalk from 'chalk';
import type { Command } from 'commander';
import { folderDataset } from '../data/benchmarks.js';
import { DATASETS } from '../data/index.js';
import { METHODS } from '../learners/index.js';
import { listScenarios } from '../scenario/scenario.js';
import { action } from './common.js';
import { kebab } from './common.js';
import { printableDeep } from '../report/printable.js';

export function register(program: Command): void {
  program
    .command('scenarios')
    .description('list the shipped scenarios')
    .action(
      action(async () => {
        // Scenario files are user files: their text is shown through printable.
        for (const s of printableDeep(listScenarios())) {
          process.stdout.write(`${chalk.bold(s.name.padEnd(24))} ${s.dataset.padEnd(15)} ${s.split.padEnd(12)} order ${String(s.order).padEnd(12)} backbone ${s.backbone}\n`);
          if (s.description) process.stdout.write(chalk.dim(`${''.padEnd(25)}${s.description}\n`));
        }
      }),
    );
  program
    .command('methods')
    .description('list the learning methods and their options')
    .action(
      action(async () => {
        for (const m of METHODS) {
          process.stdout.write(`${chalk.bold(m.name)}  ${m.description}${m.seeded ? '' : chalk.dim(' (unseeded)')}\n`);
          for (const o of m.options) {
            process.stdout.write(`    --${kebab(o.name).padEnd(24)} ${o.help} ${chalk.dim(`(default ${String(o.default)})`)}\n`);
          }
        }
      }),
    );
  program
    .command('datasets')
    .description('list the datasets cl can read')
    .action(
      action(async () => {
        for (const [id, d] of Object.entries(DATASETS)) {
          process.stdout.write(`${chalk.bold(id.padEnd(16))} ${String(d.numClasses).padStart(4)} classes  ${d.description}\n`);
          const folder = folderDataset(id);
          if (folder) process.stdout.write(chalk.dim(`${''.padEnd(17)}your copy (--data-dir, or a folder holding ${folder.folders.join(' / ')}) from ${folder.source}\n`));
        }
        process.stdout.write(chalk.dim('imagefolder:<dir>, features:<path>: your own images or features (docs/datasets.md)\n'));
      }),
    );
}
