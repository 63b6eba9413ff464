/**
 * dataset ─► frozen backbone ─► feature cache: the train and test features of a scenario's dataset.
 * Shared by `cl run` and `cl compat`; extraction happens once per (dataset, split, backbone,
 * preprocessing) and every later run reuses the cache. A `features:` dataset skips all of it: its
 * arrays are the features (src/data/features-dir.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { createBackbone, parseBackboneSpec, type BackboneOptions } from './backbones/backbone.js';
import { extractFeatures } from './backbones/feature-cache.js';
import { formatDuration } from './backbones/wrap.js';
import { readExternalFeatures } from './data/features-dir.js';
import { loadDataset } from './data/index.js';
import { EXTERNAL_BACKBONE, isDatasetSpec, parseDatasetSpec } from './data/spec.js';
import { UserError } from './errors.js';
import { cacheRoot } from './paths.js';
import { checkScenarioClasses } from './scenario/scenario.js';
import type { DataProvenance, Features, ResizeRule, SkippedImage } from './types.js';

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
  /** Image folders: resize rule (default crop) and whether unreadable images are left out. */
  resize?: ResizeRule;
  skipBadImages?: boolean;
  /** No download or archive-extraction progress (the CLI's -q). */
  quiet?: boolean;
}

export interface ScenarioFeatures {
  train: Features;
  test: Features;
  /** What the run record stores about the backbone. */
  backbone: { id: string; preprocessing: string; preprocessingEngine?: string; device?: string; dim: number; featureCacheId: string };
  numClasses: number;
  /** What the run record stores about the data. */
  data: DataProvenance;
}

/** A `features:` dataset: read, validated, checksummed; no backbone, no cache. */
async function externalFeatures(path: string, req: FeatureRequest, emit: (e: FeatureEvent) => void): Promise<ScenarioFeatures> {
  if (req.backbone !== EXTERNAL_BACKBONE) {
    throw new UserError(
      `features:${path} already holds features; a backbone ("${req.backbone}") does not apply`,
      'drop --backbone (in a scenario file with a features: dataset, set "backbone": "external")',
    );
  }
  emit({ type: 'stage', message: `features ${path}` });
  const f = await readExternalFeatures(path);
  checkClasses(req, f.numClasses);
  emit({ type: 'stage', message: `features: train ${f.train.count} × ${f.train.dim}, test ${f.test.count} × ${f.test.dim}, ${f.numClasses} classes (sha256 ${f.checksum.slice(0, 12)})` });
  return {
    train: f.train,
    test: f.test,
    numClasses: f.numClasses,
    backbone: { id: `external@${f.checksum.slice(0, 12)}`, preprocessing: 'external', dim: f.train.dim, featureCacheId: `external-${f.checksum.slice(0, 16)}` },
    data: { location: f.location, verified: 'external', ...(f.classNames ? { classNames: f.classNames } : {}), files: f.files },
  };
}

/** The scenario's class count against the dataset's as loaded (see checkScenarioClasses). */
function checkClasses(req: FeatureRequest, datasetClasses: number): void {
  if (!req.scenario) return;
  // An ad-hoc scenario (`cl run imagefolder:...`) has no file: its "file" is the dataset spec.
  const file = req.scenario.file !== undefined && !isDatasetSpec(req.scenario.file) ? req.scenario.file : undefined;
  checkScenarioClasses(req.scenario, datasetClasses, file);
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

/** Why `--device auto` stayed on the CPU, from the engine's describe() (nested under `engine` by hf:/named wrappers). */
function deviceNote(d: Record<string, unknown>): string | null {
  if (typeof d.deviceNote === 'string') return d.deviceNote;
  return d.engine && typeof d.engine === 'object' ? deviceNote(d.engine as Record<string, unknown>) : null;
}

export async function scenarioFeatures(req: FeatureRequest, emit: (e: FeatureEvent) => void): Promise<ScenarioFeatures> {
  const spec = parseDatasetSpec(req.dataset);
  if (spec?.kind === 'features') return externalFeatures(spec.path, req, emit);
  if (req.backbone === EXTERNAL_BACKBONE) {
    throw new UserError(`backbone "${EXTERNAL_BACKBONE}" only applies to features:<path> datasets; ${req.dataset} holds images`, 'choose a backbone with --backbone (see `cl backbones`)');
  }
  // Cheap checks first: a typo in the backbone spec or the cache root fails before the dataset loads.
  parseBackboneSpec(req.backbone);
  checkCacheRoot(req.cacheRoot);
  emit({ type: 'stage', message: `dataset ${req.dataset}` });
  const dataset = await loadDataset(req.dataset, { dataDir: req.dataDir, cacheRoot: req.cacheRoot, offline: req.offline, resize: req.resize, skipBadImages: req.skipBadImages, quiet: req.quiet });
  checkClasses(req, dataset.numClasses);
  emit({ type: 'stage', message: `backbone ${req.backbone}` });
  const backbone = await createBackbone(req.backbone, { ...req.backboneOptions, cacheRoot: req.cacheRoot, offline: req.offline, quiet: req.quiet });
  const note = deviceNote(backbone.describe());
  if (note) emit({ type: 'stage', message: `backbone runs on the CPU: ${note}` });
  try {
    const skipped: SkippedImage[] = [];
    let decode: string | undefined;
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
      for (const b of res.skipped ?? []) skipped.push({ split, file: b.file, error: b.error });
      if (res.skipped && res.skipped.length > 0) emit({ type: 'stage', message: `${label}: ${res.skipped.length} unreadable image${res.skipped.length === 1 ? '' : 's'} left out (--skip-bad-images), e.g. ${res.skipped[0].file}: ${res.skipped[0].error}` });
      decode ??= res.decode;
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
      data: {
        location: dataset.source.location,
        verified: dataset.source.verified,
        ...(dataset.classNames ? { classNames: dataset.classNames } : {}),
        ...(decode ? { decode } : {}),
        ...(skipped.length > 0 ? { skippedImages: skipped } : {}),
      },
    };
  } finally {
    await backbone.dispose();
  }
}
