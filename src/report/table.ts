/** A small aligned text table whose column widths ignore ANSI colour codes. */
import { stripVTControlCharacters } from 'node:util';

export type Align = 'left' | 'right';

export interface TableOptions {
  /** Per-column alignment (default: left for the first column, right for the rest). */
  align?: Align[];
  /** Separator between columns. */
  gap?: string;
  /** Style applied to the header row (e.g. chalk.bold). */
  headerStyle?: (s: string) => string;
}

/** Printable width: code points, ANSI colour codes excluded (plain ASCII, most cells, is its length). */
export const visibleWidth = (s: string): number => {
  if (!/[^\x20-\x7e]/.test(s)) return s.length;
  let n = 0;
  for (const _ of stripVTControlCharacters(s)) n++;
  return n;
};

function pad(s: string, width: number, align: Align): string {
  const fill = ' '.repeat(Math.max(0, width - visibleWidth(s)));
  return align === 'right' ? fill + s : s + fill;
}

/** Render rows (cells may contain ANSI codes) under a header, with a rule below the header. */
export function renderTable(header: string[], rows: string[][], opts: TableOptions = {}): string {
  const gap = opts.gap ?? '  ';
  // Loops, not Math.max(...rows): `cl ls` of a big store has more rows than a call takes arguments.
  const cols = rows.reduce((n, r) => Math.max(n, r.length), header.length);
  const widths = Array.from({ length: cols }, (_, c) => rows.reduce((w, r) => Math.max(w, visibleWidth(r[c] ?? '')), visibleWidth(header[c] ?? '')));
  const align = (c: number): Align => opts.align?.[c] ?? (c === 0 ? 'left' : 'right');
  const line = (cells: string[]): string =>
    widths
      .map((w, c) => pad(cells[c] ?? '', w, align(c)))
      .join(gap)
      .replace(/\s+$/, '');
  const style = opts.headerStyle ?? ((s: string) => s);
  const total = widths.reduce((s, w) => s + w, 0) + gap.length * (cols - 1);
  return [style(line(header)), '─'.repeat(total), ...rows.map(line)].join('\n');
}
