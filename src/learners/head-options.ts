/**
 * Options shared by the learners that train a head on frozen features (wa, finetune, replay,
 * joint), with wa.md §3/§5 defaults, and the one place that turns a raw option object into
 * checked settings (UserError naming the option on any problem).
 */
import { UserError } from '../errors.js';
import type { MethodOptions, OptionDef } from './method.js';
import { HEAD_KINDS, type HeadKind } from './head.js';
import { SCHEDULE_KINDS, type ScheduleKind } from '../train/schedule.js';
import { OPTIMIZER_KINDS, type OptimizerKind } from '../train/optimizers.js';
import { MEMORY_MODES, type MemoryConfig, type MemoryMode } from '../train/memory.js';
import { HERDING_KINDS, type HerdingKind } from '../train/herding.js';

export const TRAIN_OPTIONS: OptionDef[] = [
  {
    name: 'epochs',
    type: 'integer',
    default: 40,
    min: 1,
    help: 'epochs per task (wa.md §3: 40 suffice for a head on frozen features; PyCIL uses 170-200 for a CNN)',
  },
  { name: 'lr', type: 'number', default: 0.1, min: 0, help: 'base learning rate' },
  { name: 'batchSize', type: 'integer', default: 128, min: 1, help: 'mini-batch size' },
  { name: 'weightDecay', type: 'number', default: 2e-4, min: 0, help: 'L2 weight decay for tasks after the first' },
  { name: 'weightDecayFirst', type: 'number', default: 5e-4, min: 0, help: 'L2 weight decay for the first task' },
  { name: 'momentum', type: 'number', default: 0.9, min: 0, max: 1, help: 'SGD momentum' },
  {
    name: 'schedule',
    type: 'string',
    default: 'step',
    choices: SCHEDULE_KINDS,
    help: 'learning-rate schedule: step (x0.1 at 50% and 75% of the epochs), cosine or constant',
  },
  { name: 'optimizer', type: 'string', default: 'sgd', choices: OPTIMIZER_KINDS, help: 'sgd (with momentum) or adam' },
];

export const HEAD_OPTIONS: OptionDef[] = [
  { name: 'head', type: 'string', default: 'linear', choices: HEAD_KINDS, help: 'linear head or an MLP adapter (D -> hidden ReLU -> classes)' },
  { name: 'hidden', type: 'integer', default: 512, min: 1, help: 'hidden width of the mlp head' },
  { name: 'bias', type: 'boolean', default: false, help: 'per-class bias on the last layer (PyCIL); never aligned' },
  {
    name: 'clip',
    type: 'string',
    default: 'auto',
    choices: ['auto', 'true', 'false'],
    help: 'weight clipping W <- max(W, 0) after every step; auto = on iff every feature of the first task is >= 0',
  },
  { name: 'normalize', type: 'boolean', default: false, help: 'L2-normalise every feature vector before use' },
];

export const MEMORY_OPTIONS: OptionDef[] = [
  { name: 'memory', type: 'integer', default: 2000, min: 0, help: 'exemplar budget (feature vectors) in fixed-total mode' },
  {
    name: 'memoryMode',
    type: 'string',
    default: 'fixed-total',
    choices: MEMORY_MODES,
    help: 'fixed-total: floor(memory / classes) per class; per-class: memoryPerClass each',
  },
  { name: 'memoryPerClass', type: 'integer', default: 20, min: 0, help: 'exemplars per class in per-class mode' },
  { name: 'herding', type: 'string', default: 'icarl', choices: HERDING_KINDS, help: 'exemplar selection: icarl, der or random' },
];

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

/** The same option list with some defaults replaced (e.g. clip off for the baselines). */
export function withDefaults(defs: OptionDef[], defaults: Record<string, number | boolean | string>): OptionDef[] {
  return defs.map((d) => (d.name in defaults ? { ...d, default: defaults[d.name] } : d));
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Fills defaults and checks types, ranges and choices. Unknown keys are rejected. Booleans may
 * arrive as 'true'/'false' strings, numbers as numeric strings (config files, env).
 */
export function resolveOptions(method: string, defs: OptionDef[], given: MethodOptions): MethodOptions {
  const out: MethodOptions = {};
  const known = new Set(defs.map((d) => d.name));
  for (const key of Object.keys(given)) {
    if (!known.has(key)) {
      throw new UserError(
        `method ${method} has no option "${key}"`,
        `known options: ${defs.map((d) => `--${kebab(d.name)}`).join(', ')}`,
      );
    }
  }
  for (const d of defs) {
    const raw = given[d.name];
    const flag = `--${kebab(d.name)}`;
    if (raw === undefined) {
      out[d.name] = d.default;
      continue;
    }
    if (d.type === 'boolean') {
      if (typeof raw === 'boolean') out[d.name] = raw;
      else if (raw === 'true' || raw === 'false') out[d.name] = raw === 'true';
      else throw new UserError(`${method} ${flag} must be true or false, got "${String(raw)}"`, `pass ${flag} true or ${flag} false`);
      continue;
    }
    if (d.type === 'number' || d.type === 'integer') {
      const v = typeof raw === 'number' ? raw : Number(raw);
      if (typeof raw === 'boolean' || !Number.isFinite(v)) {
        throw new UserError(`${method} ${flag} must be a number, got "${String(raw)}"`, `pass e.g. ${flag} ${String(d.default)}`);
      }
      if (d.type === 'integer' && !Number.isInteger(v)) {
        throw new UserError(`${method} ${flag} must be an integer, got ${v}`, `pass e.g. ${flag} ${String(d.default)}`);
      }
      if ((d.min !== undefined && v < d.min) || (d.max !== undefined && v > d.max)) {
        const range = `${d.min ?? '-inf'}..${d.max ?? 'inf'}`;
        throw new UserError(`${method} ${flag} must lie in ${range}, got ${v}`, `pass e.g. ${flag} ${String(d.default)}`);
      }
      out[d.name] = v;
      continue;
    }
    const s = String(raw);
    if (d.choices && !d.choices.includes(s)) {
      throw new UserError(`${method} ${flag} must be one of ${d.choices.join(', ')}, got "${s}"`, `pass e.g. ${flag} ${String(d.default)}`);
    }
    out[d.name] = s;
  }
  return out;
}

export function trainSettings(o: MethodOptions): TrainSettings {
  if (!((o.lr as number) > 0)) throw new UserError(`--lr must be positive, got ${String(o.lr)}`, 'pass e.g. --lr 0.1');
  return {
    epochs: o.epochs as number,
    lr: o.lr as number,
    batchSize: o.batchSize as number,
    weightDecay: o.weightDecay as number,
    weightDecayFirst: o.weightDecayFirst as number,
    momentum: o.momentum as number,
    schedule: o.schedule as ScheduleKind,
    optimizer: o.optimizer as OptimizerKind,
  };
}

export function headSettings(o: MethodOptions): HeadSettings {
  const clip = o.clip === 'auto' ? 'auto' : o.clip === 'true' || o.clip === true;
  return {
    head: o.head as HeadKind,
    hidden: o.hidden as number,
    bias: o.bias as boolean,
    clip,
    normalize: o.normalize as boolean,
  };
}

export function memorySettings(o: MethodOptions): MemoryConfig {
  return {
    mode: o.memoryMode as MemoryMode,
    total: o.memory as number,
    perClass: o.memoryPerClass as number,
    herding: o.herding as HerdingKind,
  };
}
