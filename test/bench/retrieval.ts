/**
 * Benchmark: one compatibility-matrix cell — a 10,000 × 10,000 cosine search (query left out,
 * CMC top-1/5 and full-gallery mAP) on 128-d embeddings, the size of CIFAR-100's test set — cl's
 * retrievalMetrics vs numpy (test/bench/ref/retrieval.py) on the same embeddings, interleaved.
 * The yardstick is numpy without a full sort per row ("count", the stricter one); the usual
 * argsort-per-row evaluation code is timed once for context. Both must report the same CMC/mAP.
 * Target: cl ≤ 2× numpy.
 *
 *   npx tsx test/bench/retrieval.ts [--n 10000] [--dim 128] [--rounds 3] [--kind clustered|random] [--no-argsort]
 *
 * Embeddings: `clustered` (default) = class centre + noise (relevant items rank high, as after
 * training); `random` = i.i.d. normal (every ranking is noise: the worst case for the ranking).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeNpy } from '../../src/backbones/npy.js';
import { retrievalMetrics, type EmbeddingSet, type RetrievalResult } from '../../src/eval/retrieval.js';
import { Rng } from '../../src/rng.js';
import { initBackend, tf } from '../../src/tf.js';
import { argValue, loadLine, median } from './data.js';
import { PythonWorker, findPython } from './ref/python.js';

interface RefResult {
  seconds: number;
  top1: number;
  top5: number;
  mAP: number;
  evaluated: number;
}

function embeddings(n: number, dim: number, kind: string): EmbeddingSet {
  const rng = new Rng(1);
  const labels = Int32Array.from({ length: n }, (_, k) => k % 100);
  const centres = Float32Array.from({ length: 100 * dim }, () => rng.normal());
  const x = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) x[i * dim + j] = (kind === 'random' ? 0 : centres[labels[i] * dim + j]) + (kind === 'random' ? 1 : 3) * rng.normal();
  }
  return { x, dim, labels, ids: Int32Array.from({ length: n }, (_, k) => k) };
}

async function main(): Promise<void> {
  const n = Number(argValue('--n', '10000'));
  const dim = Number(argValue('--dim', '128'));
  const rounds = Number(argValue('--rounds', '3'));
  const kind = argValue('--kind', 'clustered');
  const backend = await initBackend();
  const set = embeddings(n, dim, kind);
  console.log(`retrieval cell ${n} × ${n}, ${dim}-d ${kind} embeddings, query left out; cl on tfjs ${backend.name}`);
  const py = findPython(['numpy']);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cl-bench-retrieval-'));
  let ref: PythonWorker | null = null;
  try {
    if (typeof py === 'string') console.log(`numpy reference skipped: ${py}`);
    else {
      const files = { x: path.join(dir, 'x.npy'), labels: path.join(dir, 'labels.npy'), ids: path.join(dir, 'ids.npy') };
      await writeNpy(files.x, set.x, [n, dim]);
      await writeNpy(files.labels, set.labels, [n]);
      await writeNpy(files.ids, set.ids, [n]);
      writeFileSync(path.join(dir, 'spec.json'), JSON.stringify(files));
      ref = new PythonWorker(py.python, 'retrieval.py', path.join(dir, 'spec.json'));
      await ref.ready();
      console.log(`reference: ${py.about}`);
    }
    console.log(loadLine());
    const clRun = (): { s: number; r: RetrievalResult } => {
      const t0 = performance.now();
      const r = retrievalMetrics(set, set, { topK: [1, 5], excludeSameId: true });
      return { s: (performance.now() - t0) / 1000, r };
    };
    clRun(); // warm-up
    if (ref) await ref.run<RefResult>('count');
    const clTimes: number[] = [];
    const refTimes: number[] = [];
    let last: RetrievalResult | null = null;
    let refLast: RefResult | null = null;
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['cl', 'ref'] : ['ref', 'cl'];
      let line = `round ${r + 1}:`;
      for (const who of order) {
        if (who === 'cl') {
          const c = clRun();
          clTimes.push(c.s);
          last = c.r;
          line += ` cl ${c.s.toFixed(2)} s`;
        } else if (ref) {
          refLast = await ref.run<RefResult>('count');
          refTimes.push(refLast.seconds);
          line += ` numpy ${refLast.seconds.toFixed(2)} s`;
        }
      }
      console.log(line);
    }
    const cl = median(clTimes);
    console.log(`cl: top-1 ${last!.cmc[1].toFixed(4)}, top-5 ${last!.cmc[5].toFixed(4)}, mAP ${last!.mAP.toFixed(6)} (${tf.getBackend()})`);
    if (ref && refLast) {
      const np = median(refTimes);
      // numpy's scores come from another GEMM (float32 rounding differs): near-ties may rank differently.
      const dmap = Math.abs(refLast.mAP - last!.mAP);
      console.log(`numpy: top-1 ${refLast.top1.toFixed(4)}, top-5 ${refLast.top5.toFixed(4)}, mAP ${refLast.mAP.toFixed(6)} (|ΔmAP| vs cl ${dmap.toExponential(1)})`);
      const ratios = clTimes.map((t, i) => t / refTimes[i]);
      console.log(
        `retrieval cell: cl ${cl.toFixed(2)} s, numpy ${np.toFixed(2)} s (medians of ${rounds}); cl/numpy = ${(cl / np).toFixed(2)}× ` +
          `(per round ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×; target ≤ 2×)`,
      );
      if (!process.argv.includes('--no-argsort')) {
        const a = await ref.run<RefResult>('argsort');
        const c = clRun();
        console.log(`for context, numpy with a stable argsort of every row (the usual evaluation code): ${a.seconds.toFixed(2)} s (cl in the same minute ${c.s.toFixed(2)} s, ${(c.s / a.seconds).toFixed(2)}×; mAP ${a.mAP.toFixed(6)})`);
      }
    } else console.log(`retrieval cell: cl ${cl.toFixed(2)} s (median of ${rounds})`);
    console.log(loadLine());
  } finally {
    ref?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
