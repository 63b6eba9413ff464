/**
 * Where a head learner's training step spends its time, by tfjs kernel (tf.profile), at the first
 * task (10 classes) and the last (100): answers "what grows with the task index" in
 * docs/performance.md. Two epochs per task; kernel times include tf.profile's own overhead, so
 * compare the two tasks with each other, not with the benchmark's wall times.
 *
 *   CL_SHARED_DIR=/path/to/shared npx tsx test/bench/profile-head.ts [wa|replay|...]
 */
import { getMethod, resolveMethodOptions } from '../../src/learners/index.js';
import { selectClasses } from '../../src/scenario/stream.js';
import { initBackend, tf } from '../../src/tf.js';
import { benchData } from './data.js';
await initBackend(process.env.CL_BACKEND ?? 'wasm');
const d = await benchData();
const method = process.argv[2] ?? 'wa';
const def = getMethod(method);
const learner = def.create(resolveMethodOptions(def, { epochs: 2 }), { seed: 1, dim: d.train.dim, numClasses: 100 });
for (let t = 0; t < 10; t++) {
  const train = selectClasses(d.train, d.tasks[t]);
  const profile = t === 0 || t === 9;
  if (!profile) { await learner.learn({ index: t, classes: d.tasks[t], train }); continue; }
  const t0 = performance.now();
  const info = await tf.profile(async () => { await learner.learn({ index: t, classes: d.tasks[t], train }); });
  const wall = performance.now() - t0;
  const agg = new Map<string, { ms: number; n: number }>();
  let tot = 0;
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const key = `${k.name} ${k.inputShapes.map((s) => JSON.stringify(s)).join('x')}`;
    const a = agg.get(key) ?? { ms: 0, n: 0 }; a.ms += ms; a.n++; agg.set(key, a); tot += ms;
  }
  console.log(`task ${t + 1}: wall ${wall.toFixed(0)} ms, kernels ${info.kernels.length}, kernel time ${tot.toFixed(0)} ms`);
  for (const [k, v] of [...agg].sort((a, b) => b[1].ms - a[1].ms).slice(0, 18)) console.log(`  ${v.ms.toFixed(1).padStart(8)} ms ${String(v.n).padStart(6)}× ${k}`);
}
d.cleanup();
