/**
 * A run's configuration as an experiment file of one cell (src/study/study.ts): what `cl run
 * --config` reads, what every run record stores (resolved: every method option with its value,
 * the class order and split that ran, the backend that ran, absolute paths), and what
 * `cl show <id> --config` prints so that `cl run --config` repeats the run exactly.
 */
import path from 'node:path';
import type { BackboneOptions } from '../backbones/backbone.js';
import { RUN_OPTIONS } from '../experiment-options.js';
import type { RunOptions } from '../run.js';
import type { ClassOrder, OrderSpec } from '../scenario/orders.js';
import type { ResolvedScenario } from '../scenario/scenario.js';
import { parseSplit } from '../scenario/split.js';
import type { ResizeRule } from '../types.js';
import { resolveBackboneRef, resolveScenarioRef, type RunConfig } from './study.js';

/** The order spec that resolves to `order` again: its name, `seed:<n>`, or the literal list. */
export function orderSpecOf(order: ClassOrder): OrderSpec {
  if (order.seed !== null) return `seed:${order.seed}`;
  if (order.id.startsWith('custom-')) return [...order.classes];
  return order.id;
}

/** RunOptions of `cl run` for a configuration (paths in it are absolute or relative to the cwd). */
export function runOptionsFromConfig(c: RunConfig, storePath: string, command: string[]): RunOptions {
  const backboneOptions: BackboneOptions = {};
  if (c.inputNorm !== undefined) backboneOptions.normalize = c.inputNorm as BackboneOptions['normalize'];
  if (c.inputSize !== undefined) backboneOptions.imageSize = c.inputSize;
  if (c.inputLayout !== undefined) backboneOptions.layout = c.inputLayout as BackboneOptions['layout'];
  if (c.featurePool !== undefined) backboneOptions.pool = c.featurePool as BackboneOptions['pool'];
  if (c.preprocess === 'js') backboneOptions.preprocess = 'js';
  if (c.extractBatchSize !== undefined) backboneOptions.batchSize = c.extractBatchSize;
  return {
    scenario: c.scenario,
    method: c.method,
    methodOptions: { ...c.options },
    seed: c.seed ?? RUN_OPTIONS.seed.default,
    ...(c.backbone !== undefined ? { backbone: c.backbone } : {}),
    backboneOptions,
    dataDir: c.dataDir ?? process.env.CL_DATA_DIR,
    cacheRoot: c.cacheDir,
    offline: c.offline ?? false,
    ...(c.resize !== undefined ? { resize: c.resize as ResizeRule } : {}),
    ...(c.skipBadImages ? { skipBadImages: true } : {}),
    quiet: false,
    backend: c.backend ?? 'auto',
    storePath,
    overrides: {
      ...(c.base !== undefined ? { base: c.base } : {}),
      ...(c.increment !== undefined ? { increment: c.increment } : {}),
      ...(c.order !== undefined ? { order: Array.isArray(c.order) ? c.order.join(',') : typeof c.order === 'object' ? `seed:${c.order.seed}` : c.order } : {}),
    },
    command,
  };
}

/**
 * The configuration a run record stores: everything that decided its numbers, resolved (method
 * options complete, the order and split that ran, the backend that ran, absolute paths).
 */
export function resolvedConfig(opts: RunOptions, r: { methodOptions: Record<string, unknown>; scenario: ResolvedScenario; backend: string }): RunConfig {
  const cwd = process.cwd();
  const split = parseSplit(r.scenario.split);
  const b = opts.backboneOptions ?? {};
  const backbone = opts.backbone ?? r.scenario.backbone;
  const c: RunConfig = {
    scenario: resolveScenarioRef(cwd, opts.scenario),
    method: opts.method,
    options: { ...r.methodOptions },
    seed: opts.seed,
    order: orderSpecOf(r.scenario.order),
    base: split.base,
    increment: Array.isArray(split.increment) ? [...split.increment] : split.increment,
    backbone: resolveBackboneRef(cwd, backbone),
    ...(b.normalize !== undefined ? { inputNorm: b.normalize } : {}),
    ...(b.imageSize !== undefined ? { inputSize: b.imageSize } : {}),
    ...(b.layout !== undefined ? { inputLayout: b.layout } : {}),
    ...(b.pool !== undefined ? { featurePool: b.pool } : {}),
    preprocess: b.preprocess ?? 'auto',
    ...(b.batchSize !== undefined ? { extractBatchSize: b.batchSize } : {}),
    backend: r.backend,
    ...(opts.dataDir ? { dataDir: path.resolve(cwd, opts.dataDir) } : {}),
    ...(opts.cacheRoot ? { cacheDir: path.resolve(cwd, opts.cacheRoot) } : {}),
    ...(opts.offline ? { offline: true } : {}),
    // How an image folder was read decides its features; other datasets have no images to resize.
    ...(r.scenario.dataset.startsWith('imagefolder:') ? { resize: opts.resize ?? 'crop' } : {}),
    ...(opts.skipBadImages ? { skipBadImages: true } : {}),
  };
  return c;
}
