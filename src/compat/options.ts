/**
 * Options of `cl compat` (docs/methods/compat.md "Hyperparameters"), declared in the one option
 * system (src/options.ts), and the learning-rate schedule.
 */
import { UserError } from '../errors.js';
import { defineOptions, resolveOptions, type OptionValues } from '../options.js';
import { ORTHO_KINDS } from './ortho.js';

export type CompatMethod = 'independent' | 'bct' | 'oca';
export const COMPAT_METHODS: CompatMethod[] = ['independent', 'bct', 'oca'];

const ALL = COMPAT_METHODS;

/** Every option of `cl compat`, declared once; `for` names the methods an option acts on. */
export const COMPAT_OPTIONS = defineOptions({
  d: { type: 'integer', default: 128, min: 1, for: ALL, help: 'embedding width of version 1 (and of independent/bct versions)' },
  k: { type: 'integer', default: 32, min: 0, for: ['oca'], help: 'dimensions added per OCA upgrade (d_t = d_{t-1} + k)' },
  hidden: { type: 'integer', default: 512, min: 1, for: ALL, help: 'hidden width of the embedding head' },
  layerNorm: { type: 'boolean', default: true, for: ALL, help: 'non-affine LayerNorm on the input features' },
  epochs: { type: 'integer', default: 6, min: 1, for: ALL, help: 'training epochs per version' },
  batchSize: { type: 'integer', default: 256, min: 1, for: ALL, help: 'mini-batch size' },
  lr: { type: 'number', default: 1e-3, gt: 0, for: ALL, help: 'Adam learning rate (linear warm-up, then cosine decay)' },
  /** Coupled L2 decay, added to the loss as (wd/2)·Σθ² over every trained parameter. */
  weightDecay: { type: 'number', default: 2 ** -15, min: 0, for: ALL, help: 'coupled L2 decay as a loss term (wd/2)·Σθ²' },
  warmup: { type: 'number', default: 0.05, min: 0, max: 1, for: ALL, help: 'share of the epochs in linear warm-up' },
  labelSmoothing: { type: 'number', default: 0.1, min: 0, max: 1, for: ALL, help: 'label smoothing ε of every cross-entropy term' },
  ortho: {
    type: 'choice',
    default: 'expm',
    choices: ORTHO_KINDS,
    for: ['oca'],
    help: 'orthogonal layer T⊥: expm (exponential of a skew-symmetric matrix), identity (ablation) or none; householder and project are not implemented',
  },
  orthoBias: { type: 'boolean', default: true, for: ['oca'], help: 'bias b of T⊥' },
  /** OCA loss weights 5·CE + 10·L_infl + 5·L_cos (hard-coded in z3n0e/OCA's trainer). */
  lossCe: { type: 'number', default: 5, min: 0, for: ['oca'], help: 'OCA weight of the classifier cross-entropy' },
  lossInfl: { type: 'number', default: 10, min: 0, for: ['oca'], help: 'OCA weight of the prototype influence loss' },
  lossCos: { type: 'number', default: 5, min: 0, for: ['oca'], help: 'OCA weight of the prototype cosine loss' },
  /** BCT influence-loss weight α (apple/ml-fct BCT trainer: 10). */
  alpha: { type: 'number', default: 10, min: 0, for: ['bct'], help: 'BCT influence-loss weight α' },
  backfill: { type: 'boolean', default: true, for: ALL, help: 'train the unconstrained model per upgrade for the backfill bound' },
});

export type CompatOptions = OptionValues<typeof COMPAT_OPTIONS>;

/** Defaults filled in, values coerced and range-checked; unknown names are rejected. */
export function resolveCompatOptions(given: Record<string, unknown> = {}): CompatOptions {
  return resolveOptions(COMPAT_OPTIONS, given, 'cl compat');
}

/** Checks the method name (UserError listing the methods). */
export function checkMethod(method: string): CompatMethod {
  if (!(COMPAT_METHODS as string[]).includes(method)) {
    throw new UserError(`unknown compat method "${method}"`, `use --method ${COMPAT_METHODS.join(' | ')}`);
  }
  return method as CompatMethod;
}

/** Width of version t (1-based): OCA grows by k per upgrade, the others keep d. */
export function versionDim(method: CompatMethod, o: CompatOptions, t: number): number {
  return method === 'oca' ? o.d + (t - 1) * o.k : o.d;
}

/** Warm-up epochs: ceil(warmup · epochs) (5 of 100 at the default). */
export function warmupEpochs(epochs: number, warmup: number): number {
  return Math.min(epochs, Math.ceil(warmup * epochs - 1e-9));
}

/**
 * Per-epoch learning rate of z3n0e/OCA (docs/methods/compat.md "Hyperparameters"): lr·(e+1)/W for e < W, then
 * 0.5·(1 + cos(π(e − W)/(E − W)))·lr, with W warm-up epochs out of E.
 */
export function warmupCosineSchedule(lr: number, epochs: number, warmup: number): (epoch: number) => number {
  const w = warmupEpochs(epochs, warmup);
  return (e) => {
    if (e < w) return (lr * (e + 1)) / w;
    const span = epochs - w;
    return span <= 0 ? lr : 0.5 * (1 + Math.cos((Math.PI * (e - w)) / span)) * lr;
  };
}
