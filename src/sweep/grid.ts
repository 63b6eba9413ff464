/**
 * `cl sweep` grid: methods × seeds × option values, expanded into `cl run` argument lists.
 * Option values only go to the methods that have that option; unseeded methods (nmc) run once per
 * option combination whatever --seeds says.
 */
import { UserError } from '../errors.js';
import { RUN_OPTIONS } from '../experiment-options.js';
import { resolveOptions } from '../options.js';

/** What the grid needs to know about a method (a subset of MethodDef). */
export interface MethodInfo {
  name: string;
  seeded: boolean;
  options: { name: string }[];
}

export interface SweepSpec {
  scenario: string;
  methods: string[];
  seeds: number[];
  /** Option name (camelCase or kebab-case, as typed) → values to try. */
  set: Record<string, string[]>;
  /** Further `cl run` arguments, the same for every run (e.g. --backbone pixels). */
  passthrough?: string[];
}

export interface SweepJob {
  /** 0-based position in the grid. */
  index: number;
  method: string;
  /** Null for unseeded methods. */
  seed: number | null;
  /** camelCase option → value, as passed on the command line. */
  options: Record<string, string>;
  /** Short human name, e.g. "wa seed=2 lr=0.1". */
  label: string;
  /** Arguments of `cl run` (without the leading "run"). */
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

function cartesian(entries: [string, string[]][]): Record<string, string>[] {
  let combos: Record<string, string>[] = [{}];
  for (const [k, values] of entries) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [k]: v })));
  return combos;
}

const RESERVED = ['--method', '-m', '--seed', '--json', '--quiet', '-q', '--store'];

/** Expand the grid in the order methods → option values → seeds. */
export function expandGrid(spec: SweepSpec, lookup: (name: string) => MethodInfo, store: string): Grid {
  if (spec.methods.length === 0) throw new UserError('--methods is empty', 'e.g. --methods nmc,wa');
  const passthrough = spec.passthrough ?? [];
  for (const a of passthrough) {
    const flag = a.split('=')[0];
    if (RESERVED.includes(flag)) {
      throw new UserError(`cl sweep sets ${flag} of every run itself`, flag === '--seed' ? 'use --seeds 1,2,3' : flag === '--method' || flag === '-m' ? 'use --methods a,b' : `remove ${flag}`);
    }
  }
  const infos = [...new Set(spec.methods)].map(lookup);
  const setKeys = Object.keys(spec.set);
  for (const k of setKeys) {
    if (!infos.some((m) => m.options.some((o) => o.name === k))) {
      throw new UserError(
        `--set ${kebabCase(k)}: none of the methods ${infos.map((m) => m.name).join(', ')} has an option "${k}"`,
        `options: ${infos.map((m) => `${m.name}: ${m.options.map((o) => kebabCase(o.name)).join(', ') || '(none)'}`).join('; ')}`,
      );
    }
  }
  const notes: string[] = [];
  const jobs: SweepJob[] = [];
  for (const m of infos) {
    const applicable = setKeys.filter((k) => m.options.some((o) => o.name === k));
    const skipped = setKeys.filter((k) => !applicable.includes(k));
    if (skipped.length) notes.push(`${m.name} has no option ${skipped.map(kebabCase).join(', ')}: those values are not swept for it`);
    const seeds: (number | null)[] = m.seeded ? spec.seeds : [null];
    if (!m.seeded && spec.seeds.length > 1) notes.push(`${m.name} is unseeded: one run per option combination, --seeds ignored`);
    for (const options of cartesian(applicable.map((k) => [k, spec.set[k]]))) {
      for (const seed of seeds) {
        const optArgs = Object.entries(options).flatMap(([k, v]) => [`--${kebabCase(k)}`, v]);
        const label = [m.name, seed === null ? '' : `seed=${seed}`, ...Object.entries(options).map(([k, v]) => `${kebabCase(k)}=${v}`)].filter(Boolean).join(' ');
        jobs.push({
          index: jobs.length,
          method: m.name,
          seed,
          options,
          label,
          args: [spec.scenario, '--method', m.name, ...(seed === null ? [] : ['--seed', String(seed)]), ...optArgs, ...passthrough, '--json', '--quiet', '--store', store],
        });
      }
    }
  }
  return { jobs, notes };
}
