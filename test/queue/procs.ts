/**
 * `cl` processes for the queue tests (the built CLI, as a user runs it): output collected, waits
 * bounded in time, and every process a test starts is ended by the test (by its own pid).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters as strip } from 'node:util';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CL_ENTRY = path.join(root, 'dist', 'src', 'cli', 'main.js');

export function requireBuild(): void {
  if (!fs.existsSync(CL_ENTRY)) throw new Error(`${CL_ENTRY} is missing: run \`npm run build\` first (npm test does)`);
}

/** The environment of a test's cl processes: no colours, nothing inherited that points elsewhere. */
export function clEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extra };
  for (const k of ['FORCE_COLOR', 'CL_STORE', 'CL_QUEUE', 'CL_QUEUE_PASSWORD', 'CL_DATA_DIR']) if (!(k in extra)) delete env[k];
  return env;
}

export class ClProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [CL_ENTRY, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout?.on('data', (b: Buffer) => (this.stdout += strip(b.toString())));
    this.child.stderr?.on('data', (b: Buffer) => (this.stderr += strip(b.toString())));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Wait until stderr (or stdout) matches, at most `ms`. */
  async waitFor(pattern: RegExp, ms: number, stream: 'stderr' | 'stdout' = 'stderr'): Promise<RegExpMatchArray> {
    const t0 = Date.now();
    for (;;) {
      const m = this[stream].match(pattern);
      if (m) return m;
      if (!this.running) throw new Error(`process exited before ${pattern} appeared:\n${this.stderr.slice(-3000)}`);
      if (Date.now() - t0 > ms) throw new Error(`${pattern} did not appear within ${ms} ms:\n${this.stderr.slice(-3000)}`);
      await sleep(100);
    }
  }

  /** Wait for the exit, at most `ms` (then SIGKILL and fail). */
  async done(ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        reject(new Error(`process did not exit within ${ms} ms:\n${this.stderr.slice(-3000)}`));
      }, ms);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** End the process (and, for a worker, its job processes): SIGTERM, then SIGKILL after `ms`. */
  async stop(ms = 10_000): Promise<void> {
    if (!this.running) return;
    const kids = childPids(this.pid);
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    await this.exited;
    clearTimeout(timer);
    for (const k of kids) killIfAlive(k);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Direct children of `pid` (the job processes of a worker). */
export function childPids(pid: number): number[] {
  const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return r.stdout
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function killIfAlive(pid: number): void {
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** Poll `f` until it returns a truthy value, at most `ms`. */
export async function until<T>(what: string, ms: number, f: () => T | Promise<T>): Promise<NonNullable<T>> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v as NonNullable<T>;
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(200);
  }
}
