/**
 * The method registry: every MethodDef `cl` knows, lookup by name, and option resolution
 * (defaults filled in, CLI strings coerced, ranges and choices checked).
 */
import { UserError } from '../errors.js';
import type { MethodDef, MethodOptions, OptionDef } from './method.js';
import { fecamMethod } from './fecam.js';
import { finetuneMethod } from './finetune.js';
import { jointMethod } from './joint.js';
import { adapterFinetuneMethod, napaVqMethod } from './napa-vq.js';
import { nmcMethod } from './nmc.js';
import { ranpacMethod } from './ranpac.js';
import { replayMethod } from './replay.js';
import { sldaMethod } from './slda.js';
import { waMethod } from './wa.js';

export const METHODS: MethodDef[] = [
  nmcMethod,
  waMethod,
  finetuneMethod,
  replayMethod,
  jointMethod,
  napaVqMethod,
  adapterFinetuneMethod,
  ranpacMethod,
  fecamMethod,
  sldaMethod,
];

export function getMethod(name: string): MethodDef {
  const def = METHODS.find((m) => m.name === name);
  if (!def) {
    throw new UserError(`unknown method "${name}"`, `known methods: ${METHODS.map((m) => m.name).join(', ')}`);
  }
  return def;
}

/** camelCase option name → its CLI flag (`batchSize` → `--batch-size`). */
export function optionFlag(name: string): string {
  return '--' + name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

function camel(key: string): string {
  return key.replace(/^--/, '').replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function describeDef(o: OptionDef): string {
  const values = o.choices ? o.choices.join('|') : o.type;
  return `${optionFlag(o.name)} <${values}> (default ${String(o.default)})`;
}

function coerce(def: MethodDef, o: OptionDef, raw: unknown): number | boolean | string {
  const where = `${def.name} option ${optionFlag(o.name)}`;
  const fail = (expected: string): never => {
    throw new UserError(`${where}: ${JSON.stringify(raw) ?? String(raw)} is not ${expected}`, `${o.help} — ${describeDef(o)}`);
  };
  let v: number | boolean | string;
  switch (o.type) {
    case 'boolean': {
      if (typeof raw === 'boolean') v = raw;
      else if (typeof raw === 'string' && /^(true|yes|on|1)$/i.test(raw.trim())) v = true;
      else if (typeof raw === 'string' && /^(false|no|off|0)$/i.test(raw.trim())) v = false;
      else return fail('a boolean (true or false)');
      break;
    }
    case 'number':
    case 'integer': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw.trim()) : NaN;
      if (!Number.isFinite(n)) return fail(o.type === 'integer' ? 'an integer' : 'a number');
      if (o.type === 'integer' && !Number.isInteger(n)) return fail('an integer');
      v = n;
      break;
    }
    case 'string': {
      if (typeof raw === 'string') v = raw;
      else if (typeof raw === 'number' || typeof raw === 'boolean') v = String(raw);
      else return fail('a string');
      break;
    }
  }
  if (typeof v === 'number') {
    if (o.min !== undefined && v < o.min) return fail(`>= ${o.min}`);
    if (o.max !== undefined && v > o.max) return fail(`<= ${o.max}`);
  }
  if (o.choices && !o.choices.includes(String(v))) return fail(`one of ${o.choices.join(', ')}`);
  return v;
}

/**
 * Fill defaults and validate `given` (keys in camelCase or kebab-case, values typed or CLI strings;
 * undefined values count as not given). Unknown options are a UserError listing the valid ones.
 */
export function resolveMethodOptions(def: MethodDef, given: Record<string, unknown> = {}): MethodOptions {
  const byName = new Map(def.options.map((o) => [o.name, o]));
  const out: MethodOptions = {};
  for (const [key, raw] of Object.entries(given)) {
    if (raw === undefined) continue;
    const name = camel(key);
    const o = byName.get(name);
    if (!o) {
      const valid = def.options.map((d) => optionFlag(d.name));
      throw new UserError(
        `method ${def.name} has no option "${key}"`,
        valid.length > 0 ? `valid options for ${def.name}: ${valid.join(', ')}` : `${def.name} takes no options`,
      );
    }
    if (name in out) throw new UserError(`method ${def.name}: option ${optionFlag(name)} is given twice`, 'give it once');
    out[name] = coerce(def, o, raw);
  }
  for (const o of def.options) if (!(o.name in out)) out[o.name] = o.default;
  return out;
}
