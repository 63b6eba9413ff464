/**
 * NA-PA: neighbourhood-aware prototype augmentation (docs/methods/napa-vq.md "Prototype augmentation (NA-PA)"). Pure JS.
 * Per synthetic sample: an old class c uniformly with replacement, anchor unit a = c; candidates
 * { j : G[a][j] > 0 } of the symmetric graph, which include a itself; j uniform (or by edge
 * strength, a labelled deviation); γ ~ U(0.5, 1); p = γ·μ_a + (1 − γ)·μ_j, label a.
 * Rows are indexed per sample (pitfall 12: the reference's NumPy ≥ 1.23 broadcast trap).
 */
import type { Rng } from '../../rng.js';

export type NeighbourPick = 'uniform' | 'strength';
export const NEIGHBOUR_PICKS: NeighbourPick[] = ['uniform', 'strength'];

export interface Augmented {
  /** n × dim synthetic prototypes, row-major. */
  p: Float32Array;
  /** Anchor unit of every row (its label). */
  anchors: Int32Array;
  /** Unit each row was interpolated toward (= anchor when p = μ_a). */
  partners: Int32Array;
  /** γ of every row, in [0.5, 1). */
  gammas: Float64Array;
}

/**
 * Draws `n` augmented prototypes. `oldUnits` are the anchor candidates (old classes), `prototypes[u]`
 * the stored μ_u of every unit, `g` the symmetric U×U graph, or null for the no-graph ablation
 * (a class is its own only neighbour, so p = μ_a).
 */
export function augmentPrototypes(
  n: number,
  oldUnits: readonly number[],
  prototypes: readonly Float64Array[],
  g: Float64Array | null,
  units: number,
  rng: Rng,
  pick: NeighbourPick = 'uniform',
): Augmented {
  if (oldUnits.length === 0) throw new Error('NA-PA needs at least one old class');
  const dim = prototypes[oldUnits[0]].length;
  const out: Augmented = {
    p: new Float32Array(n * dim),
    anchors: new Int32Array(n),
    partners: new Int32Array(n),
    gammas: new Float64Array(n),
  };
  for (let s = 0; s < n; s++) {
    const a = oldUnits[rng.int(oldUnits.length)];
    let j = a;
    if (g) {
      const cand: number[] = [];
      const strength: number[] = [];
      for (let u = 0; u < units; u++) {
        const v = g[a * units + u];
        if (v > 0) {
          cand.push(u);
          strength.push(v);
        }
      }
      if (pick === 'uniform') j = cand[rng.int(cand.length)];
      else {
        let total = 0;
        for (const v of strength) total += v;
        let r = rng.next() * total;
        j = cand[cand.length - 1];
        for (let i = 0; i < cand.length; i++) {
          r -= strength[i];
          if (r < 0) {
            j = cand[i];
            break;
          }
        }
      }
    }
    const gamma = rng.uniform(0.5, 1);
    const ma = prototypes[a];
    const mj = prototypes[j];
    // docs/methods/napa-vq.md "Prototype augmentation (NA-PA)": p = γ·μ_a + (1 − γ)·μ_j.
    for (let d = 0; d < dim; d++) out.p[s * dim + d] = gamma * ma[d] + (1 - gamma) * mj[d];
    out.anchors[s] = a;
    out.partners[s] = j;
    out.gammas[s] = gamma;
  }
  return out;
}
