/**
 * Where a backbone's model file lives: a local path as given, or a URL downloaded once into
 * `modelCacheDir()`. Also the content hash that makes backbone ids (and so feature-cache keys)
 * identify the model itself rather than its path.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { modelCacheDir } from '../paths.js';
import { downloadFile, hashFile } from '../data/download.js';

export interface ModelFile {
  /** Local path of the model. */
  path: string;
  /** The URL it came from, when downloaded. */
  url?: string;
}

export const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** Cache file name for a URL: a short hash of the URL (unique) + its last path segment (readable). */
export function cachedModelPath(url: string, root?: string): string {
  const hash = createHash('sha256').update(url).digest('hex').slice(0, 16);
  const base = (new URL(url).pathname.split('/').pop() || 'model').replace(/[^A-Za-z0-9._-]/g, '_');
  return path.join(modelCacheDir(root), `${hash}-${base}`);
}

async function exists(file: string): Promise<boolean> {
  try {
    return (await fsp.stat(file)).isFile();
  } catch {
    return false;
  }
}

/** Resolve a spec target to a local file, downloading a URL into the model cache once. */
export async function resolveModelFile(target: string, opts: { cacheRoot?: string; offline?: boolean; what?: string; quiet?: boolean }): Promise<ModelFile> {
  const what = opts.what ?? 'model';
  if (!isUrl(target)) {
    const file = path.resolve(target);
    let st;
    try {
      st = await fsp.stat(file);
    } catch {
      throw new UserError(`${what} file not found: ${file}`, 'check the path in the backbone spec, or give an http(s) URL to download it');
    }
    if (!st.isFile()) throw new UserError(`${what} path is not a file: ${file}`, 'point the backbone spec at the model file itself');
    return { path: file };
  }
  const dest = cachedModelPath(target, opts.cacheRoot);
  if (await exists(dest)) return { path: dest, url: target };
  if (opts.offline) {
    throw new UserError(`${what} ${target} is not in the model cache and --offline forbids downloading it`, `run once without --offline, or download it yourself and pass its local path`);
  }
  await fsp.mkdir(path.dirname(dest), { recursive: true });
  await downloadFile(target, dest, { label: `${what} ${path.basename(dest)}`, quiet: opts.quiet });
  return { path: dest, url: target };
}

/** sha256 (hex) of a file, streamed. */
export const sha256File = (file: string): Promise<string> => hashFile(file, 'sha256');
