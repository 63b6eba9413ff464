/**
 * Publication plots of a comparison with vega-lite (compiled in Node), rendered headless by vega's
 * View to SVG (renderer "none"), and to PNG by resvg from that SVG.
 *
 * Panels: (1) A_t, accuracy on all seen classes per increment, over the number of classes seen
 * (mean over seeds, ± 1 sample std band; published curves dashed and labelled "(published)");
 * (2) average forgetting F_t per task (chosen definition); (3) per-task accuracy R[t][j] over t,
 * one line per task j, one small panel per group (the per-task forgetting curves).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { UserError } from '../errors.js';
import { baselineSeenClasses, type Baseline } from './baselines.js';
import { aggregatedOver, publishedRows, type Comparison, type CurvePoint } from './compare.js';
import { FORGETTING_LABELS } from './labels.js';
import { printable, printableDeep } from './printable.js';

export const PLOT_FONT = 'DejaVu Sans';
export const FONT_FILES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
];

export const PANEL_TITLES = {
  accuracy: 'Accuracy on all seen classes (A_t)',
  forgetting: 'Average forgetting F_t',
  perTask: 'Per-task accuracy R[t][j] (forgetting curves)',
  loss: 'Training loss per epoch',
} as const;

type Row = Record<string, string | number | null>;

/** Okabe & Ito (2008) colour-blind-safe palette (black last). */
export const SERIES_COLOURS = ['#0072B2', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#56B4E9', '#F0E442', '#000000'];

const RUN = 'runs (mean ± 1 s.d.)';
const PUBLISHED = 'published';

function band(p: CurvePoint): { lo: number | null; hi: number | null } {
  return p.stat.std === null ? { lo: null, hi: null } : { lo: p.stat.mean - p.stat.std, hi: p.stat.mean + p.stat.std };
}

/**
 * Mean training loss per epoch of each group: x = task − 1 + k/K for the k-th of the K epochs of a
 * task (all training phases of the task in sequence), so that x = t at the end of task t.
 */
function lossData(cmp: Comparison): Row[] {
  const rows: Row[] = [];
  for (const g of cmp.groups) {
    const sums = new Map<string, { x: number; task: number; sum: number; n: number }>();
    for (const r of g.group.runs) {
      for (const inc of r.increments) {
        const all = Object.values(inc.losses ?? {}).flat();
        all.forEach((loss, k) => {
          if (!Number.isFinite(loss)) return;
          const key = `${inc.task}:${k}`;
          const cell = sums.get(key) ?? { x: inc.task + (k + 1) / all.length, task: inc.task + 1, sum: 0, n: 0 };
          cell.sum += loss;
          cell.n += 1;
          sums.set(key, cell);
        });
      }
    }
    for (const c of [...sums.values()].sort((a, b) => a.x - b.x)) rows.push({ series: g.group.label, x: c.x, task: c.task, loss: c.sum / c.n, n: c.n });
  }
  return rows;
}

/** How many runs a group's mean runs over, for legends: "mean ± 1 s.d. over class orders and seeds". */
export function bandNote(cmp: Comparison): string[] {
  return ['line: mean, band: ± 1 s.d.', `over ${aggregatedOver(cmp)}`];
}

/** The rows behind the panels (also used by the HTML report). */
export function plotData(cmp: Comparison): { accuracy: Row[]; forgetting: Row[]; perTask: Row[]; loss: Row[] } {
  const accuracy: Row[] = [];
  for (const g of cmp.groups) {
    for (const p of g.accuracyCurve) {
      accuracy.push({ series: g.group.label, source: RUN, classes: p.seenClasses, task: p.task, accuracy: p.stat.mean, n: p.stat.n, ...band(p) });
    }
  }
  for (const row of publishedRows(cmp.baselines)) {
    if (row.curve) {
      const b: Baseline = row.curve;
      const xs = baselineSeenClasses(b);
      b.values.forEach((v, i) => accuracy.push({ series: row.label, source: PUBLISHED, classes: xs[i], task: i + 1, accuracy: v, n: null, lo: null, hi: null }));
    } else if (row.finalAccuracy) {
      const b = row.finalAccuracy;
      const xs = baselineSeenClasses(b);
      accuracy.push({ series: `${row.label} A_T`, source: PUBLISHED, classes: xs[xs.length - 1], task: xs.length, accuracy: b.values[0], n: null, lo: null, hi: null });
    }
  }
  const forgetting: Row[] = [];
  const perTask: Row[] = [];
  for (const g of cmp.groups) {
    for (const p of g.forgettingCurve) forgetting.push({ series: g.group.label, task: p.task, forgetting: p.stat.mean, n: p.stat.n, ...band(p) });
    for (const c of g.perTask) {
      for (const p of c.points) perTask.push({ group: g.group.label, taskJ: `task ${c.task}`, j: c.task, t: p.task, accuracy: p.stat.mean });
    }
  }
  return { accuracy, forgetting, perTask, loss: lossData(cmp) };
}

export interface PlotOptions {
  title?: string;
  /** Height of one panel in px (default: 0.66 × the width). */
  panelHeight?: number;
  /** Width of one panel in px (default 420). */
  panelWidth?: number;
  /** Click a legend entry to highlight its series (HTML report; no effect in static images). */
  interactive?: boolean;
}

type Panel = Record<string, unknown>;

const CONFIG = {
  font: PLOT_FONT,
  axis: { labelFontSize: 12, titleFontSize: 13, grid: true },
  legend: { labelFontSize: 12, titleFontSize: 12, titleFontWeight: 'normal', labelLimit: 360, titleLimit: 0, orient: 'bottom', direction: 'vertical', symbolOpacity: 1 },
  title: { fontSize: 14, anchor: 'start', offset: 10 },
  header: { labelFontSize: 12 },
};

/** The panels as separate vega-lite view specs (no top-level config). */
export function panelSpecs(raw: Comparison, opts: PlotOptions = {}): { accuracy: Panel; forgetting: Panel; perTask: Panel; loss: Panel } {
  // Control characters in names are invalid in SVG (XML 1.0): shown as visible escapes instead.
  const cmp = printableDeep(raw);
  const data = plotData(cmp);
  const width = opts.panelWidth ?? 420;
  const height = opts.panelHeight ?? Math.round(width * 0.66);
  const seriesDomain = [...new Set(data.accuracy.map((r) => String(r.series)))];
  const withPublished = data.accuracy.some((r) => r.source === PUBLISHED);
  // Okabe–Ito colours (distinguishable with the common colour-vision deficiencies), one per series in every panel.
  const range = seriesDomain.map((_, i) => SERIES_COLOURS[i % SERIES_COLOURS.length]);
  const scale = { domain: seriesDomain, range };
  // One colour legend per panel; its title says what the line and the band are.
  const colour = { field: 'series', type: 'nominal', title: bandNote(cmp), scale } as const;
  // The ± 1 s.d. band shares the line's colour legend (a separate fill legend would list the series twice).
  const fill = colour;
  const withLoss = seriesDomain.filter((s) => data.loss.some((r) => r.series === s));
  const def = cmp.forgettingDefinition;
  const accuracyPanel = {
    title: PANEL_TITLES.accuracy,
    width,
    height,
    data: { values: data.accuracy },
    layer: [
      {
        mark: { type: 'area', opacity: 0.15 },
        transform: [{ filter: 'datum.lo != null' }],
        encoding: {
          x: { field: 'classes', type: 'quantitative' },
          y: { field: 'lo', type: 'quantitative' },
          y2: { field: 'hi' },
          fill,
        },
      },
      {
        mark: { type: 'line', strokeWidth: 2 },
        encoding: {
          x: { field: 'classes', type: 'quantitative', title: 'Classes seen', scale: { zero: false }, axis: { tickMinStep: 1, format: 'd' } },
          y: { field: 'accuracy', type: 'quantitative', title: 'Accuracy A_t (%)', scale: { zero: false } },
          color: colour,
          strokeDash: {
            field: 'source',
            type: 'nominal',
            title: 'Source',
            scale: { domain: withPublished ? [RUN, PUBLISHED] : [RUN], range: withPublished ? [[1, 0], [6, 4]] : [[1, 0]] },
            // Without a published reference a "Source" legend would only list the runs themselves.
            legend: withPublished ? {} : null,
          },
        },
      },
      {
        mark: { type: 'point', filled: true, size: 36 },
        encoding: {
          x: { field: 'classes', type: 'quantitative' },
          y: { field: 'accuracy', type: 'quantitative' },
          color: colour,
          tooltip: [
            { field: 'series', title: 'series' },
            { field: 'classes', title: 'classes seen' },
            { field: 'accuracy', title: 'A_t (%)', format: '.2f' },
            { field: 'n', title: 'runs' },
          ],
        },
      },
    ],
  };
  const forgettingPanel = {
    title: `${PANEL_TITLES.forgetting}, ${FORGETTING_LABELS[def]}`,
    width,
    height,
    data: { values: data.forgetting },
    layer: [
      {
        mark: { type: 'area', opacity: 0.15 },
        transform: [{ filter: 'datum.lo != null' }],
        encoding: { x: { field: 'task', type: 'quantitative' }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, fill },
      },
      {
        mark: { type: 'line', point: true, strokeWidth: 2 },
        encoding: {
          x: { field: 'task', type: 'quantitative', title: 'Task t', axis: { tickMinStep: 1, format: 'd' } },
          y: { field: 'forgetting', type: 'quantitative', title: 'Forgetting F_t (%)' },
          color: colour,
          tooltip: [
            { field: 'series', title: 'series' },
            { field: 'task', title: 'task t' },
            { field: 'forgetting', title: `F_t ${def} (%)`, format: '.2f' },
          ],
        },
      },
    ],
  };
  const perTaskPanel = {
    title: PANEL_TITLES.perTask,
    data: { values: data.perTask },
    facet: { field: 'group', type: 'nominal', title: null, header: { labelFontSize: 12 } },
    columns: 3,
    spec: {
      width: Math.round(width * 0.62),
      height: Math.round(height * 0.8),
      mark: { type: 'line', point: { size: 20 }, strokeWidth: 1.5 },
      encoding: {
        x: { field: 't', type: 'quantitative', title: 'After task t', axis: { tickMinStep: 1, format: 'd' } },
        y: { field: 'accuracy', type: 'quantitative', title: 'Accuracy on task j (%)', scale: { zero: false } },
        color: { field: 'j', type: 'quantitative', title: 'Task j', scale: { scheme: 'viridis' }, legend: { type: 'gradient', direction: 'horizontal', orient: 'bottom', format: 'd', tickMinStep: 1, gradientLength: Math.max(80, Math.round(width * 0.5)) } },
        detail: { field: 'j', type: 'nominal' },
        tooltip: [
          { field: 'group', title: 'group' },
          { field: 'j', title: 'task j' },
          { field: 't', title: 'after task t' },
          { field: 'accuracy', title: 'R[t][j] (%)', format: '.2f' },
        ],
      },
    },
  };
  const lossPanel = {
    title: PANEL_TITLES.loss,
    width,
    height,
    data: { values: data.loss },
    mark: { type: 'line', strokeWidth: 1.5 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: 'Task (its epochs in order)', axis: { tickMinStep: 1, format: 'd' }, scale: { domainMin: 0 } },
      y: { field: 'loss', type: 'quantitative', title: 'Mean training loss' },
      color: { field: 'series', type: 'nominal', title: `mean over ${aggregatedOver(cmp)}`, scale: { domain: withLoss, range: withLoss.map((s) => range[seriesDomain.indexOf(s)]) } },
      tooltip: [
        { field: 'series', title: 'series' },
        { field: 'task', title: 'task' },
        { field: 'loss', title: 'loss', format: '.4f' },
        { field: 'n', title: 'runs' },
      ],
    },
  };
  if (opts.interactive) {
    for (const panel of [accuracyPanel, forgettingPanel]) {
      const line = panel.layer[1] as { params?: unknown[]; encoding: Record<string, unknown> };
      line.params = [{ name: 'pick', select: { type: 'point', fields: ['series'] }, bind: 'legend' }];
      line.encoding.opacity = { condition: { param: 'pick', value: 1 }, value: 0.15 };
    }
  }
  return { accuracy: accuracyPanel, forgetting: forgettingPanel, perTask: perTaskPanel, loss: lossPanel };
}

/** One panel as a complete vega-lite spec (the HTML report draws each curve kind as its own chart). */
export function standaloneSpec(panel: Panel): TopLevelSpec {
  return { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white', padding: 8, config: CONFIG, ...panel } as TopLevelSpec;
}

/** The vega-lite spec of the whole comparison figure: A_t and F_t side by side, per-task curves below. */
export function comparisonSpec(cmp: Comparison, opts: PlotOptions = {}): TopLevelSpec {
  const p = panelSpecs(cmp, opts);
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: printable(opts.title ?? 'Class-incremental learning: accuracy and forgetting'), fontSize: 16 },
    background: 'white',
    padding: 12,
    config: CONFIG,
    vconcat: [{ hconcat: [p.accuracy, p.forgetting], resolve: { scale: { color: 'shared', fill: 'shared' } } }, p.perTask],
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
  };
  return spec as unknown as TopLevelSpec;
}

/** The compiled vega spec (what the HTML report embeds). */
export function compileSpec(spec: TopLevelSpec): vega.Spec {
  return compile(spec).spec;
}

/** Render a vega-lite spec to an SVG string, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compileSpec(spec)), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterise an SVG with resvg (DejaVu Sans when present, else the system fonts), at `scale` × its size. */
export function svgToPng(svg: string, scale = 2): Buffer {
  const fontFiles = FONT_FILES.filter((f) => fs.existsSync(f));
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: fontFiles.length === 0, fontFiles, defaultFontFamily: PLOT_FONT, sansSerifFamily: PLOT_FONT },
  });
  return resvg.render().asPng();
}

/** Write the comparison figure to `file` (.svg or .png). */
export async function writePlot(cmp: Comparison, file: string, opts: PlotOptions = {}): Promise<void> {
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.svg' && ext !== '.png') {
    throw new UserError(`--plot ${file}: unknown plot format "${ext || '(none)'}"`, 'name the file .svg or .png');
  }
  const svg = await renderSvg(comparisonSpec(cmp, opts));
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, ext === '.svg' ? svg : svgToPng(svg));
}
