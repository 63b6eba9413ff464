/**
 * `cl compare`: select runs, group the runs that differ only in their seeds, aggregate mean ± sample
 * std per group, and build the curves (A_t, F_t, per-task R[t][j]) that the terminal, the plots and
 * the HTML report draw.
 */
import chalk from 'chalk';
import { UserError } from '../errors.js';
import type { ForgettingDefinition, RunRecord } from '../types.js';
import { baselineSeenClasses, type Baseline } from './baselines.js';
import { renderChart, type ChartSeries } from './chart.js';
import { FORGETTING_LABELS, LABEL_AVERAGE, LABEL_BWT, LABEL_FINAL, LABEL_TASK_IL, LABEL_TOP5 } from './labels.js';
import { plannedTasks, runSummary, wallMs } from './run-summary.js';
import { formatDuration, formatStat, stat, type Stat } from './stats.js';
import { renderTable } from './table.js';
import { printableDeep } from './printable.js';

export interface RunSelection<R extends Selectable = RunRecord> {
  /** Run ids or unique id prefixes. */
  ids?: string[];
  scenario?: string;
  method?: string;
  backbone?: string;
  /** Keep only the N most recent runs (by creation time) after the other filters. */
  last?: number;
  /** Without ids only finished runs are taken; set to take unfinished ones too. */
  includeUnfinished?: boolean;
  /** Status to judge "finished" by (the store's effectiveStatus); default record.status. */
  statusOf?: (record: R) => string;
}

/** What selection looks at: a whole run record, or its index entry in the store (store/entries.ts). */
export type Selectable = {
  id: string;
  createdAt: string;
  status: string;
  method: string;
  scenario: { name: string };
  backbone: { id: string };
} & ({ increments: unknown[] } | { tasksDone: number });

const tasksStored = (r: Selectable): number => ('tasksDone' in r ? r.tasksDone : r.increments.length);

function describeSelection<R extends Selectable>(sel: RunSelection<R>): string {
  const parts = [
    sel.ids?.length ? `ids ${sel.ids.join(', ')}` : '',
    sel.scenario ? `--scenario ${sel.scenario}` : '',
    sel.method ? `--method ${sel.method}` : '',
    sel.backbone ? `--backbone ${sel.backbone}` : '',
    sel.last ? `--last ${sel.last}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join(' ') : 'no filter';
}

/** Pick the runs to compare (see RunSelection); throws a UserError when an id is unknown or nothing matches. */
export function selectRuns<R extends Selectable>(records: R[], sel: RunSelection<R>): R[] {
  const statusOf = sel.statusOf ?? ((r: R) => r.status);
  let runs: R[];
  if (sel.ids && sel.ids.length > 0) {
    runs = sel.ids.map((id) => {
      const hits = records.filter((r) => r.id === id || r.id.startsWith(id));
      const exact = hits.find((r) => r.id === id);
      if (exact) return exact;
      if (hits.length === 0) throw new UserError(`no run with id "${id}" in the store`, 'list the runs with `cl ls`');
      if (hits.length > 1) throw new UserError(`run id prefix "${id}" is ambiguous (${hits.map((r) => r.id.slice(0, 12)).join(', ')})`, 'give more characters of the id');
      return hits[0];
    });
    runs = runs.filter((r, i) => runs.indexOf(r) === i);
  } else {
    runs = records.filter((r) => sel.includeUnfinished || statusOf(r) === 'finished');
  }
  runs = runs.filter(
    (r) =>
      tasksStored(r) > 0 &&
      (!sel.scenario || r.scenario.name === sel.scenario) &&
      (!sel.method || r.method === sel.method) &&
      (!sel.backbone || r.backbone.id === sel.backbone),
  );
  // ISO timestamps of one format: code-point order is time order (and 100x faster than localeCompare).
  runs.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  if (sel.last !== undefined) runs = runs.slice(Math.max(0, runs.length - sel.last));
  if (runs.length === 0) {
    throw new UserError(`no runs with results match the selection (${describeSelection(sel)})`, 'list the runs with `cl ls`; unfinished runs are only compared when named by id');
  }
  return runs;
}

/**
 * Everything that makes runs comparable; runs in one group differ only in their seed and class
 * order (docs/protocols.md "Aggregating over orders and seeds"), unless the comparison is split by them.
 */
export interface GroupKey {
  scenario: string;
  dataset: string;
  split: string;
  method: string;
  methodOptions: Record<string, unknown>;
  backbone: string;
  /** Only when split by order. */
  order?: string;
  /** Only when split by seed. */
  seed?: number;
}

/** Factors a comparison may keep apart instead of aggregating over them. */
export type SplitFactor = 'order' | 'seed';

export interface RunGroup {
  key: GroupKey;
  /** Canonical string of the key. */
  id: string;
  /** Short legend name: method plus whatever differs between the groups being compared. */
  label: string;
  runs: RunRecord[];
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function groupKey(r: RunRecord, split: readonly SplitFactor[] = []): GroupKey {
  return {
    scenario: r.scenario.name,
    dataset: r.scenario.dataset,
    split: r.scenario.split,
    method: r.method,
    methodOptions: r.methodOptions,
    backbone: r.backbone.id,
    ...(split.includes('order') ? { order: r.scenario.order.id } : {}),
    ...(split.includes('seed') ? { seed: r.trainSeed } : {}),
  };
}

function labels(keys: GroupKey[]): string[] {
  const differs = (f: (k: GroupKey) => string): boolean => new Set(keys.map(f)).size > 1;
  // Options are named only where they tell groups of the same method apart ("nmc · variant=…").
  const varyingFor = (method: string): string[] => {
    const same = keys.filter((k) => k.method === method);
    const optionKeys = [...new Set(same.flatMap((k) => Object.keys(k.methodOptions)))].sort();
    return optionKeys.filter((o) => new Set(same.map((k) => canonical(k.methodOptions[o]))).size > 1);
  };
  return keys.map((k) => {
    const parts = [k.method];
    for (const o of varyingFor(k.method)) {
      if (!(o in k.methodOptions)) continue;
      const v = k.methodOptions[o];
      parts.push(`${o}=${typeof v === 'string' ? v : canonical(v)}`);
    }
    if (differs((x) => x.backbone)) parts.push(k.backbone);
    if (differs((x) => x.scenario) || differs((x) => x.split)) parts.push(`${k.scenario} ${k.split}`);
    if (k.order !== undefined && differs((x) => x.order ?? '')) parts.push(`order ${k.order}`);
    if (k.seed !== undefined && differs((x) => String(x.seed))) parts.push(`seed ${k.seed}`);
    return parts.join(' · ');
  });
}

/**
 * Group runs by everything but the seed and the class order (scenario, split, method, method
 * options, backbone), in first-seen order; `split` keeps orders and/or seeds apart.
 */
export function groupRuns(runs: RunRecord[], split: readonly SplitFactor[] = []): RunGroup[] {
  const byId = new Map<string, { key: GroupKey; runs: RunRecord[] }>();
  for (const r of runs) {
    const key = groupKey(r, split);
    const id = canonical(key);
    const g = byId.get(id);
    if (g) g.runs.push(r);
    else byId.set(id, { key, runs: [r] });
  }
  const entries = [...byId.entries()];
  const names = labels(entries.map(([, g]) => g.key));
  return entries.map(([id, g], i) => ({ key: g.key, id, label: names[i], runs: g.runs }));
}

/** One point of a mean curve; `task` is 1-based as in docs/protocols.md. */
export interface CurvePoint {
  task: number;
  seenClasses: number;
  stat: Stat;
}

export interface GroupResult {
  group: RunGroup;
  /** Number of runs aggregated. */
  n: number;
  /** Distinct seeds and class orders of the runs, in first-seen order. */
  seeds: number[];
  orders: string[];
  /** Fewest increments any run of the group finished, and the scenario's number of tasks. */
  tasksDone: number;
  tasksPlanned: number;
  finalAccuracy: Stat | null;
  averageIncrementalAccuracy: Stat | null;
  forgetting: Stat | null;
  bwt: Stat | null;
  wallMs: Stat | null;
  /** Task-IL and top-5 A_T (runs of learners with class scores). */
  taskIL: Stat | null;
  top5: Stat | null;
  /** Mean A_t per increment. */
  accuracyCurve: CurvePoint[];
  /** Mean F_t (chosen definition) for t = 2..T. */
  forgettingCurve: CurvePoint[];
  /** Mean R[t][j] over t ≥ j, one curve per task j (1-based). */
  perTask: { task: number; points: CurvePoint[] }[];
}

export interface Comparison {
  forgettingDefinition: ForgettingDefinition;
  groups: GroupResult[];
  /** Published entries matching the runs (already filtered by the matching rule). */
  baselines: Baseline[];
}

function aggregate(group: RunGroup, def: ForgettingDefinition): GroupResult {
  const runs = group.runs;
  const summaries = runs.map(runSummary);
  const maxTasks = Math.max(...runs.map((r) => r.increments.length));
  const incAt = (r: RunRecord, t: number) => r.increments.find((inc) => inc.task === t);
  const seenAt = (t: number): number => runs.map((r) => incAt(r, t)?.seenClasses).find((v) => v !== undefined) ?? t + 1;
  const point = (t: number, values: (number | null | undefined)[]): CurvePoint | null => {
    const s = stat(values);
    return s ? { task: t + 1, seenClasses: seenAt(t), stat: s } : null;
  };
  const accuracyCurve: CurvePoint[] = [];
  const forgettingCurve: CurvePoint[] = [];
  for (let t = 0; t < maxTasks; t++) {
    const a = point(t, runs.map((r) => incAt(r, t)?.accuracy));
    if (a) accuracyCurve.push(a);
    if (t > 0) {
      const f = point(t, summaries.map((s) => s?.forgettingCurve[def][t - 1]));
      if (f) forgettingCurve.push(f);
    }
  }
  const perTask: GroupResult['perTask'] = [];
  for (let j = 0; j < maxTasks; j++) {
    const points: CurvePoint[] = [];
    for (let t = j; t < maxTasks; t++) {
      const p = point(t, runs.map((r) => incAt(r, t)?.accuracyRow[j]));
      if (p) points.push(p);
    }
    perTask.push({ task: j + 1, points });
  }
  return {
    group,
    n: runs.length,
    seeds: [...new Set(runs.map((r) => r.trainSeed))],
    orders: [...new Set(runs.map((r) => r.scenario.order.id))],
    tasksDone: Math.min(...runs.map((r) => r.increments.length)),
    tasksPlanned: Math.max(...runs.map(plannedTasks)),
    finalAccuracy: stat(summaries.map((s) => s?.finalAccuracy)),
    averageIncrementalAccuracy: stat(summaries.map((s) => s?.averageIncrementalAccuracy)),
    forgetting: stat(summaries.map((s) => s?.forgetting[def])),
    bwt: stat(summaries.map((s) => s?.bwt)),
    wallMs: stat(runs.map(wallMs)),
    taskIL: stat(summaries.map((s) => s?.taskIL?.finalAccuracy)),
    top5: stat(summaries.map((s) => s?.top5?.finalAccuracy)),
    accuracyCurve,
    forgettingCurve,
    perTask,
  };
}

export interface CompareOptions {
  forgetting?: ForgettingDefinition;
  /** Keep class orders and/or seeds apart (default: aggregate over both). */
  split?: readonly SplitFactor[];
  /** Published entries already matched to these runs (matchingBaselines). */
  baselines?: Baseline[];
}

export function compareRuns(runs: RunRecord[], opts: CompareOptions = {}): Comparison {
  const def = opts.forgetting ?? 'max-prev';
  return { forgettingDefinition: def, groups: groupRuns(runs, opts.split ?? []).map((g) => aggregate(g, def)), baselines: opts.baselines ?? [] };
}

/** Published results grouped into one row per (method, setting): A_T, Ā and the A_t curve side by side. */
export interface PublishedRow {
  label: string;
  method: string;
  setting: string;
  finalAccuracy: Baseline | null;
  averageIncrementalAccuracy: Baseline | null;
  curve: Baseline | null;
}

export function publishedRows(baselines: Baseline[]): PublishedRow[] {
  const rows = new Map<string, PublishedRow>();
  for (const b of baselines) {
    const setting = `${b.dataset} ${b.split}, ${b.order}, ${b.backbone}`;
    const key = `${b.method}|${setting}`;
    let row = rows.get(key);
    if (!row) {
      row = { label: `${b.method} (published)`, method: b.method, setting, finalAccuracy: null, averageIncrementalAccuracy: null, curve: null };
      rows.set(key, row);
    }
    if (b.metric === 'A_T') row.finalAccuracy = b;
    else if (b.metric === 'A_avg') row.averageIncrementalAccuracy = b;
    else row.curve = b;
  }
  return [...rows.values()];
}

/** A published value with a dagger when its number or its reading is not verified. */
export function publishedValue(b: Baseline | null): string {
  if (!b) return '–';
  return `${b.values[0].toFixed(2)}${b.status === 'verified' ? '' : '†'}`;
}

/** The A_t series (mean per group, then published curves dashed) in chart form. */
export function accuracySeries(cmp: Comparison): ChartSeries[] {
  const runs = cmp.groups.map((g) => ({ name: g.group.label, points: g.accuracyCurve.map((p) => ({ x: p.seenClasses, y: p.stat.mean })) }));
  const published = publishedRows(cmp.baselines)
    .filter((r) => r.curve)
    .map((r) => {
      const b = r.curve as Baseline;
      const xs = baselineSeenClasses(b);
      return { name: r.label, dashed: true, points: b.values.map((y, i) => ({ x: xs[i], y })) };
    });
  return [...runs, ...published];
}

/**
 * What the groups' statistics run over: "class orders and seeds", "seeds", "class orders" or
 * "nothing (one run per group)". A factor counts when it is not split off and actually varies
 * inside some group (a study of one seed and three orders runs over class orders only).
 */
export function aggregatedOver(cmp: Comparison): string {
  const varies = (f: (r: RunRecord) => string): boolean => cmp.groups.some((g) => new Set(g.group.runs.map(f)).size > 1);
  const orders = varies((r) => r.scenario.order.id);
  const seeds = varies((r) => String(r.trainSeed));
  if (orders && seeds) return 'class orders and seeds';
  if (orders) return 'class orders';
  if (seeds) return 'seeds';
  return 'nothing (one run per group)';
}

/** Terminal rendering: the comparison table, its legend, published footnotes, and the two curve charts. */
export function renderComparison(raw: Comparison): string {
  const cmp = printableDeep(raw);
  const def = cmp.forgettingDefinition;
  const scoped = cmp.groups.some((g) => g.taskIL || g.top5);
  const head = ['group', 'n', 'orders', 'seeds', 'tasks', 'A_T %', 'Ā %', `F[${def}]`, 'BWT', ...(scoped ? ['A_T task-IL', 'A_T top-5'] : []), 'wall time'];
  const rows = cmp.groups.map((g) => [
    g.group.label,
    String(g.n),
    g.orders.join(','),
    g.seeds.join(','),
    g.tasksDone === g.tasksPlanned ? String(g.tasksPlanned) : chalk.yellow(`${g.tasksDone}/${g.tasksPlanned}`),
    formatStat(g.finalAccuracy),
    formatStat(g.averageIncrementalAccuracy),
    formatStat(g.forgetting),
    formatStat(g.bwt),
    ...(scoped ? [formatStat(g.taskIL), formatStat(g.top5)] : []),
    g.wallMs ? formatDuration(g.wallMs.mean) : '–',
  ]);
  const published = publishedRows(cmp.baselines);
  for (const p of published) {
    rows.push([chalk.italic(p.label), '', '', '', '', publishedValue(p.finalAccuracy), publishedValue(p.averageIncrementalAccuracy), '', '', ...(scoped ? ['', ''] : []), '']);
  }
  const out = [renderTable(head, rows, { align: ['left', 'right', 'left', 'left'], headerStyle: chalk.bold })];
  const legend = [
    `${LABEL_FINAL}; ${LABEL_AVERAGE}`,
    `F[${def}] = ${FORGETTING_LABELS[def]}; ${LABEL_BWT}${scoped ? `; ${LABEL_TASK_IL}; ${LABEL_TOP5}` : ''}`,
    `n runs per group: mean ± sample std (n − 1) over ${aggregatedOver(cmp)}; a single run shows no ±`,
  ];
  out.push(chalk.dim(legend.join('\n')));
  const cited = cmp.baselines;
  if (cited.length > 0) {
    const notes = cited.map((b) => `  ${b.metric === 'A_avg' ? 'Ā' : b.metric} ${b.method}, ${b.split} ${b.order} ${b.backbone}: ${b.status === 'verified' ? '' : '† '}${b.statusNote}${b.metricNote ? ` (${b.metricNote})` : ''}; ${b.source}`);
    out.push(chalk.dim(['published (drawn dashed; † = not verified):', ...notes].join('\n')));
  }
  out.push(
    renderChart(accuracySeries(cmp), { title: `A_t (accuracy on all seen classes, %), mean over ${aggregatedOver(cmp)}`, xLabel: 'classes seen', yUnit: '%', height: 10 }),
  );
  const fSeries: ChartSeries[] = cmp.groups
    .filter((g) => g.forgettingCurve.length > 0)
    .map((g) => ({ name: g.group.label, points: g.forgettingCurve.map((p) => ({ x: p.task, y: p.stat.mean })) }));
  if (fSeries.length > 0) {
    out.push(renderChart(fSeries, { title: `${FORGETTING_LABELS[def]} after each task (points), mean over ${aggregatedOver(cmp)}`, xLabel: 'task', height: 8 }));
  }
  return `${out.join('\n\n')}\n`;
}

/** A JSON-friendly form of the comparison (`cl compare --json`): run ids instead of whole records. */
export function comparisonJson(cmp: Comparison): unknown {
  return {
    forgettingDefinition: cmp.forgettingDefinition,
    metrics: { finalAccuracy: LABEL_FINAL, averageIncrementalAccuracy: LABEL_AVERAGE, forgetting: FORGETTING_LABELS[cmp.forgettingDefinition], bwt: LABEL_BWT },
    groups: cmp.groups.map(({ group, ...rest }) => ({ label: group.label, key: group.key, runs: group.runs.map((r) => r.id), ...rest })),
    published: cmp.baselines.map(({ file: _file, ...b }) => b),
  };
}

