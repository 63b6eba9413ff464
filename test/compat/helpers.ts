/** Seeded synthetic data for the compat tests (helper, not a test file). */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import { Rng } from '../../src/rng.js';
import type { CompatScenario } from '../../src/compat/runner.js';
import type { Features } from '../../src/types.js';

export interface Clusters {
  train: Features;
  test: Features;
}

/** Gaussian classes: mean ~ N(0, I·spread²) per class, samples mean + N(0, σ²). */
export function gaussianClasses(opts: { classes: number; dim: number; trainPer: number; testPer: number; sigma: number; spread?: number; seed: number }): Clusters {
  const rng = new Rng(opts.seed);
  const spread = opts.spread ?? 1;
  const means = Float32Array.from({ length: opts.classes * opts.dim }, () => spread * rng.normal());
  const draw = (per: number): Features => {
    const count = opts.classes * per;
    const x = new Float32Array(count * opts.dim);
    const y = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const c = i % opts.classes; // interleaved classes
      y[i] = c;
      for (let j = 0; j < opts.dim; j++) x[i * opts.dim + j] = means[c * opts.dim + j] + opts.sigma * rng.normal();
    }
    return { x, y, count, dim: opts.dim };
  };
  return { train: draw(opts.trainPer), test: draw(opts.testPer) };
}

export function syntheticScenario(classes: number): CompatScenario {
  return {
    name: 'synthetic',
    dataset: 'synthetic',
    numClasses: classes,
    order: { id: 'natural', seed: null, classes: Array.from({ length: classes }, (_, i) => i) },
    backbone: 'none',
  };
}

export const SYNTHETIC_BACKBONE = { id: 'synthetic', preprocessing: 'none', dim: 0, featureCacheId: 'none' };

export function tempStore(): string {
  return path.join(mkdtempSync(path.join(os.tmpdir(), 'cl-compat-')), 'db.json');
}
