/**
 * Training of one model version for the compatibility protocol (docs/methods/compat.md):
 *   independent (and every version 1):  L = LS_ε(W·h, y)
 *   bct (Shen et al., arXiv 2003.11942): L = LS_ε(W·h, y) + α·LS_ε(h·Pᵀ, y)
 *   oca (Ricci et al., arXiv 2408.08793; docs/methods/compat.md "Loss"): L = 5·LS_ε(W·(Q·h + b), y) + 10·LS_ε(ĥ_bct·Pᵀ, y) + 5·L_cos
 * plus the coupled L2 decay (wd/2)·Σθ² on every trained parameter (X included), Adam, warm-up + cosine.
 * P holds the previous version's class means of its unit-norm embeddings over this version's
 * training set, NOT re-normalised, computed once before training (docs/methods/compat.md "Prototypes").
 */
import type { Rng } from '../rng.js';
import { tf } from '../tf.js';
import { Adam } from '../train/optimizers.js';
import { fit } from '../train/loop.js';
import { l2Penalty } from '../train/losses.js';
import { kaimingUniform } from '../train/init.js';
import type { Features, LearnContext, LearnerEvent } from '../types.js';
import { l2Normalize, labelSmoothedCE, prototypeCosineLoss, prototypeLogits } from './losses.js';
import { EmbeddingHead, type EmbeddingModel } from './model.js';
import { warmupCosineSchedule, type CompatOptions } from './options.js';
import { matMulT } from './matmul.js';
import { OrthoLayer } from './ortho.js';

/** Which loss a version trains with. */
export type TrainRole = 'plain' | 'bct' | 'oca';

/** Warn when max|QᵀQ − I| exceeds this (docs/methods/compat.md "The orthogonal layer"). */
export const ORTHO_WARN = 1e-4;

export interface TrainVersionInput {
  role: TrainRole;
  /** 1-based version number (events and error messages). */
  version: number;
  /** This version's training set (joint data of the classes seen so far). */
  train: Features;
  /** Classes of the training set; row c of W and P belongs to classes[c]. */
  classes: number[];
  /** The previous version (bct / oca only). */
  previous: EmbeddingModel | null;
  /** Embedding width d_t. */
  dim: number;
  options: CompatOptions;
  rng: Rng;
  ctx?: LearnContext;
}

export interface TrainedVersion {
  model: EmbeddingModel;
  /** P [C × d_{t−1}] (bct / oca), row-major, in `classes` order. */
  prototypes: Float32Array | null;
  epochLosses: number[];
  /** max|QᵀQ − I| after every epoch (oca with expm), else empty. */
  orthoErrors: number[];
  /** Trainable parameters of T⊥ (0 without one). */
  orthoParams: number;
  /** Parameters of the embedding head (what inference keeps). */
  headParams: number;
  trainMs: number;
}

/** Row index of every sample's label in `classes` (throws on a label outside it). */
export function labelRows(y: Int32Array, classes: number[]): Int32Array {
  const row = new Map(classes.map((c, i) => [c, i]));
  return Int32Array.from(y, (label) => {
    const r = row.get(label);
    if (r === undefined) throw new Error(`training label ${label} is not among the version's classes`);
    return r;
  });
}

/** Per-class means (in `classes` order) of unit-norm rows, NOT re-normalised (docs/methods/compat.md "Prototypes"). */
export function classMeans(emb: Float32Array, rows: Int32Array, numClasses: number, dim: number): Float32Array {
  const sums = new Float64Array(numClasses * dim);
  const counts = new Float64Array(numClasses);
  for (let i = 0; i < rows.length; i++) {
    const c = rows[i];
    counts[c]++;
    for (let j = 0; j < dim; j++) sums[c * dim + j] += emb[i * dim + j];
  }
  const out = new Float32Array(numClasses * dim);
  for (let c = 0; c < numClasses; c++) {
    if (counts[c] === 0) throw new Error(`class row ${c} has no training sample for its prototype`);
    for (let j = 0; j < dim; j++) out[c * dim + j] = sums[c * dim + j] / counts[c];
  }
  return out;
}

export async function trainVersion(input: TrainVersionInput): Promise<TrainedVersion> {
  const { role, train, classes, options: o, rng } = input;
  const t0 = performance.now();
  if ((role === 'bct' || role === 'oca') && !input.previous) throw new Error(`${role} needs the previous version`);
  if (role === 'bct' && input.previous && input.previous.dim !== input.dim) {
    throw new Error(`bct keeps the width: previous ${input.previous.dim}, new ${input.dim}`);
  }
  const C = classes.length;
  const rows = labelRows(train.y, classes);

  // Frozen prototypes P, computed once before training (docs/methods/compat.md "Prototypes").
  const prev = role === 'plain' ? null : input.previous;
  const prototypes = prev ? classMeans(prev.embed(train.x, train.count), rows, C, prev.dim) : null;
  const dOld = prev ? prev.dim : 0;

  const head = new EmbeddingHead({ inputDim: train.dim, hidden: o.hidden, dim: input.dim, layerNorm: o.layerNorm }, rng);
  const w = tf.tidy(() => tf.variable(kaimingUniform(rng, C, input.dim, 1), true)); // classifier, no bias
  const ortho = role === 'oca' ? new OrthoLayer(o.ortho, input.dim, rng, o.orthoBias) : null;
  const p = prototypes ? tf.tensor2d(prototypes, [C, dOld]) : null;
  const x = tf.tensor2d(train.x, [train.count, train.dim]);
  const y = tf.tensor1d(rows, 'int32');
  const params = [...head.variables(), ...(ortho?.variables() ?? []), w];
  const optimizer = new Adam(params, o.lr);
  const eps = o.labelSmoothing;
  const orthoErrors: number[] = [];

  const loss = (batch: Record<string, tf.Tensor>): tf.Scalar => {
    const bx = batch.x as tf.Tensor2D;
    const by = batch.y as tf.Tensor1D;
    const h = head.embedTensor(bx); // h_new, unit norm (docs/methods/compat.md "Forward pass")
    let total: tf.Scalar;
    if (role === 'oca') {
      const hPerp = (ortho as OrthoLayer).apply(h); // Q·h + b
      const ce = labelSmoothedCE(matMulT(hPerp, w), by, eps);
      const hBct = l2Normalize(tf.slice(h, [0, 0], [-1, dOld])); // ĥ_bct
      const infl = labelSmoothedCE(prototypeLogits(hBct, p as tf.Tensor2D), by, eps);
      const cos = prototypeCosineLoss(hBct, p as tf.Tensor2D, by);
      total = tf.addN([tf.mul(ce, o.lossCe), tf.mul(infl, o.lossInfl), tf.mul(cos, o.lossCos)]) as tf.Scalar;
    } else {
      total = labelSmoothedCE(matMulT(h, w), by, eps);
      if (role === 'bct') total = tf.add(total, tf.mul(labelSmoothedCE(prototypeLogits(h, p as tf.Tensor2D), by, eps), o.alpha));
    }
    return o.weightDecay > 0 ? tf.add(total, l2Penalty(params, o.weightDecay)) : total;
  };

  const ctx: LearnContext = {
    emit: (e: LearnerEvent) => {
      if (e.type === 'epoch' && ortho?.kind === 'expm') {
        const err = ortho.orthogonalityError();
        orthoErrors.push(err);
        if (err > ORTHO_WARN) {
          input.ctx?.emit({ type: 'message', text: `version ${input.version}: max|QᵀQ − I| = ${err.toExponential(2)} > ${ORTHO_WARN} after epoch ${e.epoch}` });
        }
      }
      input.ctx?.emit(e);
    },
  };

  try {
    const res = await fit({
      data: { x, y },
      loss,
      groups: [{ optimizer, schedule: warmupCosineSchedule(o.lr, o.epochs, o.warmup) }],
      epochs: o.epochs,
      batchSize: o.batchSize,
      rng,
      task: input.version - 1,
      ctx,
      phase: role === 'plain' ? 'ce' : role,
    });
    const model = head.freeze(input.version);
    return {
      model,
      prototypes,
      epochLosses: res.epochLosses,
      orthoErrors,
      orthoParams: ortho?.parameterCount() ?? 0,
      headParams: head.parameterCount(),
      trainMs: performance.now() - t0,
    };
  } finally {
    optimizer.dispose();
    for (const t of [x, y, p, w]) t?.dispose();
    ortho?.dispose();
    head.dispose();
  }
}
