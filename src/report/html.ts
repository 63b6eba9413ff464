/**
 * `cl compare --html out.html`: one self-contained page (no network; opens from disk). It inlines
 * vega's browser build and draws the pre-compiled vega specs of the three curve kinds (A_t, F_t,
 * per-task R[t][j]) as interactive SVG (tooltips; click a legend entry to highlight a series), next
 * to the comparison table, an accuracy-matrix heatmap per run and every run's configuration.
 * All text from records and baselines is HTML-escaped, control characters shown as visible escapes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { RunRecord } from '../types.js';
import { accuracyColour, rgbCss, textOn } from './colour.js';
import { aggregatedOver, publishedRows, publishedValue, type Comparison } from './compare.js';
import { FORGETTING_LABELS, LABEL_AVERAGE, LABEL_BWT, LABEL_FINAL, LABEL_TASK_IL, LABEL_TOP5 } from './labels.js';
import { compileSpec, panelSpecs, PANEL_TITLES, standaloneSpec } from './plot.js';
import { runSummary } from './run-summary.js';
import { formatDuration, formatNumber, formatStat } from './stats.js';
import { printable, printableDeep } from './printable.js';

/**
 * A_t and F_t as Aₜ and Fₜ in the chart specs: vega draws text as it is, and Unicode has a
 * subscript t (not a capital T; the static figures use real subscripts instead, src/report/figure.ts).
 */
const unicodeSubscripts = (json: string): string => json.replace(/\b([AF])_t\b/g, '$1\u209c');

/** "A_T" → A<sub>T</sub> in already escaped HTML text. */
export function subscriptHtml(s: string): string {
  return s.replace(/([A-Za-zĀ])_([A-Za-z0-9]+)/g, '$1<sub>$2</sub>');
}

/** HTML-escaped text, with control characters shown as visible escapes (see printable). */
export function escapeHtml(s: string): string {
  return printable(s, { keepNewlines: true }).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** JSON safe to place inside a <script> element. */
const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/** vega's minified browser build, shipped in the vega package next to its module entry. */
export function vegaBrowserBuild(): string {
  const entry = createRequire(import.meta.url).resolve('vega');
  return fs.readFileSync(path.join(path.dirname(entry), 'vega.min.js'), 'utf8').replace(/<\/script/gi, '<\\/script');
}

const STYLE = `
body { font-family: 'DejaVu Sans', system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; } h3 { font-size: 1rem; }
table { border-collapse: collapse; margin: 0.5rem 0; font-variant-numeric: tabular-nums; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.published td { font-style: italic; color: #555; }
table.heatmap td { min-width: 3.2rem; text-align: center; border: 1px solid #fff; }
.note { color: #666; font-size: 0.85rem; }
.chart { margin: 1rem 0; }
pre { background: #f6f6f6; padding: 0.6rem; overflow-x: auto; font-size: 0.8rem; }
`;

function summaryTable(cmp: Comparison): string {
  const def = cmp.forgettingDefinition;
  const head = ['group', 'n', 'orders', 'seeds', 'tasks', 'A_T (%)', 'Ā (%)', `F_T ${def} (%)`, 'BWT', 'A_T task-IL (%)', 'A_T top-5 (%)', 'wall time'];
  const rows = cmp.groups.map((g) =>
    [
      g.group.label,
      String(g.n),
      g.orders.join(', '),
      g.seeds.join(', '),
      g.tasksDone === g.tasksPlanned ? String(g.tasksPlanned) : `${g.tasksDone}/${g.tasksPlanned}`,
      formatStat(g.finalAccuracy),
      formatStat(g.averageIncrementalAccuracy),
      formatStat(g.forgetting),
      formatStat(g.bwt),
      formatStat(g.taskIL),
      formatStat(g.top5),
      g.wallMs ? formatDuration(g.wallMs.mean) : '–',
    ],
  );
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`);
  for (const p of publishedRows(cmp.baselines)) {
    const cells = [p.label, '', '', '', '', publishedValue(p.finalAccuracy), publishedValue(p.averageIncrementalAccuracy), '', '', '', '', ''];
    body.push(`<tr class="published">${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`);
  }
  return `<table id="summary"><thead><tr>${head.map((h) => `<th>${subscriptHtml(escapeHtml(h))}</th>`).join('')}</tr></thead><tbody>${body.join('')}</tbody></table>
<p class="note">${subscriptHtml(escapeHtml(`${LABEL_FINAL}; ${LABEL_AVERAGE}; F_T ${def} = ${FORGETTING_LABELS[def]}; ${LABEL_BWT}; ${LABEL_TASK_IL}; ${LABEL_TOP5}. n runs per group: mean ± sample standard deviation (n − 1) over ${aggregatedOver(cmp)}; a single run shows no ±.`))}</p>`;
}

function publishedNotes(cmp: Comparison): string {
  if (cmp.baselines.length === 0) return '';
  const items = cmp.baselines.map(
    (b) =>
      `<li>${escapeHtml(`${b.method}: ${b.metric === 'A_avg' ? 'Ā' : b.metric} on ${b.dataset} ${b.split}, order ${b.order}, ${b.backboneName}. Status: ${b.statusNote}${b.metricNote ? ` (metric: ${b.metricNote})` : ''}. Source: ${b.source}. `)}<a href="${escapeHtml(b.url)}">${escapeHtml(b.citation)}</a></li>`,
  );
  return `<h3>Published results (drawn dashed; † = not verified)</h3><ul class="note">${items.join('')}</ul>`;
}

function heatmap(run: RunRecord): string {
  const incs = [...run.increments].sort((a, b) => a.task - b.task);
  const cols = Math.max(run.scenario.taskClasses.length, ...incs.map((i) => i.accuracyRow.length));
  const head = `<tr><th>after \\ on</th>${Array.from({ length: cols }, (_, j) => `<th>task ${j + 1}</th>`).join('')}<th>A_t (%)</th></tr>`;
  const rows = incs.map((inc) => {
    const cells = Array.from({ length: cols }, (_, j) => {
      const v = inc.accuracyRow[j];
      if (typeof v !== 'number' || !Number.isFinite(v)) return '<td></td>';
      const bg = accuracyColour(v);
      return `<td style="background:${rgbCss(bg)};color:${rgbCss(textOn(bg))}" title="R[${inc.task + 1}][${j + 1}] = ${v.toFixed(2)} %">${v.toFixed(1)}</td>`;
    });
    return `<tr><th>task ${inc.task + 1}</th>${cells.join('')}<td>${formatNumber(inc.accuracy)}</td></tr>`;
  });
  return `<table class="heatmap" data-run="${escapeHtml(run.id)}"><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

/**
 * The confusion matrix after the run's last increment, drawn by the page script on a canvas (true
 * class rows, predicted class columns, classes in class order; darker = more test samples).
 */
function confusionBlock(run: RunRecord): string {
  const last = [...run.increments].sort((a, b) => a.task - b.task).at(-1);
  if (!last?.confusion) return '';
  const c = last.confusion;
  return `<details><summary>confusion matrix after task ${last.task + 1} (${c.labels.length} classes)</summary>
<p class="note">Row = true class, column = predicted class, both in class order (task boundaries as grid lines); shade = share of the row's test samples (white 0, black all). The diagonal is the correct predictions.</p>
<canvas class="confusion" data-run="${escapeHtml(run.id)}" width="${Math.min(600, c.labels.length * 6)}" height="${Math.min(600, c.labels.length * 6)}"></canvas>
<script type="application/json" data-confusion="${escapeHtml(run.id)}">${scriptJson({ ...c, bounds: run.scenario.taskClasses.slice(0, last.task + 1).map((t) => t.length) })}</script>
</details>`;
}

function runSection(run: RunRecord, label: string): string {
  const s = runSummary(run);
  const config = run.config ?? {
    scenario: { name: run.scenario.name, dataset: run.scenario.dataset, split: run.scenario.split, order: run.scenario.order.id, orderSeed: run.scenario.order.seed },
    method: run.method,
    methodOptions: run.methodOptions,
    trainSeed: run.trainSeed,
    backbone: run.backbone,
    ...(run.data ? { data: run.data } : {}),
    backend: run.backend,
    clVersion: run.clVersion,
    status: run.status,
    createdAt: run.createdAt,
    command: run.command.join(' '),
  };
  const line = s
    ? `A_T ${formatNumber(s.finalAccuracy)} %, Ā ${formatNumber(s.averageIncrementalAccuracy)} %, F max-prev ${formatNumber(s.forgetting['max-prev'])}, BWT ${formatNumber(s.bwt)}`
    : 'no summary';
  return `<section class="run" id="run-${escapeHtml(run.id)}">
<h3>${escapeHtml(`${label}, seed ${run.trainSeed}`)} <span class="note">${escapeHtml(run.id)}</span></h3>
<p class="note">${escapeHtml(line)}</p>
${heatmap(run)}
${confusionBlock(run)}
<details><summary>configuration${run.config ? ' (cl run --config repeats it)' : ''}</summary><pre>${escapeHtml(JSON.stringify(config, null, 2))}</pre></details>
${run.config && run.data ? `<details><summary>data read (classes, files, skipped images)</summary><pre>${escapeHtml(JSON.stringify(run.data, null, 2))}</pre></details>` : ''}
${run.provenance ? `<details><summary>provenance</summary><pre>${escapeHtml(JSON.stringify(run.provenance, null, 2))}</pre></details>` : ''}
</section>`;
}

export interface HtmlOptions {
  title?: string;
  /** Shown in the page header (default: now). */
  generatedAt?: Date;
}

export function renderHtml(raw: Comparison, opts: HtmlOptions = {}): string {
  const cmp = printableDeep(raw);
  const title = opts.title ?? 'cl comparison report';
  const panels = panelSpecs(cmp, { interactive: true, panelWidth: 480 });
  const charts = [
    { kind: 'accuracy', title: PANEL_TITLES.accuracy, spec: compileSpec(standaloneSpec(panels.accuracy)) },
    { kind: 'forgetting', title: `${PANEL_TITLES.forgetting}, ${FORGETTING_LABELS[cmp.forgettingDefinition]}`, spec: compileSpec(standaloneSpec(panels.forgetting)) },
    { kind: 'per-task', title: PANEL_TITLES.perTask, spec: compileSpec(standaloneSpec(panels.perTask)) },
  ];
  const chartDivs = charts
    .map((c) => `<div class="chart" data-curve="${c.kind}" aria-label="${escapeHtml(c.title)}"></div>\n<script type="application/json" data-spec="${c.kind}">${unicodeSubscripts(scriptJson(c.spec))}</script>`)
    .join('\n');
  const runs = cmp.groups.flatMap((g) => g.group.runs.map((r) => runSection(r, g.group.label)));
  const generated = (opts.generatedAt ?? new Date()).toISOString();
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
<script>${vegaBrowserBuild()}</script>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="note">${escapeHtml(`Generated ${generated} by cl. ${cmp.groups.reduce((n, g) => n + g.group.runs.length, 0)} runs in ${cmp.groups.length} groups (runs that differ only in their class order and seed are grouped: ${aggregatedOver(cmp)}).`)}</p>
<h2>Summary</h2>
${summaryTable(cmp)}
${publishedNotes(cmp)}
<h2>Curves</h2>
<p class="note">Lines are the mean over the runs of a group (${escapeHtml(aggregatedOver(cmp))}); the shaded band is ± 1 sample standard deviation around it (no band for a single run). Hover a point for its value and n; click a legend entry to highlight that series (click empty space to reset).</p>
${chartDivs}
<h2>Runs</h2>
<p class="note">Accuracy matrix R[t][j] (%): row = after training task t, column = test classes of task j; colour on the viridis scale (dark purple 0 % → yellow 100 %).</p>
${runs.join('\n')}
<script>
(function () {
  for (const el of document.querySelectorAll('script[data-spec]')) {
    const kind = el.getAttribute('data-spec');
    const container = document.querySelector('.chart[data-curve="' + kind + '"]');
    const view = new vega.View(vega.parse(JSON.parse(el.textContent)), { renderer: 'svg', container: container, hover: true });
    view.runAsync().catch(function (err) { console.error('chart ' + kind + ': ' + err); });
  }
  for (const el of document.querySelectorAll('script[data-confusion]')) {
    const c = JSON.parse(el.textContent);
    const canvas = document.querySelector('canvas.confusion[data-run="' + el.getAttribute('data-confusion') + '"]');
    const ctx = canvas.getContext('2d');
    const n = c.labels.length, cell = canvas.width / n;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    for (let i = 0; i < n; i++) {
      const row = c.matrix[i], total = row.reduce(function (s, v) { return s + v; }, 0) || 1;
      for (let j = 0; j < n; j++) {
        if (!row[j]) continue;
        const g = Math.round(255 * (1 - row[j] / total));
        ctx.fillStyle = 'rgb(' + g + ',' + g + ',' + g + ')';
        ctx.fillRect(j * cell, i * cell, Math.max(1, cell), Math.max(1, cell));
      }
    }
    ctx.strokeStyle = 'rgba(0, 114, 178, 0.5)';
    let at = 0;
    for (const k of c.bounds.slice(0, -1)) {
      at += k;
      ctx.beginPath(); ctx.moveTo(at * cell, 0); ctx.lineTo(at * cell, canvas.height); ctx.moveTo(0, at * cell); ctx.lineTo(canvas.width, at * cell); ctx.stroke();
    }
  }
})();
</script>
</body>
</html>
`;
}

export function writeHtml(cmp: Comparison, file: string, opts: HtmlOptions = {}): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, renderHtml(cmp, opts));
}
