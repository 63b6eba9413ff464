/**
 * `cl rm <id...>`: delete records from the store. Every id is resolved first (an unknown or
 * ambiguous one deletes nothing); each record is then removed under the store's lock, so that runs
 * writing other records at the same time lose nothing; a run whose process is still alive is kept
 * unless --force. The run's learner checkpoint goes with it.
 */
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import { removeCheckpoint } from '../store/checkpoints.js';
import { effectiveStatus, openStore, type RecordBase } from '../store/store.js';
import { action, addStoreOption, storePath } from './common.js';
import { printable } from '../report/printable.js';

export function register(program: Command): void {
  const cmd = program
    .command('rm')
    .description('delete runs or compatibility jobs from the store (other records are never touched)')
    .argument('<ids...>', 'record ids or unique prefixes (see `cl ls`)')
    .option('--force', 'also delete records whose process is still running (it will fail at its next write)');
  addStoreOption(cmd);
  cmd.action(
    action(async (ids: string[], opts: { store?: string; force?: boolean }) => {
      const store = await openStore(storePath(opts));
      const records: RecordBase[] = [];
      for (const id of ids) {
        const r = await store.get(id);
        if (!records.some((x) => x.id === r.id)) records.push(r);
      }
      const alive = records.filter((r) => effectiveStatus(r) === 'running');
      if (alive.length > 0 && !opts.force) {
        throw new UserError(
          `${alive.map((r) => printable(`${r.id} (pid ${r.pid} on ${r.host})`)).join(', ')} ${alive.length === 1 ? 'is' : 'are'} still running; nothing was deleted`,
          'stop the run first (Ctrl-C marks it interrupted), or pass --force',
        );
      }
      for (const r of records) {
        await store.remove(r.id);
        await removeCheckpoint(store.path, r.id);
        // Record fields are outside text (a hand-edited store): shown through printable.
        process.stdout.write(`${printable(`removed ${r.id} (${r.kind}, ${effectiveStatus(r)}, ${r.createdAt})`)}\n`);
      }
    }),
  );
}
