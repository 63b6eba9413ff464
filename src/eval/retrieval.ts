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
  const n = galleryLabels.length;
  const rel: number[] = [];
  for (let g = 0; g < n; g++) {
    if (galleryLabels[g] === label && galleryIds[g] !== excludeId) rel.push(g);
  }
  const R = rel.length;
  if (R === 0) return null;
  rel.sort((a, b) => scores[b] - scores[a] || a - b);
  const relScore = Float64Array.from(rel, (g) => scores[g]);
  const relIdx = Int32Array.from(rel);

  // Grid of K cells over [bottom, top] of the relevant scores; guess[c] = first relevant item in cell ≥ c.
  const top = relScore[0];
  const bottom = relScore[R - 1];
  const K = 2 * R;
  const inv = top > bottom ? K / (top - bottom) : 0;
  const cellOf = (s: number): number => Math.min(K, Math.max(0, Math.floor((top - s) * inv)));
  const guess = new Int32Array(K + 2).fill(R);
  for (let m = R - 1; m >= 0; m--) guess[cellOf(relScore[m])] = m;
  for (let c = K; c >= 0; c--) guess[c] = Math.min(guess[c], guess[c + 1]);

  // ahead[p] = number of non-relevant items preceded by exactly p relevant items.
  const ahead = new Int32Array(R + 1);
  for (let g = 0; g < n; g++) {
    if (galleryLabels[g] === label || galleryIds[g] === excludeId) continue;
    const s = scores[g];
    let p: number;
    if (s < bottom) p = R;
    else if (s > top) p = 0;
    else {
      const c = Math.floor((top - s) * inv); // in [0, K] here since bottom ≤ s ≤ top
      p = guess[c > K ? K : c];
      while (p > 0 && !before(relScore[p - 1], relIdx[p - 1], s, g)) p--;
      while (p < R && before(relScore[p], relIdx[p], s, g)) p++;
    }
    ahead[p]++;
  }

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

  forEachScoreBlock(query, gallery, chunk, (start, rows, scores) => {
    for (let r = 0; r < rows; r++) {
      const qi = start + r;
      const res = rankQuery(
        scores.subarray(r * ng, (r + 1) * ng),
        gallery.labels,
        gallery.ids,
        query.labels[qi],
        opts.excludeSameId ? query.ids[qi] : null,
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
