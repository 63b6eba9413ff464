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

export function defaultStorePath(): string {
  return path.resolve(process.env.CL_STORE ?? path.join('results', 'db.json'));
}
