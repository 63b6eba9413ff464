/**
 * A small process pool: run one child process per job, at most `workers` at once, collect each
 * one's exit status, stdout and the line of stderr that says why it failed. A failing job never
 * stops the others. The command is injected, so the pool is testable without `cl run`.
 */
import { spawn } from 'node:child_process';
import { stripVTControlCharacters } from 'node:util';

export interface CommandSpec {
  file: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface JobOutcome<J> {
  job: J;
  ok: boolean;
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The error line to show for a failed job (the child's "cl: error: ..." line when there is one). */
  errorLine: string;
  ms: number;
}

export interface PoolOptions<J> {
  workers: number;
  command: (job: J) => CommandSpec;
  onStart?: (job: J) => void;
  /** Called as each job ends, with the number done so far. */
  onDone?: (outcome: JobOutcome<J>, done: number, total: number) => void;
}

/** The line that explains a failure: the first "cl: ..." line of stderr, else its last non-empty line. */
export function errorLineOf(stderr: string, code: number | null, signal: NodeJS.Signals | null): string {
  const lines = stripVTControlCharacters(stderr)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const cl = lines.find((l) => l.startsWith('cl: '));
  const line = cl ?? lines[lines.length - 1];
  if (line) return line;
  return signal ? `killed by ${signal}` : `exited with code ${code}`;
}

function runOne<J>(job: J, spec: CommandSpec): Promise<JobOutcome<J>> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(spec.file, spec.args, { cwd: spec.cwd, env: spec.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let spawnError: Error | null = null;
    child.on('error', (e) => {
      spawnError = e;
    });
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8') + (spawnError ? `\n${spawnError.message}` : '');
      const ok = code === 0 && !spawnError;
      resolve({
        job,
        ok,
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr,
        errorLine: ok ? '' : errorLineOf(stderr, code, signal),
        ms: Date.now() - t0,
      });
    });
  });
}

/** Run every job; outcomes come back in job order. */
export async function runPool<J>(jobs: J[], opts: PoolOptions<J>): Promise<JobOutcome<J>[]> {
  const workers = Math.max(1, Math.floor(opts.workers));
  const outcomes = new Array<JobOutcome<J>>(jobs.length);
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      opts.onStart?.(jobs[i]);
      outcomes[i] = await runOne(jobs[i], opts.command(jobs[i]));
      done += 1;
      opts.onDone?.(outcomes[i], done, jobs.length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, jobs.length) }, worker));
  return outcomes;
}
