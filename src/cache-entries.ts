/**
 * Everything `cl` keeps in its caches (`cl cache ls|rm`): in its cache root, feature sets (src/backbones/
 * feature-cache.ts), datasets (downloaded archives and their extracted folders) and models
 * (downloaded model files; Hugging Face files of cl before it used the hub layout, per repo and
 * commit); and the model repos of the Hugging Face hub cache, where `hf:` backbones keep their files
 * (src/backbones/hf.ts), each with its size. The hub cache is shared with Python's huggingface_hub,
 * transformers and timm: its entries are listed and removed by id, never by `--all`.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { listFeatureCache, removeFeatureCache } from './backbones/feature-cache.js';
import { UserError } from './errors.js';
import { datasetCacheDir, hfHubCacheDir, modelCacheDir } from './paths.js';

export type CacheKind = 'features' | 'datasets' | 'models';
export const CACHE_KINDS: CacheKind[] = ['features', 'datasets', 'models'];

export interface CacheEntry {
  kind: CacheKind;
  /** What `cl cache rm` takes: the feature-set id, or `datasets/<name>`, `models/<path>`, `hf-hub/<org>/<name>`. */
  id: string;
  /** One line: dataset/split and shape, or what the file or folder is. */
  what: string;
  bytes: number;
  /** Last modification (ISO). */
  modifiedAt: string;
  path: string;
  /** In the Hugging Face hub cache, shared with other programs (not removed by `cl cache rm --all`). */
  shared?: boolean;
}

/** Id prefix of the Hugging Face hub cache's model repos. */
export const HUB_PREFIX = 'hf-hub/';

export interface CacheLocations {
  /** The Hugging Face hub cache (default hfHubCacheDir()). */
  hubCache?: string;
}

/** Bytes of a file, or of every file under a folder (symbolic links not followed). */
export async function pathBytes(p: string): Promise<number> {
  const st = await fsp.lstat(p).catch(() => null);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of await fsp.readdir(p)) total += await pathBytes(path.join(p, name));
  return total;
}

async function entriesIn(dir: string, kind: CacheKind, prefix: string, describe: (name: string, isDir: boolean) => string): Promise<CacheEntry[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const out: CacheEntry[] = [];
  for (const name of names.sort()) {
    const p = path.join(dir, name);
    const st = await fsp.lstat(p).catch(() => null);
    if (!st) continue;
    // Leftovers of an interrupted download or extraction are listed too: they take space.
    const partial = name.startsWith('.') || name.endsWith('.part');
    out.push({ kind, id: `${prefix}${name}`, what: partial ? 'unfinished download or extraction (safe to remove when no cl runs)' : describe(name, st.isDirectory()), bytes: await pathBytes(p), modifiedAt: st.mtime.toISOString(), path: p });
  }
  return out;
}

/** Hugging Face snapshots: models/hf/<org>/<repo>/<commit> (one entry per commit folder). */
async function hfEntries(root: string): Promise<CacheEntry[]> {
  const hf = path.join(modelCacheDir(root), 'hf');
  const out: CacheEntry[] = [];
  const walk = async (dir: string, rel: string[]): Promise<void> => {
    for (const name of (await fsp.readdir(dir).catch(() => [] as string[])).sort()) {
      const p = path.join(dir, name);
      const st = await fsp.lstat(p).catch(() => null);
      if (!st?.isDirectory()) continue;
      const parts = [...rel, name];
      // A commit folder holds the files; refs/ and the repo levels above are walked through.
      const files = await fsp.readdir(p).catch(() => [] as string[]);
      const isCommit = parts.length >= 3 && /^[0-9a-f]{7,64}$/i.test(name);
      if (isCommit) out.push({ kind: 'models', id: `models/hf/${parts.join('/')}`, what: `Hugging Face ${parts.slice(0, -1).join('/')} @ ${name.slice(0, 12)} (${files.length} files)`, bytes: await pathBytes(p), modifiedAt: st.mtime.toISOString(), path: p });
      else if (name !== 'refs') await walk(p, parts);
    }
  };
  await walk(hf, []);
  return out;
}

/**
 * The model repos of the Hugging Face hub cache: `models--<org>--<name>/` with `blobs/` (the content),
 * `snapshots/<commit>/` (links into blobs) and `refs/`. One entry per repo; its size counts the blobs
 * once (links are not followed), the revisions are its snapshot folders.
 */
async function hubEntries(hub: string): Promise<CacheEntry[]> {
  const out: CacheEntry[] = [];
  for (const name of (await fsp.readdir(hub).catch(() => [] as string[])).sort()) {
    if (!name.startsWith('models--')) continue;
    const p = path.join(hub, name);
    const st = await fsp.lstat(p).catch(() => null);
    if (!st?.isDirectory()) continue;
    const repo = name.slice('models--'.length).split('--').join('/');
    const revisions = (await fsp.readdir(path.join(p, 'snapshots')).catch(() => [] as string[])).sort();
    const revs = revisions.length === 0 ? 'no revision' : `${revisions.length} revision${revisions.length === 1 ? '' : 's'} (${revisions.map((r) => r.slice(0, 12)).join(', ')})`;
    out.push({ kind: 'models', id: `${HUB_PREFIX}${repo}`, what: `Hugging Face hub ${repo}, ${revs}; shared with huggingface_hub`, bytes: await pathBytes(p), modifiedAt: st.mtime.toISOString(), path: p, shared: true });
  }
  return out;
}

/** Every cache entry under `root` and in the hub cache, features first, then datasets, then models. */
export async function listCache(root: string, kinds: CacheKind[] = CACHE_KINDS, where: CacheLocations = {}): Promise<CacheEntry[]> {
  const out: CacheEntry[] = [];
  if (kinds.includes('features')) {
    for (const e of await listFeatureCache(root)) {
      out.push({ kind: 'features', id: e.id, what: `${e.dataset}/${e.split} ${e.count} × ${e.dim}, ${e.backbone}`, bytes: e.bytes, modifiedAt: e.createdAt, path: e.path });
    }
  }
  if (kinds.includes('datasets')) out.push(...(await entriesIn(datasetCacheDir(root), 'datasets', 'datasets/', (name, dir) => (dir ? `dataset folder ${name}` : `dataset file ${name}`))));
  if (kinds.includes('models')) {
    const plain = await entriesIn(modelCacheDir(root), 'models', 'models/', (name, dir) => (dir ? `model folder ${name}` : `model file ${name}`));
    out.push(...plain.filter((e) => e.id !== 'models/hf'), ...(await hfEntries(root)), ...(await hubEntries(where.hubCache ?? hfHubCacheDir())));
  }
  return out;
}

/** Remove entries by id (a feature-set id or prefix, `datasets/<name>`, `models/<path>`, `hf-hub/<repo>`); returns what was removed. */
export async function removeCacheEntries(root: string, ids: string[], where: CacheLocations = {}): Promise<CacheEntry[]> {
  const all = await listCache(root, CACHE_KINDS, where);
  // Resolve every id first, so that a typo removes nothing.
  const chosen = ids.map((id) => {
    const exact = all.filter((e) => e.id === id);
    if (exact.length === 1) return exact[0];
    const matches = id ? all.filter((e) => e.kind === 'features' && e.id.startsWith(id)) : [];
    if (matches.length === 1) return matches[0];
    if (matches.length === 0) throw new UserError(`no cache entry "${id}" in ${root}`, 'list the entries with `cl cache ls`');
    throw new UserError(`"${id}" matches ${matches.length} cache entries: ${matches.map((e) => e.id).join(', ')}`, 'give a longer prefix or the full id');
  });
  const removed: CacheEntry[] = [];
  for (const e of [...new Set(chosen)]) {
    if (e.kind === 'features') await removeFeatureCache(root, e.id);
    else await fsp.rm(e.path, { recursive: true, force: true });
    removed.push(e);
  }
  return removed;
}
