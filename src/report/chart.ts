/**
 * A terminal line chart drawn with braille dots (2 × 4 dots per character cell): several series
 * in one chart, each in its own colour, dashed series for published references, and a legend.
 */
import chalk, { type ChalkInstance } from 'chalk';

export interface ChartPoint {
  x: number;
  y: number;
}

export interface ChartSeries {
  name: string;
  points: ChartPoint[];
  /** Drawn with gaps (used for published baselines). */
  dashed?: boolean;
}

export interface ChartOptions {
  /** Plot area width in character cells (default 60). */
  width?: number;
  /** Plot area height in character cells (default 10). */
  height?: number;
  yMin?: number;
  yMax?: number;
  /** Unit appended to the y tick labels, e.g. "%". */
  yUnit?: string;
  /** Caption under the x axis, e.g. "classes seen". */
  xLabel?: string;
  title?: string;
}

const PALETTE: ChalkInstance[] = [chalk.cyan, chalk.magenta, chalk.yellow, chalk.green, chalk.blue, chalk.red, chalk.white];
// Braille dot bits, indexed [column][row] inside one 2 × 4 cell.
const DOTS = [
  [0x01, 0x02, 0x04, 0x40],
  [0x08, 0x10, 0x20, 0x80],
];

export const seriesColour = (k: number): ChalkInstance => PALETTE[k % PALETTE.length];

function niceBounds(lo: number, hi: number): [number, number] {
  if (lo === hi) return [lo - 1, hi + 1];
  const step = hi - lo > 20 ? 10 : hi - lo > 4 ? 5 : hi - lo > 1 ? 1 : 0.1;
  return [Math.floor(lo / step) * step, Math.ceil(hi / step) * step];
}

const fmtTick = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(1));

export function renderChart(series: ChartSeries[], opts: ChartOptions = {}): string {
  const width = Math.max(8, opts.width ?? 60);
  const height = Math.max(3, opts.height ?? 10);
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  if (all.length === 0) return opts.title ? `${opts.title}\n(no data)` : '(no data)';
  const [autoLo, autoHi] = niceBounds(Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y)));
  const yLo = opts.yMin ?? autoLo;
  const yHi = opts.yMax ?? autoHi;
  const xs = [...new Set(all.map((p) => p.x))].sort((a, b) => a - b);
  const xLo = xs[0];
  const xHi = xs[xs.length - 1] === xLo ? xLo + 1 : xs[xs.length - 1];
  const PW = width * 2;
  const PH = height * 4;
  const px = (x: number): number => Math.round(((x - xLo) / (xHi - xLo)) * (PW - 1));
  const py = (y: number): number => Math.round((1 - (Math.min(yHi, Math.max(yLo, y)) - yLo) / (yHi - yLo)) * (PH - 1));

  const bits = Array.from({ length: height }, () => new Array<number>(width).fill(0));
  const owner = Array.from({ length: height }, () => new Array<number>(width).fill(-1));
  const plot = (k: number, x: number, y: number): void => {
    const cx = Math.floor(x / 2);
    const cy = Math.floor(y / 4);
    bits[cy][cx] |= DOTS[x % 2][y % 4];
    owner[cy][cx] = k;
  };
  series.forEach((s, k) => {
    const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).map((p) => [px(p.x), py(p.y)]);
    pts.forEach(([x, y], i) => {
      plot(k, x, y);
      if (i === 0) return;
      const [x0, y0] = pts[i - 1];
      const steps = Math.max(Math.abs(x - x0), Math.abs(y - y0));
      for (let st = 1; st < steps; st++) {
        if (s.dashed && Math.floor(st / 2) % 2 === 1) continue;
        plot(k, Math.round(x0 + ((x - x0) * st) / steps), Math.round(y0 + ((y - y0) * st) / steps));
      }
    });
  });

  const unit = opts.yUnit ?? '';
  const ticks = new Map<number, string>([
    [0, fmtTick(yHi) + unit],
    [height - 1, fmtTick(yLo) + unit],
  ]);
  if (height >= 5) ticks.set(Math.floor((height - 1) / 2), fmtTick((yHi + yLo) / 2) + unit);
  const margin = Math.max(...[...ticks.values()].map((t) => t.length));
  const lines: string[] = [];
  if (opts.title) lines.push(chalk.bold(opts.title));
  for (let r = 0; r < height; r++) {
    const row = bits[r]
      .map((b, c) => (b === 0 ? ' ' : seriesColour(owner[r][c])(String.fromCharCode(0x2800 + b))))
      .join('');
    lines.push(`${(ticks.get(r) ?? '').padStart(margin)} ┤${row}`);
  }
  lines.push(`${' '.repeat(margin)} └${'─'.repeat(width)}`);
  // x tick labels: every distinct x when they fit, else first / middle / last.
  const axis = new Array<string>(width + 2).fill(' ');
  const put = (x: number): void => {
    const label = fmtTick(x);
    const at = Math.min(width + 2 - label.length, Math.max(0, Math.floor(px(x) / 2) + 1 - Math.floor(label.length / 2)));
    if (axis.slice(Math.max(0, at - 1), at + label.length + 1).some((ch) => ch !== ' ')) return;
    for (let i = 0; i < label.length; i++) axis[at + i] = label[i];
  };
  const shown = xs.length * (fmtTick(xHi).length + 1) <= width ? xs : [xs[0], xs[Math.floor(xs.length / 2)], xs[xs.length - 1]];
  put(shown[0]);
  put(shown[shown.length - 1]);
  for (const x of shown.slice(1, -1)) put(x);
  lines.push(`${' '.repeat(margin)} ${axis.join('').replace(/\s+$/, '')}`);
  if (opts.xLabel) lines.push(`${' '.repeat(margin + 2)}${chalk.dim(opts.xLabel)}`);
  if (series.length > 1 || series.some((s) => s.dashed)) {
    lines.push(series.map((s, k) => `${seriesColour(k)(s.dashed ? '┄┄' : '━━')} ${s.name}`).join('   '));
  }
  return lines.join('\n');
}
