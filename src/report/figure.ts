/**
 * Figures for papers (docs/experiments.md "Figures"): one panel of a comparison on its own, at a
 * chosen physical width, fonts in points (default 8 pt: readable in a one-column figure), as SVG,
 * PNG (300 dpi by default) or PDF.
 *
 * Units: the vega spec is laid out in points (1 unit = 1 pt), autosized to fit the width including
 * axes and legend; the SVG carries its size in pt, the PDF page is that size, the PNG is rendered
 * at dpi/72 pixels per point. Subscripts in labels (A_t, F_t, A_T) are drawn as real subscripts
 * (an SVG tspan with baseline-shift), in every output. PDF: pdfkit draws the SVG through
 * svg-to-pdfkit, with DejaVu Sans embedded when the system has it.
 */
import fs from 'node:fs';
import path from 'node:path';
import PDFDocument from 'pdfkit';
import SVGtoPDF from 'svg-to-pdfkit';
import type { TopLevelSpec } from 'vega-lite';
import { UserError } from '../errors.js';
import type { Comparison } from './compare.js';
import { FONT_FILES, panelSpecs, PLOT_FONT, renderSvg, svgToPng } from './plot.js';

export const PANELS = ['accuracy', 'forgetting', 'per-task', 'loss'] as const;
export type PanelName = (typeof PANELS)[number];

const UNITS: Record<string, number> = { pt: 1, in: 72, cm: 72 / 2.54, mm: 72 / 25.4, px: 0.75 };

/** "3.3in", "240pt", "8.5cm", "85mm" → points. */
export function parseLength(flag: string, v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(pt|in|cm|mm|px)\s*$/i.exec(v);
  if (!m) throw new UserError(`${flag} "${v}" is not a length`, `give a number and a unit: in, pt, cm or mm, e.g. ${flag} 3.3in (one column) or ${flag} 7in (two columns)`);
  const pt = Number(m[1]) * UNITS[m[2].toLowerCase()];
  if (pt < 72 || pt > 72 * 40) throw new UserError(`${flag} ${v} is outside 1in..40in`, `e.g. ${flag} 3.3in`);
  return pt;
}

export interface FigureOptions {
  panel: PanelName;
  /** Total width in points (axes and legend included). */
  widthPt: number;
  /** Height of the plot area over its width (default 0.62). */
  aspect?: number;
  /** Font size in points of tick and legend labels (axis titles get +1). */
  fontPt?: number;
  /** A title above the panel (default none: papers put it in the caption). */
  title?: string;
  /** PNG resolution (default 300). */
  dpi?: number;
}

function paperConfig(font: number): Record<string, unknown> {
  return {
    font: PLOT_FONT,
    axis: { labelFontSize: font, titleFontSize: font + 1, grid: true, gridColor: '#e6e6e6', tickSize: 3, labelPadding: 2, titlePadding: 4 },
    legend: { labelFontSize: font, titleFontSize: font, titleFontWeight: 'normal', orient: 'bottom', direction: 'vertical', symbolType: 'stroke', symbolStrokeWidth: 2, symbolOpacity: 1, symbolSize: 60, labelLimit: 0, titleLimit: 0, rowPadding: 1, padding: 2, offset: 6 },
    title: { fontSize: font + 1, anchor: 'start', offset: 4 },
    header: { labelFontSize: font, titleFontSize: font },
    view: { stroke: '#bbb' },
    line: { strokeWidth: 1.25 },
    point: { size: 14 },
  };
}

/** The vega-lite spec of one panel at a physical width (units: points). */
export function figureSpec(cmp: Comparison, opts: FigureOptions): TopLevelSpec {
  const font = opts.fontPt ?? 8;
  const aspect = opts.aspect ?? 0.62;
  const W = opts.widthPt;
  const key = opts.panel === 'per-task' ? 'perTask' : opts.panel;
  if (opts.panel === 'loss' && !cmp.groups.some((g) => g.group.runs.some((r) => r.increments.some((i) => i.losses && Object.keys(i.losses).length > 0)))) {
    throw new UserError('no training losses in the selected runs', 'losses are stored per epoch by methods that train (wa, replay, finetune, joint, napa-vq, ...), by runs of this cl version on; nmc trains none');
  }
  const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white', padding: 2, config: paperConfig(font) };
  if (opts.panel === 'per-task') {
    // A facet cannot be fitted to a width: size the cells from it (3 columns at most).
    const cols = Math.min(3, Math.max(1, cmp.groups.length));
    const cell = Math.max(60, Math.floor((W - 40 - (cols - 1) * 14) / cols));
    const panel = panelSpecs(cmp, { panelWidth: cell / 0.62, panelHeight: Math.round(cell * 0.75) / 0.8 }).perTask as Record<string, unknown>;
    const spec = { ...(panel.spec as Record<string, unknown>), width: cell, height: Math.round(cell * 0.75) };
    return { ...base, ...panel, columns: cols, spec, title: opts.title ?? null, facet: { ...(panel.facet as object), header: { labelFontSize: font } } } as unknown as TopLevelSpec;
  }
  const panel = panelSpecs(cmp, { panelWidth: W, panelHeight: Math.round(W * aspect) })[key] as Record<string, unknown>;
  return {
    ...base,
    ...panel,
    title: opts.title ?? null,
    width: W,
    autosize: { type: 'fit-x', contains: 'padding' },
  } as unknown as TopLevelSpec;
}

/**
 * Real subscripts in the text of an SVG: "A_t" → A with a subscript t (tspan, baseline-shift sub,
 * 70 % size). Only text content changes; attributes (ids, aria labels) are left alone.
 */
export function subscriptText(svg: string): string {
  return svg.replace(/(<text\b[^>]*>)([\s\S]*?)(<\/text>)/g, (_, open: string, body: string, close: string) => {
    const inner = body.replace(/(^|>)([^<]+)/g, (__, lead: string, text: string) => lead + text.replace(/([A-Za-zĀ])_(\{([^}]+)\}|[A-Za-z0-9]+)/g, (___, base: string, sub: string, braced?: string) => `${base}<tspan baseline-shift="sub" font-size="70%">${braced ?? sub}</tspan>`));
    return open + inner + close;
  });
}

/** Size of a vega SVG (its width/height attributes). */
function svgSize(svg: string): { w: number; h: number } {
  const w = /<svg[^>]*\swidth="([\d.]+)"/.exec(svg);
  const h = /<svg[^>]*\sheight="([\d.]+)"/.exec(svg);
  if (!w || !h) throw new Error('rendered SVG has no width/height');
  return { w: Number(w[1]), h: Number(h[1]) };
}

/** The SVG with its size in points (1 user unit = 1 pt), so that it prints at the chosen width. */
function inPoints(svg: string): string {
  const { w, h } = svgSize(svg);
  return svg.replace(/<svg([^>]*?)\swidth="[\d.]+"\s+height="[\d.]+"/, `<svg$1 width="${w}pt" height="${h}pt"`).replace(/<svg(?![^>]*viewBox)/, `<svg viewBox="0 0 ${w} ${h}"`);
}

/** A one-page PDF of the SVG at its size in points. */
export function svgToPdf(svg: string): Promise<Buffer> {
  const { w, h } = svgSize(svg);
  // vega writes solid lines of a dash scale as dash "1,0", which PDF (pdfkit) rejects: they are solid.
  svg = svg.replace(/\sstroke-dasharray="1,\s*0"/g, '');
  const doc = new PDFDocument({ size: [w, h], margin: 0, info: { Producer: 'cl', Creator: 'cl export figure' } });
  const regular = FONT_FILES.find((f) => /DejaVuSans\.ttf$/.test(f) && fs.existsSync(f));
  const bold = FONT_FILES.find((f) => /DejaVuSans-Bold\.ttf$/.test(f) && fs.existsSync(f));
  if (regular) doc.registerFont('dejavu', regular);
  if (bold) doc.registerFont('dejavu-bold', bold);
  const chunks: Buffer[] = [];
  doc.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  SVGtoPDF(doc, svg, 0, 0, {
    width: w,
    height: h,
    assumePt: true,
    fontCallback: (_family: string, isBold: boolean) => (isBold ? (bold ? 'dejavu-bold' : 'Helvetica-Bold') : regular ? 'dejavu' : 'Helvetica'),
  });
  doc.end();
  return done;
}

/** Write one panel to `file` (.svg, .png or .pdf). */
export async function writeFigure(cmp: Comparison, file: string, opts: FigureOptions): Promise<void> {
  const ext = path.extname(file).toLowerCase();
  if (!['.svg', '.png', '.pdf'].includes(ext)) throw new UserError(`${file}: unknown figure format "${ext || '(none)'}"`, 'name the file .pdf, .svg or .png');
  const svg = subscriptText(await renderSvg(figureSpec(cmp, opts)));
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  if (ext === '.svg') fs.writeFileSync(file, inPoints(svg));
  else if (ext === '.png') fs.writeFileSync(file, svgToPng(svg, (opts.dpi ?? 300) / 72));
  else fs.writeFileSync(file, await svgToPdf(svg));
}
