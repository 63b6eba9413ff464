/** `cl compare [ids...]`: runs grouped by everything but the seed, mean ± std, curves, plots, HTML report. */
import { Command, Option } from 'commander';
import { UserError } from '../errors.js';
import { loadBaselines, matchingBaselines } from '../report/baselines.js';
import { comparisonJson, compareRuns, renderComparison, selectRuns, type SplitFactor } from '../report/compare.js';
import { writeHtml } from '../report/html.js';
import { writePlot } from '../report/plot.js';
import { effectiveStatus, getRun, isRunEntry, MalformedRecordError, openStore } from '../store/store.js';
import type { ForgettingDefinition, RunRecord } from '../types.js';
import { action, addStoreOption, storePath } from './common.js';
import { printable } from '../report/printable.js';

interface CompareOpts {
  scenario?: string;
  method?: string;
  backbone?: string;
  last?: number;
  forgetting: ForgettingDefinition;
  plot?: string;
  html?: string;
  json?: boolean;
  baselines: boolean;
  store?: string;
  split?: SplitFactor[];
}

/** `--split order,seed` → the factors (each at most once). */
export function parseSplit(v: string): SplitFactor[] {
  const items = v.split(',').map((s) => s.trim());
  for (const i of items) if (i !== 'order' && i !== 'seed') throw new UserError(`--split: "${i}" is not order or seed`, 'e.g. --split order, --split seed, --split order,seed');
  return [...new Set(items)] as SplitFactor[];
}

function positiveInt(flag: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new UserError(`${flag} expects a positive integer, got "${v}"`, `e.g. ${flag} 5`);
    return Number(v);
  };
}

export function register(program: Command): void {
  const cmd = program
    .command('compare')
    .description('compare runs: groups of runs that differ only in their class order and seed, n and mean ± std of A_T, Ā, forgetting, BWT; curves and published baselines')
    .argument('[ids...]', 'run ids or unique prefixes (default: every finished run matching the filters)')
    .option('--scenario <name>', 'only runs of this scenario')
    .option('--method <name>', 'only runs of this method')
    .option('--backbone <id>', 'only runs with this backbone id')
    .option('--last <n>', 'only the N most recent matching runs', positiveInt('--last'))
    .addOption(
      new Option('--forgetting <definition>', 'forgetting definition: max-prev (Chaudhry), max-all (Mammoth/PyCIL), first (Avalanche)')
        .choices(['max-prev', 'max-all', 'first'])
        .default('max-prev'),
    )
    .option('--split <factors>', 'keep these apart instead of aggregating over them: order, seed, or order,seed (default: groups aggregate over class orders and seeds)', parseSplit)
    .option('--plot <file>', 'write the figure (A_t, F_t, per-task curves) to an .svg or .png file')
    .option('--html <file>', 'write a self-contained HTML report (tables, interactive curves, heatmaps, configs)')
    .option('--no-baselines', 'do not draw published baselines (baselines/*.json)')
    .option('--json', 'print the comparison as JSON');
  addStoreOption(cmd);
  cmd.action(
    action(async (ids: string[], opts: CompareOpts) => {
      const store = await openStore(storePath(opts), { readOnly: true });
      // Select on the index; read only the chosen records.
      const entries = await store.entries({ kind: 'run' });
      const skip = (id: string, problem: string): void => store.warn(`skipped record ${id} in ${store.path}: malformed (${problem})`);
      const good = entries.filter(isRunEntry);
      const bad = entries.filter((e) => e.problem !== undefined);
      for (const e of bad) skip(e.id, e.problem ?? '');
      // A named id that only a malformed record answers to is skipped like the record (warned above).
      const named = ids.filter((id) => good.some((e) => e.id.startsWith(id)) || !bad.some((e) => e.id.startsWith(id)));
      const chosen = ids.length > 0 && named.length === 0 ? [] : selectRuns(good, { ids: named, scenario: opts.scenario, method: opts.method, backbone: opts.backbone, last: opts.last, statusOf: effectiveStatus });
      const runs: RunRecord[] = [];
      for (const e of chosen) {
        try {
          runs.push(await getRun(store, e.id));
        } catch (err) {
          if (!(err instanceof MalformedRecordError)) throw err;
          skip(err.id, err.problem);
        }
      }
      if (runs.length === 0) throw new UserError('none of the selected runs can be read (see the warnings above)', 'list the runs with `cl ls`');
      const baselines = opts.baselines ? matchingBaselines(loadBaselines(), runs) : [];
      const cmp = compareRuns(runs, { forgetting: opts.forgetting, baselines, split: opts.split ?? [] });
      if (opts.plot) await writePlot(cmp, opts.plot);
      if (opts.html) writeHtml(cmp, opts.html);
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(comparisonJson(cmp), null, 2)}\n`);
      } else {
        process.stdout.write(renderComparison(cmp));
        for (const [what, file] of [['plot', opts.plot], ['report', opts.html]] as const) {
          if (file) process.stdout.write(`${what} written to ${printable(file)}\n`);
        }
      }
    }),
  );
}
