/**
 * Benchmark: one training step of wa's linear head by class count K, in isolation — cl's step on
 * the wasm-mlas backend as train/linear-step.ts runs it (eval/onnx-kernels.ts linearHeadGrad, the
 * batch gathered inside that call, then the WebAssembly SGD pass of train/sgd-wasm.ts) vs the same step in single-threaded PyTorch
 * (test/bench/ref/head_step.py), interleaved. Shows how each side's step grows with K, which is
 * what makes the per-task learn time of test/bench/head.ts grow with the task index.
 *
 *   npx tsx test/bench/head-step.ts [--steps 1000] [--classes 20,60,100]
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { linearHeadGrad } from '../../src/eval/onnx-kernels.js';
import { Rng } from '../../src/rng.js';
import { SgdArena } from '../../src/train/sgd-wasm.js';
import { argValue, loadLine } from './data.js';
import { findPython } from './ref/python.js';

const N = 7000;
/**
 * torch.set_num_threads(1) does not reach the BLAS: Debian's torch calls OpenBLAS, whose own
 * pthread pool uses every core unless told otherwise (measured: 2 threads busy, the K = 100
 * forward product 0.24 ms instead of 0.36). These make the reference single-threaded for real.
 */
const SINGLE_THREAD = { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
const D = 1280;
const B = 128;

function clStepMs(K: number, steps: number, x: Float32Array, rng: Rng): number {
  const n = K - 10;
  const arena = new SgdArena(D * K);
  for (let i = 0; i < arena.w.length; i++) arena.w[i] = rng.next() * 0.01;
  const q = new Float32Array(N * n).fill(1 / n);
  const y = Int32Array.from({ length: N }, () => rng.int(K));
  const rows = new Int32Array(B);
  const grad = linearHeadGrad({ x, y, dim: D, classes: K, w: arena.w, dw: arena.grad, ce: 0.5, kd: { q, n, weight: 0.5, temperature: 2 } });
  const step = (): void => {
    for (let i = 0; i < B; i++) rows[i] = rng.int(N);
    grad(rows);
    arena.step(0.01, 0.9, 2e-4, true);
  };
  for (let i = 0; i < steps / 10; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  return (performance.now() - t0) / steps;
}

function main(): void {
  const steps = Number(argValue('--steps', '1000'));
  const classes = argValue('--classes', '20,60,100').split(',').map(Number);
  const rng = new Rng(1);
  const x = new Float32Array(N * D);
  for (let i = 0; i < x.length; i++) x[i] = rng.next();
  const py = findPython(['torch']);
  console.log(`one wa head step (batch ${B}, ${N} × ${D} block, KD + clip), ${steps} steps per class count`);
  console.log(typeof py === 'string' ? `PyTorch reference skipped: ${py}` : `reference: ${py.about}`);
  console.log(loadLine());
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'ref', 'head_step.py');
  for (const K of classes) {
    const cl = clStepMs(K, steps, x, rng);
    let line = `K ${String(K).padStart(3)}: cl ${cl.toFixed(3)} ms/step`;
    if (typeof py !== 'string') {
      const ref = (JSON.parse(execFileSync(py.python, [script, String(steps), String(K)], { encoding: 'utf8', env: { ...process.env, ...SINGLE_THREAD } })) as Record<string, number>)[String(K)];
      line += `, PyTorch ${ref.toFixed(3)} ms/step, cl/PyTorch ${(cl / ref).toFixed(2)}×`;
    }
    console.log(line);
  }
  console.log(loadLine());
}

main();
