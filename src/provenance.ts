/**
 * Provenance of a run (docs/protocols.md "Provenance"): which `cl` (version, and the git commit
 * when it runs from a clone), which libraries (Node, tfjs and its backend package, onnxruntime),
 * on which machine (CPU model, cores, threads used), and when it started and ended.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { clVersion, packageRoot } from './version.js';

export interface Provenance {
  cl: { version: string; commit?: string; dirty?: boolean };
  node: string;
  /** Package versions: @tensorflow/tfjs, the backend's package, onnxruntime-node (null: not installed). */
  packages: Record<string, string | null>;
  tfjsBackend: string;
  cpu: { model: string; cores: number; availableParallelism: number; tfjsThreads: number | null; onnxThreads: number };
  host: string;
  platform: string;
  startedAt: string;
  endedAt?: string;
}

const require = createRequire(import.meta.url);

/** The version in a package's package.json, found from its entry (null when not installed). */
export function packageVersion(name: string): string | null {
  try {
    let dir = path.dirname(require.resolve(name));
    for (;;) {
      const file = path.join(dir, 'package.json');
      if (fs.existsSync(file)) {
        const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name) return pkg.version ?? null;
      }
      const up = path.dirname(dir);
      if (up === dir) return null;
      dir = up;
    }
  } catch {
    return null;
  }
}

let commitCache: { commit?: string; dirty?: boolean } | null = null;

/** The git commit of the cl checkout (and whether tracked files differ from it), when cl runs from a clone. */
export function gitCommit(root = packageRoot()): { commit?: string; dirty?: boolean } {
  if (commitCache) return commitCache;
  commitCache = {};
  if (!fs.existsSync(path.join(root, '.git'))) return commitCache;
  try {
    const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    commitCache.commit = git('rev-parse', 'HEAD');
    commitCache.dirty = git('status', '--porcelain', '--untracked-files=no').length > 0;
  } catch {
    // git missing or not a repository: no commit to record
  }
  return commitCache;
}

/** Threads tfjs-backend-wasm runs with (null for another backend). */
async function wasmThreads(backend: string): Promise<number | null> {
  if (backend !== 'wasm' && backend !== 'wasm-mlas') return null;
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    return wasm.getThreadsCount();
  } catch {
    return null;
  }
}

/** Provenance of a run starting now on `backend` (provided by `backendPackage`). */
export async function provenanceNow(backend: string, backendPackage: string): Promise<Provenance> {
  const cpus = os.cpus();
  const packages: Record<string, string | null> = { '@tensorflow/tfjs': packageVersion('@tensorflow/tfjs'), 'onnxruntime-node': packageVersion('onnxruntime-node') };
  if (backendPackage !== '@tensorflow/tfjs') packages[backendPackage] = packageVersion(backendPackage);
  return {
    cl: { version: clVersion(), ...gitCommit() },
    node: process.version,
    packages,
    tfjsBackend: backend,
    cpu: {
      model: cpus[0]?.model.trim() ?? 'unknown',
      cores: cpus.length,
      availableParallelism: os.availableParallelism(),
      tfjsThreads: await wasmThreads(backend),
      // ONNX backbones, and the onnxruntime kernels (NMC scores, retrieval, wasm-mlas's products),
      // run with one intra-op thread per available core (src/backbones/onnx.ts, src/eval/onnx-kernels.ts).
      onnxThreads: os.availableParallelism(),
    },
    host: os.hostname(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    startedAt: new Date().toISOString(),
  };
}
