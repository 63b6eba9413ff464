/**
 * How a method plugs into `cl` (docs/adding-a-method.md): a MethodDef names the method, declares
 * its options once as an option group (src/options.ts: the CLI turns them into flags, experiment
 * files will hold them, and one resolver validates them all) and builds a Learner from the
 * resolved, typed options.
 */
import type { OptionSpecs, OptionValues } from '../options.js';
import type { Learner } from '../types.js';

export interface MethodContext {
  /** Seed for everything random in the learner (initialisation, shuffles); an integer in 0..2^32−1. */
  seed: number;
  /** Feature dimension of the cached features the learner will see. */
  dim: number;
  /** Total number of classes in the dataset (upper bound on the head size). */
  numClasses: number;
}

export interface MethodDef<S extends OptionSpecs = OptionSpecs> {
  name: string;
  /** One line for `cl methods` and `cl run --help`. */
  description: string;
  /** Paper or reference for the record. */
  citation?: string;
  /** The method's page, relative to the repository root (docs/methods/<name>.md). */
  docs: string;
  /** Whether the learner uses trainSeed (NMC does not). */
  seeded: boolean;
  /** Every option of the method, declared once (defineOptions). */
  options: S;
  /** Rules between options that one option's spec cannot say (a UserError naming the flags). */
  check?(options: OptionValues<S>): void;
  /** The learner, from options that resolveOptions has validated and completed. */
  create(options: OptionValues<S>, ctx: MethodContext): Learner;
}

/** Declares a method (typed options for check and create). */
export function defineMethod<S extends OptionSpecs>(def: MethodDef<S>): MethodDef<S> {
  return def;
}
