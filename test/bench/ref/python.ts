/**
 * Reference implementations in Python (numpy / PyTorch) for the benchmarks, run side by side with
 * `cl` in the same process tree: one long-lived worker per reference, which loads its data once
 * and then answers one `run` line with one JSON line, so the bench can interleave cl and the
 * reference round by round.
 *
 * The interpreter: $CL_BENCH_PYTHON, else the first of `python3` on PATH and /usr/bin/python3 that
 * imports the modules a reference needs (Debian: `apt-get install python3-numpy python3-torch`;
 * with `libopenblas0-pthread` numpy and torch use OpenBLAS instead of the reference BLAS, which is
 * ~10x slower and would make a meaningless yardstick). A missing reference is reported and
 * skipped, never faked.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export interface PythonInfo {
  python: string;
  /** What the interpreter reports about the modules (versions, BLAS, threads). */
  about: string;
}

const found = new Map<string, PythonInfo | string>();

/** An interpreter that imports every module in `modules`, or a sentence saying why there is none. */
export function findPython(modules: string[]): PythonInfo | string {
  const key = modules.join(',');
  const have = found.get(key);
  if (have) return have;
  const candidates = process.env.CL_BENCH_PYTHON ? [process.env.CL_BENCH_PYTHON] : ['python3', '/usr/bin/python3'];
  const probe = path.join(here, 'about.py');
  let result: PythonInfo | string = `no Python with ${modules.join(' + ')} (tried ${candidates.join(', ')}; Debian: apt-get install python3-numpy python3-torch libopenblas0-pthread, or set CL_BENCH_PYTHON)`;
  for (const python of candidates) {
    try {
      const about = execFileSync(python, [probe, ...modules], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 }).trim();
      result = { python, about };
      break;
    } catch {
      // not there, or a module is missing: try the next one
    }
  }
  found.set(key, result);
  return result;
}

/** A running reference worker (`test/bench/ref/<script>.py <spec.json>`). */
export class PythonWorker {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly queue: Array<(line: string | null) => void> = [];
  private readonly backlog: string[] = [];
  private stderr = '';
  private closed = false;

  constructor(python: string, script: string, specFile: string, env: Record<string, string> = {}) {
    this.child = spawn(python, [path.join(here, script), specFile], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (line) => {
      const waiter = this.queue.shift();
      if (waiter) waiter(line);
      else this.backlog.push(line);
    });
    this.lines.on('close', () => {
      this.closed = true;
      for (const w of this.queue.splice(0)) w(null);
    });
  }

  private next(): Promise<string | null> {
    const line = this.backlog.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => this.queue.push(resolve));
  }

  private async reply<T>(): Promise<T> {
    const line = await this.next();
    if (line === null) throw new Error(`reference worker exited:\n${this.stderr}`);
    return JSON.parse(line) as T;
  }

  /** The worker's first line (it has loaded its data). */
  ready<T = Record<string, unknown>>(): Promise<T> {
    return this.reply<T>();
  }

  /** One run of the reference; `command` is one line (JSON or a word). */
  run<T>(command = 'run'): Promise<T> {
    this.child.stdin.write(`${command}\n`);
    return this.reply<T>();
  }

  close(): void {
    this.child.stdin.end();
  }
}
