/**
 * Retrieval metric M of the compatibility protocol (docs/protocols.md "Compatibility (embedding upgrades)", as in z3n0e/OCA
 * utils/eval_utils.py): cosine similarity of L2-normalised embeddings, truncated to the first
 * min(d_q, d_g) coordinates and renormalised (never zero-padded); the query's own id is removed
 * from its ranking; CMC top-k and mAP over the FULL ranked gallery (not mAP@R).
 * Ties are ordered by (−score, gallery index), unlike scikit-learn, which groups tied scores.
 */
import { tf } from '../tf.js';

export interface EmbeddingSet {
  /** Row-major embeddings, one row of `dim` floats per item. */
  x: Float32Array;
  dim: number;
  labels: Int32Array;
  /** Sample ids (the same image has the same id in every model's set). */
  ids: Int32Array;
}

export interface RetrievalOptions {
  /** CMC ranks to report, e.g. [1, 5]. */
  topK: number[];
  /** Remove gallery items sharing the query's id from its ranking (Q and G from the same split). */
  excludeSameId: boolean;
  /** Query rows per matMul (bounds memory: chunk × |G| floats). Default 1,024. */
  chunk?: number;
}

export interface RetrievalResult {
  /** CMC: cmc[k] = share of evaluated queries whose first relevant item has rank ≤ k. */
  cmc: Record<number, number>;
  /** Mean over evaluated queries of the full-gallery average precision. */
  mAP: number;
  /** Queries with no relevant gallery item: left out of CMC and mAP. */
  skippedQueries: number;
  /** Number of queries that entered CMC and mAP. */
  evaluatedQueries: number;
  /** AP of every query (NaN for skipped queries). */
  perQueryAP: Float64Array;
}

function checkSet(name: string, s: EmbeddingSet): number {
  const n = s.labels.length;
  if (!Number.isInteger(s.dim) || s.dim < 1) throw new RangeError(`${name}: dim ${s.dim} is not a positive integer`);
  if (s.x.length !== n * s.dim) throw new RangeError(`${name}: ${s.x.length} floats for ${n} rows of ${s.dim}`);
  if (s.ids.length !== n) throw new RangeError(`${name}: ${s.ids.length} ids for ${n} labels`);
  return n;
}

/** L2-normalise rows, keep the first d coordinates, renormalise (docs/protocols.md "Compatibility (embedding upgrades)"). Zero rows stay zero. */
function prepare(x: tf.Tensor2D, d: number): tf.Tensor2D {
  const unit = (t: tf.Tensor2D): tf.Tensor2D => tf.div(t, tf.maximum(tf.norm(t, 'euclidean', 1, true), 1e-12));
  return unit(tf.slice(unit(x), [0, 0], [-1, d]));
}

/**
 * Cosine scores of query rows against the gallery, computed with a batched matMul over query
 * chunks (chunk × |G| floats at a time); `visit` gets each block's row-major scores.
 */
function forEachScoreBlock(
  query: EmbeddingSet,
  gallery: EmbeddingSet,
  chunk: number,
  visit: (start: number, rows: number, scores: Float32Array) => void,
): void {
  const nq = query.labels.length;
  const ng = gallery.labels.length;
  const d = Math.min(query.dim, gallery.dim);
  // Gallery stored transposed ([d, |G|]): a plain matMul is ~10× faster than transposeB on wasm.
  const gT = tf.tidy(() => tf.transpose(prepare(tf.tensor2d(gallery.x, [ng, gallery.dim]), d)));
  try {
    for (let start = 0; start < nq; start += chunk) {
      const rows = Math.min(chunk, nq - start);
      const block = tf.tidy(() => {
        const q = tf.tensor2d(query.x.subarray(start * query.dim, (start + rows) * query.dim), [rows, query.dim]);
        return tf.matMul(prepare(q, d), gT);
      });
      let scores: Float32Array;
      try {
        scores = block.dataSync() as Float32Array;
      } finally {
        block.dispose();
      }
      visit(start, rows, scores);
    }
  } finally {
    gT.dispose();
  }
}

/** The full |Q| × |G| cosine score matrix (row-major); for small sets and inspection. */
export function cosineScores(query: EmbeddingSet, gallery: EmbeddingSet): Float32Array {
  const nq = checkSet('query set', query);
  const ng = checkSet('gallery set', gallery);
  const out = new Float32Array(nq * ng);
  forEachScoreBlock(query, gallery, 1024, (start, _rows, scores) => out.set(scores, start * ng));
  return out;
}

/** Does relevant item (score a, index ia) come before item (score b, index ib)? Order: (−score, index). */
const before = (a: number, ia: number, b: number, ib: number): boolean => a > b || (a === b && ia < ib);

/**
 * Rank statistics of one query from its score row. Instead of sorting the whole gallery, the
 * relevant items are sorted and every other item is located among them: the rank of the m-th
 * relevant item is 1 + m + #(non-relevant items ahead of it). The position is first guessed
 * from a uniform grid over the relevant scores, then corrected by comparisons, so it is exact
 * and costs O(1) per item on typical rows. Returns null when the query has no relevant item.
 */
export function rankQuery(
  scores: Float32Array,
  galleryLabels: Int32Array,
  galleryIds: Int32Array,
  label: number,
  excludeId: number | null,
): { firstRank: number; ap: number } | null {
  const withLabel: number[] = [];
  const excluded: number[] = [];
  for (let g = 0; g < galleryLabels.length; g++) {
    if (galleryLabels[g] === label) withLabel.push(g);
    if (excludeId !== null && galleryIds[g] === excludeId) excluded.push(g);
  }
  return rankRow(scores, Int32Array.from(withLabel), excluded, galleryIds, excludeId);
}

/** Scratch arrays of rankRow, grown on demand and reused across queries. */
class RankWorkspace {
  relIdx = new Int32Array(0);
  relScore = new Float64Array(0);
  keys = new Float64Array(0);
  ahead = new Int32Array(0);
  guess = new Int32Array(0);
  relCell = new Uint8Array(0);
  perCell = new Int32Array(0);

  size(R: number, K: number): void {
    if (this.relIdx.length < R) {
      this.relIdx = new Int32Array(R);
      this.relScore = new Float64Array(R);
      this.keys = new Float64Array(R);
      this.ahead = new Int32Array(R + 1);
    }
    if (this.guess.length < K + 2) {
      this.guess = new Int32Array(K + 2);
      this.relCell = new Uint8Array(K + 1);
      this.perCell = new Int32Array(K + 1);
    }
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** Gallery indices below this fit beside a 32-bit score key in a float64's 53-bit integer range. */
const KEY_INDEX_LIMIT = 2 ** 21;

/**
 * Sorts `idx[0..R)` by (−score, index) (ties by index, as `before` orders them): native numeric
 * sort of float64 keys (32 bits of order-preserving score, 21 bits of index) instead of a
 * comparator, which costs ~0.5 µs per comparison call on V8.
 */
function sortRelevant(idx: Int32Array, R: number, scores: Float32Array, ws: RankWorkspace): void {
  if (scores.length > KEY_INDEX_LIMIT) {
    const sorted = Array.from(idx.subarray(0, R)).sort((a, b) => scores[b] - scores[a] || a - b);
    idx.set(sorted);
    return;
  }
  const keys = ws.keys.subarray(0, R);
  for (let m = 0; m < R; m++) {
    const g = idx[m];
    f32[0] = scores[g] === 0 ? 0 : scores[g]; // −0 and +0 are one score
    const u = u32[0];
    const ascending = u & 0x80000000 ? ~u >>> 0 : (u | 0x80000000) >>> 0; // monotone in the score
    keys[m] = (0xffffffff - ascending) * KEY_INDEX_LIMIT + g;
  }
  keys.sort();
  for (let m = 0; m < R; m++) idx[m] = keys[m] % KEY_INDEX_LIMIT;
}

/**
 * rankQuery with the gallery rows of the query's label (`withLabel`, ascending) and the rows to
 * leave out (`excluded`: those with the excluded id, any label) looked up by the caller once.
 * Every row is located among the relevant ones in one branch-light pass; the relevant rows
 * themselves (the m-th has exactly m relevant rows ahead) and the excluded ones are then taken
 * back out of the histogram, which gives the same counts as skipping them.
 */
function rankRow(
  scores: Float32Array,
  withLabel: Int32Array,
  excluded: ArrayLike<number>,
  galleryIds: Int32Array,
  excludeId: number | null,
  ws: RankWorkspace = new RankWorkspace(),
): { firstRank: number; ap: number } | null {
  const n = scores.length;
  // Grid of K + 1 cells over [top, bottom] of the relevant scores (cell = ⌊(top − s)·K/(top − bottom)⌋,
  // monotone in s); guess[c] = the first relevant item in a cell ≥ c. A row in a cell holding no
  // relevant item has exactly guess[c] relevant items ahead of it; only rows sharing a cell with a
  // relevant item are placed by comparisons. 32 cells per relevant item keep those rows few.
  const K = 32 * withLabel.length;
  ws.size(withLabel.length, K);
  const relIdx = ws.relIdx;
  let R = 0;
  for (let k = 0; k < withLabel.length; k++) if (excludeId === null || galleryIds[withLabel[k]] !== excludeId) relIdx[R++] = withLabel[k];
  if (R === 0) return null;
  sortRelevant(relIdx, R, scores, ws);
  const relScore = ws.relScore;
  for (let m = 0; m < R; m++) relScore[m] = scores[relIdx[m]];

  const top = relScore[0];
  const bottom = relScore[R - 1];
  const inv = top > bottom ? K / (top - bottom) : 0;
  const cellOf = (s: number): number => {
    const c = ((top - s) * inv) | 0; // ≥ 0 for s ≤ top
    return c > K ? K : c;
  };
  const { guess, relCell, perCell, ahead } = ws;
  guess.fill(R, 0, K + 2);
  relCell.fill(0, 0, K + 1);
  perCell.fill(0, 0, K + 1);
  ahead.fill(0, 0, R + 1);
  for (let m = R - 1; m >= 0; m--) {
    const c = cellOf(relScore[m]);
    guess[c] = m;
    relCell[c] = 1;
  }
  for (let c = K; c >= 0; c--) guess[c] = Math.min(guess[c], guess[c + 1]);
  // Exact position of a row (score s, index g) among the relevant items, for s in [bottom, top].
  const place = (s: number, g: number): number => {
    let p = guess[cellOf(s)];
    while (p > 0 && !before(relScore[p - 1], relIdx[p - 1], s, g)) p--;
    while (p < R && before(relScore[p], relIdx[p], s, g)) p++;
    return p;
  };
  const position = (s: number, g: number): number => (s > top ? 0 : s < bottom ? R : place(s, g));

  // ahead[p] = number of rows preceded by exactly p relevant items.
  let above = 0;
  let below = 0;
  for (let g = 0; g < n; g++) {
    const s = scores[g];
    if (s > top) above++;
    else if (s < bottom) below++;
    else {
      let c = ((top - s) * inv) | 0;
      if (c > K) c = K;
      if (relCell[c] === 0) perCell[c]++;
      else ahead[place(s, g)]++;
    }
  }
  ahead[0] += above;
  ahead[R] += below;
  for (let c = 0; c <= K; c++) if (perCell[c] > 0) ahead[guess[c]] += perCell[c];
  // The relevant rows themselves (the m-th has m relevant rows ahead) and the excluded rows are not ranked.
  for (let m = 0; m < R; m++) ahead[m]--;
  for (let k = 0; k < excluded.length; k++) ahead[position(scores[excluded[k]], excluded[k])]--;

  // AP = (1/R) Σ_m precision@rank_m (docs/protocols.md "Compatibility (embedding upgrades)").
  let nonRelevantAhead = 0;
  let sumPrecision = 0;
  let firstRank = 0;
  for (let m = 0; m < R; m++) {
    nonRelevantAhead += ahead[m];
    const rank = m + 1 + nonRelevantAhead;
    if (m === 0) firstRank = rank;
    sumPrecision += (m + 1) / rank;
  }
  return { firstRank, ap: sumPrecision / R };
}

/** Gallery rows per value of `keys` (ascending within each value). */
function rowsByKey(keys: Int32Array): Map<number, Int32Array> {
  const lists = new Map<number, number[]>();
  for (let g = 0; g < keys.length; g++) {
    const l = lists.get(keys[g]);
    if (l) l.push(g);
    else lists.set(keys[g], [g]);
  }
  const out = new Map<number, Int32Array>();
  for (const [k, l] of lists) out.set(k, Int32Array.from(l));
  return out;
}

const NO_ROWS = new Int32Array(0);

/** CMC top-k and full-gallery mAP of `query` searched against `gallery` (cosine, batched matMul). */
export function retrievalMetrics(query: EmbeddingSet, gallery: EmbeddingSet, opts: RetrievalOptions): RetrievalResult {
  const nq = checkSet('query set', query);
  const ng = checkSet('gallery set', gallery);
  const chunk = opts.chunk ?? 1024;
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`retrievalMetrics: chunk ${chunk} is not a positive integer`);
  for (const k of opts.topK) {
    if (!Number.isInteger(k) || k < 1) throw new RangeError(`retrievalMetrics: top-k ${k} is not a positive integer`);
  }
  const hits = new Map<number, number>(opts.topK.map((k) => [k, 0]));
  const perQueryAP = new Float64Array(nq).fill(NaN);
  let evaluated = 0;
  let apSum = 0;

  const byLabel = rowsByKey(gallery.labels);
  const byId = opts.excludeSameId ? rowsByKey(gallery.ids) : null;
  const ws = new RankWorkspace();
  forEachScoreBlock(query, gallery, chunk, (start, rows, scores) => {
    for (let r = 0; r < rows; r++) {
      const qi = start + r;
      const excludeId = byId ? query.ids[qi] : null;
      const res = rankRow(
        scores.subarray(r * ng, (r + 1) * ng),
        byLabel.get(query.labels[qi]) ?? NO_ROWS,
        excludeId === null ? NO_ROWS : (byId!.get(excludeId) ?? NO_ROWS),
        gallery.ids,
        excludeId,
        ws,
      );
      if (!res) continue;
      evaluated++;
      perQueryAP[qi] = res.ap;
      apSum += res.ap;
      for (const k of opts.topK) if (res.firstRank <= k) hits.set(k, hits.get(k)! + 1);
    }
  });

  const cmc: Record<number, number> = {};
  for (const k of opts.topK) cmc[k] = evaluated === 0 ? 0 : hits.get(k)! / evaluated;
  return {
    cmc,
    mAP: evaluated === 0 ? 0 : apSum / evaluated,
    skippedQueries: nq - evaluated,
    evaluatedQueries: evaluated,
    perQueryAP,
  };
}
