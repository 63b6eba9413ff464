/**
 * Learning-rate schedules, evaluated once per epoch (0-based epoch index -> learning rate).
 */
import { UserError } from '../errors.js';

export type LrSchedule = (epoch: number) => number;
export type ScheduleKind = 'step' | 'cosine' | 'constant';
export const SCHEDULE_KINDS: ScheduleKind[] = ['step', 'cosine', 'constant'];

export function constantSchedule(base: number): LrSchedule {
  return () => base;
}

/** lr = base · gamma^(number of milestones ≤ epoch) (PyTorch MultiStepLR). */
export function stepSchedule(base: number, milestones: number[], gamma = 0.1): LrSchedule {
  const sorted = [...milestones].sort((a, b) => a - b);
  return (epoch) => {
    let k = 0;
    while (k < sorted.length && sorted[k] <= epoch) k++;
    return base * Math.pow(gamma, k);
  };
}

/** Cosine annealing from base (epoch 0) towards minLr at epoch `epochs` (SGDR without restarts, Loshchilov & Hutter). */
export function cosineSchedule(base: number, epochs: number, minLr = 0): LrSchedule {
  return (epoch) => minLr + ((base - minLr) * (1 + Math.cos((Math.PI * epoch) / Math.max(1, epochs)))) / 2;
}

/** Milestones at 50 % and 75 % of the epochs (cl's default step shape, docs/methods/wa.md "Hyperparameters"). */
export function defaultMilestones(epochs: number): number[] {
  return [Math.floor(epochs * 0.5), Math.floor(epochs * 0.75)].filter((m) => m > 0);
}

export function makeSchedule(kind: string, base: number, epochs: number): LrSchedule {
  switch (kind) {
    case 'step':
      return stepSchedule(base, defaultMilestones(epochs), 0.1);
    case 'cosine':
      return cosineSchedule(base, epochs);
    case 'constant':
      return constantSchedule(base);
    default:
      throw new UserError(`unknown learning-rate schedule "${kind}"`, `use --schedule ${SCHEDULE_KINDS.join(' | ')}`);
  }
}
