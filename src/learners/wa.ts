/**
 * Weight Aligning (Zhao et al., "Maintaining Discrimination and Fairness in Class Incremental
 * Learning", CVPR 2020, arXiv 1911.07053) on frozen features: a head trained with
 * (1−λ)·CE + λ·KD on new samples ∪ herded exemplars, new-class rows rescaled by
 * γ = mean old-row norm / mean new-row norm after every task. Spec: design/methods/wa.md.
 */
import { UserError } from '../errors.js';
import type { MethodDef, MethodOptions, OptionDef } from './method.js';
import { HEAD_OPTIONS, MEMORY_OPTIONS, TRAIN_OPTIONS, headSettings, memorySettings, resolveOptions, trainSettings } from './head-options.js';
import { EVAL_MODES, HeadLearner, type EvalMode, type KdSettings } from './head-learner.js';

export const WA_OPTIONS: OptionDef[] = [
  ...TRAIN_OPTIONS,
  ...HEAD_OPTIONS,
  ...MEMORY_OPTIONS,
  { name: 'align', type: 'boolean', default: true, help: 'weight aligning after every task (false = KD + replay baseline)' },
  { name: 'kd', type: 'boolean', default: true, help: 'knowledge distillation from the previous aligned head' },
  { name: 'kdT', type: 'number', default: 2, min: 0, help: 'distillation temperature T' },
  {
    name: 'lambda',
    type: 'string',
    default: 'ratio',
    help: 'KD weight: ratio (= old / all seen classes) or a fixed number in [0, 1]',
  },
  {
    name: 'teacher',
    type: 'string',
    default: 'aligned',
    choices: ['aligned', 'raw'],
    help: 'distil from the aligned previous head (correct) or its pre-alignment logits (pitfall demo)',
  },
  {
    name: 'eval',
    type: 'string',
    default: 'both',
    choices: EVAL_MODES,
    help: 'cnn (aligned head, the headline), nme (nearest mean of exemplars) or both (headline cnn, nme as extra)',
  },
];

export function parseLambda(v: unknown): 'ratio' | number {
  if (v === 'ratio') return 'ratio';
  const x = typeof v === 'number' ? v : Number(v);
  if (typeof v === 'boolean' || !Number.isFinite(x) || x < 0 || x > 1) {
    throw new UserError(`wa --lambda must be "ratio" or a number in [0, 1], got "${String(v)}"`, 'pass --lambda ratio or e.g. --lambda 0.5');
  }
  return x;
}

export function createWaLearner(given: MethodOptions, ctx: { seed: number; dim: number }): HeadLearner {
  const o = resolveOptions('wa', WA_OPTIONS, given);
  if (!((o.kdT as number) > 0)) throw new UserError(`wa --kd-t must be positive, got ${String(o.kdT)}`, 'pass e.g. --kd-t 2');
  const kd: KdSettings | null = o.kd
    ? { temperature: o.kdT as number, lambda: parseLambda(o.lambda), teacher: o.teacher as 'aligned' | 'raw' }
    : null;
  const memory = memorySettings(o);
  const evalMode = o.eval as EvalMode;
  const memoryEmpty = memory.mode === 'fixed-total' ? memory.total === 0 : memory.perClass === 0;
  if (evalMode === 'nme' && memoryEmpty) {
    throw new UserError('wa --eval nme needs exemplars, but the memory is 0', 'use --eval cnn or a positive --memory');
  }
  return new HeadLearner({
    name: 'wa',
    seed: ctx.seed,
    dim: ctx.dim,
    train: trainSettings(o),
    head: headSettings(o),
    memory,
    kd,
    align: o.align as boolean,
    joint: false,
    eval: evalMode,
    options: { ...o },
  });
}

export const waMethod: MethodDef = {
  name: 'wa',
  description: 'Weight Aligning: head on frozen features, exemplars + KD, new-class rows rescaled to the old-row norm',
  citation: 'Zhao et al., Maintaining Discrimination and Fairness in Class Incremental Learning, CVPR 2020, arXiv 1911.07053',
  seeded: true,
  options: WA_OPTIONS,
  create: (options, ctx) => createWaLearner(options, ctx),
};
