/**
 * Joint-training baseline (the upper bound): at every task a fresh head is trained from scratch,
 * with the first-task recipe (weightDecayFirst), on the features of ALL classes seen so far. It
 * necessarily keeps every past training feature, so it is not a continual learner.
 * Weight clipping is part of WA's recipe, so it is off here by default (--clip auto|true to match wa).
 */
import type { MethodDef, OptionDef } from './method.js';
import { HEAD_OPTIONS, withDefaults, TRAIN_OPTIONS, headSettings, resolveOptions, trainSettings } from './head-options.js';
import { HeadLearner } from './head-learner.js';

export const JOINT_OPTIONS: OptionDef[] = [...TRAIN_OPTIONS, ...withDefaults(HEAD_OPTIONS, { clip: 'false' })];

export const jointMethod: MethodDef = {
  name: 'joint',
  description:
    'Joint-training upper bound: retrains the wa head from scratch on all data seen so far (keeps every past feature)',
  seeded: true,
  options: JOINT_OPTIONS,
  create(given, ctx) {
    const o = resolveOptions('joint', JOINT_OPTIONS, given);
    return new HeadLearner({
      name: 'joint',
      seed: ctx.seed,
      dim: ctx.dim,
      train: trainSettings(o),
      head: headSettings(o),
      memory: null,
      kd: null,
      align: false,
      joint: true,
      eval: 'cnn',
      options: { ...o },
    });
  },
};
