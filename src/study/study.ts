/**
 * Experiment files (docs/experiments.md): a JSON (or YAML) file that names the scenario(s), the
 * method(s) with their options, the backbone, seeds and class orders of a study. Every value is
 * checked against the same option groups as the CLI flags (src/options.ts): the run's own options
 * (RUN_OPTIONS), the backbone, data and backend options, and each method's own group. A problem is
 * one UserError naming the file and the JSON pointer of the value (`/methods/1/options/lr`).
 *
 * One file describes one run (`method`, `seed`, `order`: what `cl show <id> --config` prints) or a
 * grid (`methods`, `seeds`, `orders`, per-method `grid`); src/sweep/grid.ts expands it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../errors.js';
import { isDatasetSpec, parseDatasetSpec } from '../data/spec.js';
import { BACKBONE_OPTIONS, BACKEND_OPTIONS, DATA_OPTIONS, IMAGE_FOLDER_OPTIONS, RUN_OPTIONS } from '../experiment-options.js';
import { expected, optionFlag, optionsSchema, placeholder, describeOption, type OptionSpecs } from '../options.js';
import type { OrderSpec } from '../scenario/orders.js';
import { getMethodInfo, type MethodInfo } from './methods.js';

/** The values every run of a study shares (keys as the option names, i.e. the CLI flags in camelCase). */
export interface CommonConfig {
  base?: number;
  increment?: number | number[];
  backbone?: string;
  inputNorm?: string;
  inputSize?: number;
  inputLayout?: string;
  featurePool?: string;
  preprocess?: string;
  extractBatchSize?: number;
  backend?: string;
  dataDir?: string;
  cacheDir?: string;
  offline?: boolean;
  resize?: string;
  skipBadImages?: boolean;
}

/** One run, completely: also a valid experiment file of one cell. */
export interface RunConfig extends CommonConfig {
  scenario: string;
  method: string;
  /** Method options (the record stores them resolved: every option with its value). */
  options: Record<string, unknown>;
  /** trainSeed; absent for an unseeded method in a sweep (it runs once). */
  seed?: number;
  order?: OrderSpec;
}

export interface MethodEntry {
  method: string;
  options: Record<string, unknown>;
  /** Option → values to try (a grid axis per option, like `cl sweep --set`). */
  grid: Record<string, unknown[]>;
}

export interface Study {
  /** The file it came from (absolute), for messages. */
  file?: string;
  description?: string;
  scenarios: string[];
  methods: MethodEntry[];
  /** Undefined: the run default (1). */
  seeds?: number[];
  /** Undefined: the scenario's own order. */
  orders?: OrderSpec[];
  common: CommonConfig;
}

const COMMON_GROUPS: OptionSpecs[] = [
  { base: RUN_OPTIONS.base, increment: RUN_OPTIONS.increment },
  BACKBONE_OPTIONS,
  DATA_OPTIONS,
  IMAGE_FOLDER_OPTIONS,
  BACKEND_OPTIONS,
];
const COMMON_SPECS: OptionSpecs = Object.assign({}, ...COMMON_GROUPS) as OptionSpecs;
/** Keys whose value is a path, resolved against the folder of the file. */
const PATH_KEYS = ['dataDir', 'cacheDir'] as const;

const ORDER_SCHEMA = {
  anyOf: [
    { type: 'string', minLength: 1 },
    { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 1 },
  ],
};
const SEED_SCHEMA = { type: 'integer', minimum: RUN_OPTIONS.seed.min, maximum: RUN_OPTIONS.seed.max };
const METHOD_ENTRY_SCHEMA = {
  anyOf: [
    { type: 'string', minLength: 1 },
    {
      type: 'object',
      additionalProperties: false,
      required: ['method'],
      properties: {
        method: { type: 'string', minLength: 1 },
        options: { type: 'object' },
        grid: { type: 'object', additionalProperties: { type: 'array', minItems: 1 } },
      },
    },
  ],
};

/** The JSON Schema of the file's own structure (method options are checked per method afterwards). */
export function studySchema(): Record<string, unknown> {
  const common = (optionsSchema(COMMON_SPECS) as { properties: Record<string, unknown> }).properties;
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      $schema: { type: 'string' },
      description: { type: 'string' },
      scenario: { type: 'string', minLength: 1 },
      scenarios: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
      method: { type: 'string', minLength: 1 },
      options: { type: 'object' },
      methods: { type: 'array', items: METHOD_ENTRY_SCHEMA, minItems: 1 },
      seed: SEED_SCHEMA,
      seeds: { type: 'array', items: SEED_SCHEMA, minItems: 1 },
      order: ORDER_SCHEMA,
      orders: { type: 'array', items: ORDER_SCHEMA, minItems: 1 },
      ...common,
    },
  };
}

const ajv = new Ajv({ allErrors: false, strict: false });
const validateStructure = new Ajv({ allErrors: true, strict: false }).compile(studySchema());

/** The error that says most: an unknown or missing key, else the deepest value, else the first. */
function mostSpecific(errors: ErrorObject[]): ErrorObject {
  const keyed = errors.find((e) => e.keyword === 'additionalProperties' || e.keyword === 'required');
  if (keyed) return keyed;
  const depth = (e: ErrorObject): number => e.instancePath.split('/').length;
  return errors.reduce((best, e) => (depth(e) > depth(best) && e.keyword !== 'anyOf' ? e : best), errors[0]);
}

/** "/methods/1/options/lr" from path segments (RFC 6901 escaping). */
export function pointer(...parts: (string | number)[]): string {
  return parts.map((p) => `/${String(p).replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

function fail(file: string, at: string, message: string, hint?: string): never {
  throw new UserError(`${file}: ${at || '/'} ${message}`, hint);
}

const show = (v: unknown): string => (JSON.stringify(v) ?? String(v)).slice(0, 80);

function valueAt(data: unknown, ptr: string): unknown {
  let v = data;
  for (const seg of ptr.split('/').slice(1)) {
    const key = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  }
  return v;
}

/** One ajv error of the structure schema as a message at its pointer. */
function structureError(file: string, data: unknown, err: ErrorObject): never {
  const at = err.instancePath;
  if (err.keyword === 'additionalProperties') {
    const key = (err.params as { additionalProperty: string }).additionalProperty;
    const inEntry = /^\/methods\/\d+$/.test(at);
    fail(
      file,
      pointer(...at.split('/').slice(1), key),
      `is not a key of ${inEntry ? 'a method entry' : 'an experiment file'}`,
      inEntry
        ? 'a method entry is "name" or {"method": "name", "options": {...}, "grid": {"option": [values]}}'
        : `keys: scenario(s), method + options or methods, seed(s), order(s), ${Object.keys(COMMON_SPECS).join(', ')} (docs/experiments.md)`,
    );
  }
  if (err.keyword === 'required') fail(file, at, `needs "${(err.params as { missingProperty: string }).missingProperty}"`);
  const name = at.split('/')[1];
  const spec = name !== undefined && at.split('/').length === 2 ? COMMON_SPECS[name] : undefined;
  if (spec) fail(file, at, `must be ${expected(spec)}, got ${show(valueAt(data, at))}`, `${optionFlag(name)} ${placeholder(spec)}: ${describeOption(spec)}`);
  const what: Record<string, string> = {
    scenario: 'a scenario name or the path of a scenario .json file',
    scenarios: 'a non-empty list of scenario names or paths',
    method: 'a method name (see `cl methods`)',
    methods: 'a non-empty list of method entries: "name" or {"method": "name", "options": {...}, "grid": {...}}',
    seed: `an integer in 0..${RUN_OPTIONS.seed.max}`,
    seeds: `a non-empty list of integers in 0..${RUN_OPTIONS.seed.max}`,
    order: 'a class order: icarl-1993, podnet-fixed, natural, seed:<n>, or a list of every class id',
    orders: 'a non-empty list of class orders (icarl-1993, podnet-fixed, natural, seed:<n>, or lists of class ids)',
    options: 'an object of method options',
  };
  fail(file, at, `must be ${what[name ?? ''] ?? err.message ?? 'valid'}, got ${show(valueAt(data, at))}`);
}

/**
 * Check a method's options (a JSON object from a file) against the method's option group: unknown
 * names and wrong values are reported at their pointer. Values stay as given (defaults are filled
 * when the run resolves them, through the same group).
 */
export function checkMethodOptions(file: string, at: string, info: MethodInfo, options: unknown, list = false): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) fail(file, at, `must be an object of ${info.name} options, got ${show(options)}`);
  const specs = info.options;
  for (const [key, value] of Object.entries(options as Record<string, unknown>)) {
    const spec = Object.hasOwn(specs, key) ? specs[key] : undefined;
    const where = pointer(...at.split('/').slice(1), key);
    if (!spec) {
      const valid = Object.keys(specs);
      fail(file, where, `is not an option of ${info.name}`, valid.length > 0 ? `the options of ${info.name}: ${valid.join(', ')} (cl methods)` : `${info.name} takes no options`);
    }
    const values = list ? (value as unknown[]) : [value];
    values.forEach((v, k) => {
      const ok = ajv.validate(optionsSchema({ [key]: spec }), { [key]: v });
      if (!ok) fail(file, list ? pointer(...where.split('/').slice(1), k) : where, `must be ${expected(spec)}, got ${show(v)}`, `${optionFlag(key)} ${placeholder(spec)}: ${describeOption(spec)}`);
    });
  }
}

/** Resolve `p` against `dir` unless absolute. */
const resolveIn = (dir: string, p: string): string => (path.isAbsolute(p) ? p : path.resolve(dir, p));

/**
 * A scenario name stays a name; a dataset spec (`imagefolder:<dir>`, `features:<path>`) gets its
 * canonical form, and a path (ends in .json or has a slash) is resolved, both against `dir`.
 */
export function resolveScenarioRef(dir: string, s: string): string {
  if (isDatasetSpec(s)) return parseDatasetSpec(s, dir)!.canonical;
  return s.endsWith('.json') || s.includes('/') || s.includes('\\') ? resolveIn(dir, s) : s;
}

/** `onnx:` / `tfjs:` backbones with a relative local path are resolved against the file's folder. */
export function resolveBackboneRef(dir: string, spec: string): string {
  const m = /^(onnx|tfjs):(.*)$/.exec(spec);
  if (!m) return spec;
  const target = m[2];
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target) || path.isAbsolute(target)) return spec;
  return `${m[1]}:${resolveIn(dir, target)}`;
}

/** Parse the text of an experiment file (JSON, or YAML for .yaml/.yml). */
function parseText(file: string, text: string): unknown {
  const yaml = /\.ya?ml$/i.test(file);
  try {
    return yaml ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new UserError(`experiment file ${file} is not valid ${yaml ? 'YAML' : 'JSON'}: ${msg}`, yaml ? 'fix the YAML syntax' : 'fix the JSON syntax (quoted keys, no trailing commas, no comments)');
  }
}

/** Read and validate an experiment file; relative paths in it are taken relative to its folder. */
export function readStudyFile(file: string, lookup: (name: string) => MethodInfo = getMethodInfo): Study {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`cannot read experiment file ${abs}${code ? ` (${code})` : ''}`, code === 'ENOENT' ? 'check the path' : 'check the file permissions');
  }
  return parseStudy(parseText(abs, text), abs, lookup);
}

/** Validate parsed experiment-file data; `file` names it in messages and anchors relative paths. */
export function parseStudy(data: unknown, file: string, lookup: (name: string) => MethodInfo = getMethodInfo): Study {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) fail(file, '', `must be an object, got ${show(data)}`, 'see docs/experiments.md for the keys');
  if (!validateStructure(data)) structureError(file, data, mostSpecific(validateStructure.errors!));
  const d = data as Record<string, unknown>;
  const pairs: [string, string][] = [
    ['scenario', 'scenarios'],
    ['method', 'methods'],
    ['seed', 'seeds'],
    ['order', 'orders'],
  ];
  for (const [one, many] of pairs) {
    if (one in d && many in d) fail(file, pointer(many), `cannot be given together with "${one}"`, `use "${one}" for one value or "${many}" for a list`);
  }
  if (!('scenario' in d) && !('scenarios' in d)) fail(file, '', 'needs "scenario" (or "scenarios")', 'e.g. "scenario": "split-cifar100"');
  if (!('method' in d) && !('methods' in d)) fail(file, '', 'needs "method" (or "methods")', 'e.g. "method": "nmc", or "methods": ["nmc", {"method": "wa", "options": {"epochs": 30}}]');
  if ('options' in d && !('method' in d)) fail(file, pointer('options'), 'belongs to "method"', 'with "methods", give each entry its own options: {"method": "wa", "options": {...}}');

  const dir = path.dirname(file);
  const methods: MethodEntry[] = [];
  const entries: { at: string; raw: unknown }[] = 'method' in d ? [{ at: '', raw: { method: d.method, options: d.options ?? {} } }] : (d.methods as unknown[]).map((raw, i) => ({ at: pointer('methods', i), raw }));
  for (const { at, raw } of entries) {
    const e = typeof raw === 'string' ? { method: raw } : (raw as { method: string; options?: Record<string, unknown>; grid?: Record<string, unknown[]> });
    let info: MethodInfo;
    try {
      info = lookup(e.method);
    } catch (err) {
      if (err instanceof UserError) fail(file, at ? (typeof raw === 'string' ? at : `${at}/method`) : pointer('method'), `names an ${err.message}`, err.hint);
      throw err;
    }
    checkMethodOptions(file, at ? `${at}/options` : pointer('options'), info, e.options ?? {});
    if (e.grid) {
      checkMethodOptions(file, `${at}/grid`, info, e.grid, true);
      for (const key of Object.keys(e.grid)) {
        if (e.options && key in e.options) fail(file, `${at}/grid/${key}`, `is also set in ${at}/options/${key}`, 'give an option either one value (options) or a list to try (grid)');
      }
    }
    methods.push({ method: info.name, options: { ...(e.options ?? {}) }, grid: { ...(e.grid ?? {}) } });
  }

  const common: CommonConfig = {};
  for (const key of Object.keys(COMMON_SPECS)) {
    if (key in d) (common as Record<string, unknown>)[key] = d[key];
  }
  for (const key of PATH_KEYS) if (typeof common[key] === 'string') common[key] = resolveIn(dir, common[key]);
  if (common.backbone) common.backbone = resolveBackboneRef(dir, common.backbone);

  const scenarios = ('scenario' in d ? [d.scenario as string] : (d.scenarios as string[])).map((s, i) => {
    try {
      return resolveScenarioRef(dir, s);
    } catch (err) {
      if (err instanceof UserError) fail(file, 'scenario' in d ? pointer('scenario') : pointer('scenarios', i), err.message, err.hint);
      throw err;
    }
  });
  const seeds = 'seed' in d ? [d.seed as number] : (d.seeds as number[] | undefined);
  const orders = 'order' in d ? [d.order as OrderSpec] : (d.orders as OrderSpec[] | undefined);
  return {
    file,
    ...(typeof d.description === 'string' ? { description: d.description } : {}),
    scenarios,
    methods,
    ...(seeds ? { seeds: [...seeds] } : {}),
    ...(orders ? { orders: [...orders] } : {}),
    common,
  };
}

/** The keys an experiment file shares across runs, with their option specs (for flags and overrides). */
export function commonSpecs(): OptionSpecs {
  return COMMON_SPECS;
}
