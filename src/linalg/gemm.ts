/**
 * Float64 matrix products for the closed-form learners (ranpac, fecam, slda; docs/methods/).
 *
 * Their statistics (Gram matrices, scatter matrices) and solves must be float64: a ridge or
 * Mahalanobis solve amplifies float32 rounding by the condition number, and the results are
 * checked against a float64 numpy reference. Plain JavaScript loops reach well under 1 GFLOP/s
 * in float64; tfjs has no float64 at all. onnxruntime's CPU MatMul / Gemm kernels do float64 with
 * optimised multi-threaded DGEMM (MLAS), ~10× to 40× faster than JS here, and onnxruntime-node is
 * already a dependency (ONNX backbones). So every large product goes through a two-node ONNX
 * graph (MatMul, or Gemm with transA for AᵀB).
 *
 * The products are synchronous because `Learner.predict` is: the public onnxruntime-node API
 * only has `session.run(): Promise`, but its native session runs synchronously underneath (the
 * promise merely wraps the call in setImmediate), so we call the native session directly. That
 * is onnxruntime-node's internal binding (dist/binding.js); if a future version changes it, the
 * products fall back to a blocked JavaScript implementation (same results to rounding, much
 * slower) and `gemmEngine()` says so — test/linalg/gemm.test.ts fails loudly on that change.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { onnxModel, onnxNode, onnxValueInfo, type Attr } from '../backbones/onnx-graph.js';
import { concat, pbBytes, pbString } from '../backbones/protobuf.js';

const ONNX_DOUBLE = 11;

interface NativeSession {
  loadModel(buffer: ArrayBufferLike, byteOffset: number, byteLength: number, options: object): void;
  run(feeds: Record<string, ort.Tensor>, fetches: Record<string, null>, options: object): Record<string, ort.Tensor>;
}

interface NativeBinding {
  binding: { InferenceSession: new () => NativeSession };
  initOrt(): void;
}

type Op = 'matmul' | 'gemmTA';

let native: NativeBinding | null | undefined;
const sessions = new Map<Op, NativeSession>();
let fallbackReason: string | null = null;

function loadNative(): NativeBinding | null {
  if (native !== undefined) return native;
  try {
    const require = createRequire(import.meta.url);
    const mod = require('onnxruntime-node/dist/binding.js') as Partial<NativeBinding>;
    if (typeof mod.initOrt !== 'function' || typeof mod.binding?.InferenceSession !== 'function') {
      throw new Error('onnxruntime-node/dist/binding.js has no InferenceSession / initOrt');
    }
    mod.initOrt();
    native = mod as NativeBinding;
  } catch (e) {
    native = null;
    fallbackReason = e instanceof Error ? e.message : String(e);
  }
  return native;
}

function model(op: Op): Uint8Array {
  const attrs: Attr[] = op === 'gemmTA' ? [{ name: 'transA', int: 1 }] : [];
  const node = onnxNode(op === 'gemmTA' ? 'Gemm' : 'MatMul', ['A', 'B'], ['C'], op, attrs);
  const aDims = op === 'gemmTA' ? ['k', 'm'] : ['m', 'k'];
  const graph = concat([
    pbBytes(1, node),
    pbString(2, `cl-linalg-${op}`),
    pbBytes(11, onnxValueInfo('A', ONNX_DOUBLE, aDims)),
    pbBytes(11, onnxValueInfo('B', ONNX_DOUBLE, ['k', 'n'])),
    pbBytes(12, onnxValueInfo('C', ONNX_DOUBLE, ['m', 'n'])),
  ]);
  return onnxModel(graph, 13, 8);
}

function session(op: Op): NativeSession | null {
  const n = loadNative();
  if (!n) return null;
  let s = sessions.get(op);
  if (!s) {
    try {
      s = new n.binding.InferenceSession();
      const bytes = model(op);
      s.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, {
        intraOpNumThreads: Math.max(1, os.availableParallelism()),
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        // No busy-waiting between calls: the learners alternate products with JavaScript work on
        // the main thread, which a spinning worker would compete with on a 2-core machine.
        extra: { session: { intra_op: { allow_spinning: '0' } } },
      });
    } catch (e) {
      native = null;
      fallbackReason = e instanceof Error ? e.message : String(e);
      return null;
    }
    sessions.set(op, s);
  }
  return s;
}

/** Which engine computes the products: 'onnxruntime' (fast) or 'js' (fallback, with the reason). */
export function gemmEngine(): { engine: 'onnxruntime' | 'js'; reason: string | null } {
  return session('matmul') ? { engine: 'onnxruntime', reason: null } : { engine: 'js', reason: fallbackReason };
}

/** Below this many multiply-adds a JS loop beats the call overhead. */
const SMALL = 32 * 32 * 32;

function checkSizes(a: Float64Array, b: Float64Array, m: number, k: number, n: number): void {
  if (a.length !== m * k || b.length !== k * n) {
    throw new Error(`gemm: operand sizes ${a.length}, ${b.length} do not match m=${m} k=${k} n=${n}`);
  }
}

/** C = A·B for row-major A (m×k) and B (k×n); returns C (m×n). */
export function matmul(a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array {
  checkSizes(a, b, m, k, n);
  if (m === 0 || n === 0) return new Float64Array(m * n);
  if (k === 0) return new Float64Array(m * n);
  const s = m * k * n > SMALL ? session('matmul') : null;
  if (s) {
    const out = s.run({ A: new ort.Tensor('float64', a, [m, k]), B: new ort.Tensor('float64', b, [k, n]) }, { C: null }, {});
    return out.C.data as Float64Array;
  }
  return jsGemm(a, b, m, k, n, false);
}

/** C = Aᵀ·B for row-major A (k×m) and B (k×n); returns C (m×n). The Gram matrix AᵀA is atb(A, A). */
export function atb(a: Float64Array, b: Float64Array, k: number, m: number, n: number): Float64Array {
  if (a.length !== k * m || b.length !== k * n) {
    throw new Error(`atb: operand sizes ${a.length}, ${b.length} do not match k=${k} m=${m} n=${n}`);
  }
  if (m === 0 || n === 0 || k === 0) return new Float64Array(m * n);
  const s = m * k * n > SMALL ? session('gemmTA') : null;
  if (s) {
    const out = s.run({ A: new ort.Tensor('float64', a, [k, m]), B: new ort.Tensor('float64', b, [k, n]) }, { C: null }, {});
    return out.C.data as Float64Array;
  }
  return jsGemm(a, b, m, k, n, true);
}

/**
 * Blocked JavaScript GEMM (fallback and small products): C = op(A)·B, op(A) = A or Aᵀ.
 * i-p-j loop order over row-major data keeps the inner loop contiguous.
 */
export function jsGemm(a: Float64Array, b: Float64Array, m: number, k: number, n: number, transA: boolean): Float64Array {
  const c = new Float64Array(m * n);
  const KB = 256;
  for (let p0 = 0; p0 < k; p0 += KB) {
    const p1 = Math.min(k, p0 + KB);
    for (let i = 0; i < m; i++) {
      const ci = i * n;
      for (let p = p0; p < p1; p++) {
        const av = transA ? a[p * m + i] : a[i * k + p];
        if (av === 0) continue;
        const bp = p * n;
        for (let j = 0; j < n; j++) c[ci + j] += av * b[bp + j];
      }
    }
  }
  return c;
}
