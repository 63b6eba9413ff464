/** Pieces every command shares: the store option, error reporting, method-option flags. */
import chalk from 'chalk';
import type { Command } from 'commander';
import { isUserError } from '../errors.js';
import { defaultStorePath } from '../paths.js';

export function addStoreOption(cmd: Command): Command {
  return cmd.option('--store <file>', 'results store file (env CL_STORE)', undefined);
}

export function storePath(opts: { store?: string }): string {
  return opts.store ?? defaultStorePath();
}

/** camelCase option key -> kebab-case flag name. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Report an error the way a user wants it: one clear line (plus a hint), no stack trace,
 * unless CL_DEBUG is set. Returns the exit code.
 */
export function reportError(err: unknown): number {
  if (isUserError(err)) {
    process.stderr.write(`${chalk.red('cl: error:')} ${err.message}\n`);
    if (err.hint) process.stderr.write(`${chalk.dim('hint:')} ${err.hint}\n`);
    return 2;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  if (e.name === 'TrainingDivergedError') {
    process.stderr.write(`${chalk.red('cl: error:')} ${e.message}\n`);
    return 3;
  }
  process.stderr.write(`${chalk.red('cl: internal error:')} ${e.message}\n`);
  if (process.env.CL_DEBUG) process.stderr.write(`${e.stack ?? ''}\n`);
  else process.stderr.write(chalk.dim('set CL_DEBUG=1 for the stack trace, and please report it\n'));
  return 1;
}

/** Wrap a command action so that every failure ends in reportError + a non-zero exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      process.exitCode = reportError(err);
    }
  };
}
