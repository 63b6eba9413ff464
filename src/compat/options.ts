/**
 * Options of `cl compat` (oca.md §3, §5) with their defaults, validation and the learning-rate
 * schedule. Values may arrive as strings from the CLI; `resolveCompatOptions` coerces and checks them.
 */
import { UserError } from '../errors.js';
import { ORTHO_KINDS, type OrthoKind } from './ortho.js';

export type CompatMethod = 'independent' | 'bct' | 'oca';
export const COMPAT_METHODS: CompatMethod[] = ['independent', 'bct', 'oca'];

export interface CompatOptions {
  /** Width of version 1 (and of every independent / BCT version). */
  d: number;
  /** Extra dimensions per OCA upgrade: d_t = d_{t−1} + k (growth "every"). */
  k: number;
  /** Hidden width of the embedding head. */
  hidden: number;
  /** Non-affine LayerNorm on the input features. */
  layerNorm: boolean;
  epochs: number;
  batchSize: number;
  lr: number;
  /** Coupled L2 decay, added to the loss as (wd/2)·Σθ² over every trained parameter. */
  weightDecay: number;
  /** Share of epochs spent in linear warm-up before the cosine decay. */
  warmup: number;
  labelSmoothing: number;
  /** OCA's T⊥ (oca.md §5 `ortho`). */
  ortho: OrthoKind;
  orthoBias: boolean;
  /** OCA loss weights 5·CE + 10·L_infl + 5·L_cos (hard-coded in z3n0e/OCA's trainer). */
  lossCe: number;
  lossInfl: number;
  lossCos: number;
  /** BCT influence-loss weight α (apple/ml-fct BCT trainer: 10). */
  alpha: number;
  /** Train the unconstrained (independent, width d_t) model per upgrade for the backfill bound. */
  backfill: boolean;
}

export const COMPAT_DEFAULTS: CompatOptions = {
  d: 128,
  k: 32,
  hidden: 512,
  layerNorm: true,
  epochs: 6,
  batchSize: 256,
  lr: 1e-3,
  weightDecay: 2 ** -15,
  warmup: 0.05,
  labelSmoothing: 0.1,
  ortho: 'expm',
  orthoBias: true,
  lossCe: 5,
  lossInfl: 10,
  lossCos: 5,
  alpha: 10,
  backfill: true,
};

interface OptionSpec {
  type: 'integer' | 'number' | 'boolean' | 'choice';
  help: string;
  min?: number;
  max?: number;
  /** Minimum is exclusive. */
  positive?: boolean;
  choices?: readonly string[];
  /** Methods the option acts on. */
  methods: readonly CompatMethod[];
}

const ALL = COMPAT_METHODS;

export const COMPAT_OPTION_SPECS: Record<keyof CompatOptions, OptionSpec> = {
  d: { type: 'integer', min: 1, help: 'embedding width of version 1 (and of independent/bct versions)', methods: ALL },
  k: { type: 'integer', min: 0, help: 'dimensions added per OCA upgrade (d_t = d_{t-1} + k)', methods: ['oca'] },
  hidden: { type: 'integer', min: 1, help: 'hidden width of the embedding head', methods: ALL },
  layerNorm: { type: 'boolean', help: 'non-affine LayerNorm on the input features', methods: ALL },
  epochs: { type: 'integer', min: 1, help: 'training epochs per version', methods: ALL },
  batchSize: { type: 'integer', min: 1, help: 'mini-batch size', methods: ALL },
  lr: { type: 'number', positive: true, help: 'Adam learning rate (warm-up + cosine)', methods: ALL },
  weightDecay: { type: 'number', min: 0, help: 'coupled L2 decay as a loss term (wd/2)·Σθ²', methods: ALL },
  warmup: { type: 'number', min: 0, max: 1, help: 'share of epochs in linear warm-up', methods: ALL },
  labelSmoothing: { type: 'number', min: 0, max: 1, help: 'label smoothing ε of every CE term', methods: ALL },
  ortho: { type: 'choice', choices: ORTHO_KINDS, help: 'orthogonal layer T⊥: expm | identity (ablation) | none', methods: ['oca'] },
  orthoBias: { type: 'boolean', help: 'bias b of T⊥', methods: ['oca'] },
  lossCe: { type: 'number', min: 0, help: 'OCA weight of the classifier CE', methods: ['oca'] },
  lossInfl: { type: 'number', min: 0, help: 'OCA weight of the prototype influence loss', methods: ['oca'] },
  lossCos: { type: 'number', min: 0, help: 'OCA weight of the prototype cosine loss', methods: ['oca'] },
  alpha: { type: 'number', min: 0, help: 'BCT influence-loss weight α', methods: ['bct'] },
  backfill: { type: 'boolean', help: 'train the unconstrained model per upgrade for the backfill bound', methods: ALL },
};

const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function coerce(name: keyof CompatOptions, raw: unknown): number | boolean | string {
  const spec = COMPAT_OPTION_SPECS[name];
  const flag = `--${kebab(name)}`;
  if (spec.type === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    throw new UserError(`${flag} expects true or false, got "${String(raw)}"`);
  }
  if (spec.type === 'choice') {
    const v = String(raw);
    if (!spec.choices!.includes(v)) {
      const extra = name === 'ortho' ? ' (householder and project are not implemented)' : '';
      throw new UserError(`${flag} "${v}" is not supported${extra}`, `use one of: ${spec.choices!.join(', ')}`);
    }
    return v;
  }
  const v = typeof raw === 'number' ? raw : Number(String(raw).trim());
  if (typeof raw === 'string' && raw.trim() === '') throw new UserError(`${flag} expects a number, got an empty value`);
  if (!Number.isFinite(v)) throw new UserError(`${flag} expects a number, got "${String(raw)}"`);
  if (spec.type === 'integer' && !Number.isInteger(v)) throw new UserError(`${flag} expects an integer, got "${String(raw)}"`);
  if (spec.positive && !(v > 0)) throw new UserError(`${flag} must be > 0, got ${v}`);
  if (spec.min !== undefined && v < spec.min) throw new UserError(`${flag} must be ≥ ${spec.min}, got ${v}`);
  if (spec.max !== undefined && v > spec.max) throw new UserError(`${flag} must be ≤ ${spec.max}, got ${v}`);
  return v;
}

/** Defaults filled in, values coerced and range-checked; unknown names are rejected. */
export function resolveCompatOptions(given: Partial<Record<string, unknown>> = {}): CompatOptions {
  const out: Record<string, unknown> = { ...COMPAT_DEFAULTS };
  for (const [name, raw] of Object.entries(given)) {
    if (raw === undefined) continue;
    if (!(name in COMPAT_OPTION_SPECS)) {
      throw new UserError(`unknown compat option "${name}"`, `known options: ${Object.keys(COMPAT_OPTION_SPECS).map(kebab).join(', ')}`);
    }
    out[name] = coerce(name as keyof CompatOptions, raw);
  }
  return out as unknown as CompatOptions;
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
 * Per-epoch learning rate of z3n0e/OCA (oca.md §3): lr·(e+1)/W for e < W, then
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
