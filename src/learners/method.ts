/**
 * How a method plugs into `cl`: a MethodDef names the method, declares its options (with the
 * spec's defaults; the CLI turns them into flags and validates them) and builds a Learner.
 */
import type { Learner } from '../types.js';

export type OptionType = 'number' | 'integer' | 'boolean' | 'string';

export interface OptionDef {
  /** camelCase key in the options object; the CLI flag is its kebab-case form (--batch-size). */
  name: string;
  type: OptionType;
  default: number | boolean | string;
  help: string;
  /** Allowed values for string options. */
  choices?: string[];
  min?: number;
  max?: number;
}

export type MethodOptions = Record<string, number | boolean | string>;

export interface MethodContext {
  /** Seed for everything random in the learner (initialisation, shuffles). */
  seed: number;
  /** Feature dimension of the cached features the learner will see. */
  dim: number;
  /** Total number of classes in the dataset (upper bound on the head size). */
  numClasses: number;
}

export interface MethodDef {
  name: string;
  /** One line for `cl run --help` / `cl methods`. */
  description: string;
  /** Paper or reference for the record. */
  citation?: string;
  /** Whether the learner uses trainSeed (NMC does not). */
  seeded: boolean;
  options: OptionDef[];
  create(options: MethodOptions, ctx: MethodContext): Learner;
}
