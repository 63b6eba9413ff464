/**
 * The NA-VQ class graph (docs/methods/napa-vq.md "Class graph"): a competitive-Hebbian graph over the coding
 * vectors with k winners, multiplicative ageing and pruning, as in the reference code
 * (`TamashaM/NAPA-VQ`, losses/na_loss.py). Plain JS, outside any gradient tape.
 *
 * One update, given for every row b its k nearest units K_b (nearest first, winner w_b = K_b[0]):
 *   visits[i]  = #rows whose winner is i;  Cnt[i][j] = #rows won by i that have j in K_b
 *   G = max(G, 1[Cnt > 0]);  G[i][j] *= decay^max(visits[i] − Cnt[i][j], 0);  G[G < e_min] = 0
 *   (L_NA of this call reads this pre-symmetric G);  G = (G + Gᵀ) / 2.
 */

export const GRAPH_DECAY = 0.9;
/** Prune threshold e_min = 0.9^10 ≈ 0.3487. */
export const GRAPH_PRUNE = Math.pow(0.9, 10);

export class ClassGraph {
  /** Row-major U×U edge strengths in [0, 1]; symmetric between updates, diagonal 1. */
  private g: Float64Array;
  private n: number;

  constructor(
    units = 0,
    readonly decay = GRAPH_DECAY,
    readonly prune = GRAPH_PRUNE,
  ) {
    this.n = 0;
    this.g = new Float64Array(0);
    this.grow(units);
  }

  get units(): number {
    return this.n;
  }

  /** Appends m units: zero rows/columns with a 1 on the diagonal. */
  grow(m: number): void {
    if (m <= 0) return;
    const n = this.n + m;
    const g = new Float64Array(n * n);
    for (let i = 0; i < this.n; i++) g.set(this.g.subarray(i * this.n, (i + 1) * this.n), i * n);
    for (let i = this.n; i < n; i++) g[i * n + i] = 1;
    this.g = g;
    this.n = n;
  }

  get(i: number, j: number): number {
    return this.g[i * this.n + j];
  }

  /** A copy of the (symmetric) matrix. */
  matrix(): Float64Array {
    return Float64Array.from(this.g);
  }

  /** Replace the matrix (checkpoint restore); must be U×U. */
  setMatrix(values: ArrayLike<number>, units: number): void {
    if (values.length !== units * units) throw new Error(`graph: ${values.length} values for ${units} × ${units}`);
    this.n = units;
    this.g = Float64Array.from(values);
  }

  /** Number of undirected edges (i < j with G[i][j] > 0). */
  edgeCount(): number {
    let e = 0;
    for (let i = 0; i < this.n; i++) for (let j = i + 1; j < this.n; j++) if (this.g[i * this.n + j] > 0) e++;
    return e;
  }

  /**
   * One competitive-Hebbian update (docs/methods/napa-vq.md "Class graph", steps 1–4). `knn` holds `rows` × k unit indices, nearest
   * first. Returns the pre-symmetric matrix that this call's L_NA reads; the graph itself ends
   * symmetric.
   */
  update(knn: Int32Array, rows: number, k: number): Float64Array {
    const n = this.n;
    if (knn.length !== rows * k) throw new Error(`graph: ${knn.length} neighbour indices for ${rows} × ${k}`);
    const visits = new Float64Array(n);
    const cnt = new Float64Array(n * n);
    for (let b = 0; b < rows; b++) {
      const w = knn[b * k];
      visits[w]++;
      for (let r = 0; r < k; r++) cnt[w * n + knn[b * k + r]]++;
    }
    const g = this.g;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const ij = i * n + j;
        let v = cnt[ij] > 0 ? 1 : g[ij]; // refresh: max(G, 1[Cnt > 0]) with G ≤ 1
        const age = visits[i] - cnt[ij];
        if (age > 0) v *= Math.pow(this.decay, age);
        g[ij] = v < this.prune ? 0 : v; // pruning acts on the whole matrix, visited or not
      }
    }
    const pre = Float64Array.from(g);
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const s = (pre[i * n + j] + pre[j * n + i]) / 2;
        g[i * n + j] = s;
        g[j * n + i] = s;
      }
    }
    return pre;
  }
}

/**
 * The k nearest units of every row from a rows × units distance matrix (squared or not: the
 * ranking is the same), nearest first; ties go to the lower unit index. k is clipped to the
 * number of units (tf.topk would throw; docs/methods/napa-vq.md "Hyperparameters").
 */
export function nearestUnits(dist: ArrayLike<number>, rows: number, units: number, k: number): { knn: Int32Array; k: number } {
  const kk = Math.max(1, Math.min(k, units));
  const knn = new Int32Array(rows * kk);
  const idx = new Int32Array(units);
  for (let b = 0; b < rows; b++) {
    const off = b * units;
    for (let u = 0; u < units; u++) idx[u] = u;
    // Partial selection sort: kk ≤ 15 and units ≤ a few hundred.
    for (let r = 0; r < kk; r++) {
      let best = r;
      for (let u = r + 1; u < units; u++) {
        const du = dist[off + idx[u]];
        const db = dist[off + idx[best]];
        if (du < db || (du === db && idx[u] < idx[best])) best = u;
      }
      const t = idx[r];
      idx[r] = idx[best];
      idx[best] = t;
      knn[b * kk + r] = idx[r];
    }
  }
  return { knn, k: kk };
}

/** N(y) = { j ≠ y : G[y][j] > 0 } of a U×U matrix (strength ignored; docs/methods/napa-vq.md "Class graph"). */
export function neighboursOf(g: ArrayLike<number>, units: number, y: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < units; j++) if (j !== y && g[y * units + j] > 0) out.push(j);
  return out;
}
