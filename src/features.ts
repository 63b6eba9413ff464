/**
 * dataset ─► frozen backbone ─► feature cache: the train and test features of a scenario's dataset.
 * Shared by `cl run` and `cl compat`; extraction happens once per (dataset, split, backbone,
 * preprocessing) and every later run reuses the cache.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createBackbone, parseBackboneSpec, type BackboneOptions } from './backbones/backbone.js';
import { extractFeatures } from './backbones/feature-cache.js';
import { formatDuration } from './backbones/wrap.js';
import { loadDataset } from './data/index.js';
import { UserError } from './errors.js';
import { cacheRoot } from './paths.js';
import { checkScenarioClasses } from './scenario/scenario.js';
import type { Features } from './types.js';

/** Progress events of dataset loading and feature extraction. */
export type FeatureEvent =
  | { type: 'stage'; message: string }
  | { type: 'progress'; label: string; done: number; total: number; rate?: number; eta?: number }
  | { type: 'progress-end'; label: string };

export interface FeatureRequest {
  dataset: string;
  backbone: string;
  backboneOptions?: BackboneOptions;
  dataDir?: string;
  cacheRoot?: string;
  offline?: boolean;
  /** The scenario the features are for: its class count is checked against the loaded dataset's before extraction. */
  scenario?: { name: string; dataset: string; numClasses: number; subset?: boolean; file?: string };
}

export interface ScenarioFeatures {
  train: Features;
  test: Features;
  /** What the run record stores about the backbone. */
  backbone: { id: string; preprocessing: string; dim: number; featureCacheId: string };
  numClasses: number;
}

/** The cache root must be a folder (or not exist yet): fail before the extraction, not after it. */
function checkCacheRoot(given: string | undefined): void {
  const root = given ?? cacheRoot();
  let bad: string | null = null;
  try {
    if (!fs.statSync(root).isDirectory()) bad = root;
  } catch {
    // Created when needed, unless a file stands where one of its folders should be.
    for (let dir = path.dirname(root); bad === null; dir = path.dirname(dir)) {
      try {
        if (!fs.statSync(dir).isDirectory()) bad = dir;
        break;
      } catch {
        if (dir === path.dirname(dir)) break;
      }
    }
  }
  if (bad !== null) {
    const from = given !== undefined ? '--cache-dir' : process.env.CL_CACHE_DIR ? 'CL_CACHE_DIR' : 'the default cache root';
    const what = bad === root ? 'is not a folder' : `cannot be created: ${bad} is a file`;
    throw new UserError(`the cache root ${root} (${from}) ${what}`, 'point --cache-dir or CL_CACHE_DIR at a folder (it is created when missing)');
  }
}

export async function scenarioFeatures(req: FeatureRequest, emit: (e: FeatureEvent) => void): Promise<ScenarioFeatures> {
  // Cheap checks first: a typo in the backbone spec or the cache root fails before the dataset loads.
  parseBackboneSpec(req.backbone);
  checkCacheRoot(req.cacheRoot);
  emit({ type: 'stage', message: `dataset ${req.dataset}` });
  const dataset = await loadDataset(req.dataset, { dataDir: req.dataDir, cacheRoot: req.cacheRoot, offline: req.offline });
  if (req.scenario) checkScenarioClasses(req.scenario, dataset.numClasses, req.scenario.file);
  emit({ type: 'stage', message: `backbone ${req.backbone}` });
  const backbone = await createBackbone(req.backbone, { ...req.backboneOptions, cacheRoot: req.cacheRoot, offline: req.offline });
  try {
    const extract = async (split: 'train' | 'test') => {
      const label = `features ${split}`;
      let announced = false;
      const res = await extractFeatures(dataset, split, backbone, {
        cacheRoot: req.cacheRoot,
        onRebuild: (why) => emit({ type: 'stage', message: `${label}: ${why}` }),
        onProgress: (done: number, total: number, rate: number, eta?: number) => {
          if (eta !== undefined && !announced && eta > 60) {
            // An honest estimate for long CPU extractions (e.g. ViT-B/16 on 60,000 images).
            announced = true;
            emit({ type: 'stage', message: `${label}: about ${formatDuration(eta)} left for ${total} images at ${rate.toFixed(1)} img/s` });
          }
          emit({ type: 'progress', label, done, total, rate, eta });
        },
      });
      emit({ type: 'progress-end', label });
      emit({
        type: 'stage',
        message: res.cached
          ? `${label}: cache hit ${res.cacheId} (${res.features.count} × ${res.features.dim})`
          : `${label}: extracted ${res.features.count} × ${res.features.dim} in ${(res.ms / 1000).toFixed(1)} s, cached as ${res.cacheId}`,
      });
      return res;
    };
    const tr = await extract('train');
    const te = await extract('test');
    return {
      train: tr.features,
      test: te.features,
      numClasses: dataset.numClasses,
      backbone: {
        id: backbone.id,
        preprocessing: backbone.preprocessingId,
        ...(backbone.preprocessingEngine ? { preprocessingEngine: backbone.preprocessingEngine } : {}),
        dim: tr.features.dim,
        featureCacheId: `${tr.cacheId}+${te.cacheId}`,
      },
    };
  } finally {
    await backbone.dispose();
  }
}
