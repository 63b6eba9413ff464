/**
 * Where `cl` keeps things on disk. Nothing here points at a project-specific data folder:
 * users (and tests, CI, benchmarks) choose locations with options and environment variables.
 *
 *   CL_CACHE_DIR  root of every cache (default: $XDG_CACHE_HOME/cl, else ~/.cache/cl)
 *     datasets/   downloaded and extracted datasets
 *     features/   the feature cache (.npy + JSON sidecar per entry)
 *     models/     downloaded backbone models
 *   CL_DATA_DIR   a folder (or archive) holding a local copy of a dataset (same as --data-dir)
 *   CL_STORE      the results store file (same as --store; default results/db.json)
 */
import os from 'node:os';
import path from 'node:path';

export function cacheRoot(): string {
  if (process.env.CL_CACHE_DIR) return path.resolve(process.env.CL_CACHE_DIR);
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg ? path.resolve(xdg) : path.join(os.homedir(), '.cache'), 'cl');
}

export const datasetCacheDir = (root = cacheRoot()): string => path.join(root, 'datasets');
export const featureCacheDir = (root = cacheRoot()): string => path.join(root, 'features');
export const modelCacheDir = (root = cacheRoot()): string => path.join(root, 'models');

/**
 * The Hugging Face hub cache folder, by huggingface_hub's environment rules: env HF_HUB_CACHE, else
 * HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else
 * ~/.cache/huggingface/hub. `hf:` backbones keep their files there (src/backbones/hf.ts); --cache-dir
 * does not move it.
 */
export function hfHubCacheDir(): string {
  const env = process.env;
  if (env.HF_HUB_CACHE) return path.resolve(env.HF_HUB_CACHE);
  if (env.HUGGINGFACE_HUB_CACHE) return path.resolve(env.HUGGINGFACE_HUB_CACHE);
  if (env.HF_HOME) return path.join(path.resolve(env.HF_HOME), 'hub');
  return path.join(env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache'), 'huggingface', 'hub');
}

export function defaultStorePath(): string {
  return path.resolve(process.env.CL_STORE ?? path.join('results', 'db.json'));
}
