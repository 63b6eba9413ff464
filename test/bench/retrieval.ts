/**
 * Benchmark: one compatibility-matrix cell — a 10,000 × 10,000 cosine search (query left out,
 * CMC top-1/5 and full-gallery mAP) on random 128-d embeddings, the size of CIFAR-100's test set.
 * Run: npx tsx test/bench/retrieval.ts [n] [dim]
 */
import { retrievalMetrics, type EmbeddingSet } from '../../src/eval/retrieval.js';
import { Rng } from '../../src/rng.js';
import { initBackend, tf } from '../../src/tf.js';

const n = Number(process.argv[2] ?? 10000);
const dim = Number(process.argv[3] ?? 128);
await initBackend();
const rng = new Rng(1);
const set: EmbeddingSet = {
  x: Float32Array.from({ length: n * dim }, () => rng.normal()),
  dim,
  labels: Int32Array.from({ length: n }, (_, k) => k % 100),
  ids: Int32Array.from({ length: n }, (_, k) => k),
};
for (let round = 1; round <= 2; round++) {
  const t0 = performance.now();
  const r = retrievalMetrics(set, set, { topK: [1, 5], excludeSameId: true });
  const s = (performance.now() - t0) / 1000;
  console.log(`retrieval ${n} x ${n} x ${dim} on ${tf.getBackend()}: ${s.toFixed(2)} s (round ${round}; mAP ${r.mAP.toFixed(4)})`);
}
