/**
 * Terminal progress for long work (downloads, extraction, feature extraction, training).
 * On a TTY stderr it draws a cli-progress bar; otherwise (CI logs, redirected output) it prints a
 * plain line about every 10 % (or every 10 s when the total is unknown) so logs stay readable.
 */
import cliProgress from 'cli-progress';
import { printable } from '../report/printable.js';

export interface ProgressReporter {
  /** Report `done` units finished so far; `extra` is shown after the numbers (e.g. "loss 0.31"). */
  update(done: number, extra?: string): void;
  /** Finish: the bar stays on screen with its last value; in plain mode a final line is printed. */
  stop(): void;
}

export interface ProgressOptions {
  /** Print nothing at all. */
  quiet?: boolean;
  /** Unit of `done` / `total`: 'B' formats bytes (kB, MB, GB); anything else is printed after the count. */
  unit?: string;
  /** Where to write (default process.stderr); tests pass their own stream. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Interval of plain lines when the total is unknown (default 10 s). */
  plainIntervalMs?: number;
}

/** Human-readable amount: bytes get binary-free SI units (MB = 1e6 B) like most download tools. */
export function formatAmount(n: number, unit?: string): string {
  if (unit === 'B') {
    if (n < 1e3) return `${n} B`;
    const units = ['kB', 'MB', 'GB', 'TB'];
    let v = n / 1e3;
    let i = 0;
    while (v >= 1e3 && i < units.length - 1) {
      v /= 1e3;
      i++;
    }
    return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
  }
  return unit ? `${n} ${unit}` : String(n);
}

const NOOP: ProgressReporter = { update: () => undefined, stop: () => undefined };

export function progressReporter(rawLabel: string, total?: number, opts: ProgressOptions = {}): ProgressReporter {
  const label = printable(rawLabel); // may quote a file name from a model manifest or a URL
  if (opts.quiet) return NOOP;
  const stream = opts.stream ?? process.stderr;
  const known = total !== undefined && total > 0;
  return stream.isTTY ? ttyReporter(label, known ? total : undefined, opts.unit, stream) : plainReporter(label, known ? total : undefined, opts, stream);
}

function ttyReporter(label: string, total: number | undefined, unit: string | undefined, stream: NodeJS.WritableStream): ProgressReporter {
  const totalText = total === undefined ? '' : formatAmount(total, unit);
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format:
        total === undefined
          ? `${label} {amount} {extra}`
          : `${label} [{bar}] {percentage}% | {amount}/${totalText} | ETA {eta_formatted} {extra}`,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total ?? 0, 0, { amount: formatAmount(0, unit), extra: '' });
  let stopped = false;
  return {
    update(done, extra = '') {
      if (!stopped) bar.update(done, { amount: formatAmount(done, unit), extra });
    },
    stop() {
      if (!stopped) bar.stop();
      stopped = true;
    },
  };
}

function plainReporter(
  label: string,
  total: number | undefined,
  opts: ProgressOptions,
  stream: NodeJS.WritableStream,
): ProgressReporter {
  const started = Date.now();
  const interval = opts.plainIntervalMs ?? 10_000;
  let nextStep = 1; // next tenth to report
  let lastPrint = started;
  let last = 0;
  let lastExtra = '';
  let stopped = false;
  const line = (done: number, extra: string, final = false): void => {
    const amount = total === undefined ? formatAmount(done, opts.unit) : `${formatAmount(done, opts.unit)}/${formatAmount(total, opts.unit)}`;
    const pct = total === undefined ? '' : ` ${Math.min(100, Math.floor((100 * done) / total))}%`;
    const secs = final ? ` in ${((Date.now() - started) / 1000).toFixed(1)} s` : '';
    stream.write(`${label}:${pct} ${amount}${extra ? ` ${extra}` : ''}${final ? ' done' : ''}${secs}\n`);
  };
  return {
    update(done, extra = '') {
      if (stopped) return;
      last = done;
      lastExtra = extra;
      if (total !== undefined) {
        const tenth = Math.floor((10 * done) / total);
        if (tenth >= nextStep && done < total) {
          nextStep = tenth + 1;
          line(done, extra);
        }
      } else if (Date.now() - lastPrint >= interval) {
        lastPrint = Date.now();
        line(done, extra);
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      line(last, lastExtra, true);
    },
  };
}
