/** The `cl` command tree: one small module per subcommand, registered on demand. */
import { Command } from 'commander';
import { clVersion } from '../version.js';
import { commanderErrorsAsUserErrors } from './common.js';
type CommandModule = { register(program: Command): void };

/**
 * Which module registers each top-level command. Only the typed command's module is loaded (tfjs,
 * onnxruntime and vega take most of a second to import, which `cl ls` or `cl show` do not need);
 * help, suggestions for a mistyped command, and `cl` alone load them all.
 */
const MODULES: Record<string, () => Promise<CommandModule>> = {
  run: () => import('./run.js'),
  resume: () => import('./run.js'),
  compat: () => import('./compat.js'),
  ls: () => import('./ls.js'),
  rm: () => import('./rm.js'),
  show: () => import('./show.js'),
  compare: () => import('./compare.js'),
  export: () => import('./export.js'),
  sweep: () => import('./sweep.js'),
  worker: () => import('./worker.js'),
  cache: () => import('./cache.js'),
  backbones: () => import('./backbones.js'),
  scenarios: () => import('./catalog.js'),
  methods: () => import('./catalog.js'),
  datasets: () => import('./catalog.js'),
};

/**
 * The program with the commands `typed` needs (all of them when it names none, or undefined), and
 * commander's parse errors routed through UserError (one `cl: error:` line, exit 2).
 */
export async function buildProgram(typed?: string): Promise<Command> {
  const program = new Command();
  program
    .name('cl')
    .description('continual-learning experiment runner: class-incremental streams over frozen pretrained features')
    .version(clVersion())
    .showSuggestionAfterError(true);
  const loaders =
    typed === '--version' || typed === '-V' ? [] : typed !== undefined && Object.hasOwn(MODULES, typed) ? [MODULES[typed]] : Object.values(MODULES);
  const modules = await Promise.all(loaders.map((load) => load()));
  for (const m of new Set(modules)) m.register(program);
  commanderErrorsAsUserErrors(program);
  return program;
}
