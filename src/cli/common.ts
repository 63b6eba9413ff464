/** Pieces every command shares: the store option, error reporting, method-option flags. */
import chalk from 'chalk';
import type { Command, CommanderError } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { isUserError, UserError } from '../errors.js';
import { defaultStorePath } from '../paths.js';
import { printable } from '../report/printable.js';

export function addStoreOption(cmd: Command): Command {
  return cmd.option('--store <file>', 'results store file (env CL_STORE)', pathOption('--store', 'file'));
}

/** The nearest existing ancestor of `p` when it is not a folder (so nothing can be created below it), else null. */
export function fileOnPath(p: string): string | null {
  for (let dir = path.dirname(path.resolve(p)); ; dir = path.dirname(dir)) {
    try {
      return fs.statSync(dir).isDirectory() ? null : dir;
    } catch {
      if (dir === path.dirname(dir)) return null;
    }
  }
}

/**
 * Parser of a path-valued option: an empty value is an error (it would silently mean the current
 * folder), and an existing path must be of the expected type (a folder for `--cache-dir`, not a
 * folder for `--store`), so `--cache-dir /dev/null` fails at once instead of after the extraction.
 */
export function pathOption(flag: string, kind: 'folder' | 'file' | 'any') {
  return (value: string): string => {
    if (value.trim() === '') throw new UserError(`${flag} is empty`, `give a ${kind === 'any' ? 'path' : kind}, or leave ${flag} out for the default`);
    let st: fs.Stats | null = null;
    try {
      st = fs.statSync(value);
    } catch {
      // Does not exist yet (created when needed), unless a file stands where a folder on its path should be.
      const file = fileOnPath(value);
      if (file) throw new UserError(`${flag} ${value}: ${file} is a file, not a folder`, `give a path below a folder, or leave ${flag} out for the default`);
    }
    if (st && kind === 'folder' && !st.isDirectory()) throw new UserError(`${flag} ${value} is not a folder`, `give a folder (it is created when missing), or leave ${flag} out for the default`);
    if (st && kind === 'file' && st.isDirectory()) throw new UserError(`${flag} ${value} is a folder`, `give a file path, e.g. ${flag} ${value.replace(/\/+$/, '')}/db.json`);
    return value;
  };
}

export function storePath(opts: { store?: string }): string {
  return opts.store ?? defaultStorePath();
}

/** camelCase option key -> kebab-case flag name. */
export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** `cl cache rm` for the `rm` subcommand of `cache`. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Route commander's own parse errors (unknown option or command, invalid choice, missing argument,
 * a command with subcommands called bare) through UserError, so they print as one `cl: error:` line
 * with a hint naming the command's help, and exit 2 like every other user error. Help and version
 * output are left alone. Call after every command is registered.
 */
export function commanderErrorsAsUserErrors(cmd: Command): void {
  const name = commandPath(cmd);
  cmd.configureOutput({ writeErr: () => undefined, outputError: () => undefined });
  cmd.exitOverride((err: CommanderError) => {
    if (err.exitCode === 0) process.exit(0); // --help, --version: already written to stdout
    if (err.code === 'commander.help') {
      const subs = cmd.commands.map((c) => c.name());
      throw new UserError(`\`${name}\` needs a command: ${subs.join(', ')}`, `see \`${name} --help\``);
    }
    const message = err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
    throw new UserError(message, err.code === 'commander.unknownCommand' ? `see \`${name} --help\` for the commands` : `see \`${name} --help\``);
  });
  for (const sub of cmd.commands) commanderErrorsAsUserErrors(sub);
}

/** Causes of file-system errors that come from the environment (permissions, space, wrong path), not from a bug. */
const ENVIRONMENT_CAUSES: Record<string, { cause: string; hint: string }> = {
  EACCES: { cause: 'permission denied', hint: 'check the permissions of that path, or point cl elsewhere (--store, --cache-dir, --data-dir)' },
  EPERM: { cause: 'operation not permitted', hint: 'check the permissions of that path, or point cl elsewhere (--store, --cache-dir, --data-dir)' },
  EROFS: { cause: 'the file system is read-only', hint: 'point cl at a writable location (--store, --cache-dir)' },
  ENOSPC: { cause: 'no space left on the device', hint: 'free some space, or point cl at another disk (--store, --cache-dir)' },
  EDQUOT: { cause: 'disk quota exceeded', hint: 'free some space, or point cl at another disk (--store, --cache-dir)' },
  ENOTDIR: { cause: 'a part of the path is a file, not a folder', hint: 'check the path (--store, --cache-dir, --data-dir, CL_CACHE_DIR)' },
  EISDIR: { cause: 'it is a folder, not a file', hint: 'check the path (--store, --data-dir, the scenario or model path)' },
  ENAMETOOLONG: { cause: 'the name is too long', hint: 'use a shorter path' },
  ELOOP: { cause: 'too many levels of symbolic links', hint: 'check the symbolic links on that path' },
  EMFILE: { cause: 'too many open files', hint: 'raise the open-file limit (ulimit -n) or run fewer jobs at once' },
  ENFILE: { cause: 'too many open files in the system', hint: 'run fewer jobs at once' },
  EIO: { cause: 'input/output error', hint: 'check the disk' },
};

/** mkdir -p fails with EEXIST when a file stands where one of the folders should be. */
const MKDIR_EEXIST = { cause: 'a file stands where a folder is needed', hint: 'check the path (--store, --cache-dir, --data-dir, CL_CACHE_DIR)' };

/**
 * A file-system error caused by the environment (read-only folder, full disk, a file where a folder
 * should be, ...) as a UserError naming the file and the cause; null for anything else.
 */
export function environmentError(err: unknown): UserError | null {
  const e = err as (NodeJS.ErrnoException & { dest?: unknown }) | null;
  if (!e || typeof e !== 'object' || typeof e.code !== 'string') return null;
  const known = e.code === 'EEXIST' && e.syscall === 'mkdir' ? MKDIR_EEXIST : Object.hasOwn(ENVIRONMENT_CAUSES, e.code) ? ENVIRONMENT_CAUSES[e.code] : null;
  if (!known) return null;
  const { cause, hint } = known;
  const file = typeof e.path === 'string' ? ` ${e.path}${typeof e.dest === 'string' ? ` -> ${e.dest}` : ''}` : '';
  const verb = e.syscall ? `${e.syscall}` : 'access';
  return new UserError(`cannot ${verb}${file}: ${cause} (${e.code})`, hint);
}

/**
 * Report an error the way a user wants it: one clear line (plus a hint), no stack trace,
 * unless CL_DEBUG is set. Returns the exit code.
 */
export function reportError(err: unknown): number {
  const env = environmentError(err);
  if (env) err = env;
  // Messages quote names, paths and values from outside: control characters shown as visible escapes.
  const text = (s: string): string => printable(s, { keepNewlines: true });
  if (isUserError(err)) {
    process.stderr.write(`${chalk.red('cl: error:')} ${text(err.message)}\n`);
    if (err.hint) process.stderr.write(`${chalk.dim('hint:')} ${text(err.hint)}\n`);
    return 2;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  if (e.name === 'TrainingDivergedError') {
    process.stderr.write(`${chalk.red('cl: error:')} ${text(e.message)}\n`);
    return 3;
  }
  process.stderr.write(`${chalk.red('cl: internal error:')} ${text(e.message)}\n`);
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
