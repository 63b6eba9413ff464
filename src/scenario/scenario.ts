/**
 * Scenario files: `scenarios/<name>.json` (or any .json path) → validated, with the class order and
 * the per-task class lists resolved. The scenarios folder sits in the package root, found by walking
 * up from this module to the folder holding package.json (works from src/ under tsx and from dist/src/).
 */
import fs from 'node:fs';
import path from 'node:path';
import { datasetClasses, declaredClassCount } from '../data/index.js';
import { EXTERNAL_BACKBONE, isDatasetSpec, parseDatasetSpec } from '../data/spec.js';
import { UserError } from '../errors.js';
import { packageRoot } from '../version.js';
import { resolveOrder, type ClassOrder } from './orders.js';
import { scenarioSchemaErrors, type ScenarioFile } from './schema.js';
import { formatSplit, parseSplit, taskClasses as splitTaskClasses, type SplitSpec } from './split.js';

export interface ScenarioOverrides {
  /** Replace the split's base (`--base`). */
  base?: number;
  /** Replace the split's increment (`--increment`), uniform or an explicit list. */
  increment?: number | number[];
  /** Replace the class order (CLI order string, see resolveOrder). */
  order?: string;
}

export interface ResolvedScenario {
  name: string;
  description: string;
  /** Dataset id, or a dataset spec in canonical form (absolute path). */
  dataset: string;
  numClasses: number;
  /** True when the scenario uses only classes 0..numClasses-1 of a dataset that has more ("subset": true). */
  subset: boolean;
  /** Canonical split name after overrides, e.g. "B0-Inc10". */
  split: string;
  order: ClassOrder;
  taskClasses: number[][];
  backbone: string;
  notes?: string[];
  /** Absolute path of the scenario file. */
  file: string;
}

export interface ScenarioListing {
  name: string;
  file: string;
  /** The fields below are '' for a broken file (see `error`). */
  description: string;
  dataset: string;
  split: string;
  /** The order as written: a name, 'seed:<n>', or 'list[<length>]'. */
  order: string;
  backbone: string;
  /** Set when the file cannot be read or is invalid. */
  error?: string;
}

export { packageRoot };

export function scenariosDir(): string {
  return path.join(packageRoot(), 'scenarios');
}

function scenarioFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort((a, b) => (a.slice(0, -5) < b.slice(0, -5) ? -1 : a.slice(0, -5) > b.slice(0, -5) ? 1 : 0));
}

/** Every scenario file of `dir` (default: the package's scenarios folder), broken ones flagged. */
export function listScenarios(dir: string = scenariosDir()): ScenarioListing[] {
  return scenarioFiles(dir).map((f) => {
    const file = path.join(dir, f);
    try {
      const s = readScenarioFile(file);
      const order = Array.isArray(s.order) ? `list[${s.order.length}]` : typeof s.order === 'object' ? `seed:${s.order.seed}` : s.order;
      return { name: s.name, file, description: s.description, dataset: s.dataset, split: s.split, order, backbone: s.backbone };
    } catch (e) {
      const name = f.slice(0, -'.json'.length);
      const error = e instanceof Error ? e.message : String(e);
      return { name, file, description: '', dataset: '', split: '', order: '', backbone: '', error };
    }
  });
}

/** 1-based line and column of a character offset. */
function lineColumn(text: string, pos: number): { line: number; column: number } {
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  return { line, column: pos - before.lastIndexOf('\n') };
}

/** Scenario files are a few hundred bytes; a class-order list of 100,000 classes stays under 1 MiB. */
export const MAX_SCENARIO_BYTES = 4 * 1024 * 1024;
/** Scenario files nest three levels deep ({ "order": { "seed": n } }); anything far deeper is not one. */
export const MAX_SCENARIO_DEPTH = 32;

/**
 * Deepest nesting of arrays/objects in JSON text (brackets inside strings ignored), computed
 * without recursion so a pathological file cannot exhaust the stack of whatever walks it next.
 */
export function jsonNestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** Read, parse and schema-check one scenario file. */
export function readScenarioFile(file: string): ScenarioFile {
  let text: string;
  try {
    // Only a regular file of sane size is read: `/dev/zero` or a FIFO would never end.
    const st = fs.statSync(file);
    if (!st.isFile()) throw new UserError(`scenario ${file} is not a regular file`, 'give the path to a scenario .json file, or a scenario name (see `cl scenarios`)');
    if (st.size > MAX_SCENARIO_BYTES) {
      throw new UserError(`scenario file ${file} is ${st.size} bytes, more than a scenario can be (${MAX_SCENARIO_BYTES})`, 'give the path to a scenario .json file, or a scenario name (see `cl scenarios`)');
    }
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(
      `cannot read scenario file ${file}${code ? ` (${code})` : ''}`,
      code === 'ENOENT' ? 'check the path, or give a scenario name (see `cl scenarios`)' : 'check the file permissions',
    );
  }
  const depth = jsonNestingDepth(text);
  if (depth > MAX_SCENARIO_DEPTH) {
    throw new UserError(`scenario file ${file} nests ${depth} levels deep (a scenario has at most 3)`, 'required fields: name, description, dataset, numClasses, split (e.g. "B0-Inc10"), order, backbone; see the files listed by `cl scenarios`');
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const m = /position (\d+)/.exec(msg);
    const where = m ? (({ line, column }) => ` at line ${line}, column ${column}`)(lineColumn(text, Number(m[1]))) : '';
    throw new UserError(
      `scenario file ${file} is not valid JSON${where}: ${msg}`,
      'fix the JSON syntax (quoted keys, no trailing commas, no comments)',
    );
  }
  const problems = scenarioSchemaErrors(data);
  if (problems.length > 0) {
    throw new UserError(
      `scenario file ${file} is invalid: ${problems.join('; ')}`,
      'required fields: name, description, dataset, numClasses, split (e.g. "B0-Inc10"), order, backbone; optional: subset, notes',
    );
  }
  const scenario = data as ScenarioFile;
  // Against the dataset's declared class count where the registry knows it (before any order or
  // task list is built); a dataset spec is checked against its own classes when the scenario is
  // resolved (specDataset), and every dataset once more when loaded (scenarioFeatures).
  const declared = declaredClassCount(scenario.dataset);
  if (declared !== undefined) checkScenarioClasses(scenario, declared, file);
  return scenario;
}

/**
 * A scenario's class count against its dataset's: more classes than the dataset has is always an
 * error; fewer only when the scenario says `"subset": true` (then it uses classes 0..numClasses-1).
 * `datasetClasses` is the dataset's declared count (the registry's, or the loaded dataset's).
 */
export function checkScenarioClasses(s: { name: string; dataset: string; numClasses: number; subset?: boolean }, datasetClasses: number, file?: string): void {
  const where = file ? `scenario file ${file}` : `scenario ${s.name}`;
  if (s.numClasses > datasetClasses) {
    throw new UserError(
      `${where}: numClasses is ${s.numClasses} but dataset ${s.dataset} has ${datasetClasses} classes`,
      `set "numClasses": ${datasetClasses} (see \`cl datasets\`)`,
    );
  }
  if (s.numClasses < datasetClasses && s.subset !== true) {
    throw new UserError(
      `${where}: numClasses is ${s.numClasses} but dataset ${s.dataset} has ${datasetClasses} classes, so ${datasetClasses - s.numClasses} classes would be left out silently`,
      `set "numClasses": ${datasetClasses}, or add "subset": true to run on classes 0..${s.numClasses - 1} only`,
    );
  }
}

function checkOverrides(o: ScenarioOverrides): void {
  if (o.base !== undefined && (!Number.isInteger(o.base) || o.base < 0)) {
    throw new UserError(`--base ${String(o.base)} is not a non-negative integer`, 'use e.g. --base 50 (0: the first task is an ordinary increment)');
  }
  const inc = o.increment;
  if (inc !== undefined) {
    const ok = Array.isArray(inc) ? inc.length > 0 && inc.every((v) => Number.isInteger(v) && v > 0) : Number.isInteger(inc) && inc > 0;
    if (!ok) {
      throw new UserError(
        `--increment ${String(inc)} is not a positive integer or a list of positive integers`,
        'use e.g. --increment 10, or --increment 17,17,16 for uneven tasks',
      );
    }
  }
}

/** Resolve a parsed scenario file (order, split, overrides). `file` names the source in errors. */
export function resolveScenario(s: ScenarioFile, file: string, overrides: ScenarioOverrides = {}): ResolvedScenario {
  checkOverrides(overrides);
  const dataset = specDataset(s, file);
  const within = <T>(what: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`${what}: ${e.message}`, e.hint);
      throw e;
    }
  };
  const fileSpec: SplitSpec = within(`scenario file ${file}: /split`, () => parseSplit(s.split));
  const order = overrides.order !== undefined
    ? within('--order', () => resolveOrder(overrides.order as string, s.numClasses))
    : within(`scenario file ${file}: /order`, () => resolveOrder(s.order, s.numClasses));
  const overridden = overrides.base !== undefined || overrides.increment !== undefined;
  const spec: SplitSpec = {
    base: overrides.base ?? fileSpec.base,
    increment: overrides.increment ?? fileSpec.increment,
  };
  const what = overridden
    ? `cannot apply ${[
        overrides.base !== undefined ? `--base ${overrides.base}` : '',
        overrides.increment !== undefined ? `--increment ${String(overrides.increment)}` : '',
      ].filter(Boolean).join(' ')} to scenario ${s.name} (split ${s.split})`
    : `scenario file ${file}: /split`;
  let tasks: number[][];
  try {
    tasks = within(what, () => splitTaskClasses(order.classes, spec));
  } catch (e) {
    // Split problems of --base/--increment get a hint in flag syntax (the file syntax B0-Inc[...] is not a flag value).
    if (!overridden || !(e instanceof UserError) || !e.hint) throw e;
    throw new UserError(e.message, e.hint.replace(/B\d+-Inc\[([\d,\s]+)\]/g, (_, list: string) => `--increment ${list.replace(/\s/g, '')}`).replace(/make the increments sum to (\d+)/, 'make the --increment list sum to $1'));
  }
  return {
    name: s.name,
    description: s.description,
    dataset,
    numClasses: s.numClasses,
    subset: s.subset === true,
    split: formatSplit(spec),
    order,
    taskClasses: tasks,
    backbone: s.backbone,
    ...(s.notes !== undefined ? { notes: Array.isArray(s.notes) ? s.notes : [s.notes] } : {}),
    file,
  };
}

/**
 * A scenario file's dataset spec in canonical form (its path relative to the file's folder), with the
 * file's numClasses checked against the spec's own classes (checkScenarioClasses: more is an error,
 * fewer only with "subset": true); dataset ids pass through.
 */
function specDataset(s: ScenarioFile, file: string): string {
  const spec = parseDatasetSpec(s.dataset, path.dirname(file));
  if (!spec) return s.dataset;
  const { numClasses } = datasetClasses(spec.canonical);
  checkScenarioClasses({ ...s, dataset: spec.canonical }, numClasses, file);
  return spec.canonical;
}

/**
 * A dataset spec used as a scenario (`cl run imagefolder:<dir> --increment 10`): the split comes from
 * --base / --increment (required), the order from --order (default natural), the backbone from
 * --backbone (default vit-b16-in21k, the backbone of the shipped scenarios; features need none).
 * With `requireSplit: false` (cl compat, which cuts the order into --steps blocks) the split defaults
 * to one task of all classes.
 */
export function adhocScenario(specText: string, overrides: ScenarioOverrides = {}, opts: { requireSplit?: boolean } = {}): ResolvedScenario {
  const spec = parseDatasetSpec(specText);
  if (!spec) throw new Error(`adhocScenario: "${specText}" is not a dataset spec`);
  const { numClasses } = datasetClasses(spec.canonical);
  // `cl compat` cuts the class order into --steps blocks itself: one task of every class stands in.
  if (overrides.increment === undefined && opts.requireSplit === false) overrides = { ...overrides, increment: numClasses };
  if (overrides.increment === undefined) {
    throw new UserError(
      `${spec.canonical} is a dataset (${numClasses} classes), not a scenario: it has no class split`,
      `give the split with --increment (and --base), e.g. --increment ${[10, 5, 2, 1].find((d) => numClasses % d === 0 && numClasses / d >= 2) ?? 1}`,
    );
  }
  checkOverrides(overrides);
  const inc = overrides.increment;
  const file: ScenarioFile = {
    name: spec.canonical,
    description: `${spec.kind === 'features' ? 'features' : 'image folder'} ${spec.path} (${numClasses} classes), split and order from the command line`,
    dataset: spec.canonical,
    numClasses,
    split: `B${overrides.base ?? 0}-Inc${Array.isArray(inc) ? `[${inc.join(',')}]` : inc}`,
    order: 'natural',
    backbone: spec.kind === 'features' ? EXTERNAL_BACKBONE : 'vit-b16-in21k',
  };
  return resolveScenario(file, spec.canonical, { order: overrides.order });
}

/** True when the argument names a file rather than a scenario of the scenarios folder. */
function looksLikePath(nameOrPath: string): boolean {
  return nameOrPath.endsWith('.json') || nameOrPath.includes('/') || nameOrPath.includes('\\');
}

/**
 * Load a scenario by name (`scenarios/<name>.json` of the package, or of `dir`) or by path to a .json
 * file, then apply overrides.
 */
export function loadScenario(nameOrPath: string, overrides: ScenarioOverrides = {}, dir: string = scenariosDir()): ResolvedScenario {
  if (isDatasetSpec(nameOrPath)) return adhocScenario(nameOrPath, overrides);
  let file: string;
  if (looksLikePath(nameOrPath)) {
    file = path.resolve(nameOrPath);
    if (!fs.existsSync(file)) {
      throw new UserError(`scenario file ${file} does not exist`, 'check the path, or give the name of a scenario (see `cl scenarios`)');
    }
  } else {
    file = path.join(dir, `${nameOrPath}.json`);
    if (!fs.existsSync(file)) {
      const names = scenarioFiles(dir).map((f) => f.slice(0, -'.json'.length));
      throw new UserError(
        `unknown scenario "${nameOrPath}"`,
        names.length > 0
          ? `available scenarios: ${names.join(', ')} (or give the path to a scenario .json file)`
          : `no scenario files in ${dir}; give the path to a scenario .json file`,
      );
    }
  }
  return resolveScenario(readScenarioFile(file), file, overrides);
}
