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
import { publishedRows, type Comparison, type CurvePoint } from './compare.js';
import { FORGETTING_LABELS } from './labels.js';
import { printable, printableDeep } from './printable.js';

export const PLOT_FONT = 'DejaVu Sans';
const FONT_FILES = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf',
  '/usr/share/fonts/dejavu/DejaVuSans.ttf',
  '/usr/share/fonts/TTF/DejaVuSans.ttf',
];

export const PANEL_TITLES = {
  accuracy: 'Accuracy on all seen classes (A_t)',
  forgetting: 'Average forgetting F_t',
  perTask: 'Per-task accuracy R[t][j] (forgetting curves)',
} as const;

type Row = Record<string, string | number | null>;

const RUN = 'runs (mean ± std over seeds)';
const PUBLISHED = 'published';

function band(p: CurvePoint): { lo: number | null; hi: number | null } {
  return p.stat.std === null ? { lo: null, hi: null } : { lo: p.stat.mean - p.stat.std, hi: p.stat.mean + p.stat.std };
}

/** The rows behind the three panels (also used by the HTML report). */
export function plotData(cmp: Comparison): { accuracy: Row[]; forgetting: Row[]; perTask: Row[] } {
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
  return { accuracy, forgetting, perTask };
}

export interface PlotOptions {
  title?: string;
  /** Width of one panel in px (default 420). */
  panelWidth?: number;
  /** Click a legend entry to highlight its series (HTML report; no effect in static images). */
  interactive?: boolean;
}

type Panel = Record<string, unknown>;

const CONFIG = {
  font: PLOT_FONT,
  axis: { labelFontSize: 12, titleFontSize: 13, grid: true },
  legend: { labelFontSize: 12, titleFontSize: 12, labelLimit: 360, orient: 'bottom', direction: 'vertical', symbolOpacity: 1 },
  title: { fontSize: 14, anchor: 'start', offset: 10 },
  header: { labelFontSize: 12 },
};

/** The three panels as separate vega-lite view specs (no top-level config). */
export function panelSpecs(raw: Comparison, opts: PlotOptions = {}): { accuracy: Panel; forgetting: Panel; perTask: Panel } {
  // Control characters in names are invalid in SVG (XML 1.0): shown as visible escapes instead.
  const cmp = printableDeep(raw);
  const data = plotData(cmp);
  const width = opts.panelWidth ?? 420;
  const height = Math.round(width * 0.66);
  const seriesDomain = [...new Set(data.accuracy.map((r) => String(r.series)))];
  const withPublished = data.accuracy.some((r) => r.source === PUBLISHED);
  const colour = { field: 'series', type: 'nominal', title: 'Series', scale: { domain: seriesDomain } } as const;
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
          fill: { field: 'series', type: 'nominal', scale: { domain: seriesDomain } },
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
        encoding: { x: { field: 'task', type: 'quantitative' }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, fill: { field: 'series', type: 'nominal', scale: { domain: seriesDomain } } },
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
        color: { field: 'j', type: 'ordinal', title: 'Task j', scale: { scheme: 'viridis' } },
        tooltip: [
          { field: 'group', title: 'group' },
          { field: 'j', title: 'task j' },
          { field: 't', title: 'after task t' },
          { field: 'accuracy', title: 'R[t][j] (%)', format: '.2f' },
        ],
      },
    },
  };
  if (opts.interactive) {
    for (const panel of [accuracyPanel, forgettingPanel]) {
      const line = panel.layer[1] as { params?: unknown[]; encoding: Record<string, unknown> };
      line.params = [{ name: 'pick', select: { type: 'point', fields: ['series'] }, bind: 'legend' }];
      line.encoding.opacity = { condition: { param: 'pick', value: 1 }, value: 0.15 };
    }
  }
  return { accuracy: accuracyPanel, forgetting: forgettingPanel, perTask: perTaskPanel };
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
