/** Options every dataset loader takes (the CLI fills them from --data-dir, --cache-dir, --offline, --quiet). */
import { cacheRoot, datasetCacheDir } from '../paths.js';
import type { ResizeRule } from '../types.js';

export interface DatasetOptions {
  /** A local copy: an archive, a dataset folder, or a folder holding several datasets (default: CL_DATA_DIR). */
  dataDir?: string;
  /** Root of the caches (default: cacheRoot(), i.e. CL_CACHE_DIR or ~/.cache/cl). */
  cacheRoot?: string;
  /** Never download; a missing dataset is an error explaining --data-dir. */
  offline?: boolean;
  /** No progress output. */
  quiet?: boolean;
  /** Image folders: how images become the backbone's input size (default 'crop'; src/data/decode.ts). */
  resize?: ResizeRule;
  /** Image folders: leave undecodable images out (listed in the record) instead of stopping. */
  skipBadImages?: boolean;
}

/** The user's local copy, from the option or else from CL_DATA_DIR; undefined when neither is set. */
export function resolveDataDir(opts: DatasetOptions): { path: string; from: string } | undefined {
  if (opts.dataDir) return { path: opts.dataDir, from: '--data-dir' };
  const env = process.env.CL_DATA_DIR;
  if (env) return { path: env, from: 'CL_DATA_DIR' };
  return undefined;
}

/** `<cache root>/datasets`. */
export function datasetsDir(opts: DatasetOptions): string {
  return datasetCacheDir(opts.cacheRoot ?? cacheRoot());
}

export const DATA_DIR_HINT = 'Pass a local copy with --data-dir <path> (or set CL_DATA_DIR)';
