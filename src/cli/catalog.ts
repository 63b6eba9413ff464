/** `cl scenarios`, `cl methods`, `cl datasets`: what can be run. */
import chalk from 'chalk';
import type { Command } from 'commander';
import { folderDataset } from '../data/benchmarks.js';
import { DATASETS } from '../data/index.js';
import { METHODS } from '../learners/index.js';
import { listScenarios } from '../scenario/scenario.js';
import { optionFlag, optionsSchema, placeholder } from '../options.js';
import { action } from './common.js';
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
    .option('--json', 'print every method with the JSON Schema of its options')
    .action(
      action(async (opts: { json?: boolean }) => {
        if (opts.json) {
          const list = METHODS.map((m) => ({ name: m.name, description: m.description, citation: m.citation ?? null, docs: m.docs, seeded: m.seeded, options: optionsSchema(m.options) }));
          process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
          return;
        }
        for (const m of METHODS) {
          process.stdout.write(`${chalk.bold(m.name)}  ${m.description}${m.seeded ? '' : chalk.dim(' (unseeded)')}  ${chalk.dim(m.docs)}\n`);
          for (const [name, spec] of Object.entries(m.options)) {
            const flag = `${optionFlag(name)} ${placeholder(spec)}`;
            process.stdout.write(`    ${flag.padEnd(40)} ${spec.help} ${chalk.dim(spec.default !== undefined ? `(default ${String(spec.default)})` : '')}\n`);
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
