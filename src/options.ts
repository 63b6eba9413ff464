/**
 * One option system for every method, for `cl compat` and for the run itself (docs/architecture.md
 * "Options"). An option is declared once — type, default, range or choices, help — in an option
 * group (a plain object, name → spec, in the order the options are shown and stored). Every value
 * goes through resolveOptions, whatever its source: a CLI string, a JSON value from a file, a
 * value in code. It coerces CLI strings by the declared type, validates the whole group against
 * the group's JSON Schema (ajv), and fills the defaults; the result is typed (OptionValues<S>).
 * The same input gets the same answer everywhere, and a literal default exists only in its spec.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { UserError } from './errors.js';

interface SpecBase {
  /** One line for `--help` and `cl methods`, written for users. */
  help: string;
  /** Must be given (no default). */
  required?: boolean;
  /** The sub-commands or methods the option acts on, for help text (compat: oca, bct, ...). */
  for?: readonly string[];
}

export interface IntegerSpec extends SpecBase {
  type: 'integer';
  default?: number;
  min?: number;
  max?: number;
}

export interface NumberSpec extends SpecBase {
  type: 'number';
  default?: number;
  min?: number;
  max?: number;
  /** Exclusive lower bound (value > gt). */
  gt?: number;
}

export interface BooleanSpec extends SpecBase {
  type: 'boolean';
  default?: boolean;
}

export interface ChoiceSpec<C extends string = string> extends SpecBase {
  type: 'choice';
  choices: readonly C[];
  default?: C;
}

/** A keyword (e.g. "auto", "ratio") or a number in a range. */
export interface KeywordOrNumberSpec<K extends string = string> extends SpecBase {
  type: 'keyword-or-number';
  keyword: K;
  default?: K | number;
  min?: number;
  max?: number;
  gt?: number;
}

export interface StringSpec extends SpecBase {
  type: 'string';
  default?: string;
}

/** One positive integer, or a list of them (`10`, `17,17,16`). */
export interface IntegersSpec extends SpecBase {
  type: 'integers';
  default?: number | number[];
  min?: number;
}

export type OptionSpec = IntegerSpec | NumberSpec | BooleanSpec | ChoiceSpec | KeywordOrNumberSpec | StringSpec | IntegersSpec;
export type OptionSpecs = Record<string, OptionSpec>;

type ValueOf<S> = S extends IntegerSpec | NumberSpec
  ? number
  : S extends BooleanSpec
    ? boolean
    : S extends ChoiceSpec<infer C>
      ? C
      : S extends KeywordOrNumberSpec<infer K>
        ? K | number
        : S extends StringSpec
          ? string
          : S extends IntegersSpec
            ? number | number[]
            : never;

/** The resolved, typed values of an option group: options with a default (or required) are always present. */
export type OptionValues<S extends OptionSpecs> = {
  -readonly [K in keyof S]: S[K] extends { default: unknown } | { required: true } ? ValueOf<S[K]> : ValueOf<S[K]> | undefined;
};

/** Declares an option group, keeping its literal types (choices, defaults) for OptionValues. */
export function defineOptions<const S extends OptionSpecs>(specs: S): S {
  for (const [name, spec] of Object.entries(specs)) checkSpec(name, spec);
  return specs;
}

/** The same group with some defaults replaced (e.g. clipping off for the baselines), order kept. */
export function withDefaults<S extends OptionSpecs>(specs: S, defaults: { [K in keyof S]?: ValueOf<S[K]> }): S {
  const out: OptionSpecs = {};
  for (const [name, spec] of Object.entries(specs)) out[name] = name in defaults ? ({ ...spec, default: defaults[name] } as OptionSpec) : spec;
  return out as S;
}

/** Programming errors in a declaration (tests check every group's defaults against its own schema). */
function checkSpec(name: string, spec: OptionSpec): void {
  if (!/^[a-z][a-zA-Z0-9]*$/.test(name)) throw new Error(`option name "${name}" must be camelCase`);
  if (spec.required && spec.default !== undefined) throw new Error(`option ${name} is required and has a default`);
}

// ------------------------------------------------------------------ names

/** camelCase option name → its CLI flag (`batchSize` → `--batch-size`). */
export function optionFlag(name: string): string {
  return '--' + name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `--batch-size`, `batch-size` or `batchSize` → `batchSize`. */
export function optionName(key: string): string {
  return key.replace(/^--/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

// ------------------------------------------------------------------ descriptions

function range(spec: { min?: number; max?: number; gt?: number }): string {
  const lo = spec.gt !== undefined ? `> ${spec.gt}` : spec.min !== undefined ? `≥ ${spec.min}` : null;
  const hi = spec.max !== undefined ? `≤ ${spec.max}` : null;
  if (spec.min !== undefined && spec.max !== undefined) return ` in ${spec.min}..${spec.max}`;
  return [lo, hi].filter(Boolean).map((s) => ` ${s}`).join(' and');
}

/** What a valid value looks like, in words: "an integer ≥ 1", "one of step, cosine, constant". */
export function expected(spec: OptionSpec): string {
  switch (spec.type) {
    case 'integer':
      return `an integer${range(spec)}`;
    case 'number':
      return `a number${range(spec)}`;
    case 'boolean':
      return 'true or false';
    case 'choice':
      return `one of ${spec.choices.join(', ')}`;
    case 'keyword-or-number':
      return `${spec.keyword} or a number${range(spec)}`;
    case 'string':
      return 'a string';
    case 'integers':
      return `an integer${range(spec)} or a comma-separated list of them`;
  }
}

/** The value placeholder of a flag: `<auto|true|false>`, `<n>`, `<number>`. */
export function placeholder(spec: OptionSpec): string {
  switch (spec.type) {
    case 'integer':
      return '<n>';
    case 'number':
      return '<number>';
    case 'boolean':
      return '<true|false>';
    case 'choice':
      return `<${spec.choices.join('|')}>`;
    case 'keyword-or-number':
      return `<${spec.keyword}|number>`;
    case 'string':
      return '<value>';
    case 'integers':
      return '<n|list>';
  }
}

/** Help line of an option: its help and its default. */
export function describeOption(spec: OptionSpec): string {
  const dflt = spec.default !== undefined ? ` (default ${String(spec.default)})` : spec.required ? ' (required)' : '';
  return `${spec.help}${dflt}`;
}

// ------------------------------------------------------------------ JSON Schema

function schemaOf(spec: OptionSpec): Record<string, unknown> {
  const bounds = (s: { min?: number; max?: number; gt?: number }): Record<string, number> => ({
    ...(s.min !== undefined ? { minimum: s.min } : {}),
    ...(s.max !== undefined ? { maximum: s.max } : {}),
    ...(s.gt !== undefined ? { exclusiveMinimum: s.gt } : {}),
  });
  const base = { description: spec.help, ...(spec.default !== undefined ? { default: spec.default } : {}) };
  switch (spec.type) {
    case 'integer':
      return { ...base, type: 'integer', ...bounds(spec) };
    case 'number':
      return { ...base, type: 'number', ...bounds(spec) };
    case 'boolean':
      return { ...base, type: 'boolean' };
    case 'choice':
      return { ...base, enum: [...spec.choices] };
    case 'keyword-or-number':
      return { ...base, anyOf: [{ const: spec.keyword }, { type: 'number', ...bounds(spec) }] };
    case 'string':
      return { ...base, type: 'string' };
    case 'integers': {
      const int = { type: 'integer', ...bounds(spec) };
      return { ...base, anyOf: [int, { type: 'array', items: int, minItems: 1 }] };
    }
  }
}

/** The JSON Schema (draft 2020-12 subset) of an option group: what an experiment file may hold for it. */
export function optionsSchema(specs: OptionSpecs): Record<string, unknown> {
  const required = Object.entries(specs)
    .filter(([, s]) => s.required)
    .map(([n]) => n);
  return {
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries(Object.entries(specs).map(([n, s]) => [n, schemaOf(s)])),
    ...(required.length > 0 ? { required } : {}),
  };
}

const ajv = new Ajv({ allErrors: false, strict: true });
const validators = new WeakMap<OptionSpecs, ValidateFunction>();

function validatorFor(specs: OptionSpecs): ValidateFunction {
  let v = validators.get(specs);
  if (!v) {
    v = ajv.compile(optionsSchema(specs));
    validators.set(specs, v);
  }
  return v;
}

// ------------------------------------------------------------------ resolution

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+)?$/i;

/**
 * A CLI string (or a JSON value) as the declared type, when it reads as one; anything else is
 * returned unchanged for the schema to reject. Booleans are exactly true/false.
 */
function coerce(spec: OptionSpec, raw: unknown): unknown {
  const text = typeof raw === 'string' ? raw.trim() : null;
  switch (spec.type) {
    case 'integer':
    case 'number':
      return text !== null && NUMBER.test(text) ? Number(text) : raw;
    case 'boolean':
      return text === 'true' ? true : text === 'false' ? false : raw;
    case 'choice':
      return text !== null ? text : typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : raw;
    case 'keyword-or-number':
      if (text === spec.keyword) return text;
      return text !== null && NUMBER.test(text) ? Number(text) : raw;
    case 'string':
      return text !== null ? text : raw;
    case 'integers': {
      if (text === null) return raw;
      const list = text.replace(/^\[|\]$/g, '');
      const parts = list.split(',').map((s) => s.trim());
      if (parts.some((s) => !/^[+-]?\d+$/.test(s))) return raw;
      const nums = parts.map(Number);
      return nums.length === 1 && list === text && !text.includes(',') ? nums[0] : nums;
    }
  }
}

function show(raw: unknown): string {
  return typeof raw === 'string' ? `"${raw}"` : (JSON.stringify(raw) ?? String(raw));
}

/**
 * Validate `given` against the group `specs` and fill the defaults. Keys may be camelCase,
 * kebab-case or flags (`--batch-size`); undefined values count as not given. `owner` names the
 * group in messages ("wa", "cl run"). Any problem is one UserError naming the flag, what it must
 * be and what it got, with the option's help as the hint.
 */
export function resolveOptions<S extends OptionSpecs>(specs: S, given: Record<string, unknown>, owner: string): OptionValues<S> {
  const values: Record<string, unknown> = {};
  const raws: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(given)) {
    if (raw === undefined) continue;
    const name = optionName(key);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) {
      const valid = Object.keys(specs).map(optionFlag);
      const typed = key.startsWith('-') ? key : /^[a-z][a-zA-Z0-9]*$/.test(key) ? optionFlag(key) : `--${key}`;
      throw new UserError(
        `${owner} has no option ${typed}`,
        valid.length > 0 ? `the options of ${owner}: ${valid.join(', ')}` : `${owner} takes no options`,
      );
    }
    if (name in values) throw new UserError(`${owner}: option ${optionFlag(name)} is given twice`, 'give it once');
    values[name] = coerce(spec, raw);
    raws[name] = raw;
  }
  const validate = validatorFor(specs);
  if (!validate(values)) {
    const err = validate.errors?.[0];
    if (err?.keyword === 'required') {
      const name = (err.params as { missingProperty: string }).missingProperty;
      throw new UserError(`${owner} needs ${optionFlag(name)}`, `${optionFlag(name)} ${placeholder(specs[name])}: ${specs[name].help}`);
    }
    const name = err?.instancePath.split('/')[1] ?? '';
    const spec = specs[name];
    if (!spec) throw new Error(`option validation failed without naming an option: ${JSON.stringify(validate.errors)}`);
    throw new UserError(
      `${owner} ${optionFlag(name)} must be ${expected(spec)}, got ${show(raws[name])}`,
      `${optionFlag(name)} ${placeholder(spec)}: ${describeOption(spec)}`,
    );
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    const v = name in values ? values[name] : spec.default;
    if (v !== undefined) out[name] = v;
  }
  return out as OptionValues<S>;
}

/** The defaults of a group (what resolveOptions gives for no input). */
export function defaultsOf<S extends OptionSpecs>(specs: S): OptionValues<S> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) if (spec.default !== undefined) out[name] = spec.default;
  return out as OptionValues<S>;
}
