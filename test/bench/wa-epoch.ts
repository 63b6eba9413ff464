/**
 * Per-epoch training time of the WA head (linear and mlp) with the shared loop:
 * (a) 5,000 new + 2,000 exemplar samples, K = 100 classes, KD over 90 old classes (a late
 *     CIFAR-100 B0-Inc10 task); (b) all 50,000 samples (joint-size). Also times iCaRL herding
 * of one class (500 samples, quota 200).
 *
 *   npx tsx test/bench/wa-epoch.ts [features.npy] [--epochs 2] [--backend wasm|cpu|tensorflow]
 *
 * features.npy: float32 [N, D] NumPy array (C order); without it 50,000 × 1280 random
 * non-negative features of CIFAR-100 size are generated.
 */
import { readFileSync } from 'node:fs';
import { initBackend, tf } from '../../src/tf.js';
import { Rng } from '../../src/rng.js';
import { ClassifierHead, type HeadKind } from '../../src/learners/head.js';
import { fit, hostRows } from '../../src/train/loop.js';
import { createOptimizer } from '../../src/train/optimizers.js';
import { makeSchedule } from '../../src/train/schedule.js';
import { crossEntropy, distillation } from '../../src/train/losses.js';
import { selectionOrder } from '../../src/train/herding.js';

function readNpyFloat32(path: string): { x: Float32Array; count: number; dim: number } {
  const buf = readFileSync(path);
  if (buf.subarray(0, 6).toString('latin1') !== '\x93NUMPY') throw new Error(`${path} is not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + headerLen).toString('latin1');
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`${path}: expected float32 ('<f4'), header ${header.trim()}`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${path}: Fortran order is not supported`);
  const shape = /'shape':\s*\((\d+),\s*(\d+)\)/.exec(header);
  if (!shape) throw new Error(`${path}: expected a 2-d array, header ${header.trim()}`);
  const count = Number(shape[1]);
  const dim = Number(shape[2]);
  const off = start + headerLen;
  const bytes = buf.subarray(off, off + count * dim * 4);
  if (bytes.length !== count * dim * 4) throw new Error(`${path}: truncated data`);
  const x = new Float32Array(count * dim);
  new Uint8Array(x.buffer).set(bytes);
  return { x, count, dim };
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const backend = await initBackend(argValue('--backend') ?? 'auto');
const epochs = Number(argValue('--epochs') ?? 2);
const file = process.argv.slice(2).find((a, i, all) => a.endsWith('.npy') && !all[i - 1]?.startsWith('--'));
const rng = new Rng(2024);
let feats: { x: Float32Array; count: number; dim: number };
if (file) {
  feats = readNpyFloat32(file);
} else {
  const count = 50000;
  const dim = 1280;
  const x = new Float32Array(count * dim);
  // ReLU-like: half zeros, half |N(0, 1)|, roughly like pooled CNN features
  for (let i = 0; i < x.length; i++) x[i] = Math.max(0, rng.normal());
  feats = { x, count, dim };
}
const K = 100;
const nOld = 90;
console.log(`backend ${backend.name}; features ${feats.count} × ${feats.dim}${file ? ` from ${file}` : ' (random, non-negative)'}; ${epochs} epochs per case`);

/** Random teacher soft targets (rows sum to 1). */
function softRows(count: number, width: number): Float32Array {
  const q = new Float32Array(count * width);
  for (let i = 0; i < count; i++) {
    let s = 0;
    for (let k = 0; k < width; k++) s += q[i * width + k] = rng.next() + 1e-3;
    for (let k = 0; k < width; k++) q[i * width + k] /= s;
  }
  return q;
}

async function timeEpochs(kind: HeadKind, n: number): Promise<number[]> {
  const count = Math.min(n, feats.count);
  // host-side rows, as the learners pass them (the loop gathers batches in JS on wasm/cpu)
  const x = hostRows(feats.x.subarray(0, count * feats.dim), feats.dim);
  const y = hostRows(Int32Array.from({ length: count }, () => rng.int(K)));
  const q = hostRows(softRows(count, nOld), nOld);
  const head = new ClassifierHead({ kind, dim: feats.dim, hidden: 512, bias: false }, rng);
  head.grow(K, rng);
  const optimizer = createOptimizer(head.variables(), { kind: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 2e-4 });
  const stamps: number[] = [performance.now()];
  try {
    await fit({
      data: { x, y, q },
      loss: (b) => {
        const logits = head.logits(b.x as tf.Tensor2D);
        const lambda = nOld / K;
        return tf.add(
          tf.mul(crossEntropy(logits, b.y as tf.Tensor1D), 1 - lambda),
          tf.mul(distillation(logits, b.q as tf.Tensor2D, 2), lambda),
        ) as tf.Scalar;
      },
      groups: [{ optimizer, schedule: makeSchedule('step', 0.01, epochs) }],
      epochs,
      batchSize: 128,
      rng,
      task: 9,
      afterStep: () => head.clip(),
      ctx: { emit: (e) => (e.type === 'epoch' ? stamps.push(performance.now()) : undefined) },
    });
  } finally {
    optimizer.dispose();
    head.dispose();
  }
  return stamps.slice(1).map((t, i) => (t - stamps[i]) / 1000);
}

for (const kind of ['linear', 'mlp'] as const) {
  for (const n of [7000, 50000]) {
    const times = await timeEpochs(kind, n);
    const label = n === 7000 ? '5,000 new + 2,000 exemplars' : 'all 50,000';
    console.log(`${kind.padEnd(6)} ${label.padEnd(28)} per epoch: ${times.map((t) => t.toFixed(2)).join(', ')} s`);
  }
}

const cls = feats.x.subarray(0, 500 * feats.dim);
const t0 = performance.now();
selectionOrder('icarl', cls, 500, feats.dim, 200, rng);
console.log(`iCaRL herding, one class of 500 × ${feats.dim}, quota 200: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
