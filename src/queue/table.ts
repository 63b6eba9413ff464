/**
 * The submitter's live view of a sweep on stderr: counts (queued / running / done / failed), an
 * ETA, the Redis connection, and one row per running job. On a terminal the block is redrawn in
 * place below the event lines; elsewhere (CI logs, files) a status line is printed now and then.
 */
import { stripVTControlCharacters } from 'node:util';
import { formatDuration } from '../backbones/wrap.js';

export type CellPhase = 'queued' | 'retry' | 'running' | 'done' | 'failed' | 'gone';

export interface CellView {
  label: string;
  phase: CellPhase;
  /** Increments stored so far (of the current attempt). */
  done: number;
  tasks: number;
  worker?: string;
  attempt: number;
  /** When the current attempt started (ms since the epoch). */
  since?: number;
}

export interface SweepView {
  id: string;
  cells: CellView[];
  /** Seconds left, or null while there is nothing to estimate from. */
  etaSeconds: number | null;
  /** Since when Redis is unreachable (ms since the epoch), or null when connected. */
  redisDownSince: number | null;
}

export function counts(cells: CellView[]): Record<'queued' | 'running' | 'done' | 'failed', number> {
  const c = { queued: 0, running: 0, done: 0, failed: 0 };
  for (const x of cells) {
    if (x.phase === 'queued' || x.phase === 'retry') c.queued += 1;
    else if (x.phase === 'running') c.running += 1;
    else if (x.phase === 'done') c.done += 1;
    else c.failed += 1;
  }
  return c;
}

/**
 * ETA from the pace of increments: (increments still to do) / (increments done per second so far).
 * Null until an increment was seen.
 */
export function estimateSeconds(cells: CellView[], incrementsSeen: number, elapsedSeconds: number): number | null {
  if (incrementsSeen <= 0 || elapsedSeconds <= 0) return null;
  const left = cells.reduce((s, c) => s + (c.phase === 'done' || c.phase === 'failed' || c.phase === 'gone' ? 0 : Math.max(0, c.tasks - c.done)), 0);
  return left / (incrementsSeen / elapsedSeconds);
}

export function statusLine(v: SweepView, now: number): string {
  const c = counts(v.cells);
  const eta = c.queued + c.running === 0 ? '' : v.etaSeconds === null ? ' · ETA ?' : ` · ETA ${formatDuration(v.etaSeconds)}`;
  const redis = v.redisDownSince === null ? '' : ` · redis unreachable for ${formatDuration((now - v.redisDownSince) / 1000)}, reconnecting`;
  return `sweep ${v.id}: ${v.cells.length} runs · ${c.queued} queued · ${c.running} running · ${c.done} done · ${c.failed} failed${eta}${redis}`;
}

/** The block shown on a terminal: the status line, then the running jobs (at most `maxRows`). */
export function renderTable(v: SweepView, now: number, maxRows: number): string[] {
  const lines = [statusLine(v, now)];
  const running = v.cells.filter((c) => c.phase === 'running');
  const width = Math.max(5, ...running.map((c) => c.label.length));
  for (const c of running.slice(0, maxRows)) {
    const secs = c.since ? formatDuration((now - c.since) / 1000) : '';
    const again = c.attempt > 1 ? `  attempt ${c.attempt}` : '';
    lines.push(`  ${c.label.padEnd(width)}  task ${String(c.done).padStart(String(c.tasks).length)}/${c.tasks}  ${c.worker ?? ''}  ${secs}${again}`);
  }
  if (running.length > maxRows) lines.push(`  … and ${running.length - maxRows} more running`);
  return lines;
}

/** A block of lines kept at the bottom of a terminal, redrawn in place; log lines go above it. */
export class LiveBlock {
  private shown = 0;
  private last: string[] = [];

  constructor(private readonly out: NodeJS.WriteStream) {}

  private fit(line: string): string {
    const cols = this.out.columns || 100;
    const plain = stripVTControlCharacters(line);
    return plain.length < cols ? line : `${plain.slice(0, cols - 2)}…`;
  }

  private erase(): void {
    if (this.shown > 0) this.out.write(`\x1b[${this.shown}A\x1b[0J`);
    this.shown = 0;
  }

  draw(lines: string[]): void {
    this.erase();
    this.last = lines.map((l) => this.fit(l));
    if (this.last.length > 0) this.out.write(`${this.last.join('\n')}\n`);
    this.shown = this.last.length;
  }

  log(line: string): void {
    const keep = this.last;
    this.erase();
    this.out.write(`${line}\n`);
    this.draw(keep);
  }

  done(): void {
    this.erase();
    this.last = [];
  }
}
