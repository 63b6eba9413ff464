/** Metric labels used by every report, so that A_T, Ā and the forgetting variants are never confused. */
import type { ForgettingDefinition } from '../types.js';

export const LABEL_FINAL = 'A_T (final accuracy)';
export const LABEL_AVERAGE = 'Ā (average incremental accuracy, first task included)';
export const LABEL_BWT = 'BWT (GEM)';
export const LABEL_TASK_IL = 'task-IL = accuracy when the task of each test sample is given (argmax over its task\'s classes)';
export const LABEL_TOP5 = 'top-5 = true class among the 5 best-scored seen classes';

export const FORGETTING_LABELS: Record<ForgettingDefinition, string> = {
  'max-prev': 'F (max-prev, Chaudhry)',
  'max-all': 'F (max-all, Mammoth/PyCIL)',
  first: 'F (first, Avalanche)',
};

/** Short column headers for tables (the legend under each table spells them out). */
export const SHORT = { final: 'A_T', average: 'Ā', bwt: 'BWT' } as const;
export const shortForgetting = (def: ForgettingDefinition): string => `F[${def}]`;
