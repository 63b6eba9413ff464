/**
 * The `wasm-mlas` tfjs backend: tfjs-backend-wasm with its 2-D float32 matrix products computed by
 * onnxruntime's MLAS GEMM (every core, AVX2/AVX-512 FMA) instead of XNNPACK's single-threaded
 * SIMD kernel. Every other kernel is tfjs-backend-wasm's own. See docs/performance.md "The wasm-mlas backend".
 *
 * Why: on the wasm backend a linear head's two products per step ([B, D]·[D, K] and its weight
 * gradient) run at ~21 GFLOP/s and grow with the class count K; MLAS runs them at 80–160 GFLOP/s
 * on 2 cores. Numbers: MLAS sums in another order than XNNPACK, so a run on wasm-mlas differs
 * from the same run on wasm by float32 rounding, the way two BLAS builds differ; the backend is
 * recorded in every run and a resume runs on the run's own backend. MLAS splits a product over rows and
 * columns, never over the shared dimension, so results do not depend on the thread count.
 */
import { tf } from './tf.js';
import { MLAS_BACKEND } from './backends.js';
import { gemm } from './eval/onnx-kernels.js';

/** Products smaller than this (multiply-adds) stay on XNNPACK, where a call costs less. */
const MLAS_MIN_MACS = 1 << 15;

interface WasmBackendLike {
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

let registered = false;

/** Registers the backend (once); tfjs-backend-wasm must be imported already. */
export function registerMlasBackend(): void {
  if (registered) return;
  const engine = tf.engine() as unknown as { registryFactory: Record<string, { factory: () => unknown } | undefined> };
  const wasmFactory = engine.registryFactory.wasm;
  const original = tf.getKernel('BatchMatMul', 'wasm');
  if (!wasmFactory || !original) throw new Error('tfjs-backend-wasm is not registered');
  tf.copyRegisteredKernels('wasm', MLAS_BACKEND);
  tf.unregisterKernel('BatchMatMul', MLAS_BACKEND);
  tf.registerKernel({
    kernelName: 'BatchMatMul',
    backendName: MLAS_BACKEND,
    setupFunc: original.setupFunc,
    kernelFunc: (args) => {
      const { inputs, attrs } = args;
      const a = inputs.a as tf.TensorInfo;
      const b = inputs.b as tf.TensorInfo;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      if (a.shape.length !== 2 || b.shape.length !== 2 || a.dtype !== 'float32' || b.dtype !== 'float32') return original.kernelFunc(args);
      const m = transposeA ? a.shape[1] : a.shape[0];
      const k = transposeA ? a.shape[0] : a.shape[1];
      const n = transposeB ? b.shape[0] : b.shape[1];
      if (m * k * n < MLAS_MIN_MACS) return original.kernelFunc(args);
      const backend = args.backend as unknown as WasmBackendLike;
      // makeOutput may grow the wasm heap (detaching earlier views): every view is taken after it.
      const out = backend.makeOutput([m, n], 'float32');
      gemm(backend.typedArrayFromHeap(a), a.shape as [number, number], backend.typedArrayFromHeap(b), b.shape as [number, number], transposeA, transposeB, backend.typedArrayFromHeap(out));
      return out;
    },
  });
  // A second instance of the wasm module (its own heap), built by tfjs-backend-wasm's own factory.
  tf.registerBackend(MLAS_BACKEND, () => wasmFactory.factory() as ReturnType<Parameters<typeof tf.registerBackend>[1]>, 0);
  registered = true;
}
