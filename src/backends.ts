/**
 * The tfjs backends `--backend` accepts (docs/architecture.md "Backends"), in the order `auto`
 * tries them. Kept apart from src/tf.ts so that option schemas can list them without loading tfjs.
 *   tensorflow  @tensorflow/tfjs-node(-gpu), when installed (optional)
 *   wasm        tfjs-backend-wasm (XNNPACK, one thread): the reference numbers
 *   wasm-mlas   wasm with matrix products and linear-head training steps on onnxruntime's MLAS
 *               (every core): faster, its own numbers (docs/performance.md "The wasm-mlas backend")
 *   cpu         tfjs's plain JS kernels (slow; a last resort)
 * `auto` never picks wasm-mlas by itself: a run's numbers do not change unless it is asked for.
 */
export type BackendName = 'tensorflow' | 'wasm' | 'wasm-mlas' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['tensorflow', 'wasm', 'wasm-mlas', 'cpu'];
/** The wasm backend with onnxruntime MLAS products (src/tf-mlas.ts). */
export const MLAS_BACKEND: BackendName = 'wasm-mlas';
/** What auto tries, in order. */
export const AUTO_BACKENDS: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];
/** --backend's choices. */
export const BACKEND_CHOICES: readonly string[] = ['auto', ...BACKENDS];
