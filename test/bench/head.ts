/**
 * Benchmark: learning time of the `wa` and `replay` learners over the 10 tasks of B0-Inc10, cl
 * (tfjs backend as `cl run` picks it, or --backend: wasm-mlas is the fast engine, docs/performance.md) vs the same algorithm in single-threaded PyTorch
 * (test/bench/ref/head.py) on the same features, interleaved (the order alternates). cl's time is
 * what `cl run` records as learnMs: HeadLearner.learn (training block, teacher targets, epochs,
 * weight aligning, herding), and of it the part up to the end of the last epoch. Printed per task,
 * with the growth over the tasks as a slope (ms per task, tasks 2–10): cl grows no faster than
 * PyTorch when its slope is not larger. (The per-task ratio is printed too, but it rises whenever
 * cl's fixed cost per step is the smaller one, even with equal slopes.) Targets: cl ≤ 1.2× PyTorch
 * at the default 40 epochs, cl's slope ≤ PyTorch's. A_t of both is printed as a check that they learn the same thing (the
 * numbers differ: other kernels, other random streams).
 *
 *   npx tsx test/bench/head.ts [--epochs 4] [--rounds 1] [--methods wa,replay] [--backend wasm|wasm-mlas]
 *   CL_SHARED_DIR=/path/to/shared npx tsx test/bench/head.ts --epochs 40   (the issue's comparison)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluateIncrement } from '../../src/eval/accuracy.js';
import { getMethod, resolveMethodOptions } from '../../src/learners/index.js';
import { selectClasses } from '../../src/scenario/stream.js';
import { initBackend } from '../../src/tf.js';
import { argValue, benchData, loadLine, median, type BenchData } from './data.js';
import { PythonWorker, findPython } from './ref/python.js';

interface Curve {
  learnS: number[];
  /** The part of learnS up to the end of the last epoch (before weight aligning and herding). */
  trainS: number[];
  accuracy: number[];
}

async function clRun(d: BenchData, method: string, epochs: number): Promise<Curve> {
  const def = getMethod(method);
  const learner = def.create(resolveMethodOptions(def, { epochs }), { seed: 1, dim: d.train.dim, numClasses: 100 });
  const out: Curve = { learnS: [], trainS: [], accuracy: [] };
  try {
    for (let t = 0; t < d.tasks.length; t++) {
      const train = selectClasses(d.train, d.tasks[t]);
      const t0 = performance.now();
      let lastEpoch = t0;
      await learner.learn({ index: t, classes: d.tasks[t], train }, { emit: (e) => (e.type === 'epoch' ? (lastEpoch = performance.now()) : undefined) });
      out.learnS.push((performance.now() - t0) / 1000);
      out.trainS.push((lastEpoch - t0) / 1000);
      out.accuracy.push(evaluateIncrement({ predict: (x) => learner.predict(x), test: d.test, taskClasses: d.tasks, task: t }).accuracy);
    }
  } finally {
    learner.dispose();
  }
  return out;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/**
 * Growth with the task index: the least-squares slope of per-task seconds over tasks 2–10, in ms
 * per task. Task 1 is left out: it trains on 5,000 rows with no memory and no distillation, every
 * later task on ~7,000 rows, so only the class count changes from task 2 on.
 */
function growthMs(perTask: number[]): number {
  const ys = perTask.slice(1);
  const mx = (ys.length - 1) / 2;
  const my = sum(ys) / ys.length;
  let num = 0;
  let den = 0;
  ys.forEach((y, i) => {
    num += (i - mx) * (y - my);
    den += (i - mx) ** 2;
  });
  return (1000 * num) / den;
}
const fmt = (xs: number[]): string => xs.map((v) => v.toFixed(2)).join(' ');

async function main(): Promise<void> {
  const epochs = Number(argValue('--epochs', '4'));
  const rounds = Number(argValue('--rounds', '1'));
  const methods = argValue('--methods', 'wa,replay').split(',');
  const backend = await initBackend(argValue('--backend', process.env.CL_BACKEND ?? 'auto'));
  const d = await benchData();
  console.log(`${methods.join(' and ')} heads, ${epochs} epochs × 10 tasks on ${d.what}; cl on tfjs ${backend.name}`);
  const py = findPython(['numpy', 'torch']);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cl-bench-head-'));
  let ref: PythonWorker | null = null;
  try {
    if (typeof py === 'string') console.log(`PyTorch reference skipped: ${py}`);
    else {
      const spec = path.join(dir, 'spec.json');
      writeFileSync(spec, JSON.stringify({ train_x: d.files.train.x, train_y: d.files.train.y, test_x: d.files.test.x, test_y: d.files.test.y, tasks: d.tasks }));
      // One BLAS thread as well: "single-threaded PyTorch".
      ref = new PythonWorker(py.python, 'head.py', spec, { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' });
      await ref.ready();
      console.log(`reference: ${py.about}; torch.set_num_threads(1)`);
    }
    console.log(loadLine());
    for (const method of methods) {
      const cl: Curve[] = [];
      const torch: Curve[] = [];
      for (let r = 0; r < rounds; r++) {
        for (const who of r % 2 === 0 ? ['cl', 'ref'] : ['ref', 'cl']) {
          if (who === 'cl') cl.push(await clRun(d, method, epochs));
          else if (ref) {
            const p = await ref.run<{ learn_s: number[]; train_s: number[]; accuracy: number[] }>(JSON.stringify({ method, epochs, seed: 1 }));
            torch.push({ learnS: p.learn_s, trainS: p.train_s, accuracy: p.accuracy });
          }
        }
        const c = cl[cl.length - 1];
        const p = torch[torch.length - 1];
        console.log(`${method} round ${r + 1}: cl learn ${sum(c.learnS).toFixed(1)} s${p ? `, PyTorch ${sum(p.learnS).toFixed(1)} s, ratio ${(sum(c.learnS) / sum(p.learnS)).toFixed(2)}×` : ''}`);
        console.log(`  cl      per task (s): ${fmt(c.learnS)}; A_t ${fmt(c.accuracy)}`);
        console.log(`    of which epochs (s): ${fmt(c.trainS)}`);
        if (p) {
          console.log(`  PyTorch per task (s): ${fmt(p.learnS)}; A_t ${fmt(p.accuracy)}`);
          console.log(`    of which epochs (s): ${fmt(p.trainS)}`);
          console.log(`  cl/PyTorch per task:  ${c.learnS.map((v, i) => (v / p.learnS[i]).toFixed(2)).join(' ')}`);
          console.log(`  growth over tasks 2–10 (ms per task): cl ${growthMs(c.learnS).toFixed(0)}, PyTorch ${growthMs(p.learnS).toFixed(0)}; epochs only: cl ${growthMs(c.trainS).toFixed(0)}, PyTorch ${growthMs(p.trainS).toFixed(0)}`);
        }
      }
      if (torch.length > 0) {
        const ratios = cl.map((c, i) => sum(c.learnS) / sum(torch[i].learnS)).sort((a, b) => a - b);
        console.log(`${method}, ${epochs} epochs: cl/PyTorch learning time ${ratios.map((v) => v.toFixed(2)).join(', ')}× over ${rounds} round(s) (target ≤ 1.2× at 40 epochs)`);
        const g = (cs: Curve[], f: (c: Curve) => number[]): string => median(cs.map((c) => growthMs(f(c)))).toFixed(0);
        // Per task, the fastest of the rounds (the one least disturbed by other load on the machine).
        const fastest = (cs: Curve[], f: (c: Curve) => number[]): number[] => f(cs[0]).map((_, t) => Math.min(...cs.map((c) => f(c)[t])));
        const gf = (cs: Curve[], f: (c: Curve) => number[]): string => growthMs(fastest(cs, f)).toFixed(0);
        console.log(
          `${method}, ${epochs} epochs: growth of the per-task time over tasks 2–10, median of ${rounds} round(s): cl ${g(cl, (c) => c.learnS)} ms/task, PyTorch ${g(torch, (c) => c.learnS)} ms/task; epochs only: cl ${g(cl, (c) => c.trainS)}, PyTorch ${g(torch, (c) => c.trainS)} (target at 40 epochs: cl ≤ PyTorch)`,
        );
        if (rounds > 1) {
          console.log(
            `${method}, ${epochs} epochs: growth of the fastest round per task: cl ${gf(cl, (c) => c.learnS)} ms/task, PyTorch ${gf(torch, (c) => c.learnS)} ms/task; epochs only: cl ${gf(cl, (c) => c.trainS)}, PyTorch ${gf(torch, (c) => c.trainS)}`,
          );
          console.log(`  fastest per task, epochs only (s): cl ${fmt(fastest(cl, (c) => c.trainS))}; PyTorch ${fmt(fastest(torch, (c) => c.trainS))}`);
        }
      }
    }
    console.log(loadLine());
  } finally {
    ref?.close();
    rmSync(dir, { recursive: true, force: true });
    d.cleanup();
  }
}

await main();
