/**
 * Fine-tuning baseline (the forgetting lower bound): the same head and schedule as `wa`, trained
 * with cross-entropy on the new task's samples only; no memory, no distillation, no alignment.
 * Weight clipping is part of WA's recipe, so it is off here by default (--clip auto|true to match wa).
 */
import type { MethodDef, OptionDef } from './method.js';
import { HEAD_OPTIONS, withDefaults, TRAIN_OPTIONS, headSettings, resolveOptions, trainSettings } from './head-options.js';
import { HeadLearner } from './head-learner.js';

export const FINETUNE_OPTIONS: OptionDef[] = [...TRAIN_OPTIONS, ...withDefaults(HEAD_OPTIONS, { clip: 'false' })];

export const finetuneMethod: MethodDef = {
  name: 'finetune',
  description: 'Fine-tuning lower bound: the wa head trained on each new task only (no memory, no KD, no alignment)',
  seeded: true,
  options: FINETUNE_OPTIONS,
  create(given, ctx) {
    const o = resolveOptions('finetune', FINETUNE_OPTIONS, given);
    return new HeadLearner({
      name: 'finetune',
      seed: ctx.seed,
      dim: ctx.dim,
      train: trainSettings(o),
      head: headSettings(o),
      memory: null,
      kd: null,
      align: false,
      joint: false,
      eval: 'cnn',
      options: { ...o },
    });
  },
};
