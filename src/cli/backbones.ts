/** `cl backbones`: the named pretrained backbones (source, feature, size, preprocessing) and the spec forms. */
import chalk from 'chalk';
import type { Command } from 'commander';
import { backboneSpecForms } from '../backbones/backbone.js';
import { NAMED_BACKBONES } from '../backbones/named.js';
import { preprocessingId } from '../backbones/preprocess.js';
import { action } from './common.js';

/** Plain-data view of the named backbones (also the --json output). */
export function backboneCatalog(): { named: Record<string, unknown>[]; forms: string[] } {
  return {
    named: NAMED_BACKBONES.map((n) => ({
      name: n.name,
      title: n.title,
      source: n.source,
      origin: n.origin,
      output: n.output,
      pool: n.pool,
      feature: n.feature,
      dim: n.dim,
      preprocessing: preprocessingId(n.preprocessing),
      preprocessingNote: n.preprocessingNote,
      download: n.download,
    })),
    forms: backboneSpecForms(),
  };
}

export function register(program: Command): void {
  program
    .command('backbones')
    .description('list the named pretrained backbones and the backbone spec forms (--backbone)')
    .option('--json', 'print the catalog as JSON')
    .action(
      action(async (opts: { json?: boolean }) => {
        const cat = backboneCatalog();
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(cat, null, 2)}\n`);
          return;
        }
        const out: string[] = [chalk.bold('named backbones (--backbone NAME)'), ''];
        for (const n of NAMED_BACKBONES) {
          out.push(`${chalk.bold(n.name.padEnd(20))} ${String(n.dim).padStart(5)}-d  ${n.title}`);
          out.push(`${''.padEnd(21)}source         ${n.source}`);
          out.push(`${''.padEnd(21)}from           ${n.origin}`);
          out.push(`${''.padEnd(21)}feature        ${n.feature}`);
          out.push(`${''.padEnd(21)}preprocessing  ${preprocessingId(n.preprocessing)}: ${n.preprocessingNote}`);
          out.push('');
        }
        out.push(chalk.bold('spec forms (--backbone SPEC)'));
        for (const f of cat.forms) out.push(`  ${f}`);
        out.push('');
        out.push(chalk.dim('Models are downloaded once into the model cache (env CL_CACHE_DIR); --offline / HF_HUB_OFFLINE=1 use cached copies only.'));
        process.stdout.write(`${out.join('\n')}\n`);
      }),
    );
}
