/** `cl show <id>`: one run's accuracy matrix, curve and summary (reads that record only). */
import type { Command } from 'commander';
import { renderCompat } from '../report/compat.js';
import { renderRun } from '../report/terminal.js';
import { MalformedRecordError, openStore, withEffectiveStatus } from '../store/store.js';
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
      const store = await openStore(storePath(opts), { readOnly: true });
      let rec;
      try {
        rec = withEffectiveStatus(await store.get(id));
      } catch (e) {
        // A malformed record cannot be rendered, but its JSON is printed as stored (to repair it).
        if (!(e instanceof MalformedRecordError) || !opts.json) throw e;
        const raw = await store.inspect(e.id);
        if (raw.record === null) throw e;
        store.warn(`record ${e.id} in ${store.path} is malformed (${e.problem}); printed as stored`);
        process.stdout.write(`${JSON.stringify(raw.record, null, 2)}\n`);
        return;
      }
      if (opts.config) {
        if (rec.kind !== 'run') throw new UserError(`record ${rec.id} is a ${rec.kind} record`, 'configurations are stored for runs of `cl run`');
        if (!rec.config) {
          throw new UserError(`run ${rec.id} was stored before cl recorded run configurations`, `its command was: cl ${rec.command.join(' ')} (in ${rec.cwd ?? 'an unknown folder'})`);
        }
        const file = { description: `configuration of run ${rec.id} (${rec.createdAt}, cl ${rec.clVersion})`, ...rec.config };
        process.stdout.write(`${JSON.stringify(file, null, 2)}\n`);
      } else if (opts.json) process.stdout.write(`${JSON.stringify(rec, null, 2)}\n`);
      else if (rec.kind === 'compat') process.stdout.write(`${renderCompat(rec)}\n`);
      else process.stdout.write(`${renderRun(rec)}\n`);
    }),
  );
}
