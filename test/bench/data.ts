/**
 * The features the learner benchmarks run on, as `Features` for cl and as .npy files for the
 * Python references (the same bytes for both):
 *   - with $CL_SHARED_DIR: CIFAR-100 MobileNetV2 features through the feature cache (the real
 *     main-job data; extracted once, ~2.5 min, if not cached yet);
 *   - else synthetic features of the same shape (50,000 + 10,000 rows × 1280, 100 classes,
 *     non-negative like pooled CNN features), written to a temp folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeNpy } from '../../src/backbones/npy.js';
import { scenarioFeatures } from '../../src/features.js';
import { featureCacheDir } from '../../src/paths.js';
import { Rng } from '../../src/rng.js';
import { ICARL_1993 } from '../../src/scenario/orders.js';
import type { Features } from '../../src/types.js';

export interface NpyPair {
  x: string;
  y: string;
}

export interface BenchData {
  what: string;
  train: Features;
  test: Features;
  files: { train: NpyPair; test: NpyPair };
  /** B0-Inc10 in the iCaRL seed-1993 order (what split-cifar100 runs). */
  tasks: number[][];
  /** Remove temp files. */
  cleanup(): void;
}

export const MOBILENET_MODEL = (shared: string): string => path.join(shared, 'models', 'mobilenetv2-int8', 'mobilenetv2-12-int8-features.onnx');

function b0inc10(): number[][] {
  return Array.from({ length: 10 }, (_, t) => ICARL_1993.slice(t * 10, t * 10 + 10));
}

async function realData(shared: string): Promise<BenchData> {
  const r = await scenarioFeatures(
    { dataset: 'cifar100', backbone: `onnx:${MOBILENET_MODEL(shared)}#features`, dataDir: path.join(shared, 'datasets'), offline: true },
    () => undefined,
  );
  const [trainId, testId] = r.backbone.featureCacheId.split('+');
  const pair = (id: string): NpyPair => ({ x: path.join(featureCacheDir(), id, 'features.npy'), y: path.join(featureCacheDir(), id, 'labels.npy') });
  return {
    what: `CIFAR-100 MobileNetV2 features (feature cache ${r.backbone.featureCacheId})`,
    train: r.train,
    test: r.test,
    files: { train: pair(trainId), test: pair(testId) },
    tasks: b0inc10(),
    cleanup: () => undefined,
  };
}

/** Class-structured non-negative features: x = max(0, centre_c + noise). */
function synthetic(count: number, dim: number, centres: Float32Array, rng: Rng): Features {
  const x = new Float32Array(count * dim);
  const y = new Int32Array(count);
  const classes = centres.length / dim;
  for (let i = 0; i < count; i++) {
    const c = i % classes;
    y[i] = c;
    for (let j = 0; j < dim; j++) x[i * dim + j] = Math.max(0, centres[c * dim + j] + 0.8 * rng.normal());
  }
  return { x, y, count, dim };
}

async function syntheticData(): Promise<BenchData> {
  const dim = 1280;
  const rng = new Rng(14);
  const centres = new Float32Array(100 * dim);
  for (let i = 0; i < centres.length; i++) centres[i] = rng.normal() * 0.05;
  const train = synthetic(50000, dim, centres, rng);
  const test = synthetic(10000, dim, centres, rng);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cl-bench-'));
  const files = {
    train: { x: path.join(dir, 'train-x.npy'), y: path.join(dir, 'train-y.npy') },
    test: { x: path.join(dir, 'test-x.npy'), y: path.join(dir, 'test-y.npy') },
  };
  await writeNpy(files.train.x, train.x, [train.count, dim]);
  await writeNpy(files.train.y, train.y, [train.count]);
  await writeNpy(files.test.x, test.x, [test.count, dim]);
  await writeNpy(files.test.y, test.y, [test.count]);
  return {
    what: 'synthetic features (50,000 + 10,000 × 1280, 100 classes; set CL_SHARED_DIR for the real CIFAR-100 MobileNetV2 features)',
    train,
    test,
    files,
    tasks: b0inc10(),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export async function benchData(): Promise<BenchData> {
  const shared = process.env.CL_SHARED_DIR;
  return shared ? realData(path.resolve(shared)) : syntheticData();
}

/** "load average 1.23 1.10 0.98 (2 cores)". */
export function loadLine(): string {
  return `load average ${os
    .loadavg()
    .map((v) => v.toFixed(2))
    .join(' ')} (${os.availableParallelism()} cores)`;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function argValue(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}
