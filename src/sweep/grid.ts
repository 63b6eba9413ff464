/**
 * The grid of a study: an experiment file (src/study/study.ts) or `cl sweep`'s flags become a Study,
 * and expandStudy turns it into the list of run configurations, one per cell:
 *
 *   scenarios × method entries × per-method option grid × class orders × seeds
 *
 * A plain function of its inputs (no I/O), shared by local sweeps (child `cl run` processes) and
 * queued ones (src/queue/): each cell is a RunConfig and the `cl run` arguments that run it.
 * Option values only go to the methods that have that option; unseeded methods (nmc) run once per
 * option combination and order whatever the seeds say.
 */
import { UserError } from '../errors.js';
import { RUN_OPTIONS } from '../experiment-options.js';
import { optionFlag, resolveOptions, type OptionSpec } from '../options.js';
import type { OrderSpec } from '../scenario/orders.js';
import type { MethodInfo } from '../study/methods.js';
import { commonSpecs, type CommonConfig, type MethodEntry, type RunConfig, type Study } from '../study/study.js';

export type { MethodInfo };

/** `cl sweep <scenario> --methods … --seeds … --orders … --set …` plus further run flags. */
export interface SweepSpec {
  scenario: string;
  methods: string[];
  seeds: number[];
  /** Class orders (an axis); undefined: the scenario's. */
  orders?: OrderSpec[];
  /** Option name (camelCase or kebab-case, as typed) → values to try. */
  set: Record<string, string[]>;
  /** Further `cl run` flags, the same for every run (e.g. --backbone pixels, --epochs 5). */
  passthrough?: string[];
}

export interface SweepJob {
  /** 0-based position in the grid. */
  index: number;
  /** The complete configuration of the run (an experiment file of one cell). */
  config: RunConfig;
  method: string;
  /** Null for unseeded methods. */
  seed: number | null;
  /** The class order of the cell (null: the scenario's). */
  order: OrderSpec | null;
  /** The grid's option values of this cell (camelCase option → value). */
  options: Record<string, unknown>;
  /** Short human name, e.g. "wa order=seed:1 seed=2 lr=0.1". */
  label: string;
  /** Arguments of `cl run` for this cell (without the leading "run" and without output flags). */
  runArgs: string[];
  /** runArgs plus `--json --quiet --store <store>`: what a local sweep's child runs. */
  args: string[];
}

export interface Grid {
  jobs: SweepJob[];
  /** Remarks for the user (ignored seeds, options that do not apply to some method). */
  notes: string[];
}

export const camelCase = (key: string): string => key.replace(/^--/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
export const kebabCase = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** "a,b, c" → ["a", "b", "c"]; empty items are an error naming the flag. */
export function parseList(flag: string, value: string): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.length === 0 || items.some((s) => s === '')) {
    throw new UserError(`${flag} "${value}" has an empty item`, `write a comma-separated list, e.g. ${flag} a,b`);
  }
  return items;
}

/** `1,2,3` → [1, 2, 3]; every seed is checked as `cl run --seed` checks it (an integer in 0..2^32−1). */
export function parseSeeds(value: string): number[] {
  const spec = { seeds: { ...RUN_OPTIONS.seed, help: 'comma-separated trainSeeds, each as cl run --seed takes it' } };
  return parseList('--seeds', value).map((s) => resolveOptions(spec, { seeds: s }, 'cl sweep').seeds);
}

/** `--orders icarl-1993,seed:1,seed:2` → the order names (literal class lists need an experiment file). */
export function parseOrders(value: string): string[] {
  const items = parseList('--orders', value);
  for (const s of items) {
    if (/^\d+$/.test(s)) {
      throw new UserError(`--orders: "${s}" is not a class order`, '--orders takes order names (icarl-1993, podnet-fixed, natural, seed:<n>); put literal class lists in an experiment file ("orders": [[...], ...])');
    }
  }
  return items;
}

/** Repeated `--set name=v1,v2` flags → { name: [v1, v2] }. */
export function parseSet(values: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of values) {
    const m = /^([A-Za-z][A-Za-z0-9-]*)=(.+)$/.exec(v.trim());
    if (!m) throw new UserError(`--set "${v}" is not name=value[,value...]`, 'e.g. --set lr=0.1,0.01 (one --set per option)');
    const key = camelCase(m[1]);
    if (out[key]) throw new UserError(`--set ${m[1]} is given twice`, `list all values in one flag: --set ${m[1]}=a,b`);
    out[key] = parseList(`--set ${m[1]}`, m[2]);
  }
  return out;
}

function cartesian(entries: [string, unknown[]][]): Record<string, unknown>[] {
  let combos: Record<string, unknown>[] = [{}];
  for (const [k, values] of entries) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [k]: v })));
  return combos;
}

/** A CLI string as the option's type (validated like any flag of that option). */
function typed(name: string, spec: OptionSpec, raw: string, owner: string): unknown {
  return resolveOptions({ [name]: spec }, { [name]: raw }, owner)[name];
}

/** Flags a sweep sets per run itself. */
const RESERVED: Record<string, string> = {
  '--method': 'use --methods a,b',
  '-m': 'use --methods a,b',
  '--seed': 'use --seeds 1,2,3',
  '--json': 'remove --json',
  '--quiet': 'remove --quiet',
  '-q': 'remove -q',
  '--store': 'give --store before the scenario',
  '--config': 'give the experiment file as the argument: cl sweep exp.json',
};

/** Flags of `cl run` that take no value. */
const BARE = new Set(['offline', 'skipBadImages']);

/** Parse further `cl run` flags (`--name value`, `--name=value`, `--offline`) into name → text. */
export function parseRunFlags(args: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const flag = a.split('=')[0];
    if (RESERVED[flag]) throw new UserError(`cl sweep sets ${flag} of every run itself`, RESERVED[flag]);
    if (!a.startsWith('--') || a === '--') throw new UserError(`cl sweep: unexpected argument "${a}"`, 'further run options are flags, e.g. --epochs 5 or --backbone pixels');
    const name = camelCase(flag);
    if (a.includes('=')) out.push([name, a.slice(a.indexOf('=') + 1)]);
    else if (BARE.has(name)) out.push([name, 'true']);
    else {
      if (i + 1 >= args.length || args[i + 1].startsWith('--')) throw new UserError(`cl sweep: ${flag} needs a value`, `e.g. ${flag} <value>`);
      out.push([name, args[++i]]);
    }
  }
  return out;
}

export interface StudyOverrides {
  scenario?: string;
  /** Only these methods (entries of the file for them keep their options; others start empty). */
  methods?: string[];
  seeds?: number[];
  orders?: OrderSpec[];
  common?: CommonConfig;
  /** Option → value for every method entry that has the option. */
  options?: Record<string, unknown>;
  /** Option → values to try (like `--set`). */
  grid?: Record<string, unknown[]>;
}

/**
 * The study with command-line values in place of the file's: flags override the file. Option
 * values go to the methods that have them (a note names the others); an option no method has is
 * an error.
 */
export function applyOverrides(study: Study, o: StudyOverrides, lookup: (name: string) => MethodInfo): { study: Study; notes: string[] } {
  const notes: string[] = [];
  let methods: MethodEntry[] = study.methods.map((m) => ({ method: m.method, options: { ...m.options }, grid: { ...m.grid } }));
  if (o.methods) {
    const names = o.methods.map((n) => lookup(n).name);
    methods = names.flatMap((n) => {
      const own = methods.filter((m) => m.method === n);
      return own.length > 0 ? own : [{ method: n, options: {}, grid: {} }];
    });
  }
  const infos = new Map(methods.map((m) => [m.method, lookup(m.method)]));
  const spread = (what: Record<string, unknown> | undefined, apply: (m: MethodEntry, key: string, v: unknown) => void, flag: (k: string) => string): void => {
    for (const [key, v] of Object.entries(what ?? {})) {
      const having = methods.filter((m) => Object.hasOwn(infos.get(m.method)!.options, key));
      if (having.length === 0) {
        const list = [...infos.values()];
        throw new UserError(
          `${flag(key)}: none of the methods ${list.map((m) => m.name).join(', ')} has an option "${key}"`,
          `options: ${list.map((m) => `${m.name}: ${Object.keys(m.options).map(kebabCase).join(', ') || '(none)'}`).join('; ')}`,
        );
      }
      const without = [...new Set(methods.filter((m) => !having.includes(m)).map((m) => m.method))];
      if (without.length > 0) notes.push(`${without.join(', ')} ${without.length === 1 ? 'has' : 'have'} no option ${kebabCase(key)}: not applied to ${without.length === 1 ? 'it' : 'them'}`);
      for (const m of having) apply(m, key, v);
    }
  };
  spread(
    o.options,
    (m, key, v) => {
      m.options[key] = v;
      delete m.grid[key];
    },
    (k) => optionFlag(k),
  );
  spread(
    o.grid,
    (m, key, v) => {
      m.grid[key] = v as unknown[];
      delete m.options[key];
    },
    (k) => `--set ${kebabCase(k)}`,
  );
  return {
    study: {
      ...study,
      scenarios: o.scenario !== undefined ? [o.scenario] : study.scenarios,
      methods,
      ...(o.seeds ? { seeds: o.seeds } : {}),
      ...(o.orders ? { orders: o.orders } : {}),
      common: { ...study.common, ...(o.common ?? {}) },
    },
    notes,
  };
}

/**
 * Split further run flags into run-level values (backbone, data, split, backend: `common`) and
 * method options, each typed by its option spec.
 */
export function runFlagOverrides(flags: [string, string][], methodSpecs: MethodInfo[]): { common: CommonConfig; options: Record<string, unknown> } {
  const common: CommonConfig = {};
  const options: Record<string, unknown> = {};
  const specs = commonSpecs();
  for (const [name, raw] of flags) {
    if (name === 'order') throw new UserError('cl sweep: give class orders with --orders', 'e.g. --orders icarl-1993,seed:1');
    if (Object.hasOwn(specs, name)) {
      (common as Record<string, unknown>)[name] = typed(name, specs[name], raw, 'cl sweep');
      continue;
    }
    const owner = methodSpecs.find((m) => Object.hasOwn(m.options, name));
    if (!owner) {
      throw new UserError(
        `cl sweep: ${optionFlag(name)} is not an option of cl run or of the methods ${methodSpecs.map((m) => m.name).join(', ')}`,
        `options: ${methodSpecs.map((m) => `${m.name}: ${Object.keys(m.options).map(kebabCase).join(', ') || '(none)'}`).join('; ')}; see cl run --help`,
      );
    }
    options[name] = typed(name, owner.options[name], raw, owner.name);
  }
  return { common, options };
}

/** The study that `cl sweep <scenario> --methods … --seeds … --orders … --set …` describes. */
export function studyFromSpec(spec: SweepSpec, lookup: (name: string) => MethodInfo): { study: Study; notes: string[] } {
  if (spec.methods.length === 0) throw new UserError('--methods is empty', 'e.g. --methods nmc,wa');
  const names = [...new Set(spec.methods)];
  const infos = names.map(lookup);
  const { common, options } = runFlagOverrides(parseRunFlags(spec.passthrough ?? []), infos);
  const grid: Record<string, unknown[]> = {};
  for (const [key, values] of Object.entries(spec.set)) {
    const owner = infos.find((m) => Object.hasOwn(m.options, key));
    grid[key] = owner ? values.map((v) => typed(key, owner.options[key], v, owner.name)) : values;
  }
  const base: Study = { scenarios: [spec.scenario], methods: infos.map((m) => ({ method: m.name, options: {}, grid: {} })), seeds: spec.seeds, ...(spec.orders ? { orders: spec.orders } : {}), common: {} };
  return applyOverrides(base, { common, options, grid }, lookup);
}

/** A value as the text of its flag. */
function flagText(v: unknown): string {
  if (Array.isArray(v)) return v.map(String).join(',');
  return String(v);
}

/** The `cl run` arguments that run `config` (without "run" and without output flags). */
export function cellArgs(config: RunConfig): string[] {
  const args = [config.scenario, '--method', config.method];
  if (config.seed !== undefined) args.push('--seed', String(config.seed));
  if (config.order !== undefined) args.push('--order', flagText(config.order));
  for (const key of Object.keys(commonSpecs())) {
    const v = (config as unknown as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (BARE.has(key)) {
      if (v === true) args.push(optionFlag(key));
    } else args.push(optionFlag(key), flagText(v));
  }
  for (const [k, v] of Object.entries(config.options)) if (v !== undefined) args.push(optionFlag(k), flagText(v));
  return args;
}

const orderLabel = (o: OrderSpec): string => (Array.isArray(o) ? `[${o.slice(0, 3).join(',')},…]` : typeof o === 'object' ? `seed:${o.seed}` : o);

/** Every cell of the study, in the order scenarios → methods → option values → orders → seeds. */
export function expandStudy(study: Study, lookup: (name: string) => MethodInfo, store = ''): Grid {
  const notes: string[] = [];
  const jobs: SweepJob[] = [];
  const seeds = study.seeds;
  const orders: (OrderSpec | null)[] = study.orders ?? [null];
  const unseededNoted = new Set<string>();
  for (const scenario of study.scenarios) {
    for (const entry of study.methods) {
      const info = lookup(entry.method);
      const seedList: (number | null)[] = info.seeded ? (seeds ?? [null]) : [null];
      if (!info.seeded && seeds && seeds.length > 1 && !unseededNoted.has(info.name)) {
        unseededNoted.add(info.name);
        notes.push(`${info.name} is unseeded: one run per option combination and order, the seeds are ignored`);
      }
      for (const combo of cartesian(Object.entries(entry.grid))) {
        for (const order of orders) {
          for (const seed of seedList) {
            const config: RunConfig = {
              scenario,
              method: info.name,
              options: { ...entry.options, ...combo },
              ...(seed !== null ? { seed } : {}),
              ...(order !== null ? { order } : {}),
              ...study.common,
            };
            const label = [
              info.name,
              ...(study.scenarios.length > 1 ? [scenario] : []),
              ...(order !== null && orders.length > 1 ? [`order=${orderLabel(order)}`] : []),
              seed === null ? '' : `seed=${seed}`,
              ...Object.entries(combo).map(([k, v]) => `${kebabCase(k)}=${flagText(v)}`),
            ]
              .filter(Boolean)
              .join(' ');
            const runArgs = cellArgs(config);
            jobs.push({
              index: jobs.length,
              config,
              method: info.name,
              seed,
              order,
              options: combo,
              label,
              runArgs,
              args: [...runArgs, '--json', '--quiet', '--store', store],
            });
          }
        }
      }
    }
  }
  return { jobs, notes };
}

/** `cl sweep`'s flags straight to the grid (studyFromSpec, then expandStudy). */
export function expandGrid(spec: SweepSpec, lookup: (name: string) => MethodInfo, store: string): Grid {
  const { study, notes } = studyFromSpec(spec, lookup);
  const grid = expandStudy(study, lookup, store);
  return { jobs: grid.jobs, notes: [...notes, ...grid.notes] };
}
