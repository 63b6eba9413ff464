/**
 * Terminal renderings of runs: `cl show` (renderRun) and `cl ls` (renderRunList).
 * Tasks are printed 1..T as in docs/protocols.md (the record stores 0-based indices).
 * Colour follows chalk's detection, so NO_COLOR and non-TTY output get plain text.
 */
import chalk from 'chalk';
import type { RunEntry } from '../store/entries.js';
import type { RunRecord } from '../types.js';
import { renderChart } from './chart.js';
import { accuracyColour, textOn } from './colour.js';
import { FORGETTING_LABELS, LABEL_AVERAGE, LABEL_BWT, LABEL_FINAL } from './labels.js';
import { plannedTasks, runSummary, wallMs } from './run-summary.js';
import { formatDuration, formatNumber } from './stats.js';
import { renderTable } from './table.js';
import { printable, printableDeep } from './printable.js';

const shortId = (id: string): string => id.slice(0, 8);

function describeOptions(options: Record<string, unknown>): string {
  const keys = Object.keys(options).sort();
  return keys.length === 0 ? '' : ` ${keys.map((k) => `${k}=${JSON.stringify(options[k])}`).join(' ')}`;
}

function listClasses(classes: number[], max = 6, names?: string[]): string {
  const show = (c: number): string => (names?.[c] !== undefined ? `${c} ${names[c]}` : String(c));
  return classes.length <= max ? classes.map(show).join(',') : `${classes.slice(0, max).map(show).join(',')},… (${classes.length})`;
}

/** Where the data came from, how it was checked, and what was left out (records that store it). */
function dataLines(record: RunRecord, kv: (k: string, v: string) => string): string[] {
  const d = record.data;
  if (!d) return [];
  const lines = [kv('data', `${d.location} (${d.verified === 'external' ? 'external features' : `verified: ${d.verified}`}${d.decode ? `; decoded ${d.decode}` : ''})`)];
  if (d.files) for (const [f, sha] of Object.entries(d.files)) lines.push(kv('', `${f} sha256 ${sha}`));
  const skipped = d.skippedImages ?? [];
  if (skipped.length > 0) {
    lines.push(kv('skipped', chalk.yellow(`${skipped.length} unreadable image${skipped.length === 1 ? '' : 's'} left out (--skip-bad-images):`)));
    for (const b of skipped.slice(0, 10)) lines.push(kv('', `${b.split}/${b.file}: ${b.error}`));
    if (skipped.length > 10) lines.push(kv('', `… and ${skipped.length - 10} more (cl show --json lists all)`));
  }
  return lines;
}

/** One heatmap cell: the accuracy on a background coloured by its value. */
function heatCell(v: number | null | undefined): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '';
  const bg = accuracyColour(v);
  const fg = textOn(bg);
  return chalk.bgRgb(...bg).rgb(...fg)(` ${v.toFixed(1).padStart(5)} `);
}

function header(record: RunRecord): string {
  const s = record.scenario;
  const b = record.backbone;
  const kv = (k: string, v: string): string => `  ${chalk.dim(k.padEnd(9))} ${v}`;
  const status = record.status === 'finished' ? chalk.green(record.status) : record.status === 'running' ? chalk.yellow(record.status) : chalk.red(record.status);
  const lines = [
    `${chalk.bold(`Run ${record.id}`)}  ${status}`,
    kv('scenario', `${s.name} (dataset ${s.dataset}, split ${s.split}, ${s.taskClasses.length} tasks)`),
    kv('order', `${s.order.id}${s.order.seed !== null ? ` (order seed ${s.order.seed})` : ''}: ${listClasses(s.order.classes, 10)}`),
    kv('method', `${record.method}${describeOptions(record.methodOptions)}`),
    kv('backbone', `${b.id} (dim ${b.dim}, preprocessing ${b.preprocessing}${b.preprocessingEngine ? ` in ${b.preprocessingEngine}` : ''}, feature cache ${b.featureCacheId})`),
    ...dataLines(record, kv),
    kv('backend', record.backend),
    kv('seed', `${record.trainSeed} (trainSeed)`),
    kv('version', `cl ${record.clVersion}`),
    kv('created', `${record.createdAt} (updated ${record.updatedAt}, pid ${record.pid} on ${record.host})`),
    kv('command', record.command.join(' ')),
    ...(record.resumes ?? []).map((r) => kv('resumed', `${r.at} by pid ${r.pid}, from task ${r.fromTask + 1} (tasks 1..${r.fromTask} replayed and checked)`)),
  ];
  if (record.error) lines.push(kv('error', chalk.red(record.error)));
  return lines.join('\n');
}

function matrix(record: RunRecord): string {
  const incs = [...record.increments].sort((a, b) => a.task - b.task);
  const T = plannedTasks(record);
  const cols = Math.max(T, ...incs.map((i) => i.accuracyRow.length));
  const head = ['after', ...Array.from({ length: cols }, (_, j) => `task ${j + 1}`)];
  const rows = incs.map((inc) => [`task ${inc.task + 1}`, ...Array.from({ length: cols }, (_, j) => heatCell(inc.accuracyRow[j]))]);
  return `${chalk.bold('Accuracy matrix R[t][j]')} ${chalk.dim('(%, row t = after training task t, column j = test classes of task j)')}\n${renderTable(head, rows, { gap: ' ' })}`;
}

function perIncrement(record: RunRecord): string {
  const incs = [...record.increments].sort((a, b) => a.task - b.task);
  const rows = incs.map((inc) => [
    String(inc.task + 1),
    listClasses(inc.classes, record.data?.classNames ? 3 : 6, record.data?.classNames),
    String(inc.seenClasses),
    formatNumber(inc.accuracy),
    formatNumber(inc.oldAccuracy),
    formatNumber(inc.newAccuracy),
    formatDuration(inc.learnMs),
    formatDuration(inc.evalMs),
  ]);
  const head = ['task', 'new classes', 'seen', 'A_t %', 'old %', 'new %', 'learn', 'eval'];
  return `${chalk.bold('Per increment')}\n${renderTable(head, rows, { align: ['right', 'left'] })}`;
}

/** Secondary decision rules of the learner (e.g. WA before alignment, NME), scored on the same samples. */
function extras(record: RunRecord): string | null {
  const incs = [...record.increments].sort((a, b) => a.task - b.task);
  const names = [...new Set(incs.flatMap((inc) => Object.keys(inc.extra ?? {})))];
  if (names.length === 0) return null;
  const head = ['task', 'headline A_t %', ...names.flatMap((n) => [`${n} A_t %`, `${n} old %`, `${n} new %`])];
  const rows = incs.map((inc) => [
    String(inc.task + 1),
    formatNumber(inc.accuracy),
    ...names.flatMap((n) => {
      const e = inc.extra?.[n];
      return [formatNumber(e?.accuracy), formatNumber(e?.oldAccuracy), formatNumber(e?.newAccuracy)];
    }),
  ]);
  return `${chalk.bold('Secondary decision rules')} ${chalk.dim('(same test samples; the headline is the method\'s own rule)')}\n${renderTable(head, rows, { align: ['right'] })}`;
}

function curve(record: RunRecord): string {
  const incs = [...record.increments].sort((a, b) => a.task - b.task);
  return renderChart([{ name: 'A_t', points: incs.map((inc) => ({ x: inc.seenClasses, y: inc.accuracy })) }], {
    title: 'A_t (accuracy on all seen classes, %) per increment',
    xLabel: 'classes seen',
    yUnit: '%',
    width: Math.min(60, Math.max(20, incs.length * 4)),
    height: 8,
  });
}

function summaryBlock(record: RunRecord): string {
  const s = runSummary(record);
  const T = plannedTasks(record);
  if (!s) return `${chalk.bold('Summary')}\n  (no increment finished yet)`;
  const partial = s.tasks < T ? chalk.yellow(` after ${s.tasks} of ${T} tasks (run incomplete)`) : '';
  const rows: [string, string][] = [
    [LABEL_FINAL, `${formatNumber(s.finalAccuracy)} %`],
    [LABEL_AVERAGE, `${formatNumber(s.averageIncrementalAccuracy)} %`],
    [FORGETTING_LABELS['max-prev'], formatNumber(s.forgetting['max-prev'])],
    [FORGETTING_LABELS['max-all'], formatNumber(s.forgetting['max-all'])],
    [FORGETTING_LABELS.first, formatNumber(s.forgetting.first)],
    [LABEL_BWT, formatNumber(s.bwt)],
    ['wall time', formatDuration(wallMs(record))],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return [`${chalk.bold('Summary')}${partial}`, ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v.padStart(9)}`)].join('\n');
}

/** Everything `cl show <id>` prints about one run. */
export function renderRun(raw: RunRecord): string {
  const record = printableDeep(raw);
  const parts = [header(record)];
  if (record.increments.length > 0) {
    parts.push(matrix(record), perIncrement(record));
    const ex = extras(record);
    if (ex) parts.push(ex);
    parts.push(curve(record));
  }
  parts.push(summaryBlock(record));
  return `${parts.join('\n\n')}\n`;
}

export interface RunListOptions {
  /** Status to display (e.g. the store's effectiveStatus, which spots dead "running" runs); default entry.status. */
  statusOf?: (entry: RunEntry) => string;
}

/** The `cl ls` table from the store's index entries (no record is read): one line per run, in the order given. */
export function renderRunList(entries: RunEntry[], opts: RunListOptions = {}): string {
  if (entries.length === 0) return 'no runs in the store\n';
  const statusOf = opts.statusOf ?? ((r: RunEntry) => r.status);
  // Only the text shown is made printable (not the whole entry: at 100,000 runs that copy cost
  // more than the rest of the table).
  const rows = entries.map((r) => {
    const st = printable(statusOf(r));
    const colour = st === 'finished' ? chalk.green : st === 'running' ? chalk.yellow : chalk.red;
    return [
      printable(shortId(r.id)),
      printable(r.createdAt.replace('T', ' ').replace(/\.\d+Z$|Z$/, '')),
      colour(st),
      `${printable(r.scenario.name)} ${chalk.dim(printable(r.scenario.split))}`,
      printable(r.method),
      printable(r.backbone.id),
      formatNumber(r.finalAccuracy),
      formatNumber(r.averageIncrementalAccuracy),
      `${r.tasksDone}/${r.scenario.tasks}`,
    ];
  });
  const head = ['id', 'created (UTC)', 'status', 'scenario', 'method', 'backbone', 'A_T %', 'Ā %', 'tasks'];
  const legend = chalk.dim(`A_T = final accuracy; Ā = average incremental accuracy (first task included)`);
  return `${renderTable(head, rows, { align: ['left', 'left', 'left', 'left', 'left', 'left', 'right', 'right', 'right'] })}\n${legend}\n`;
}
