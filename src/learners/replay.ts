/**
 * Replay baseline: the same head and schedule as `wa`, cross-entropy on new samples ∪ herded
 * exemplars (same memory rules as wa); no distillation, no alignment. The gap to `wa` measures
 * what KD + weight aligning add.
 * Weight clipping is part of WA's recipe, so it is off here by default (--clip auto|true to match wa).
 */
import type { MethodDef, OptionDef } from './method.js';
import { HEAD_OPTIONS, withDefaults, MEMORY_OPTIONS, TRAIN_OPTIONS, headSettings, memorySettings, resolveOptions, trainSettings } from './head-options.js';
import { HeadLearner } from './head-learner.js';

export const REPLAY_OPTIONS: OptionDef[] = [...TRAIN_OPTIONS, ...withDefaults(HEAD_OPTIONS, { clip: 'false' }), ...MEMORY_OPTIONS];

export const replayMethod: MethodDef = {
  name: 'replay',
  description: 'Exemplar replay baseline: the wa head trained on new samples + herded exemplars (no KD, no alignment)',
  seeded: true,
  options: REPLAY_OPTIONS,
  create(given, ctx) {
    const o = resolveOptions('replay', REPLAY_OPTIONS, given);
    return new HeadLearner({
      name: 'replay',
      seed: ctx.seed,
      dim: ctx.dim,
      train: trainSettings(o),
      head: headSettings(o),
      memory: memorySettings(o),
      kd: null,
      align: false,
      joint: false,
      eval: 'cnn',
      options: { ...o },
    });
  },
};
