/**
 * What studies and sweeps need to know about a method: its name, whether it is seeded, and its
 * option group in the one option system (src/options.ts), whose JSON Schema checks experiment files.
 */
import { getMethod } from '../learners/index.js';
import type { OptionSpecs } from '../options.js';

export interface MethodInfo {
  name: string;
  seeded: boolean;
  options: OptionSpecs;
}

/** MethodInfo of a method by name (UserError for an unknown one). */
export function getMethodInfo(name: string): MethodInfo {
  const def = getMethod(name);
  return { name: def.name, seeded: def.seeded, options: def.options };
}
