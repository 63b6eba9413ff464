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
import { ONNX_FLOAT, onnxModel, onnxNode, onnxTensor, onnxValueInfo, type Attr } from '../backbones/onnx-graph.js';
import { concat, pbBytes, pbString } from '../backbones/protobuf.js';

/** The synchronous session object of onnxruntime-node's native binding (dist/binding.d.ts). */
interface SyncSession {
  loadModel(buffer: ArrayBuffer, byteOffset: number, byteLength: number, options: ort.InferenceSession.SessionOptions): void;
  run(feeds: Record<string, ort.Tensor>, fetches: Record<string, null>, options: ort.InferenceSession.RunOptions): Record<string, ort.Tensor>;
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
    });
    sessions.set(key, s);
  }
  return s;
}

const ONNX_INT64 = 7;

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
