/** `cl ls`: the runs and compatibility jobs in the store, from its index (no record file is read). */
import chalk from 'chalk';
import type { Command } from 'commander';
import { renderCompatListLine } from '../report/compat.js';
import { renderTable } from '../report/table.js';
import { renderRunList } from '../report/terminal.js';
import { effectiveStatus, isCompatEntry, isRunEntry, openStore } from '../store/store.js';
import { action, addStoreOption, storePath } from './common.js';

export function register(program: Command): void {
  const cmd = program
    .command('ls')
    .description('list the runs and compatibility jobs in the store (oldest first)')
    .option('--kind <kind>', 'only records of this kind: run or compat')
    .option('--json', "print the records' index entries as JSON (status = effective status; `cl show <id> --json` prints a whole record)");
  addStoreOption(cmd);
  cmd.action(
    action(async (opts: { store?: string; json?: boolean; kind?: string }) => {
      const store = await openStore(storePath(opts), { readOnly: true });
      const all = await store.entries(opts.kind ? { kind: opts.kind } : {});
      for (const e of all) if (e.problem !== undefined) store.warn(`skipped record ${e.id} in ${store.path}: malformed (${e.problem})`);
      const entries = all.filter((e) => e.problem === undefined).map((e) => ({ ...e, status: effectiveStatus(e) }));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
        return;
      }
      const runs = entries.filter(isRunEntry);
      const compat = entries.filter(isCompatEntry);
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
