/**
 * Pinned numbers of the existing methods on small synthetic streams (helper of same-numbers.test.ts).
 *
 * Every configuration below runs a seeded learner (or a `cl compat` job) on seeded Gaussian
 * clusters and reports, after every task, the per-class correct counts of the headline prediction
 * and of every secondary rule, plus the final training loss of each task. The expected values in
 * same-numbers.json were computed by the code as it stood before the method refactoring of issue
 * 11 (commit 6f54409, tfjs wasm backend); the refactoring must reproduce them exactly (counts) or
 * to float32 round-off (losses). Rerun `npx tsx test/learners/same-numbers.ts --write` only for a
 * change that is meant to move the numbers of an existing method, and say so in its commit.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCompat } from '../../src/compat/runner.js';
import { evaluateIncrement } from '../../src/eval/accuracy.js';
import { createLearner } from '../../src/learners/index.js';
import { initBackend } from '../../src/tf.js';
import type { Features } from '../../src/types.js';
import { gaussianClasses, syntheticScenario, SYNTHETIC_BACKBONE, tempStore } from '../compat/helpers.js';
import { experiences, gaussianClusters } from '../train/synthetic.js';

export const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'same-numbers.json');

export interface TaskNumbers {
  correct: Record<string, number>;
  extra: Record<string, Record<string, number>>;
  /** Final epoch loss of the task (null where the learner does not train). */
  loss: number | null;
}

export type Pinned = Record<string, TaskNumbers[] | Record<string, unknown>>;

const CLASSES = 9;
const TASK = 3;
const DIM = 16;
const data = gaussianClusters({ classes: CLASSES, dim: DIM, trainPerClass: 80, testPerClass: 30, sigma: 0.35, seed: 11, nonNegative: true });
const stream = experiences(data.train, CLASSES, TASK);
const taskClasses = stream.map((e) => e.classes);

const napaSmall = { epochsBase: 4, epochs: 3, hidden: 16, embedDim: 8, batchSize: 32, k: 4, cvLr: 0.5 };

/** name → [method, options, seed] */
export const LEARNER_CONFIGS: Record<string, [string, Record<string, unknown>, number]> = {
  'nmc janson': ['nmc', {}, 1],
  'nmc simplecil': ['nmc', { variant: 'simplecil' }, 1],
  'wa default recipe': ['wa', { epochs: 4, memory: 54, batchSize: 32 }, 1],
  'wa mlp bias nme raw-teacher fixed-lambda': [
    'wa',
    { epochs: 3, batchSize: 32, memory: 36, head: 'mlp', hidden: 16, bias: true, eval: 'nme', teacher: 'raw', lambda: '0.3' },
    2,
  ],
  'wa per-class der normalize adam cosine clip': [
    'wa',
    { epochs: 3, batchSize: 32, memoryMode: 'per-class', memoryPerClass: 5, herding: 'der', normalize: true, clip: 'true', schedule: 'cosine', optimizer: 'adam', lr: 0.01 },
    3,
  ],
  'wa no kd no align': ['wa', { epochs: 3, batchSize: 32, memory: 45, kd: false, align: false, eval: 'cnn' }, 4],
  replay: ['replay', { epochs: 4, memory: 54, batchSize: 32 }, 1],
  'replay random herding mlp': ['replay', { epochs: 3, batchSize: 32, memory: 27, herding: 'random', head: 'mlp', hidden: 12 }, 5],
  finetune: ['finetune', { epochs: 4, batchSize: 32 }, 1],
  joint: ['joint', { epochs: 4, batchSize: 32 }, 1],
  'joint mlp constant': ['joint', { epochs: 3, batchSize: 32, head: 'mlp', hidden: 12, schedule: 'constant', bias: true }, 6],
  'napa-vq faithful': ['napa-vq', napaSmall, 1],
  'napa-vq regen strength mean-l2': ['napa-vq', { ...napaSmall, mode: 'regen-prototypes', neighbourPick: 'strength', kdForm: 'mean-l2', softminScale: '0.01' }, 2],
  'napa-vq frozen-adapter euclidean no-graph': ['napa-vq', { ...napaSmall, mode: 'frozen-adapter', graph: false, testRule: 'euclidean', standardize: false }, 3],
  'finetune-adapter': ['finetune-adapter', { epochsBase: 4, epochs: 3, hidden: 16, embedDim: 8, batchSize: 32, cvLr: 0.5 }, 1],
};

function lossOf(summary: Record<string, unknown>, task: number): number | null {
  const rows = (summary.perTask ?? summary.tasks) as { finalLoss: number | null }[] | undefined;
  return rows?.[task]?.finalLoss ?? null;
}

async function measureLearner(method: string, options: Record<string, unknown>, seed: number): Promise<TaskNumbers[]> {
  const learner = createLearner(method, options, { seed, dim: DIM, numClasses: CLASSES });
  const out: TaskNumbers[] = [];
  try {
    for (const exp of stream) {
      await learner.learn(exp);
      const score = (predict: (x: Features) => Int32Array) => evaluateIncrement({ predict, test: data.test, taskClasses, task: exp.index }).correctPerClass;
      const extra: Record<string, Record<string, number>> = {};
      if (learner.extraPredictions) {
        // The evaluator hands extraPredictions the seen-class rows; score them the same way.
        for (const name of Object.keys(learner.extraPredictions(data.test))) {
          extra[name] = score((x) => learner.extraPredictions!(x)[name]);
        }
      }
      out.push({ correct: score((x) => learner.predict(x)), extra, loss: lossOf(learner.stateSummary(), exp.index) });
    }
  } finally {
    learner.dispose();
  }
  return out;
}

const compatData = gaussianClasses({ classes: 12, dim: 16, trainPer: 30, testPer: 10, sigma: 1.0, seed: 5 });
const compatSmall = { d: 6, k: 3, hidden: 24, epochs: 3, batchSize: 32 };

/** name → [method, options, seed, steps] */
export const COMPAT_CONFIGS: Record<string, [string, Record<string, unknown>, number, number]> = {
  'compat independent': ['independent', compatSmall, 1, 2],
  'compat bct': ['bct', compatSmall, 1, 2],
  'compat oca': ['oca', compatSmall, 1, 2],
  'compat oca identity no-layer-norm 3 steps': ['oca', { ...compatSmall, ortho: 'identity', layerNorm: false }, 2, 3],
};

async function measureCompat(method: string, options: Record<string, unknown>, seed: number, steps: number): Promise<Record<string, unknown>> {
  const r = await runCompat({
    scenario: syntheticScenario(12),
    method,
    steps,
    seed,
    methodOptions: options,
    storePath: tempStore(),
    command: ['test'],
    features: { ...compatData, backbone: { ...SYNTHETIC_BACKBONE, dim: 16 } },
  });
  return { matrices: r.matrices, backfill: r.backfill?.row ?? null, losses: r.versions.map((v) => v.epochLosses.at(-1)) };
}

/** Every pinned configuration, measured now. */
export async function measureAll(only?: string[]): Promise<Pinned> {
  await initBackend('wasm');
  const out: Pinned = {};
  for (const [name, [method, options, seed]] of Object.entries(LEARNER_CONFIGS)) {
    if (!only || only.includes(name)) out[name] = await measureLearner(method, options, seed);
  }
  for (const [name, [method, options, seed, steps]] of Object.entries(COMPAT_CONFIGS)) {
    if (!only || only.includes(name)) out[name] = await measureCompat(method, options, seed, steps);
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1]) && process.argv.includes('--write')) {
  const pinned = await measureAll();
  fs.writeFileSync(FIXTURE, `${JSON.stringify(pinned, null, 1)}\n`);
  process.stdout.write(`wrote ${FIXTURE}\n`);
}
