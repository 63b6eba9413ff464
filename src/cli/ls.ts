/** `cl ls`: the runs and compatibility jobs in the store, from its index (no record file is read). */
import chalk from 'chalk';
import { Option, type Command } from 'commander';
import { UserError } from '../errors.js';
import { renderCompatListLine } from '../report/compat.js';
import { renderTable } from '../report/table.js';
import { renderRunList } from '../report/terminal.js';
import { effectiveStatus, isCompatEntry, isRunEntry, openStore } from '../store/store.js';
import { action, addStoreOption, storePath } from './common.js';

interface LsOpts extends RecordFilter {
  store?: string;
  json?: boolean;
}

export interface RecordFilter {
  kind?: string;
  scenario?: string;
  method?: string;
  status?: string;
  last?: number;
}

function lastN(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UserError(`--last expects a positive integer, got "${v}"`, 'e.g. --last 5');
  return Number(v);
}

/**
 * The records `cl ls` shows: by kind, scenario name, method and (effective) status, then the N
 * most recent (records come oldest first). Reads only what a store index carries.
 */
export function filterRecords<R extends { kind: string; status: string; createdAt: string; method?: unknown; scenario?: unknown }>(records: R[], f: RecordFilter): R[] {
  const scenarioName = (r: R): string | undefined => (r.scenario && typeof r.scenario === 'object' ? ((r.scenario as { name?: string }).name ?? undefined) : typeof r.scenario === 'string' ? r.scenario : undefined);
  const kept = records.filter(
    (r) =>
      (f.kind === undefined || r.kind === f.kind) &&
      (f.scenario === undefined || scenarioName(r) === f.scenario) &&
      (f.method === undefined || r.method === f.method) &&
      (f.status === undefined || r.status === f.status),
  );
  return f.last === undefined ? kept : kept.slice(Math.max(0, kept.length - f.last));
}

export function register(program: Command): void {
  const cmd = program
    .command('ls')
    .description('list the runs and compatibility jobs in the store (oldest first)')
    .option('--kind <kind>', 'only records of this kind: run or compat')
    .option('--scenario <name>', 'only records of this scenario')
    .option('--method <name>', 'only records of this method')
    .addOption(new Option('--status <status>', 'only records with this status (running: its process is alive; interrupted: it died)').choices(['running', 'finished', 'failed', 'interrupted']))
    .option('--last <n>', 'only the N most recent matching records', lastN)
    .option('--json', "print the records' index entries as JSON (status = effective status; `cl show <id> --json` prints a whole record)");
  addStoreOption(cmd);
  cmd.action(
    action(async (opts: LsOpts) => {
      const store = await openStore(storePath(opts), { readOnly: true });
      const all = await store.entries(opts.kind ? { kind: opts.kind } : {});
      for (const e of all) if (e.problem !== undefined) store.warn(`skipped record ${e.id} in ${store.path}: malformed (${e.problem})`);
      const entries = filterRecords(
        all.filter((e) => e.problem === undefined).map((e) => ({ ...e, status: effectiveStatus(e) })),
        opts,
      );
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
