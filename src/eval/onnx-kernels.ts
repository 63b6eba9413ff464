/**
 * Large inference-only products on onnxruntime's CPU kernels (MLAS: AVX2/AVX-512 FMA, every core)
 * instead of tfjs: NMC's distance scores and the retrieval similarity blocks. On a 2-core x86 CPU
 * MLAS runs a float32 GEMM 2–3× faster than the single-threaded tfjs-wasm SIMD kernel (measured in
 * test/bench/nmc.ts and test/bench/retrieval.ts), as fast as numpy on OpenBLAS.
 *
 * The graphs are tiny ONNX models written here (onnx-graph.ts) with symbolic shapes, one session
 * per graph, built on first use and kept for the process. They run through onnxruntime-node's
 * synchronous native session (the package's `dist/binding`, which its public async `run` wraps in
 * a setImmediate): `Learner.predict` is synchronous, and a GEMM of a few milliseconds gains
 * nothing from a trip through the event loop.
 *
 * Numbers: MLAS partitions a product over rows and columns, never over the reduction, so the
 * result does not depend on the thread count (tested); it is not bit-identical to tfjs-wasm's
 * XNNPACK kernel (a different summation order, a few float32 ulps).
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { ONNX_FLOAT, ONNX_INT32, ONNX_INT64, onnxModel, onnxNode, onnxTensor, onnxValueInfo, type Attr } from '../backbones/onnx-graph.js';
import { concat, pbBytes, pbString } from '../backbones/protobuf.js';

/** The synchronous session object of onnxruntime-node's native binding (dist/binding.d.ts). */
interface SyncSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: ort.InferenceSession.SessionOptions): void;
  run(feeds: Record<string, ort.Tensor>, fetches: Record<string, ort.Tensor | null>, options: ort.InferenceSession.RunOptions): Record<string, ort.Tensor>;
  dispose(): void;
}

interface SyncBinding {
  binding: { InferenceSession: new () => SyncSession };
  initOrt: () => void;
}

let bindingCache: SyncBinding | null = null;

function syncBinding(): SyncBinding {
  if (bindingCache) return bindingCache;
  const require = createRequire(import.meta.url);
  const b = require('onnxruntime-node/dist/binding.js') as Partial<SyncBinding>;
  if (typeof b.initOrt !== 'function' || typeof b.binding?.InferenceSession !== 'function') {
    throw new Error(`onnxruntime-node ${ort.env.versions.node ?? '?'}: its native binding has no synchronous InferenceSession`);
  }
  b.initOrt();
  bindingCache = b as SyncBinding;
  return bindingCache;
}

/** Threads of every kernel session (all cores, like the ONNX backbones). */
let kernelThreads = Math.max(1, os.availableParallelism());

/** Thread count of sessions built from now on (tests: results must not depend on it). */
export function setKernelThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`kernel threads must be a positive integer, got ${n}`);
  if (n !== kernelThreads) {
    kernelThreads = n;
    for (const s of sessions.values()) s.dispose();
    sessions.clear();
  }
}

const sessions = new Map<string, SyncSession>();

function session(key: string, build: () => Uint8Array): SyncSession {
  let s = sessions.get(key);
  if (!s) {
    const model = build();
    s = new (syncBinding().binding.InferenceSession)();
    s.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, {
      intraOpNumThreads: kernelThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // Idle pool threads sleep instead of spinning: a caller that does JS work between calls (the
      // linear-head step) ran that work 2× slower beside a spinning thread on 2 cores (measured).
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    });
    sessions.set(key, s);
  }
  return s;
}

function graph(nodes: Uint8Array[], inits: Uint8Array[], inputs: Uint8Array[], outputs: Uint8Array[]): Uint8Array {
  return onnxModel(
    concat([...nodes.map((n) => pbBytes(1, n)), pbString(2, 'cl-kernel'), ...inits.map((t) => pbBytes(5, t)), ...inputs.map((i) => pbBytes(11, i)), ...outputs.map((o) => pbBytes(12, o))]),
  );
}

/** x / max(‖x‖₂, eps) per row, as nodes writing `out` (ReduceL2 takes axes as an attribute up to opset 17). */
function unitRowsNodes(x: string, out: string, tag: string): { nodes: Uint8Array[]; inits: Uint8Array[] } {
  const axes: Attr = { name: 'axes', ints: [1] };
  return {
    nodes: [
      onnxNode('ReduceL2', [x], [`${tag}_norm`], `${tag}_l2`, [axes, { name: 'keepdims', int: 1 }]),
      onnxNode('Max', [`${tag}_norm`, `${tag}_eps`], [`${tag}_den`], `${tag}_max`),
      onnxNode('Div', [x, `${tag}_den`], [out], `${tag}_div`),
    ],
    inits: [onnxTensor(`${tag}_eps`, ONNX_FLOAT, [], [1e-12])],
  };
}

export interface DenseArgmaxOptions {
  /** L2-normalise every input row first (x / max(‖x‖₂, 1e-12)). */
  normalizeRows: boolean;
}

/**
 * argmax_k (x̂·W + b)_k for every row of x ([n, D] row-major), W [D, K] row-major, b [K] or null;
 * the first maximum wins ties (ONNX ArgMax, select_last_index 0). Returns column indices.
 */
export function denseArgmax(x: Float32Array, n: number, dim: number, w: Float32Array, k: number, b: Float32Array | null, opts: DenseArgmaxOptions): Int32Array {
  if (x.length < n * dim) throw new RangeError(`denseArgmax: ${x.length} values for ${n} rows of ${dim}`);
  if (w.length !== dim * k) throw new RangeError(`denseArgmax: W has ${w.length} values, expected ${dim} × ${k}`);
  if (b && b.length !== k) throw new RangeError(`denseArgmax: bias has ${b.length} values, expected ${k}`);
  const out = new Int32Array(n);
  if (n === 0) return out;
  const key = `argmax:${opts.normalizeRows ? 'unit' : 'raw'}:${b ? 'bias' : 'nobias'}`;
  const s = session(key, () => {
    const nodes: Uint8Array[] = [];
    const inits: Uint8Array[] = [];
    let q = 'x';
    if (opts.normalizeRows) {
      const u = unitRowsNodes('x', 'xn', 'x');
      nodes.push(...u.nodes);
      inits.push(...u.inits);
      q = 'xn';
    }
    nodes.push(onnxNode('MatMul', [q, 'w'], [b ? 'prod' : 'scores'], 'matmul'));
    if (b) nodes.push(onnxNode('Add', ['prod', 'b'], ['scores'], 'bias'));
    nodes.push(onnxNode('ArgMax', ['scores'], ['best'], 'argmax', [{ name: 'axis', int: 1 }, { name: 'keepdims', int: 0 }]));
    const inputs = [onnxValueInfo('x', ONNX_FLOAT, ['n', 'd']), onnxValueInfo('w', ONNX_FLOAT, ['d', 'k'])];
    if (b) inputs.push(onnxValueInfo('b', ONNX_FLOAT, ['k']));
    return graph(nodes, inits, inputs, [onnxValueInfo('best', ONNX_INT64, ['n'])]);
  });
  const feeds: Record<string, ort.Tensor> = {
    x: new ort.Tensor('float32', x.subarray(0, n * dim), [n, dim]),
    w: new ort.Tensor('float32', w, [dim, k]),
  };
  if (b) feeds.b = new ort.Tensor('float32', b, [k]);
  const res = s.run(feeds, { best: null }, {});
  const best = res.best.data as BigInt64Array;
  for (let i = 0; i < n; i++) out[i] = Number(best[i]);
  return out;
}

/**
 * The [n, m] product a·b (a [n, d], b [d, m], row-major), written into `out` (n·m floats, reused
 * by the caller across blocks). For large inference-only products (retrieval similarity).
 */
export function matMulInto(a: Float32Array, n: number, d: number, b: Float32Array, m: number, out: Float32Array): void {
  if (a.length < n * d) throw new RangeError(`matMulInto: ${a.length} values for ${n} rows of ${d}`);
  if (b.length !== d * m) throw new RangeError(`matMulInto: right operand has ${b.length} values, expected ${d} × ${m}`);
  if (out.length < n * m) throw new RangeError(`matMulInto: output holds ${out.length} values, needs ${n * m}`);
  if (n === 0 || m === 0) return;
  const s = session('matmul', () =>
    graph(
      [onnxNode('MatMul', ['a', 'b'], ['c'], 'matmul')],
      [],
      [onnxValueInfo('a', ONNX_FLOAT, ['n', 'd']), onnxValueInfo('b', ONNX_FLOAT, ['d', 'm'])],
      [onnxValueInfo('c', ONNX_FLOAT, ['n', 'm'])],
    ),
  );
  const res = s.run({ a: new ort.Tensor('float32', a.subarray(0, n * d), [n, d]), b: new ort.Tensor('float32', b, [d, m]) }, { c: null }, {});
  out.set((res.c.data as Float32Array).subarray(0, n * m));
}

/**
 * op(a)·op(b) for 2-D float32 operands (op = transpose where asked; ONNX Gemm, alpha 1, no C).
 * `a` is [rows, cols] as stored (before op), likewise `b`. The [m, n] row-major result (m = rows
 * of op(a), n = columns of op(b)) is written into `out` when given (onnxruntime writes into it:
 * no fresh buffer per call), else into a new array. Returns the result.
 */
export function gemm(a: Float32Array, aShape: [number, number], b: Float32Array, bShape: [number, number], transA: boolean, transB: boolean, out?: Float32Array): Float32Array {
  const m = transA ? aShape[1] : aShape[0];
  const n = transB ? bShape[0] : bShape[1];
  const key = `gemm:${transA ? 't' : 'n'}${transB ? 't' : 'n'}`;
  const s = session(key, () =>
    graph(
      [onnxNode('Gemm', ['a', 'b'], ['c'], 'gemm', [{ name: 'transA', int: transA ? 1 : 0 }, { name: 'transB', int: transB ? 1 : 0 }])],
      [],
      [onnxValueInfo('a', ONNX_FLOAT, ['ra', 'ca']), onnxValueInfo('b', ONNX_FLOAT, ['rb', 'cb'])],
      [onnxValueInfo('c', ONNX_FLOAT, ['m', 'n'])],
    ),
  );
  const c = out ? out.subarray(0, m * n) : new Float32Array(m * n);
  s.run({ a: new ort.Tensor('float32', a, aShape), b: new ort.Tensor('float32', b, bShape) }, { c: new ort.Tensor('float32', c, [m, n]) }, {});
  return c;
}

/** The gradient of one training step of a linear head, inputs and outputs of linearHeadGrad. */
export interface LinearHeadGrad {
  /** Every training row [N, D]; the step reads the batch `rows` of it. */
  x: Float32Array;
  /** The head column of every training row [N] (the target class). */
  y: Int32Array;
  dim: number;
  classes: number;
  /** W [D, K]. */
  w: Float32Array;
  /** ∂L/∂W [D, K] is written here. */
  dw: Float32Array;
  /** Weight of the mean cross-entropy. */
  ce: number;
  /** Distillation: soft targets of every row [N, n] over the first n columns, weight, temperature; null for none. */
  kd: { q: Float32Array; n: number; weight: number; temperature: number } | null;
}

/**
 * ∂L/∂W of one batch of a bias-free linear head in a single onnxruntime call (train/linear-step.ts
 * has the equations): the batch's rows, targets and soft targets gathered from the whole training
 * set (passed in place, not copied); Z = X·W; ∂L/∂Z from softmax(Z) (cross-entropy) and
 * softmax(Z[:, :n]/T) (distillation); ∂L/∂W = Xᵀ·∂L/∂Z into `dw`.
 *
 * Returns the step for one batch: `rows` (indices into x's rows, in batch order) → the batch's
 * loss. The arrays are fixed for a fit, so their tensors are made once here, not on every step.
 */
export function linearHeadGrad(s: LinearHeadGrad): (rows: Int32Array) => number {
  const { dim: D, classes: K, kd } = s;
  const N = s.y.length;
  if (s.x.length !== N * D) throw new RangeError(`linearHeadGrad: ${s.x.length} feature values for ${N} rows of ${D}`);
  if (kd && kd.q.length !== N * kd.n) throw new RangeError(`linearHeadGrad: ${kd.q.length} soft-target values for ${N} rows of ${kd.n}`);
  const key = `linear-grad:${kd ? 'kd' : 'ce'}`;
  const sess = session(key, () => {
    const n: Uint8Array[] = [];
    const inits: Uint8Array[] = [];
    n.push(onnxNode('Gather', ['x_all', 'rows'], ['x'], 'x', [{ name: 'axis', int: 0 }]));
    n.push(onnxNode('Gather', ['y_all', 'rows'], ['yb'], 'yb', [{ name: 'axis', int: 0 }]));
    n.push(onnxNode('OneHot', ['yb', 'depth', 'onehot_values'], ['onehot'], 'onehot', [{ name: 'axis', int: -1 }]));
    inits.push(onnxTensor('onehot_values', ONNX_FLOAT, [2], [0, 1]));
    n.push(onnxNode('MatMul', ['x', 'w'], ['z'], 'logits'));
    // Cross-entropy: (softmax(Z) − onehot)·ce/B, and Σ onehot·log softmax(Z) for the loss.
    n.push(onnxNode('Softmax', ['z'], ['p'], 'p', [{ name: 'axis', int: 1 }]));
    n.push(onnxNode('LogSoftmax', ['z'], ['logp'], 'logp', [{ name: 'axis', int: 1 }]));
    n.push(onnxNode('Sub', ['p', 'onehot'], ['pm'], 'pm'));
    n.push(onnxNode('Mul', ['pm', 'ce_scale'], [kd ? 'g_ce' : 'g'], 'g_ce'));
    n.push(onnxNode('Mul', ['onehot', 'logp'], ['ce_terms'], 'ce_terms'));
    n.push(onnxNode('ReduceSum', ['ce_terms'], ['ce_sum'], 'ce_sum', [{ name: 'keepdims', int: 0 }]));
    if (kd) {
      // Distillation on the first n columns: (softmax(Z_n/T)·Σq − q)·λ/(B·T), padded to K columns.
      n.push(onnxNode('Gather', ['q_all', 'rows'], ['q'], 'q', [{ name: 'axis', int: 0 }]));
      n.push(onnxNode('Slice', ['z', 'zero1', 'n_end', 'axis1'], ['zn'], 'zn'));
      n.push(onnxNode('Mul', ['zn', 'inv_t'], ['zt'], 'zt'));
      n.push(onnxNode('Softmax', ['zt'], ['pt'], 'pt', [{ name: 'axis', int: 1 }]));
      n.push(onnxNode('LogSoftmax', ['zt'], ['logpt'], 'logpt', [{ name: 'axis', int: 1 }]));
      n.push(onnxNode('ReduceSum', ['q', 'axis1'], ['qsum'], 'qsum', [{ name: 'keepdims', int: 1 }]));
      n.push(onnxNode('Mul', ['pt', 'qsum'], ['ptq'], 'ptq'));
      n.push(onnxNode('Sub', ['ptq', 'q'], ['dkd'], 'dkd'));
      n.push(onnxNode('Mul', ['dkd', 'kd_scale'], ['g_kd'], 'g_kd'));
      n.push(onnxNode('Pad', ['g_kd', 'pads'], ['g_kd_full'], 'g_kd_full'));
      n.push(onnxNode('Add', ['g_ce', 'g_kd_full'], ['g'], 'g'));
      n.push(onnxNode('Mul', ['q', 'logpt'], ['kd_terms'], 'kd_terms'));
      n.push(onnxNode('ReduceSum', ['kd_terms'], ['kd_sum'], 'kd_sum', [{ name: 'keepdims', int: 0 }]));
      inits.push(onnxTensor('zero1', ONNX_INT64, [1], [0]), onnxTensor('axis1', ONNX_INT64, [1], [1]));
    }
    n.push(onnxNode('Gemm', ['x', 'g'], ['dw'], 'dw', [{ name: 'transA', int: 1 }]));
    const f = (name: string, dims: Array<string | number>) => onnxValueInfo(name, ONNX_FLOAT, dims);
    const inputs = [f('x_all', ['n_rows', 'd']), onnxValueInfo('y_all', ONNX_INT32, ['n_rows']), onnxValueInfo('rows', ONNX_INT32, ['b']), onnxValueInfo('depth', ONNX_INT32, [1]), f('w', ['d', 'k']), f('ce_scale', [1])];
    const outputs = [f('dw', ['d', 'k']), f('ce_sum', [])];
    if (kd) {
      inputs.push(f('q_all', ['n_rows', 'n']), f('inv_t', [1]), f('kd_scale', [1]), onnxValueInfo('n_end', ONNX_INT64, [1]), onnxValueInfo('pads', ONNX_INT64, [4]));
      outputs.push(f('kd_sum', []));
    }
    return graph(n, inits, inputs, outputs);
  });
  const scalar = (v: number) => new ort.Tensor('float32', Float32Array.of(v), [1]);
  const feeds: Record<string, ort.Tensor> = {
    x_all: new ort.Tensor('float32', s.x, [N, D]),
    y_all: new ort.Tensor('int32', s.y, [N]),
    depth: new ort.Tensor('int32', Int32Array.of(K), [1]),
    w: new ort.Tensor('float32', s.w, [D, K]),
  };
  const fetches: Record<string, ort.Tensor | null> = { dw: new ort.Tensor('float32', s.dw, [D, K]), ce_sum: null };
  const invT = kd ? 1 / kd.temperature : 0;
  if (kd) {
    feeds.q_all = new ort.Tensor('float32', kd.q, [N, kd.n]);
    feeds.inv_t = scalar(invT);
    feeds.n_end = new ort.Tensor('int64', BigInt64Array.of(BigInt(kd.n)), [1]);
    feeds.pads = new ort.Tensor('int64', BigInt64Array.of(0n, 0n, 0n, BigInt(K - kd.n)), [4]);
    fetches.kd_sum = null;
  }
  // The loss scales depend on the batch size, which changes only for an epoch's last batch.
  let scaledFor = -1;
  return (rows) => {
    const B = rows.length;
    feeds.rows = new ort.Tensor('int32', rows, [B]);
    if (B !== scaledFor) {
      feeds.ce_scale = scalar(s.ce / B);
      if (kd) feeds.kd_scale = scalar((kd.weight * invT) / B);
      scaledFor = B;
    }
    const res = sess.run(feeds, fetches, {});
    const ceSum = (res.ce_sum.data as Float32Array)[0];
    const kdSum = kd ? (res.kd_sum.data as Float32Array)[0] : 0;
    return (-s.ce * ceSum - (kd ? kd.weight * kdSum : 0)) / B;
  };
}
