/**
 * The wasm-mlas backend (src/tf-mlas.ts) and its linear-head training step
 * (src/train/linear-step.ts, eval/onnx-kernels.ts linearHeadStep). The independent
 * expectations are tfjs's own autograd and optimiser (train/losses.ts, train/optimizers.ts), a
 * float64 product written here, and the same learner on the wasm backend: the host step must
 * learn what tfjs learns, up to float32 rounding.
 */
import { expect } from 'chai';
import { gemm, linearHeadGrad, setKernelThreads } from '../../src/eval/onnx-kernels.js';
import { getMethod, resolveMethodOptions } from '../../src/learners/index.js';
import { Rng } from '../../src/rng.js';
import { initBackend, tf } from '../../src/tf.js';
import { crossEntropy, distillation } from '../../src/train/losses.js';
import { fit, hostRows } from '../../src/train/loop.js';
import { fitLinearHead, linearLossGrad, type LinearLoss } from '../../src/train/linear-step.js';
import { createOptimizer } from '../../src/train/optimizers.js';
import { SgdArena } from '../../src/train/sgd-wasm.js';
import type { Learner } from '../../src/types.js';
import { experiences, gaussianClusters } from './synthetic.js';

function randomArray(rng: Rng, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** Rows of softmax(a / T), a [rows, n]. */
function softmaxRows(a: Float32Array, rows: number, n: number, T: number): Float32Array {
  const out = new Float32Array(rows * n);
  for (let i = 0; i < rows; i++) {
    let max = -Infinity;
    for (let k = 0; k < n; k++) max = Math.max(max, a[i * n + k] / T);
    let s = 0;
    for (let k = 0; k < n; k++) s += Math.exp(a[i * n + k] / T - max);
    for (let k = 0; k < n; k++) out[i * n + k] = Math.exp(a[i * n + k] / T - max) / s;
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).to.equal(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** The tfjs loss of train/losses.ts for a LinearLoss (what wa's objective computes). */
function tfLoss(z: tf.Tensor2D, y: tf.Tensor1D, q: tf.Tensor2D | null, loss: LinearLoss): tf.Scalar {
  const ce = tf.mul(crossEntropy(z, y), loss.ce);
  if (!loss.kd || !q) return ce as tf.Scalar;
  return tf.add(ce, tf.mul(distillation(z, q, loss.kd.temperature), loss.kd.weight)) as tf.Scalar;
}

describe('wasm-mlas: the linear-head step and the MLAS products', function () {
  this.timeout(120000);
  let previous = 'wasm';
  before(async function () {
    previous = (await initBackend()).name;
  });
  after(async function () {
    await initBackend(previous);
  });

  for (const withKd of [false, true]) {
    it(`∂L/∂Z written out equals tfjs autograd of ${withKd ? '(1−λ)·CE + λ·KD' : 'CE'} (loss and every gradient value)`, function () {
      const rng = new Rng(11);
      const B = 9;
      const K = 7;
      const n = 4;
      const z = randomArray(rng, B * K, 3);
      const y = Int32Array.from({ length: B }, () => rng.int(K));
      const q = softmaxRows(randomArray(rng, B * n, 2), B, n, 2);
      const loss: LinearLoss = withKd ? { ce: 0.3, kd: { weight: 0.7, temperature: 2 } } : { ce: 1 };
      const g = new Float32Array(B * K);
      const rows = Int32Array.from({ length: B }, (_, i) => i);
      const value = linearLossGrad(Float32Array.from(z), g, B, K, y, rows, withKd ? { values: q, width: n } : null, loss);
      const zt = tf.tensor2d(z, [B, K]);
      const yt = tf.tensor1d(y, 'int32');
      const qt = tf.tensor2d(q, [B, n]);
      const { value: ref, grad } = tf.valueAndGrad((t: tf.Tensor) => tfLoss(t as tf.Tensor2D, yt, withKd ? qt : null, loss))(zt);
      expect(value).to.be.closeTo(ref.dataSync()[0], 1e-5 * Math.max(1, Math.abs(value)));
      expect(maxAbsDiff(g, grad.dataSync())).to.be.below(1e-6);
      tf.dispose([zt, yt, qt, ref, grad]);
    });
  }

  for (const [withKd, clip] of [
    [false, false],
    [true, true],
  ] as const) {
    it(`one onnxruntime call (∂L/∂W) + one WebAssembly pass (SGD) = the step in float64 JS (${withKd ? 'KD' : 'CE'}, ${clip ? 'clipped' : 'unclipped'}): W, velocity and loss`, function () {
      const rng = new Rng(5);
      const N = 40;
      const B = 16;
      const D = 24;
      const K = 6;
      const n = 4;
      const xAll = randomArray(rng, N * D);
      const yAll = Int32Array.from({ length: N }, () => rng.int(K));
      const qAll = softmaxRows(randomArray(rng, N * n, 2), N, n, 2);
      // The batch: 16 of the 40 rows in shuffled order, passed as a view at a non-zero offset.
      const perm = Int32Array.from({ length: N }, (_, i) => i);
      rng.shuffle(perm);
      const rows = perm.subarray(7, 7 + B);
      const x = new Float32Array(B * D);
      const y = new Int32Array(B);
      const q = new Float32Array(B * n);
      for (let i = 0; i < B; i++) {
        x.set(xAll.subarray(rows[i] * D, rows[i] * D + D), i * D);
        y[i] = yAll[rows[i]];
        q.set(qAll.subarray(rows[i] * n, rows[i] * n + n), i * n);
      }
      const w = randomArray(rng, D * K, 0.2);
      const v = randomArray(rng, D * K, 0.05);
      const loss: LinearLoss = withKd ? { ce: 0.4, kd: { weight: 0.6, temperature: 2 } } : { ce: 1 };
      const lr = 0.05;
      const mu = 0.9;
      const wd = 5e-4;
      const arena = new SgdArena(D * K);
      arena.w.set(w);
      arena.v.set(v);
      const got = linearHeadGrad({ x: xAll, y: yAll, dim: D, classes: K, w: arena.w, dw: arena.grad, ce: loss.ce, kd: withKd ? { q: qAll, n, weight: 0.6, temperature: 2 } : null })(rows);
      arena.step(lr, mu, wd, clip);
      const wOut = arena.w;
      const vOut = arena.v;
      // The same step in float64: Z = X·W, ∂L/∂Z, ∂L/∂W = Xᵀ·∂L/∂Z, SGD with coupled weight decay.
      const z = new Float32Array(B * K);
      for (let i = 0; i < B; i++) for (let k = 0; k < K; k++) for (let j = 0; j < D; j++) z[i * K + k] += x[i * D + j] * w[j * K + k];
      const g = new Float32Array(B * K);
      const want = linearLossGrad(z, g, B, K, y, Int32Array.from({ length: B }, (_, i) => i), withKd ? { values: q, width: n } : null, loss);
      expect(got).to.be.closeTo(want, 1e-5 * Math.max(1, Math.abs(want)));
      const wWant = new Float64Array(D * K);
      const vWant = new Float64Array(D * K);
      for (let j = 0; j < D; j++) {
        for (let k = 0; k < K; k++) {
          let dw = 0;
          for (let i = 0; i < B; i++) dw += x[i * D + j] * g[i * K + k];
          const p = j * K + k;
          vWant[p] = v[p] * mu + (dw + w[p] * wd);
          wWant[p] = w[p] - vWant[p] * lr;
          if (clip) wWant[p] = Math.max(wWant[p], 0);
        }
      }
      expect(maxAbsDiff(vOut, vWant)).to.be.below(1e-5 * Math.max(1, maxAbs(vWant)));
      expect(maxAbsDiff(wOut, wWant)).to.be.below(1e-5 * Math.max(1, maxAbs(wWant)));
      if (clip) expect(Math.min(...wOut)).to.equal(0);
    });
  }

  it('∂L/∂W and the loss of a step are the same bits on 1 and 2 onnxruntime threads (a run does not depend on the core count)', function () {
    const rng = new Rng(12);
    const [N, B, D, K, n] = [300, 96, 256, 40, 30];
    const x = randomArray(rng, N * D);
    const y = Int32Array.from({ length: N }, () => rng.int(K));
    const q = softmaxRows(randomArray(rng, N * n, 2), N, n, 2);
    const w = randomArray(rng, D * K, 0.1);
    const rows = Int32Array.from({ length: B }, () => rng.int(N));
    const got: Array<{ loss: number; dw: Float32Array }> = [];
    try {
      for (const threads of [1, 2]) {
        setKernelThreads(threads);
        const dw = new Float32Array(D * K);
        const loss = linearHeadGrad({ x, y, dim: D, classes: K, w, dw, ce: 0.4, kd: { q, n, weight: 0.6, temperature: 2 } })(rows);
        got.push({ loss, dw });
      }
    } finally {
      setKernelThreads(2);
    }
    expect(Object.is(got[0].loss, got[1].loss), `loss ${got[0].loss} vs ${got[1].loss}`).to.equal(true);
    expect(Buffer.from(got[0].dw.buffer).equals(Buffer.from(got[1].dw.buffer))).to.equal(true);
    expect(maxAbs(got[0].dw)).to.be.above(0);
  });

  for (const variant of ['sgd, bias-free, clipped, KD (one onnxruntime call + one WebAssembly pass per step)', 'sgd with a bias (JS update)', 'adam with a bias (JS update)'] as const) {
    it(`fitLinearHead learns what fit + tfjs autograd learn from the same batches: ${variant}`, async function () {
      const rng = new Rng(3);
      const N = 150;
      const D = 20;
      const K = 5;
      const n = 3;
      const sgd = variant.startsWith('sgd');
      const kdClip = variant.startsWith('sgd, bias-free');
      const x = new Float32Array(N * D);
      const y = new Int32Array(N);
      const means = randomArray(rng, K * D);
      for (let i = 0; i < N; i++) {
        y[i] = i % K;
        for (let j = 0; j < D; j++) x[i * D + j] = Math.max(0, means[y[i] * D + j] + 0.8 * rng.normal());
      }
      const q = softmaxRows(randomArray(rng, N * n, 2), N, n, 2);
      const w0 = randomArray(rng, D * K, 0.1);
      const b0 = kdClip ? null : new Float32Array(K);
      const loss: LinearLoss = kdClip ? { ce: 0.5, kd: { weight: 0.5, temperature: 2 } } : { ce: 1 };
      const optimizer = sgd ? { kind: 'sgd' as const, lr: 0.05, momentum: 0.9, weightDecay: 5e-4 } : { kind: 'adam' as const, lr: 0.01, weightDecay: 1e-4 };
      const schedule = (e: number): number => (e < 2 ? optimizer.lr : optimizer.lr / 10);
      const epochs = 3;

      const w = Float32Array.from(w0);
      const b = b0 ? Float32Array.from(b0) : null;
      const host = await fitLinearHead({
        x,
        dim: D,
        y,
        q: kdClip ? { values: q, width: n } : null,
        w,
        numClasses: K,
        b,
        loss,
        optimizer,
        schedule,
        epochs,
        batchSize: 32,
        rng: new Rng(99),
        clip: kdClip,
        task: 0,
      });

      const wv = tf.variable(tf.tensor2d(w0, [D, K]));
      const bv = b0 ? tf.variable(tf.tensor1d(b0)) : null;
      const vars = bv ? [wv, bv] : [wv];
      const opt = createOptimizer(vars, optimizer);
      const ref = await fit({
        data: { x: hostRows(x, D), y: hostRows(y), ...(kdClip ? { q: hostRows(q, n) } : {}) },
        loss: (batch) => {
          let z = tf.matMul(batch.x as tf.Tensor2D, wv) as tf.Tensor2D;
          if (bv) z = tf.add(z, bv);
          return tfLoss(z, batch.y as tf.Tensor1D, (batch.q as tf.Tensor2D | undefined) ?? null, loss);
        },
        groups: [{ optimizer: opt, schedule }],
        epochs,
        batchSize: 32,
        rng: new Rng(99),
        task: 0,
        afterStep: kdClip ? () => wv.assign(tf.relu(wv)) : undefined,
      });
      expect(host.steps).to.equal(ref.steps);
      for (let e = 0; e < epochs; e++) expect(host.epochLosses[e]).to.be.closeTo(ref.epochLosses[e], 1e-4 * Math.abs(ref.epochLosses[e]));
      const wRef = wv.dataSync();
      expect(maxAbsDiff(w, wRef)).to.be.below(1e-4 * Math.max(1, maxAbs(wRef)));
      if (b && bv) expect(maxAbsDiff(b, bv.dataSync())).to.be.below(1e-4);
      // Training moved the weights (the comparison is not between two untouched copies of w0).
      expect(maxAbsDiff(w, w0)).to.be.above(1e-2);
      opt.dispose();
      tf.dispose(vars);
    });
  }

  it('on wasm-mlas, tf.matMul equals a float64 product for every transpose, whatever the thread count', async function () {
    await initBackend('wasm-mlas');
    const rng = new Rng(8);
    const [m, k, n] = [40, 300, 70];
    const a = randomArray(rng, m * k);
    const bm = randomArray(rng, k * n);
    const want = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let t = 0; t < k; t++) want[i * n + j] += a[i * k + t] * bm[t * n + j];
    const at = tf.tensor2d(a, [m, k]);
    const bt = tf.tensor2d(bm, [k, n]);
    const results: Float32Array[] = [];
    for (const threads of [1, 2]) {
      setKernelThreads(threads);
      for (const [tA, tB] of [
        [false, false],
        [true, false],
        [false, true],
        [true, true],
      ] as const) {
        const c = tf.tidy(() => tf.matMul(tA ? tf.transpose(at) : at, tB ? tf.transpose(bt) : bt, tA, tB));
        const got = c.dataSync() as Float32Array;
        expect(c.shape).to.deep.equal([m, n]);
        expect(maxAbsDiff(got, want)).to.be.below(1e-4 * maxAbs(want));
        results.push(Float32Array.from(got));
        c.dispose();
      }
    }
    setKernelThreads(2);
    for (let i = 0; i < 4; i++) expect(Buffer.from(results[i].buffer).equals(Buffer.from(results[i + 4].buffer)), `transpose case ${i}: 1 vs 2 threads`).to.equal(true);
    // The kernel is onnxruntime's Gemm (not tfjs-wasm's XNNPACK, whose sums round differently).
    expect(Buffer.from(results[0].buffer).equals(Buffer.from(gemm(a, [m, k], bm, [k, n], false, false).buffer))).to.equal(true);
    tf.dispose([at, bt]);
    await initBackend(previous);
  });

  // Every method that declares linearLoss: its per-task loss on wasm-mlas (computed from linearLoss)
  // must match the one on wasm (computed from its tfjs objective), so the two declarations agree.
  for (const [method, options] of [
    ['wa', { memory: 60 }],
    ['replay', { memory: 60 }],
    ['joint', {}],
    ['finetune', {}],
  ] as const) {
    it(`${method} on wasm-mlas (host step) learns what it learns on wasm (tfjs autograd): predictions and per-task losses`, async function () {
      const data = gaussianClusters({ classes: 12, dim: 40, trainPerClass: 50, testPerClass: 40, sigma: 1.2, seed: 3, nonNegative: true });
      const run = async (backend: string): Promise<{ predictions: Int32Array[]; losses: number[] }> => {
        await initBackend(backend);
        const def = getMethod(method);
        const learner: Learner = def.create(resolveMethodOptions(def, { epochs: 4, batchSize: 32, ...options }), { seed: 7, dim: 40, numClasses: 12 });
        const predictions: Int32Array[] = [];
        try {
          for (const exp of experiences(data.train, 12, 3)) {
            await learner.learn(exp);
            predictions.push(learner.predict(data.test));
          }
          const perTask = (learner.stateSummary().perTask ?? []) as Array<{ finalLoss: number }>;
          return { predictions, losses: perTask.map((r) => r.finalLoss) };
        } finally {
          learner.dispose();
        }
      };
      const ref = await run('wasm');
      const got = await run('wasm-mlas');
      await initBackend(previous);
      expect(got.losses).to.have.length(4); // 12 classes, 3 per task
      got.losses.forEach((l, t) => expect(l, `task ${t + 1} final loss`).to.be.closeTo(ref.losses[t], 1e-3 * Math.abs(ref.losses[t])));
      for (let t = 0; t < 4; t++) {
        let same = 0;
        for (let i = 0; i < data.test.count; i++) if (got.predictions[t][i] === ref.predictions[t][i]) same++;
        expect(same / data.test.count, `task ${t + 1}: share of identical predictions`).to.be.at.least(0.99);
      }
    });
  }
});
