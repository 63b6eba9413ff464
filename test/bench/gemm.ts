/**
 * Why the closed-form learners multiply on onnxruntime (src/linalg/gemm.ts): one product of the
 * size they do most (a 4,096 × 1,280 block of features times a 1,280 × 1,280 matrix), timed on
 *   - onnxruntime MatMul in float64 (what cl uses),
 *   - the blocked JavaScript loop in float64 (the fallback),
 *   - tfjs matMul in float32 on the wasm backend (the learners' tensor engine; float32 only),
 * interleaved in rounds so that machine load hits all three alike. Prints GFLOP/s per engine and
 * the ratios to onnxruntime.
 *
 *   npx tsx test/bench/gemm.ts [m] [k] [n] [--rounds 3]
 */
import os from 'node:os';
import { gemmEngine, jsGemm, matmul } from '../../src/linalg/gemm.js';
import { Rng } from '../../src/rng.js';
import { initBackend, tf } from '../../src/tf.js';

const pos = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
const [m, k, n] = [Number(pos[0] ?? 4096), Number(pos[1] ?? 1280), Number(pos[2] ?? 1280)];
const ri = process.argv.indexOf('--rounds');
const rounds = ri >= 0 ? Number(process.argv[ri + 1]) : 3;
await initBackend('wasm');
const rng = new Rng(1);
const a = Float64Array.from({ length: m * k }, () => rng.normal());
const b = Float64Array.from({ length: k * n }, () => rng.normal());
const a32 = tf.tensor2d(Float32Array.from(a), [m, k]);
const b32 = tf.tensor2d(Float32Array.from(b), [k, n]);
const flops = 2 * m * k * n;
// The JS loop is slow: time it on a slice of the rows and scale.
const jsRows = Math.max(1, Math.min(m, Math.round(m / 16)));

const engines: Record<string, () => number> = {
  'onnxruntime f64': () => {
    const t0 = performance.now();
    matmul(a, b, m, k, n);
    return (performance.now() - t0) / 1000;
  },
  'js loop f64': () => {
    const t0 = performance.now();
    jsGemm(a.subarray(0, jsRows * k), b, jsRows, k, n, false);
    return ((performance.now() - t0) / 1000) * (m / jsRows);
  },
  'tfjs wasm f32': () => {
    const t0 = performance.now();
    const c = tf.matMul(a32, b32);
    c.dataSync();
    c.dispose();
    return (performance.now() - t0) / 1000;
  },
};
for (const f of Object.values(engines)) f(); // warm up
const best: Record<string, number> = {};
for (let r = 0; r < rounds; r++) for (const [name, f] of Object.entries(engines)) best[name] = Math.min(best[name] ?? Infinity, f());
console.log(`product ${m}×${k} · ${k}×${n} (${(flops / 1e9).toFixed(1)} GFLOP), best of ${rounds} interleaved rounds; products on ${gemmEngine().engine}; load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
for (const [name, s] of Object.entries(best)) {
  console.log(`  ${name.padEnd(16)} ${s.toFixed(3).padStart(8)} s  ${(flops / s / 1e9).toFixed(1).padStart(6)} GFLOP/s  ${(s / best['onnxruntime f64']).toFixed(1).padStart(6)}× the onnxruntime time`);
}
a32.dispose();
b32.dispose();
