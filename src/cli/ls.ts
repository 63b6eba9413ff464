/** `cl ls`: the runs and compatibility jobs in the store. */
import chalk from 'chalk';
import type { Command } from 'commander';
import type { CompatRecord } from '../compat/record.js';
import { renderCompatListLine } from '../report/compat.js';
import { renderTable } from '../report/table.js';
import { renderRunList } from '../report/terminal.js';
import { effectiveStatus, openStore } from '../store/store.js';
import type { RunRecord } from '../types.js';
import { action, addStoreOption, storePath } from './common.js';

export function register(program: Command): void {
  const cmd = program
    .command('ls')
    .description('list the runs and compatibility jobs in the store (oldest first)')
    .option('--kind <kind>', 'only records of this kind: run or compat')
    .option('--json', 'print the records as JSON (status = effective status)');
  addStoreOption(cmd);
  cmd.action(
    action(async (opts: { store?: string; json?: boolean; kind?: string }) => {
      const store = await openStore(storePath(opts));
      const records = (await store.list())
        .filter((r) => !opts.kind || r.kind === opts.kind)
        .map((r) => ({ ...r, status: effectiveStatus(r) }));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(records, null, 2)}\n`);
        return;
      }
      const runs = records.filter((r) => r.kind === 'run') as unknown as RunRecord[];
      const compat = records.filter((r) => r.kind === 'compat') as unknown as CompatRecord[];
      if (runs.length > 0 || compat.length === 0) process.stdout.write(`${renderRunList(runs)}`);
      if (compat.length > 0) {
        const head = ['id', 'created (UTC)', 'status', 'scenario', 'method', 'backbone', 'AC top-1', 'AM mAP', 'versions'];
        const rows = compat.map((r) => renderCompatListLine(r));
        const align = ['left', 'left', 'left', 'left', 'left', 'left', 'right', 'right', 'right'] as const;
        const gap = runs.length > 0 ? '\n' : '';
        process.stdout.write(`${gap}${chalk.bold('Compatibility jobs')}\n${renderTable(head, rows, { align: [...align] })}\n`);
      }
    }),
  );
}
