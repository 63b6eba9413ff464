/**
 * tfjs backend selection (docs/architecture.md "Principles"): `tensorflow` when @tensorflow/tfjs-node-gpu
 * or @tensorflow/tfjs-node is installed (both optional, never required), else `wasm`, else `cpu`.
 * `--backend` / CL_BACKEND overrides. Every module imports tfjs through this file so that one
 * tfjs instance is shared.
 */
import * as tf from '@tensorflow/tfjs';
import { AUTO_BACKENDS, BACKENDS, type BackendName } from './backends.js';
import { UserError } from './errors.js';

export { tf };
export { BACKENDS, type BackendName };

export interface BackendInfo {
  name: BackendName;
  /** The package that provided it (for the run record). */
  provider: string;
}

let current: BackendInfo | null = null;

async function tryTensorflow(): Promise<string | null> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      if (tf.findBackend('tensorflow')) return pkg;
    } catch {
      // not installed, or its native library failed to load: try the next one
    }
  }
  return null;
}

async function tryWasm(): Promise<boolean> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const os = await import('node:os');
    // Use every core for wasm kernels (no-op where threads are unavailable).
    wasm.setThreadsCount(Math.max(1, os.availableParallelism()));
    return true;
  } catch {
    return false;
  }
}

async function tryMlas(): Promise<boolean> {
  if (!(await tryWasm())) return false;
  try {
    const { registerMlasBackend } = await import('./tf-mlas.js');
    registerMlasBackend();
    return true;
  } catch {
    return false;
  }
}

/**
 * Initialise tfjs once per process. `preferred` = 'auto' (default) or a backend name.
 * Returns what runs; throws a UserError when a requested backend is unavailable.
 */
export async function initBackend(preferred: string = process.env.CL_BACKEND ?? 'auto'): Promise<BackendInfo> {
  if (current && (preferred === 'auto' || preferred === current.name)) return current;
  if (preferred !== 'auto' && !BACKENDS.includes(preferred as BackendName)) {
    throw new UserError(`unknown tfjs backend "${preferred}"`, `use one of: auto, ${BACKENDS.join(', ')}`);
  }
  const order: readonly BackendName[] = preferred === 'auto' ? AUTO_BACKENDS : [preferred as BackendName];
  for (const name of order) {
    let provider: string | null = null;
    if (name === 'tensorflow') provider = await tryTensorflow();
    else if (name === 'wasm') provider = (await tryWasm()) ? '@tensorflow/tfjs-backend-wasm' : null;
    else if (name === 'wasm-mlas') provider = (await tryMlas()) ? '@tensorflow/tfjs-backend-wasm' : null;
    else provider = '@tensorflow/tfjs';
    if (provider && (await tf.setBackend(name))) {
      await tf.ready();
      current = { name, provider };
      return current;
    }
  }
  const hint =
    preferred === 'tensorflow'
      ? 'install @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (CUDA): npm install @tensorflow/tfjs-node'
      : 'use --backend auto';
  throw new UserError(`tfjs backend "${preferred}" is not available`, hint);
}

export function currentBackend(): BackendInfo | null {
  return current;
}
