/**
 * The method registry: every MethodDef `cl` knows, lookup by name, and the one way to turn
 * user-given options into a learner (docs/adding-a-method.md).
 */
import { UserError } from '../errors.js';
import { resolveOptions, type OptionSpecs, type OptionValues } from '../options.js';
import type { Learner } from '../types.js';
import { fecamMethod } from './fecam.js';
import { finetuneAdapterMethod } from './finetune-adapter.js';
import { finetuneMethod } from './finetune.js';
import { icarlMethod } from './icarl.js';
import { jointMethod } from './joint.js';
import { lwfMethod } from './lwf.js';
import type { MethodContext, MethodDef } from './method.js';
import { napaVqMethod } from './napa-vq.js';
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
  lwfMethod,
  icarlMethod,
  napaVqMethod,
  finetuneAdapterMethod,
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

/**
 * The method's options from user input (CLI strings, JSON values, typed values; camelCase or
 * kebab-case keys): validated, completed with the defaults, and checked across options.
 */
export function resolveMethodOptions<S extends OptionSpecs>(def: MethodDef<S>, given: Record<string, unknown> = {}): OptionValues<S> {
  const o = resolveOptions(def.options, given, def.name);
  def.check?.(o);
  return o;
}

/** A learner of a method (or its name) from user-given options, validated as `cl run` does. */
export function createLearner(method: string | MethodDef, given: Record<string, unknown>, ctx: MethodContext): Learner {
  const def = typeof method === 'string' ? getMethod(method) : method;
  return def.create(resolveMethodOptions(def, given), ctx);
}
