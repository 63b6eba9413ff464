/**
 * Exemplar selection orders on one class's feature rows (row-major Float32Array, count × dim).
 * Every function returns indices in selection order; a prefix of the order is the selection for a
 * smaller quota (docs/methods/wa.md "Algorithm" step 6, "trimmed in herding order").
 */
import type { Rng } from '../rng.js';

export type HerdingKind = 'icarl' | 'der' | 'random';
export const HERDING_KINDS: HerdingKind[] = ['icarl', 'der', 'random'];

/** L2-normalised copy of the rows (zero rows stay zero). */
export function l2NormalizeRows(x: Float32Array, count: number, dim: number): Float32Array {
  const out = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) {
    const o = i * dim;
    let s = 0;
    for (let j = 0; j < dim; j++) s += x[o + j] * x[o + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) out[o + j] = x[o + j] * inv;
  }
  return out;
}

/** Mean row (not re-normalised), in float64. */
export function meanRow(x: Float32Array, count: number, dim: number): Float64Array {
  const mu = new Float64Array(dim);
  for (let i = 0; i < count; i++) for (let j = 0; j < dim; j++) mu[j] += x[i * dim + j];
  for (let j = 0; j < dim; j++) mu[j] /= Math.max(1, count);
  return mu;
}

function dotRows(x: Float32Array, a: number, b: number, dim: number): number {
  let s = 0;
  const oa = a * dim;
  const ob = b * dim;
  for (let j = 0; j < dim; j++) s += x[oa + j] * x[ob + j];
  return s;
}

/**
 * iCaRL herding (Rebuffi et al., arXiv 1611.07725, Alg. 4; PyCIL `_construct_exemplar`) on
 * L2-normalised rows φ̂:  p_k = argmin_{i ∉ P} ‖μ − (φ̂_i + Σ_{j<k} φ̂_{p_j}) / k‖.
 * Expanded as ‖μ‖² − (2/k)(⟨μ,S⟩ + ⟨μ,φ̂_i⟩) + (‖S‖² + 2⟨S,φ̂_i⟩ + ‖φ̂_i‖²)/k², keeping ⟨S,φ̂_i⟩
 * up to date costs one pass over the rows per pick. Ties go to the lower index.
 */
export function icarlHerding(normalized: Float32Array, count: number, dim: number, m: number): Int32Array {
  const picks = Math.min(m, count);
  const mu = meanRow(normalized, count, dim);
  const muDot = new Float64Array(count);
  const sq = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    let a = 0;
    let b = 0;
    for (let j = 0; j < dim; j++) {
      const v = normalized[i * dim + j];
      a += mu[j] * v;
      b += v * v;
    }
    muDot[i] = a;
    sq[i] = b;
  }
  const sDot = new Float64Array(count); // ⟨S, φ̂_i⟩ with S the sum of the picks so far
  const taken = new Uint8Array(count);
  const order = new Int32Array(picks);
  let muS = 0; // ⟨μ, S⟩
  let sS = 0; // ‖S‖²
  for (let k = 1; k <= picks; k++) {
    let best = -1;
    let bestVal = Infinity;
    for (let i = 0; i < count; i++) {
      if (taken[i]) continue;
      // distance² minus the constant ‖μ‖²
      const d = (-2 / k) * (muS + muDot[i]) + (sS + 2 * sDot[i] + sq[i]) / (k * k);
      if (d < bestVal) {
        bestVal = d;
        best = i;
      }
    }
    order[k - 1] = best;
    taken[best] = 1;
    muS += muDot[best];
    sS += 2 * sDot[best] + sq[best];
    for (let i = 0; i < count; i++) if (!taken[i]) sDot[i] += dotRows(normalized, best, i, dim);
  }
  return order;
}

/**
 * DER's iterative herding (`inclearn/tools/memory.py` `select_examplars`): w ← μ; repeat
 * i* = argmax_i ⟨w, φ̂_i⟩, keep i* if new, w ← w + μ − φ̂_{i*}; at most max(1000, m) iterations.
 * If that ends short of m picks (a cycle), the rest is filled in order of distance to μ so that
 * the quota is always met (documented deviation: DER would keep fewer).
 */
export function derHerding(normalized: Float32Array, count: number, dim: number, m: number): Int32Array {
  const picks = Math.min(m, count);
  const mu = meanRow(normalized, count, dim);
  const w = Float64Array.from(mu);
  const taken = new Uint8Array(count);
  const order: number[] = [];
  const maxIter = Math.max(1000, picks);
  for (let it = 0; it < maxIter && order.length < picks; it++) {
    let best = 0;
    let bestVal = -Infinity;
    for (let i = 0; i < count; i++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += w[j] * normalized[i * dim + j];
      if (s > bestVal) {
        bestVal = s;
        best = i;
      }
    }
    if (!taken[best]) {
      taken[best] = 1;
      order.push(best);
    }
    for (let j = 0; j < dim; j++) w[j] += mu[j] - normalized[best * dim + j];
  }
  if (order.length < picks) {
    const rest: Array<[number, number]> = [];
    for (let i = 0; i < count; i++) {
      if (taken[i]) continue;
      let d = 0;
      for (let j = 0; j < dim; j++) d += (normalized[i * dim + j] - mu[j]) ** 2;
      rest.push([d, i]);
    }
    rest.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (const [, i] of rest.slice(0, picks - order.length)) order.push(i);
  }
  return Int32Array.from(order);
}

/** Uniformly random selection order (the herding ablation). */
export function randomOrder(count: number, m: number, rng: Rng): Int32Array {
  const p = new Int32Array(count);
  for (let i = 0; i < count; i++) p[i] = i;
  rng.shuffle(p);
  return p.slice(0, Math.min(m, count));
}

/** Selection order of up to m rows of raw features (normalised here, as herding expects). */
export function selectionOrder(
  kind: HerdingKind,
  x: Float32Array,
  count: number,
  dim: number,
  m: number,
  rng: Rng,
): Int32Array {
  if (kind === 'random') return randomOrder(count, m, rng);
  const xn = l2NormalizeRows(x, count, dim);
  return kind === 'der' ? derHerding(xn, count, dim, m) : icarlHerding(xn, count, dim, m);
}
