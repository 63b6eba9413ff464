/**
 * Divergence guard: a training loss that turns NaN or ±Inf, or explodes past a limit (1e12 by
 * default: weight clipping can keep an exploded model's loss finite), stops the run with a message
 * that names the task, the epoch and a fix. The runner stores it in the run record as status 'failed'.
 */
export class TrainingDivergedError extends Error {
  constructor(
    readonly task: number,
    readonly epoch: number,
    readonly epochs: number,
    readonly loss: number,
    readonly hint: string,
  ) {
    super(
      `training diverged: the loss ${Number.isFinite(loss) ? `reached ${loss.toExponential(3)}` : `became ${String(loss)}`} in task index ${task}, epoch ${epoch}/${epochs}; ${hint}`,
    );
    this.name = 'TrainingDivergedError';
  }
}

export function isTrainingDivergedError(e: unknown): e is TrainingDivergedError {
  return e instanceof TrainingDivergedError;
}

export const DEFAULT_MAX_LOSS = 1e12;

/** Throws TrainingDivergedError unless `loss` is finite and at most `maxLoss`. */
export function checkLoss(
  loss: number,
  where: { task: number; epoch: number; epochs: number; lrs?: { flag: string; lr: number }[] },
  maxLoss = DEFAULT_MAX_LOSS,
): void {
  if (Number.isFinite(loss) && loss <= maxLoss) return;
  const lrs = where.lrs ?? [];
  const which = lrs.length > 0 ? lrs.map((g) => `${g.flag}, now ${g.lr}`).join('; ') : '--lr';
  throw new TrainingDivergedError(where.task, where.epoch, where.epochs, loss, `lower the learning rate (${which}) or check the features for NaN/Inf values`);
}
