/**
 * Option groups of the one option system (src/options.ts) as commander flags: every flag takes its
 * value as the user typed it (no commander parsing, no commander default), so that resolveOptions
 * alone decides what is valid, and only the flags given on the command line reach it.
 */
import { Option, type Command } from 'commander';
import { describeOption, optionFlag, placeholder, type OptionSpecs } from '../options.js';

export interface FlagStyle {
  /** Heading of the help group the flags are shown under (default: the command's options). */
  group?: string;
  /** Register the flags but leave them out of --help. */
  hidden?: boolean;
}

/** Adds `--kebab-name <placeholder>` for every option of the group, described by its help and default. */
export function addOptionFlags(cmd: Command, specs: OptionSpecs, style: FlagStyle = {}): Command {
  for (const [name, spec] of Object.entries(specs)) {
    const flag = optionFlag(name);
    if (cmd.options.some((o) => o.long === flag)) throw new Error(`option ${flag} is declared twice on \`${cmd.name()}\``);
    const forWhom = spec.for ? `[${spec.for.join(', ')}] ` : '';
    const option = new Option(`${flag} ${placeholder(spec)}`, `${forWhom}${describeOption(spec)}`);
    if (style.group) option.helpGroup(style.group);
    if (style.hidden) option.hideHelp();
    cmd.addOption(option);
  }
  return cmd;
}

/** The values of the group's flags that were typed on the command line, by option name. */
export function givenFlags(cmd: Command, specs: OptionSpecs): Record<string, unknown> {
  const opts = cmd.opts();
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(specs)) if (cmd.getOptionValueSource(name) === 'cli') out[name] = opts[name];
  return out;
}

/** The value of `-m` / `--method` in an argument list, if any (read before the flags are defined). */
export function methodArgument(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (a === '-m' || a === '--method') return argv[i + 1];
    if (a.startsWith('--method=')) return a.slice('--method='.length);
    if (a.startsWith('-m') && a.length > 2 && !a.startsWith('--')) return a.slice(2);
  }
  return undefined;
}
