/**
 * Benchmark: NMC over 10 increments (B0-Inc10: learn the task's classes, then score every test
 * sample of the seen classes), cl vs a plain numpy NMC (test/bench/ref/nmc.py) on the same
 * features, interleaved round by round (the order alternates), plus a check that both give the
 * same per-class correct counts after every increment. Target: cl ≤ 1.0× numpy.
 *
 *   npx tsx test/bench/nmc.ts [--rounds 5] [--variant janson|simplecil]
 *   CL_SHARED_DIR=/path/to/shared npx tsx test/bench/nmc.ts   (real CIFAR-100 MobileNetV2 features)
 *
 * cl's time is what `cl run` reports as learn + eval per increment: materialising the task's
 * training block, NmcLearner.learn, and evaluateIncrement (seen-class subset, predict, counts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evaluateIncrement } from '../../src/eval/accuracy.js';
import { NmcLearner } from '../../src/learners/nmc.js';
import { selectClasses } from '../../src/scenario/stream.js';
import { argValue, benchData, loadLine, median, type BenchData } from './data.js';
import { PythonWorker, findPython } from './ref/python.js';

interface RefRun {
  learn_s: number[];
  eval_s: number[];
  correct: Record<string, number>[];
}

interface Timed {
  learnMs: number[];
  evalMs: number[];
  correct: Record<string, number>[];
}

async function clRun(d: BenchData, variant: string): Promise<Timed> {
  const learner = new NmcLearner({ variant }, d.train.dim);
  const out: Timed = { learnMs: [], evalMs: [], correct: [] };
  try {
    for (let t = 0; t < d.tasks.length; t++) {
      const t0 = performance.now();
      await learner.learn({ index: t, classes: d.tasks[t], train: selectClasses(d.train, d.tasks[t]) });
      const t1 = performance.now();
      const row = evaluateIncrement({ predict: (x) => learner.predict(x), test: d.test, taskClasses: d.tasks, task: t });
      const t2 = performance.now();
      out.learnMs.push(t1 - t0);
      out.evalMs.push(t2 - t1);
      out.correct.push(row.correctPerClass);
    }
  } finally {
    learner.dispose();
  }
  return out;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

function sameCounts(a: Record<string, number>[], b: Record<string, number>[]): string | null {
  for (let t = 0; t < a.length; t++) {
    for (const [c, v] of Object.entries(a[t])) {
      if (b[t]?.[c] !== v) return `task ${t + 1}, class ${c}: cl ${v}, numpy ${String(b[t]?.[c])}`;
    }
  }
  return null;
}

async function main(): Promise<void> {
  const rounds = Number(argValue('--rounds', '5'));
  const variant = argValue('--variant', 'janson');
  const d = await benchData();
  console.log(`NMC (${variant}), 10 increments on ${d.what}`);
  const py = findPython(['numpy']);
  let ref: PythonWorker | null = null;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cl-bench-nmc-'));
  try {
    if (typeof py === 'string') console.log(`numpy reference skipped: ${py}`);
    else {
      const spec = path.join(dir, 'spec.json');
      writeFileSync(spec, JSON.stringify({ train_x: d.files.train.x, train_y: d.files.train.y, test_x: d.files.test.x, test_y: d.files.test.y, tasks: d.tasks, variant }));
      ref = new PythonWorker(py.python, 'nmc.py', spec);
      await ref.ready();
      console.log(`reference: ${py.about}`);
    }
    console.log(loadLine());
    // Warm-up (JIT, onnxruntime session, numpy page faults), not counted.
    await clRun(d, variant);
    if (ref) await ref.run<RefRun>();
    const clTimes: number[] = [];
    const refTimes: number[] = [];
    let mismatch: string | null = null;
    let clCounts: Record<string, number>[] | null = null;
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ['cl', 'ref'] : ['ref', 'cl'];
      let line = `round ${r + 1}:`;
      for (const who of order) {
        if (who === 'cl') {
          const c = await clRun(d, variant);
          const s = (sum(c.learnMs) + sum(c.evalMs)) / 1000;
          clTimes.push(s);
          line += ` cl ${s.toFixed(3)} s (learn ${(sum(c.learnMs) / 1000).toFixed(3)}, eval ${(sum(c.evalMs) / 1000).toFixed(3)})`;
          clCounts ??= c.correct;
        } else if (ref) {
          const p = await ref.run<RefRun>();
          const s = sum(p.learn_s) + sum(p.eval_s);
          refTimes.push(s);
          line += ` numpy ${s.toFixed(3)} s (learn ${sum(p.learn_s).toFixed(3)}, eval ${sum(p.eval_s).toFixed(3)})`;
          if (clCounts && mismatch === null) mismatch = sameCounts(clCounts, p.correct) ?? sameCounts(p.correct, clCounts) ?? '';
        }
      }
      console.log(line);
    }
    const cl = median(clTimes);
    if (ref) {
      const np = median(refTimes);
      const ratios = clTimes.map((t, i) => t / refTimes[i]);
      console.log(
        `NMC 10 increments: cl ${cl.toFixed(3)} s, numpy ${np.toFixed(3)} s (medians of ${rounds}); cl/numpy = ${(cl / np).toFixed(2)}× ` +
          `(per round ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×; target ≤ 1.0×)`,
      );
      console.log(`per-class correct counts, every increment: ${mismatch === '' ? 'identical to numpy' : `DIFFER (${mismatch})`}`);
    } else console.log(`NMC 10 increments: cl ${cl.toFixed(3)} s (median of ${rounds})`);
    console.log(loadLine());
  } finally {
    ref?.close();
    rmSync(dir, { recursive: true, force: true });
    d.cleanup();
  }
}

await main();
