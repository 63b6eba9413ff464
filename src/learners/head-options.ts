/**
 * Option groups shared by the methods that train a head on frozen features (wa, replay, finetune,
 * joint, lwf, icarl), with cl's frozen-feature defaults (docs/methods/wa.md "Hyperparameters"),
 * and the settings the head learner takes from them.
 */
import { UserError } from '../errors.js';
import { defineOptions, withDefaults, type OptionValues } from '../options.js';
import { HEAD_KINDS, type HeadKind } from './head.js';
import { SCHEDULE_KINDS, type ScheduleKind } from '../train/schedule.js';
import { OPTIMIZER_KINDS, type OptimizerKind } from '../train/optimizers.js';
import { MEMORY_MODES, type MemoryConfig } from '../train/memory.js';
import { HERDING_KINDS } from '../train/herding.js';

export const TRAIN_OPTIONS = defineOptions({
  epochs: {
    type: 'integer',
    default: 40,
    min: 1,
    help: 'epochs per task (40 suffice for a head on frozen features; the papers train a CNN for 170-250)',
  },
  lr: { type: 'number', default: 0.1, gt: 0, help: 'base learning rate' },
  batchSize: { type: 'integer', default: 128, min: 1, help: 'mini-batch size' },
  weightDecay: { type: 'number', default: 2e-4, min: 0, help: 'L2 weight decay for tasks after the first' },
  weightDecayFirst: { type: 'number', default: 5e-4, min: 0, help: 'L2 weight decay for the first task' },
  momentum: { type: 'number', default: 0.9, min: 0, max: 1, help: 'SGD momentum' },
  schedule: {
    type: 'choice',
    default: 'step',
    choices: SCHEDULE_KINDS,
    help: 'learning-rate schedule: step (x0.1 at 50% and 75% of the epochs), cosine or constant',
  },
  optimizer: { type: 'choice', default: 'sgd', choices: OPTIMIZER_KINDS, help: 'sgd (with momentum) or adam' },
});

export const HEAD_OPTIONS = defineOptions({
  head: { type: 'choice', default: 'linear', choices: HEAD_KINDS, help: 'linear head or an MLP (features -> hidden ReLU -> classes)' },
  hidden: { type: 'integer', default: 512, min: 1, help: 'hidden width of the mlp head' },
  bias: { type: 'boolean', default: false, help: 'per-class bias on the last layer (as PyCIL); never aligned' },
  clip: {
    type: 'choice',
    default: 'auto',
    choices: ['auto', 'true', 'false'],
    help: 'weight clipping W <- max(W, 0) after every step; auto = on iff every feature of the first task is >= 0',
  },
  normalize: { type: 'boolean', default: false, help: 'L2-normalise every feature vector before use' },
});

/**
 * The training and head options of the methods that are not WA: weight clipping is part of WA's
 * recipe, so it is off by default (--clip auto|true to match wa).
 */
export const UNCLIPPED_HEAD_OPTIONS = defineOptions({ ...TRAIN_OPTIONS, ...withDefaults(HEAD_OPTIONS, { clip: 'false' }) });

export const MEMORY_OPTIONS = defineOptions({
  memory: { type: 'integer', default: 2000, min: 0, help: 'exemplar budget (feature vectors) in fixed-total mode' },
  memoryMode: {
    type: 'choice',
    default: 'fixed-total',
    choices: MEMORY_MODES,
    help: 'fixed-total: floor(memory / classes) per class; per-class: memory-per-class each',
  },
  memoryPerClass: { type: 'integer', default: 20, min: 0, help: 'exemplars per class in per-class mode' },
  herding: { type: 'choice', default: 'icarl', choices: HERDING_KINDS, help: 'exemplar selection: icarl, der or random' },
});

export interface TrainSettings {
  epochs: number;
  lr: number;
  batchSize: number;
  weightDecay: number;
  weightDecayFirst: number;
  momentum: number;
  schedule: ScheduleKind;
  optimizer: OptimizerKind;
}

export interface HeadSettings {
  head: HeadKind;
  hidden: number;
  bias: boolean;
  clip: 'auto' | boolean;
  normalize: boolean;
}

export function trainSettings(o: OptionValues<typeof TRAIN_OPTIONS>): TrainSettings {
  const { epochs, lr, batchSize, weightDecay, weightDecayFirst, momentum, schedule, optimizer } = o;
  return { epochs, lr, batchSize, weightDecay, weightDecayFirst, momentum, schedule, optimizer };
}

export function headSettings(o: OptionValues<typeof HEAD_OPTIONS>): HeadSettings {
  return { head: o.head, hidden: o.hidden, bias: o.bias, clip: o.clip === 'auto' ? 'auto' : o.clip === 'true', normalize: o.normalize };
}

export function memorySettings(o: OptionValues<typeof MEMORY_OPTIONS>): MemoryConfig {
  return { mode: o.memoryMode, total: o.memory, perClass: o.memoryPerClass, herding: o.herding };
}

/** Whether a memory setting keeps no exemplar at all. */
export function memoryIsEmpty(m: MemoryConfig): boolean {
  return m.mode === 'fixed-total' ? m.total === 0 : m.perClass === 0;
}

/** The rule of the methods whose headline may be the nearest mean of exemplars (wa, icarl): it needs a memory. */
export function checkNmeHasExemplars(method: string, o: OptionValues<typeof MEMORY_OPTIONS> & { eval: string }): void {
  if (o.eval === 'nme' && memoryIsEmpty(memorySettings(o))) {
    throw new UserError(`${method} --eval nme needs exemplars, but the memory is 0`, 'use a positive --memory, or --eval cnn');
  }
}
