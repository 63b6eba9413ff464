/**
 * dataset ─► frozen backbone ─► feature cache: the train and test features of a scenario's dataset.
 * Shared by `cl run` and `cl compat`; extraction happens once per (dataset, split, backbone,
 * preprocessing) and every later run reuses the cache.
 */
import { createBackbone, type BackboneOptions } from './backbones/backbone.js';
import { extractFeatures } from './backbones/feature-cache.js';
import { formatDuration } from './backbones/wrap.js';
import { loadDataset } from './data/index.js';
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
}

export interface ScenarioFeatures {
  train: Features;
  test: Features;
  /** What the run record stores about the backbone. */
  backbone: { id: string; preprocessing: string; preprocessingEngine?: string; device?: string; dim: number; featureCacheId: string };
  numClasses: number;
}

/** Why `--device auto` stayed on the CPU, from the engine's describe() (nested under `engine` by hf:/named wrappers). */
function deviceNote(d: Record<string, unknown>): string | null {
  if (typeof d.deviceNote === 'string') return d.deviceNote;
  return d.engine && typeof d.engine === 'object' ? deviceNote(d.engine as Record<string, unknown>) : null;
}

export async function scenarioFeatures(req: FeatureRequest, emit: (e: FeatureEvent) => void): Promise<ScenarioFeatures> {
  emit({ type: 'stage', message: `dataset ${req.dataset}` });
  const dataset = await loadDataset(req.dataset, { dataDir: req.dataDir, cacheRoot: req.cacheRoot, offline: req.offline });
  emit({ type: 'stage', message: `backbone ${req.backbone}` });
  const backbone = await createBackbone(req.backbone, { ...req.backboneOptions, cacheRoot: req.cacheRoot, offline: req.offline });
  const note = deviceNote(backbone.describe());
  if (note) emit({ type: 'stage', message: `backbone runs on the CPU: ${note}` });
  try {
    const extract = async (split: 'train' | 'test') => {
      const label = `features ${split}`;
      let announced = false;
      const res = await extractFeatures(dataset, split, backbone, {
        cacheRoot: req.cacheRoot,
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
        ...(backbone.device ? { device: backbone.device } : {}),
        dim: tr.features.dim,
        featureCacheId: `${tr.cacheId}+${te.cacheId}`,
      },
    };
  } finally {
    await backbone.dispose();
  }
}
