/**
 * `cl export`: runs as tables for analysis and papers (docs/experiments.md "Exporting").
 *
 *   CSV, one row per run × increment: every per-increment metric (A_t, old/new, task-IL, top-5,
 *     F_t under each definition, R[t][j] as columns R_1..R_T, secondary rules, times, final loss);
 *   CSV, one row per run: the summary metrics, configuration and provenance;
 *   CSV, one row per run × increment × phase × epoch: the training loss;
 *   LaTeX (booktabs): the comparison table, mean ± std per group, the best value of each column in bold.
 *
 * CSV follows RFC 4180 (comma, CRLF-free "\n" lines, fields quoted when they hold a comma, quote or
 * line break), header names in snake_case ASCII, empty fields for missing values, numbers in full
 * precision: pandas.read_csv reads it as is.
 */
import { forgettingCurve, accuracyMatrix } from '../eval/metrics.js';
import type { RunRecord } from '../types.js';
import { aggregatedOver, type Comparison, type GroupResult } from './compare.js';
import { FORGETTING_LABELS } from './labels.js';
import { runSummary } from './run-summary.js';
import type { Stat } from './stats.js';

type Cell = string | number | boolean | null | undefined;

/** One CSV field. */
export function csvField(v: Cell): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows of named cells as CSV with the union of their columns (first-seen order). */
export function toCsv(rows: Record<string, Cell>[], leading: string[] = []): string {
  const columns: string[] = [...leading];
  const seen = new Set(columns);
  for (const r of rows) {
    for (const k of Object.keys(r)) {
      if (!seen.has(k)) {
        seen.add(k);
        columns.push(k);
      }
    }
  }
  const lines = [columns.map(csvField).join(','), ...rows.map((r) => columns.map((c) => csvField(r[c])).join(','))];
  return `${lines.join('\n')}\n`;
}

/** A method option value as one cell (lists and objects as JSON). */
const optionCell = (v: unknown): Cell => (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : JSON.stringify(v));

/** The columns every row of a run starts with: who the run is. */
function runColumns(r: RunRecord): Record<string, Cell> {
  return {
    run_id: r.id,
    status: r.status,
    scenario: r.scenario.name,
    dataset: r.scenario.dataset,
    split: r.scenario.split,
    order: r.scenario.order.id,
    method: r.method,
    seed: r.trainSeed,
    backbone: r.backbone.id,
    backend: r.backend,
  };
}

function optionColumns(r: RunRecord): Record<string, Cell> {
  return Object.fromEntries(Object.entries(r.methodOptions).map(([k, v]) => [`opt_${k}`, optionCell(v)]));
}

/** One row per run × increment. */
export function incrementRows(runs: RunRecord[]): Record<string, Cell>[] {
  const maxTasks = Math.max(0, ...runs.map((r) => r.scenario.taskClasses.length));
  const rows: Record<string, Cell>[] = [];
  for (const r of runs) {
    const incs = [...r.increments].sort((a, b) => a.task - b.task);
    const contiguous = incs.every((inc, k) => inc.task === k);
    const R = contiguous && incs.length > 0 ? accuracyMatrix(incs) : null;
    const curves = R ? { 'max-prev': forgettingCurve(R, 'max-prev'), 'max-all': forgettingCurve(R, 'max-all'), first: forgettingCurve(R, 'first') } : null;
    for (const inc of incs) {
      const t = inc.task;
      const row: Record<string, Cell> = {
        ...runColumns(r),
        task: t + 1,
        seen_classes: inc.seenClasses,
        new_classes: inc.classes.length,
        accuracy: inc.accuracy,
        old_accuracy: inc.oldAccuracy,
        new_accuracy: inc.newAccuracy,
        task_il_accuracy: inc.taskIL?.accuracy,
        top5_accuracy: inc.top5?.accuracy,
        forgetting_max_prev: t > 0 ? curves?.['max-prev'][t - 1] : null,
        forgetting_max_all: t > 0 ? curves?.['max-all'][t - 1] : null,
        forgetting_first: t > 0 ? curves?.first[t - 1] : null,
        learn_ms: inc.learnMs,
        eval_ms: inc.evalMs,
        epochs: inc.losses ? Object.values(inc.losses).reduce((n, l) => n + l.length, 0) : null,
        final_loss: inc.losses ? (Object.values(inc.losses).at(-1)?.at(-1) ?? null) : null,
      };
      for (const [name, e] of Object.entries(inc.extra ?? {})) row[`accuracy_${name.replace(/[^A-Za-z0-9]+/g, '_')}`] = e.accuracy;
      for (let j = 0; j < maxTasks; j++) row[`R_${j + 1}`] = j <= t ? inc.accuracyRow[j] : null;
      Object.assign(row, optionColumns(r));
      rows.push(row);
    }
  }
  return rows;
}

/** One row per run: summary, configuration, provenance. */
export function runRows(runs: RunRecord[]): Record<string, Cell>[] {
  return runs.map((r) => {
    const s = runSummary(r);
    const p = r.provenance;
    return {
      ...runColumns(r),
      created_at: r.createdAt,
      tasks: r.increments.length,
      tasks_planned: r.scenario.taskClasses.length,
      final_accuracy: s?.finalAccuracy,
      average_incremental_accuracy: s?.averageIncrementalAccuracy,
      forgetting_max_prev: s?.forgetting['max-prev'],
      forgetting_max_all: s?.forgetting['max-all'],
      forgetting_first: s?.forgetting.first,
      bwt: s?.bwt,
      task_il_final_accuracy: s?.taskIL?.finalAccuracy,
      task_il_average_incremental_accuracy: s?.taskIL?.averageIncrementalAccuracy,
      top5_final_accuracy: s?.top5?.finalAccuracy,
      top5_average_incremental_accuracy: s?.top5?.averageIncrementalAccuracy,
      total_ms: s?.totalMs,
      cl_version: p?.cl.version ?? r.clVersion,
      cl_commit: p?.cl.commit,
      node: p?.node,
      tfjs: p?.packages['@tensorflow/tfjs'],
      onnxruntime: p?.packages['onnxruntime-node'],
      cpu: p?.cpu.model,
      host: p?.host ?? r.host,
      started_at: p?.startedAt,
      ended_at: p?.endedAt,
      ...optionColumns(r),
    };
  });
}

/** One row per run × increment × training phase × epoch. */
export function lossRows(runs: RunRecord[]): Record<string, Cell>[] {
  const rows: Record<string, Cell>[] = [];
  for (const r of runs) {
    for (const inc of [...r.increments].sort((a, b) => a.task - b.task)) {
      for (const [phase, losses] of Object.entries(inc.losses ?? {})) {
        losses.forEach((loss, e) => rows.push({ ...runColumns(r), task: inc.task + 1, phase, epoch: e + 1, epochs: losses.length, loss }));
      }
    }
  }
  return rows;
}

// ------------------------------------------------------------------ LaTeX

const LATEX_SPECIAL: Record<string, string> = {
  '\\': '\\textbackslash{}',
  '&': '\\&',
  '%': '\\%',
  $: '\\$',
  '#': '\\#',
  _: '\\_',
  '{': '\\{',
  '}': '\\}',
  '~': '\\textasciitilde{}',
  '^': '\\textasciicircum{}',
};

/** Text safe inside a LaTeX table cell. */
export function latexEscape(s: string): string {
  return s.replace(/[\\&%$#_{}~^]/g, (c) => LATEX_SPECIAL[c]).replace(/·/g, '$\\cdot$').replace(/Ā/g, '$\\bar{A}$');
}

interface LatexColumn {
  head: string;
  get: (g: GroupResult) => Stat | null;
  /** Which way is better. */
  best: 'max' | 'min';
}

export interface LatexOptions {
  digits?: number;
  caption?: string;
  label?: string;
}

/**
 * The comparison as a booktabs table: one row per group (n runs), mean ± sample std per column,
 * the best mean of each column (at the printed precision) in bold.
 */
export function comparisonLatex(cmp: Comparison, opts: LatexOptions = {}): string {
  const digits = opts.digits ?? 2;
  const def = cmp.forgettingDefinition;
  const columns: LatexColumn[] = [
    { head: '$A_T$ (\\%)', get: (g) => g.finalAccuracy, best: 'max' },
    { head: '$\\bar{A}$ (\\%)', get: (g) => g.averageIncrementalAccuracy, best: 'max' },
    { head: `$F_T$ (\\%)`, get: (g) => g.forgetting, best: 'min' },
    { head: 'BWT (\\%)', get: (g) => g.bwt, best: 'max' },
  ];
  if (cmp.groups.some((g) => g.taskIL)) columns.push({ head: '$A_T$ task-IL (\\%)', get: (g) => g.taskIL, best: 'max' });
  if (cmp.groups.some((g) => g.top5)) columns.push({ head: '$A_T$ top-5 (\\%)', get: (g) => g.top5, best: 'max' });
  const round = (v: number): number => Number(v.toFixed(digits));
  const bests = columns.map((c) => {
    const means = cmp.groups.map((g) => c.get(g)).filter((s): s is Stat => s !== null).map((s) => round(s.mean));
    if (means.length < 2) return null;
    return c.best === 'max' ? Math.max(...means) : Math.min(...means);
  });
  const fmt = (s: Stat | null, best: number | null): string => {
    if (!s) return '--';
    const body = s.std === null ? s.mean.toFixed(digits) : `${s.mean.toFixed(digits)} \\pm ${s.std.toFixed(digits)}`;
    return best !== null && round(s.mean) === best ? `$\\mathbf{${body}}$` : `$${body}$`;
  };
  const lines = [
    '% cl export latex: needs \\usepackage{booktabs}',
    '\\begin{table}[t]',
    '\\centering',
    // The caption is LaTeX as written (a user's --caption too).
    `\\caption{${opts.caption ?? `Mean $\\pm$ sample standard deviation over ${aggregatedOver(cmp)} ($n$ runs per row). $A_T$: final accuracy; $\\bar{A}$: average incremental accuracy (first task included); $F_T$: forgetting, ${latexEscape(FORGETTING_LABELS[def].replace(/^F \(|\)$/g, ''))}; BWT: backward transfer (GEM). Best in bold.`}}`,
    `\\label{${opts.label ?? 'tab:cl-compare'}}`,
    `\\begin{tabular}{lr${'c'.repeat(columns.length)}}`,
    '\\toprule',
    `Method & $n$ & ${columns.map((c) => c.head).join(' & ')} \\\\`,
    '\\midrule',
    ...cmp.groups.map((g) => `${latexEscape(g.group.label)} & ${g.n} & ${columns.map((c, k) => fmt(c.get(g), bests[k])).join(' & ')} \\\\`),
    '\\bottomrule',
    '\\end{tabular}',
    '\\end{table}',
  ];
  return `${lines.join('\n')}\n`;
}
