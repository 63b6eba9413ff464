/**
 * The options of an experiment itself, declared in the one option system (src/options.ts) like
 * every method option: the training seed and the class order of `cl run` and `cl compat`, the
 * split override of `cl run`, the number of model versions of `cl compat`.
 */
import { defineOptions } from './options.js';

/** Largest trainSeed: seeds become the 32-bit state of the RNG (src/rng.ts); a larger one would wrap. */
export const MAX_SEED = 0xffffffff;

const SEED = {
  type: 'integer',
  default: 1,
  min: 0,
  max: MAX_SEED,
  help: 'trainSeed: seeds everything random in the learner (initialisation, shuffles, sampling)',
} as const;

const ORDER = {
  type: 'string',
  help: "class order: icarl-1993 | podnet-fixed | natural | seed:<n> | a comma-separated list (default: the scenario's)",
} as const;

export const RUN_OPTIONS = defineOptions({
  seed: SEED,
  base: { type: 'integer', min: 0, help: 'override the scenario split: classes in the first task (0: as many as every later task)' },
  increment: { type: 'integers', min: 1, help: 'override the scenario split: classes per later task, or a list such as 17,17,16' },
  order: ORDER,
});

export const COMPAT_RUN_OPTIONS = defineOptions({
  steps: {
    type: 'integer',
    required: true,
    min: 2,
    help: 'model versions: the class order is cut into n blocks as equal as possible (100 in 3: 34, 33, 33), version t trains on blocks 1..t',
  },
  seed: { ...SEED, help: 'trainSeed: seeds everything random in the model versions' },
  order: ORDER,
});
