/**
 * The training loop of a linear head, with its gradient written out by hand: the wasm-mlas
 * backend's engine for the head methods whose loss is cross-entropy plus optional distillation
 * (docs/performance.md "The wasm-mlas backend"). Same epochs, same seeded batches, same learning
 * rates, optimiser equations, clipping, progress events, divergence guard and stop points as
 * train/loop.ts `fit` with tfjs autograd, so the two differ by float rounding only (tested against
 * tfjs's own gradients). What it saves is tfjs's per-operation cost (~80 kernels a step). With SGD
 * on a bias-free head (the default recipe) a step is one onnxruntime call for ∂L/∂W (batch gather,
 * both products on MLAS's GEMM, the softmax terms) and one WebAssembly SIMD pass for the update;
 * otherwise (Adam, a bias) the products run on MLAS and the rest is a pass in JS.
 *
 * Logits Z = X·W + b (W [D, K], one column per class). With λ_ce, λ_kd the loss weights:
 *   L = λ_ce · mean_i CE(Z_i, y_i) + λ_kd · mean_i Σ_{k<n} −q_ik · log softmax(Z_i[0:n] / T)_k
 *   ∂L/∂Z_ik = λ_ce/B · (softmax(Z_i)_k − [k = y_i]) + λ_kd/(B·T) · (softmax(Z_i[0:n]/T)_k · Σ_j q_ij − q_ik)   (k < n)
 *   ∂L/∂W = Xᵀ · ∂L/∂Z,  ∂L/∂b = Σ_i ∂L/∂Z_i
 * (train/losses.ts crossEntropy and distillation are the same losses in tfjs.)
 */
import { gemm, linearHeadGrad } from '../eval/onnx-kernels.js';
import { yieldPoint } from '../interrupt.js';
import type { Rng } from '../rng.js';
import type { LearnContext } from '../types.js';
import { batchRanges, shuffledIndices } from './batches.js';
import { checkLoss, DEFAULT_MAX_LOSS } from './diverged.js';
import type { FitResult } from './loop.js';
import type { OptimizerConfig } from './optimizers.js';
import type { LrSchedule } from './schedule.js';
import { SgdArena } from './sgd-wasm.js';

/** A head method's loss in the form this loop differentiates (HeadHooks.linearLoss). */
export interface LinearLoss {
  /** Weight of the cross-entropy over every class of the head. */
  ce: number;
  /** Distillation of the first `q`-width logits against per-sample soft targets q at temperature T. */
  kd?: { weight: number; temperature: number };
}

export interface LinearFitOptions {
  /** Training rows [count, dim], row-major. */
  x: Float32Array;
  dim: number;
  /** Target head column of every row. */
  y: Int32Array;
  /** Soft targets [count, n] for the distillation term (null without one). */
  q: { values: Float32Array; width: number } | null;
  /** W [dim, K] (column k = class k), updated in place. */
  w: Float32Array;
  numClasses: number;
  /** Per-class bias [K], updated in place; null for a bias-free head. */
  b: Float32Array | null;
  loss: LinearLoss;
  optimizer: OptimizerConfig;
  schedule: LrSchedule;
  epochs: number;
  batchSize: number;
  rng: Rng;
  /** W ← max(W, 0) after every step. */
  clip: boolean;
  task: number;
  ctx?: LearnContext;
  phase?: string;
  maxLoss?: number;
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Optimiser state over one flat parameter, with the equations of train/optimizers.ts. */
class FlatOptimizer {
  private readonly m: Float32Array | null;
  private readonly s: Float32Array | null;
  private t = 0;

  constructor(
    private readonly cfg: OptimizerConfig,
    size: number,
  ) {
    const momentum = cfg.momentum ?? 0.9;
    this.m = cfg.kind === 'adam' || momentum > 0 ? new Float32Array(size) : null;
    this.s = cfg.kind === 'adam' ? new Float32Array(size) : null;
  }

  /** θ ← θ − lr·update(∇ + wd·θ); then θ ← max(θ, 0) when `clip` (one pass; `clip` is the same for every value, so the loop has no data-dependent branch). */
  step(theta: Float32Array, grad: Float32Array, lr: number, clip: boolean): void {
    const wd = this.cfg.weightDecay ?? 0;
    const len = theta.length;
    if (this.cfg.kind === 'adam') {
      this.t++;
      const b1 = this.cfg.beta1 ?? 0.9;
      const b2 = this.cfg.beta2 ?? 0.999;
      const eps = this.cfg.epsilon ?? 1e-8;
      const c1 = 1 - Math.pow(b1, this.t);
      const c2 = 1 - Math.pow(b2, this.t);
      const m = this.m!;
      const s = this.s!;
      for (let i = 0; i < len; i++) {
        const g = grad[i] + theta[i] * wd;
        const mi = m[i] * b1 + g * (1 - b1);
        const si = s[i] * b2 + g * g * (1 - b2);
        m[i] = mi;
        s[i] = si;
        const next = theta[i] - (mi / c1 / (Math.sqrt(si / c2) + eps)) * lr;
        theta[i] = clip ? Math.max(next, 0) : next;
      }
      return;
    }
    const mu = this.cfg.momentum ?? 0.9;
    const v = this.m;
    for (let i = 0; i < len; i++) {
      const g = grad[i] + theta[i] * wd;
      let step = g;
      if (v) {
        v[i] = v[i] * mu + g;
        step = v[i];
      }
      const next = theta[i] - step * lr;
      theta[i] = clip ? Math.max(next, 0) : next;
    }
  }
}

/**
 * ∂L/∂Z of one batch into `g` [B, K] (from the logits `z`, which it may overwrite), returning the
 * batch's loss. `rows` are the batch's row indices into y and q.
 */
export function linearLossGrad(z: Float32Array, g: Float32Array, B: number, K: number, y: Int32Array, rows: Int32Array, q: LinearFitOptions['q'], loss: LinearLoss): number {
  const ce = loss.ce;
  const kd = loss.kd && q ? loss.kd : null;
  const n = q ? q.width : 0;
  let total = 0;
  for (let i = 0; i < B; i++) {
    const o = i * K;
    const r = rows[i];
    let max = -Infinity;
    for (let k = 0; k < K; k++) if (z[o + k] > max) max = z[o + k];
    // g ← exp(z − max) first, then scaled into softmax · λ_ce / B.
    let sum = 0;
    for (let k = 0; k < K; k++) {
      const e = Math.exp(z[o + k] - max);
      g[o + k] = e;
      sum += e;
    }
    const label = y[r];
    total += ce * (Math.log(sum) - (z[o + label] - max));
    const cs = ce / B;
    const f = cs / sum;
    for (let k = 0; k < K; k++) g[o + k] *= f;
    g[o + label] -= cs;
    if (kd) {
      const invT = 1 / kd.temperature;
      const qv = q!.values;
      const qo = r * n;
      let mt = -Infinity;
      for (let k = 0; k < n; k++) if (z[o + k] > mt) mt = z[o + k];
      mt *= invT; // T > 0: the largest z/T is the largest z over T
      // z's old columns become exp(z/T − mt) (z is not read again), then the terms are summed.
      let st = 0;
      let qSum = 0;
      let cross = 0;
      for (let k = 0; k < n; k++) {
        const zt = z[o + k] * invT - mt;
        const qk = qv[qo + k];
        qSum += qk;
        cross -= qk * zt;
        const e = Math.exp(zt);
        z[o + k] = e;
        st += e;
      }
      // Σ_k −q_k·(zt_k − log st) = cross + qSum·log st
      total += kd.weight * (cross + qSum * Math.log(st));
      const ks = kd.weight * invT / B;
      const ps = qSum / st;
      for (let k = 0; k < n; k++) g[o + k] += ks * (z[o + k] * ps - qv[qo + k]);
    }
  }
  return total / B;
}

/** One training step on the batch `rows` (indices into the training rows); returns the batch's loss. */
type BatchStep = (rows: Int32Array, lr: number) => number;

/**
 * SGD on a bias-free head (the default recipe): ∂L/∂W of a batch in one onnxruntime call
 * (linearHeadGrad), then the update in one WebAssembly SIMD pass (train/sgd-wasm.ts). W, its
 * velocity and the gradient live in the pass's memory, where onnxruntime reads and writes them in
 * place; `finish` copies the last W back into opts.w.
 */
function fusedSteps(opts: LinearFitOptions): { step: BatchStep; finish: () => void } {
  const { kd } = opts.loss;
  const q = opts.q;
  const arena = new SgdArena(opts.w.length);
  arena.w.set(opts.w);
  const momentum = opts.optimizer.momentum ?? 0.9;
  const weightDecay = opts.optimizer.weightDecay ?? 0;
  const grad = linearHeadGrad({
    x: opts.x,
    y: opts.y,
    dim: opts.dim,
    classes: opts.numClasses,
    w: arena.w,
    dw: arena.grad,
    ce: opts.loss.ce,
    kd: kd && q ? { q: q.values, n: q.width, weight: kd.weight, temperature: kd.temperature } : null,
  });
  const step: BatchStep = (rows, lr) => {
    const loss = grad(rows);
    arena.step(lr, momentum, weightDecay, opts.clip);
    return loss;
  };
  return { step, finish: () => opts.w.set(arena.w) };
}

/** Adam, or a head with a bias: ∂L/∂Z from linearLossGrad, the two products on MLAS, the updates in JS (in place). */
function splitSteps(opts: LinearFitOptions): BatchStep {
  const { w, b, y, dim: D, numClasses: K } = opts;
  const maxB = opts.batchSize;
  const wOpt = new FlatOptimizer(opts.optimizer, w.length);
  const bOpt = b ? new FlatOptimizer(opts.optimizer, b.length) : null;
  const xb = new Float32Array(maxB * D);
  const grad = new Float32Array(maxB * K);
  const logits = new Float32Array(maxB * K);
  const dw = new Float32Array(D * K);
  const db = new Float32Array(K);
  return (rows, lr) => {
    const B = rows.length;
    for (let i = 0; i < B; i++) xb.set(opts.x.subarray(rows[i] * D, rows[i] * D + D), i * D);
    const xv = xb.subarray(0, B * D);
    const z = gemm(xv, [B, D], w, [D, K], false, false, logits);
    if (b) for (let i = 0; i < B; i++) for (let k = 0; k < K; k++) z[i * K + k] += b[k];
    const g = grad.subarray(0, B * K);
    const loss = linearLossGrad(z, g, B, K, y, rows, opts.q, opts.loss);
    gemm(xv, [B, D], g, [B, K], true, false, dw);
    wOpt.step(w, dw, lr, opts.clip);
    if (b && bOpt) {
      db.fill(0);
      for (let i = 0; i < B; i++) for (let k = 0; k < K; k++) db[k] += g[i * K + k];
      bOpt.step(b, db, lr, false);
    }
    return loss;
  };
}

/** Trains the linear head in place; returns the mean batch loss of every epoch (as fit does). */
export async function fitLinearHead(opts: LinearFitOptions): Promise<FitResult> {
  const { x, dim: D, y, w, numClasses: K } = opts;
  const n = y.length;
  if (x.length !== n * D) throw new Error(`fitLinearHead: ${x.length} feature values for ${n} rows of ${D}`);
  if (w.length !== D * K) throw new Error(`fitLinearHead: W has ${w.length} values, expected ${D} × ${K}`);
  if (opts.q && opts.q.values.length !== n * opts.q.width) throw new Error('fitLinearHead: soft targets and rows differ in length');
  const epochLosses: number[] = [];
  let steps = 0;
  if (n === 0) return { epochLosses, steps };
  const ranges = batchRanges(n, opts.batchSize);
  const fused = opts.optimizer.kind === 'sgd' && !opts.b ? fusedSteps(opts) : null;
  const step = fused ? fused.step : splitSteps(opts);
  try {
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      const lr = opts.schedule(epoch);
      const perm = shuffledIndices(n, opts.rng);
      let lossSum = 0;
      for (const [s, e] of ranges) {
        lossSum += step(perm.subarray(s, e), lr);
        steps++;
        await yieldPoint();
      }
      const mean = lossSum / ranges.length;
      epochLosses.push(mean);
      checkLoss(mean, { task: opts.task, epoch: epoch + 1, epochs: opts.epochs, lrs: [{ flag: '--lr', lr: opts.schedule(0) }] }, opts.maxLoss ?? DEFAULT_MAX_LOSS);
      opts.ctx?.emit({ type: 'epoch', task: opts.task, epoch: epoch + 1, epochs: opts.epochs, loss: mean, phase: opts.phase });
      await yieldToEventLoop();
    }
  } finally {
    fused?.finish();
  }
  return { epochLosses, steps };
}
