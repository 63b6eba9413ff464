/** `cl show <id>`: one run's accuracy matrix, curve and summary. */
import type { Command } from 'commander';
import type { CompatRecord } from '../compat/record.js';
import { renderCompat } from '../report/compat.js';
import { renderRun } from '../report/terminal.js';
import { effectiveStatus, openStore } from '../store/store.js';
import type { RunRecord } from '../types.js';
import { UserError } from '../errors.js';
import { action, addStoreOption, storePath } from './common.js';

export function register(program: Command): void {
  const cmd = program
    .command('show')
    .description('show one record: a run (accuracy matrix R[t][j], curve of A_t, labelled metrics) or a compatibility job (matrices, criterion, AC, AM)')
    .argument('<id>', 'run id or a unique prefix of it (see `cl ls`)')
    .option('--json', 'print the stored record as JSON')
    .option('--config', 'print the run\'s resolved configuration as an experiment file: `cl run --config <file>` repeats the run');
  addStoreOption(cmd);
  cmd.action(
    action(async (id: string, opts: { store?: string; json?: boolean; config?: boolean }) => {
      const store = await openStore(storePath(opts));
      const rec = await store.get(id);
      const record = { ...rec, status: effectiveStatus(rec) };
      if (opts.config) {
        const run = record as unknown as RunRecord;
        if (run.kind !== 'run') throw new UserError(`record ${run.id} is a ${run.kind} record`, 'configurations are stored for runs of `cl run`');
        if (!run.config) {
          throw new UserError(`run ${run.id} was stored before cl recorded run configurations`, `its command was: cl ${run.command.join(' ')} (in ${run.cwd ?? 'an unknown folder'})`);
        }
        const file = { description: `configuration of run ${run.id} (${run.createdAt}, cl ${run.clVersion})`, ...run.config };
        process.stdout.write(`${JSON.stringify(file, null, 2)}\n`);
      } else if (opts.json) process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
      else if (record.kind === 'compat') process.stdout.write(`${renderCompat(record as unknown as CompatRecord)}\n`);
      else process.stdout.write(`${renderRun(record as unknown as RunRecord)}\n`);
    }),
  );
}
