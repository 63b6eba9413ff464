/**
 * `cl export csv|latex|figure [ids...]`: runs as CSV for analysis (per increment, per run, per
 * epoch), the comparison as a LaTeX table, one panel of the comparison as a figure for a paper.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { UserError } from '../errors.js';
import { loadBaselines, matchingBaselines } from '../report/baselines.js';
import { compareRuns, selectRuns, type SplitFactor } from '../report/compare.js';
import { comparisonLatex, incrementRows, lossRows, runRows, toCsv } from '../report/export.js';
import { PANELS, parseLength, writeFigure, type PanelName } from '../report/figure.js';
import { effectiveStatus, openStore } from '../store/store.js';
import type { ForgettingDefinition, RunRecord } from '../types.js';
import { action, addStoreOption, storePath } from './common.js';
import { parseSplit } from './compare.js';

interface SelectOpts {
  scenario?: string;
  method?: string;
  backbone?: string;
  last?: number;
  store?: string;
}

function positiveInt(flag: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new UserError(`${flag} expects a positive integer, got "${v}"`, `e.g. ${flag} 5`);
    return Number(v);
  };
}

/** The run filters every export takes (as `cl compare`). */
function addSelection(cmd: Command): Command {
  cmd
    .argument('[ids...]', 'run ids or unique prefixes (default: every finished run matching the filters)')
    .option('--scenario <name>', 'only runs of this scenario')
    .option('--method <name>', 'only runs of this method')
    .option('--backbone <id>', 'only runs with this backbone id')
    .option('--last <n>', 'only the N most recent matching runs', positiveInt('--last'));
  return addStoreOption(cmd);
}

async function selected(ids: string[], opts: SelectOpts): Promise<RunRecord[]> {
  const store = await openStore(storePath(opts));
  const records = (await store.list({ kind: 'run' })) as unknown as RunRecord[];
  return selectRuns(records, { ids, scenario: opts.scenario, method: opts.method, backbone: opts.backbone, last: opts.last, statusOf: (r) => effectiveStatus(r) });
}

/** Write to `-o file` (creating its folder), or to stdout. */
function emit(text: string, out: string | undefined): void {
  if (!out) {
    process.stdout.write(text);
    return;
  }
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  fs.writeFileSync(out, text);
  process.stderr.write(`written to ${out}\n`);
}

const forgettingOption = () =>
  new Option('--forgetting <definition>', 'forgetting definition: max-prev (Chaudhry), max-all (Mammoth/PyCIL), first (Avalanche)').choices(['max-prev', 'max-all', 'first']).default('max-prev');

export function register(program: Command): void {
  const exp = program.command('export').description('export runs for analysis and papers: CSV (per increment, run or epoch), a LaTeX table, a figure panel (PDF/SVG/PNG)');

  const csv = addSelection(exp.command('csv').description('runs as CSV: one row per run × increment (every metric), per run (summary, configuration, provenance) or per training epoch'));
  csv
    .addOption(new Option('--per <what>', 'one row per increment, run or epoch').choices(['increment', 'run', 'epoch']).default('increment'))
    .option('-o, --out <file>', 'write to this file (default: stdout)')
    .action(
      action(async (ids: string[], opts: SelectOpts & { per: 'increment' | 'run' | 'epoch'; out?: string }) => {
        const runs = await selected(ids, opts);
        const rows = opts.per === 'run' ? runRows(runs) : opts.per === 'epoch' ? lossRows(runs) : incrementRows(runs);
        if (rows.length === 0) throw new UserError(`the selected runs have no rows per ${opts.per}`, opts.per === 'epoch' ? 'losses are stored by methods that train (not nmc), by runs of this cl version on' : 'select runs with results (cl ls)');
        emit(toCsv(rows), opts.out);
      }),
    );

  const latex = addSelection(exp.command('latex').description('the comparison (cl compare) as a LaTeX booktabs table: n and mean ± std per group, the best of each column in bold'));
  latex
    .addOption(forgettingOption())
    .option('--split <factors>', 'keep class orders and/or seeds apart: order, seed, order,seed', parseSplit)
    .option('--digits <n>', 'decimals (default 2)', positiveInt('--digits'))
    .option('--caption <latex>', 'the caption (LaTeX; default: what the numbers are)')
    .option('--label <key>', 'the \\label (default tab:cl-compare)')
    .option('-o, --out <file>', 'write to this file (default: stdout)')
    .action(
      action(async (ids: string[], opts: SelectOpts & { forgetting: ForgettingDefinition; split?: SplitFactor[]; digits?: number; caption?: string; label?: string; out?: string }) => {
        const cmp = compareRuns(await selected(ids, opts), { forgetting: opts.forgetting, split: opts.split ?? [] });
        emit(comparisonLatex(cmp, { digits: opts.digits, caption: opts.caption, label: opts.label }), opts.out);
      }),
    );

  const figure = addSelection(exp.command('figure').description('one panel of the comparison as a figure for a paper, at a physical width (PDF, SVG or PNG)'));
  figure
    .addOption(new Option('--panel <name>', 'accuracy (A_t), forgetting (F_t), per-task (R[t][j]) or loss (training loss per epoch)').choices([...PANELS]).default('accuracy'))
    .requiredOption('-o, --out <file>', 'the figure: .pdf, .svg or .png')
    .option('--width <length>', 'total width with axes and legend: e.g. 3.3in (one column), 7in (two columns), 240pt, 8.5cm', '3.3in')
    .option('--font-size <pt>', 'label font size in points (axis titles get +1; default 8)', positiveInt('--font-size'))
    .option('--aspect <ratio>', 'plot height over width (default 0.62)')
    .option('--dpi <n>', 'PNG resolution (default 300)', positiveInt('--dpi'))
    .option('--title <text>', 'a title above the panel (default none: the caption says it)')
    .addOption(forgettingOption())
    .option('--split <factors>', 'keep class orders and/or seeds apart: order, seed, order,seed', parseSplit)
    .option('--no-baselines', 'do not draw published baselines')
    .action(
      action(async (ids: string[], opts: SelectOpts & { panel: PanelName; out: string; width: string; fontSize?: number; aspect?: string; dpi?: number; title?: string; forgetting: ForgettingDefinition; split?: SplitFactor[]; baselines: boolean }) => {
        const widthPt = parseLength('--width', opts.width);
        const aspect = opts.aspect === undefined ? undefined : Number(opts.aspect);
        if (aspect !== undefined && !(aspect > 0.1 && aspect < 5)) throw new UserError(`--aspect "${opts.aspect}" is not a ratio in 0.1..5`, 'e.g. --aspect 0.62');
        const runs = await selected(ids, opts);
        const cmp = compareRuns(runs, { forgetting: opts.forgetting, split: opts.split ?? [], baselines: opts.baselines ? matchingBaselines(loadBaselines(), runs) : [] });
        await writeFigure(cmp, opts.out, { panel: opts.panel, widthPt, fontPt: opts.fontSize, aspect, dpi: opts.dpi, title: opts.title });
        process.stderr.write(`${opts.panel} panel written to ${opts.out} (${(widthPt / 72).toFixed(2)} in wide)\n`);
      }),
    );
}
