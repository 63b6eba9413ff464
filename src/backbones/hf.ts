/**
 * Hugging Face hub files: `hf:<repo>[@revision][#output]` backbones and the download/cache layer below them.
 *
 * A file is fetched from `<endpoint>/<repo>/resolve/<revision>/<file>` (endpoint: env HF_ENDPOINT, default
 * https://huggingface.co). A HEAD request (redirects not followed) reads the hub's metadata:
 * `x-repo-commit` (the commit a branch name resolves to), `x-linked-etag` / `etag` (sha256 of an LFS file;
 * the git blob id for small files) and `x-linked-size` / `content-length`. The body is downloaded with
 * `downloadFile` (progress, resume of a `.part`, size and sha256 verification; small files are checked
 * against their git blob id) into the standard Hugging Face hub cache that Python's huggingface_hub,
 * transformers and timm share, so a model they downloaded is not downloaded again:
 *
 *   <hub cache>/models--<org>--<name>/blobs/<etag>                      the content, named by its hash
 *   <hub cache>/models--<org>--<name>/snapshots/<commit>/<file>         symlink to ../../blobs/<etag> (a copy where links fail)
 *   <hub cache>/models--<org>--<name>/refs/<branch>                     the commit a branch resolved to
 *   <hub cache>/models--<org>--<name>/.no_exist/<commit>/<file>         an optional file the repo lacks
 *
 * <hub cache> is env HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub (huggingface_hub's rules; --cache-dir
 * does not move it). Files cl downloaded before it used this layout (`<cl cache>/models/hf/<repo>/<commit>/`)
 * are still found.
 *
 * Offline (`offline` option, `--offline`, or env HF_HUB_OFFLINE=1) nothing is requested: a commit hash
 * is used as is, a branch through its recorded ref, and otherwise the newest cached revision holding
 * the file. `@huggingface/hub` implements the same layout, but it has no offline mode for branch names,
 * does not verify what it downloads and does not resume, so cl keeps its own client for it.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { downloadFile, hashFile } from '../data/download.js';
import { UserError } from '../errors.js';
import { hfHubCacheDir, modelCacheDir } from '../paths.js';
import type { Backbone, BackboneOptions, BackboneSpec } from './types.js';
import { createOnnxBackbone } from './onnx.js';
import { sha256File } from './model-file.js';
import { IMAGENET_MEAN, IMAGENET_STD } from './preprocess.js';
import { withIdentity } from './wrap.js';

/** The Hugging Face hub cache folder (huggingface_hub's environment rules; in src/paths.ts, which `cl cache ls` reads too). */
export { hfHubCacheDir };

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
/** The ONNX file of a transformers.js / optimum export. */
export const HF_ONNX_FILE = 'onnx/model.onnx';

export function hfEndpoint(): string {
  return (process.env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT).replace(/\/+$/, '');
}

/** True when env HF_HUB_OFFLINE asks for offline use (1/true/yes/on). */
export function hfOfflineFromEnv(): boolean {
  return /^(1|true|yes|on)$/i.test(process.env.HF_HUB_OFFLINE ?? '');
}

export interface HfRef {
  repo: string;
  /** Branch, tag or commit hash as given (default 'main'). */
  revision: string;
}

const REPO_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;
const COMMIT_RE = /^[0-9a-f]{40}$/;

/** `owner/name[@revision]` -> repo and revision. */
export function parseHfTarget(target: string): HfRef {
  const at = target.indexOf('@');
  const repo = at < 0 ? target : target.slice(0, at);
  const revision = at < 0 ? 'main' : target.slice(at + 1);
  if (!REPO_RE.test(repo) || repo.includes('..')) {
    throw new UserError(`"${target}" is not a Hugging Face repo id`, 'write hf:<owner>/<name>[@revision][#output], e.g. hf:Xenova/vit-base-patch16-224-in21k');
  }
  if (!revision || revision.includes('..') || /[\s\\]/.test(revision)) {
    throw new UserError(`"${target}": bad revision "${revision}"`, 'give a branch, tag or commit hash after "@", e.g. @main');
  }
  return { repo, revision };
}

export interface HfFileOptions {
  /** cl's cache root: where files downloaded before the hub layout was used are still looked up. */
  cacheRoot?: string;
  /** The hub cache folder (default hfHubCacheDir()). */
  hubCache?: string;
  offline?: boolean;
  /** Default: hfEndpoint(). */
  endpoint?: string;
  /** A missing file (404) yields null instead of an error. */
  optional?: boolean;
  quiet?: boolean;
}

export interface HfFile {
  repo: string;
  /** The revision as asked. */
  revision: string;
  /** The commit it resolved to (the revision itself when the hub sent no x-repo-commit). */
  commit: string;
  file: string;
  path: string;
  url: string;
  /** sha256 reported by the hub (LFS files), when any. */
  sha256?: string;
  size: number;
  /** True when served from the cache without any request. */
  offline: boolean;
}

/** `models--<org>--<name>` in the hub cache. */
const storage = (repo: string, hub: string): string => path.join(hub, `models--${repo.split('/').join('--')}`);
const snapshotPath = (repo: string, commit: string, file: string, hub: string): string => path.join(storage(repo, hub), 'snapshots', commit, ...file.split('/'));
const refFile = (repo: string, rev: string, hub: string): string => path.join(storage(repo, hub), 'refs', ...rev.split('/'));
/** Where cl kept hub files before it used the hub layout (read only). */
const legacyPath = (repo: string, commit: string, file: string, root?: string): string =>
  path.join(modelCacheDir(root), 'hf', ...repo.split('/'), commit.replace(/[^A-Za-z0-9._-]/g, '_'), ...file.split('/'));

/** git's blob id of a file: what the hub sends as the etag of files not stored in LFS. */
async function gitBlobId(file: string): Promise<string> {
  const size = (await fsp.stat(file)).size;
  const h = createHash('sha1').update(`blob ${size}\0`);
  h.update(await fsp.readFile(file));
  return h.digest('hex');
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isFile();
  } catch {
    return false;
  }
}

interface HeadInfo {
  status: number;
  commit?: string;
  etag?: string;
  size?: number;
  errorCode?: string;
  errorMessage?: string;
}

const header = (h: http.IncomingHttpHeaders, name: string): string | undefined => {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
};

/** HEAD without following redirects: the hub puts its metadata on the first response. */
function head(url: string, timeoutMs = 30_000): Promise<HeadInfo> {
  const u = new URL(url);
  const client = u.protocol === 'https:' ? https : http;
  const token = process.env.HF_TOKEN;
  return new Promise((resolve, reject) => {
    const req = client.request(
      u,
      { method: 'HEAD', headers: { 'User-Agent': 'cl-hf-client', 'Accept-Encoding': 'identity', ...(token ? { Authorization: `Bearer ${token}` } : {}) } },
      (res) => {
        res.resume();
        const h = res.headers;
        const etag = (header(h, 'x-linked-etag') ?? header(h, 'etag'))?.replace(/^W\//, '').replace(/"/g, '');
        const sizeText = header(h, 'x-linked-size') ?? (res.statusCode === 200 ? header(h, 'content-length') : undefined);
        resolve({
          status: res.statusCode ?? 0,
          commit: header(h, 'x-repo-commit'),
          etag,
          size: sizeText && /^\d+$/.test(sizeText) ? Number(sizeText) : undefined,
          errorCode: header(h, 'x-error-code'),
          errorMessage: header(h, 'x-error-message'),
        });
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs / 1000} s`)));
    req.on('error', reject);
    req.end();
  });
}

const OFFLINE_HINT = 'check the network, or set HF_HUB_OFFLINE=1 (--offline) to use a cached copy';

/** Newest cached snapshot (by mtime of the file) of `repo` holding `file`, if any. */
async function newestCached(repo: string, file: string, hub: string): Promise<{ commit: string; path: string } | null> {
  let commits: string[];
  try {
    commits = await fsp.readdir(path.join(storage(repo, hub), 'snapshots'));
  } catch {
    return null;
  }
  let best: { commit: string; path: string; mtime: number } | null = null;
  for (const c of commits) {
    const p = snapshotPath(repo, c, file, hub);
    try {
      const st = await fsp.stat(p);
      if (st.isFile() && (!best || st.mtimeMs > best.mtime)) best = { commit: c, path: p, mtime: st.mtimeMs };
    } catch {
      // not in this snapshot
    }
  }
  return best && { commit: best.commit, path: best.path };
}

/** The commit a revision resolved to last time (refs/<revision>), if recorded. */
async function recordedRef(ref: HfRef, hub: string): Promise<string | null> {
  try {
    const c = (await fsp.readFile(refFile(ref.repo, ref.revision, hub), 'utf8')).trim();
    return /^[0-9a-f]{7,64}$/i.test(c) ? c : null;
  } catch {
    return null;
  }
}

/** A cached copy of `file` at `ref` without any request: hub cache first, then cl's old layout. */
async function cachedFile(ref: HfRef, file: string, hub: string, root?: string): Promise<{ commit: string; path: string } | 'absent' | null> {
  const commits = [...(COMMIT_RE.test(ref.revision) ? [ref.revision] : []), ...[await recordedRef(ref, hub)].filter((c): c is string => c !== null)];
  for (const commit of commits) {
    if (await isFile(snapshotPath(ref.repo, commit, file, hub))) return { commit, path: snapshotPath(ref.repo, commit, file, hub) };
    if (await isFile(path.join(storage(ref.repo, hub), '.no_exist', commit, ...file.split('/')))) return 'absent';
  }
  const legacyCommits = [...commits, ref.revision];
  for (const commit of legacyCommits) if (await isFile(legacyPath(ref.repo, commit, file, root))) return { commit, path: legacyPath(ref.repo, commit, file, root) };
  return newestCached(ref.repo, file, hub);
}

/** Puts `blob` at the snapshot path: a relative symlink as huggingface_hub makes, a copy where links are not allowed. */
async function linkSnapshot(blob: string, snapshot: string): Promise<void> {
  await fsp.mkdir(path.dirname(snapshot), { recursive: true });
  await fsp.rm(snapshot, { force: true });
  try {
    await fsp.symlink(path.relative(path.dirname(snapshot), blob), snapshot);
  } catch {
    await fsp.copyFile(blob, snapshot);
  }
}

/**
 * Local path of `file` of a hub repo at a revision: from the hub cache when there, else downloaded
 * (verified) into it. Returns null for a missing optional file.
 */
export async function resolveHfFile(ref: HfRef, file: string, opts: HfFileOptions = {}): Promise<HfFile | null> {
  const endpoint = (opts.endpoint ?? hfEndpoint()).replace(/\/+$/, '');
  const offline = opts.offline ?? hfOfflineFromEnv();
  const hub = opts.hubCache ?? hfHubCacheDir();
  const url = `${endpoint}/${ref.repo}/resolve/${encodeURIComponent(ref.revision)}/${file}`;
  if (offline) {
    const hit = await cachedFile(ref, file, hub, opts.cacheRoot);
    if (hit && hit !== 'absent') {
      return { repo: ref.repo, revision: ref.revision, commit: hit.commit, file, path: hit.path, url, size: (await fsp.stat(hit.path)).size, offline: true };
    }
    if (opts.optional) return null;
    throw new UserError(
      `${ref.repo}@${ref.revision}: ${file} is not in the Hugging Face cache (${storage(ref.repo, hub)}) and offline mode forbids downloading it`,
      'run once online (without --offline / HF_HUB_OFFLINE), or download it with huggingface-cli / transformers into the same cache (HF_HOME, HF_HUB_CACHE)',
    );
  }
  let info: HeadInfo;
  try {
    info = await head(url);
  } catch (e) {
    throw new UserError(`Hugging Face hub not reachable at ${endpoint} (${e instanceof Error ? e.message : String(e)})`, OFFLINE_HINT);
  }
  const headCommit = info.commit && /^[0-9a-f]{7,64}$/i.test(info.commit) ? info.commit.toLowerCase() : null;
  if (info.status === 404 || info.status === 401 || info.status === 403) {
    if (opts.optional && info.status === 404 && info.errorCode !== 'RepoNotFound' && info.errorCode !== 'RevisionNotFound') {
      if (headCommit) {
        // As huggingface_hub does: remember that this revision lacks the file.
        const marker = path.join(storage(ref.repo, hub), '.no_exist', headCommit, ...file.split('/'));
        try {
          await fsp.mkdir(path.dirname(marker), { recursive: true });
          await fsp.writeFile(marker, '');
        } catch {
          // a read-only cache only costs a request next time
        }
      }
      return null;
    }
    const what =
      info.errorCode === 'RepoNotFound' || info.status !== 404
        ? `repository ${ref.repo} not found (or private / gated)`
        : info.errorCode === 'RevisionNotFound'
          ? `revision "${ref.revision}" not found in ${ref.repo}`
          : `${file} not found in ${ref.repo}@${ref.revision}`;
    throw new UserError(`Hugging Face hub: ${what} (HTTP ${info.status} for ${url})`, 'check the repo id and revision on the hub; private or gated repos need env HF_TOKEN');
  }
  if (info.status >= 400 || info.status < 200) {
    throw new UserError(`Hugging Face hub: HTTP ${info.status} for ${url}${info.errorMessage ? ` (${info.errorMessage})` : ''}`, OFFLINE_HINT);
  }
  const commit = headCommit ?? ref.revision;
  const sha256 = info.etag && /^[0-9a-f]{64}$/i.test(info.etag) ? info.etag.toLowerCase() : undefined;
  const blobId = info.etag && /^[0-9a-f]{40}$/i.test(info.etag) ? info.etag.toLowerCase() : undefined;
  const etag = sha256 ?? blobId;
  const dest = snapshotPath(ref.repo, commit, file, hub);
  if (!(await isFile(dest))) {
    const legacy = legacyPath(ref.repo, commit, file, opts.cacheRoot);
    if (!etag) throw new UserError(`Hugging Face hub sent no usable etag for ${url}`, 'cl needs the content hash to store and verify the file; try again, or report the repo');
    const blob = path.join(storage(ref.repo, hub), 'blobs', etag);
    if (!(await isFile(blob))) {
      if (await isFile(legacy)) {
        // Downloaded by an older cl: move it into the shared cache once its content checks out.
        const ok = sha256 ? (await hashFile(legacy, 'sha256')) === sha256 : (await gitBlobId(legacy)) === blobId;
        if (ok) {
          await fsp.mkdir(path.dirname(blob), { recursive: true });
          await fsp.copyFile(legacy, blob);
        }
      }
      if (!(await isFile(blob))) {
        await downloadFile(url, blob, { sha256, expectedSize: info.size, label: `${ref.repo}/${file}`, quiet: opts.quiet });
        if (!sha256 && blobId && (await gitBlobId(blob)) !== blobId) {
          await fsp.rm(blob, { force: true });
          throw new UserError(`Checksum mismatch for ${url}: its git blob id is not ${blobId}; the downloaded file was deleted`, OFFLINE_HINT);
        }
      }
    }
    await linkSnapshot(blob, dest);
  }
  if (commit !== ref.revision) {
    const rf = refFile(ref.repo, ref.revision, hub);
    await fsp.mkdir(path.dirname(rf), { recursive: true });
    await fsp.writeFile(rf, commit);
  }
  return { repo: ref.repo, revision: ref.revision, commit, file, path: dest, url, ...(sha256 ? { sha256 } : {}), size: (await fsp.stat(dest)).size, offline: false };
}

/** What cl reads from a repo's config.json / preprocessor_config.json. */
export interface HfImageConfig {
  imageSize?: number;
  channels?: number;
  /** From preprocessor_config.json: null when do_normalize is false. */
  mean?: number[] | null;
  std?: number[] | null;
}

function sizeOf(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  if (Array.isArray(v) && typeof v[0] === 'number') return sizeOf(v[0]);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return sizeOf(o.height ?? o.shortest_edge);
  }
  return undefined;
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  try {
    const v: unknown = JSON.parse(await fsp.readFile(file, 'utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new UserError(`${file}: not a JSON object`, 'delete the file from the model cache and run again to re-download it');
}

/** Image size / channels from config.json (also a `vision_config`) and mean/std from preprocessor_config.json. */
export async function readHfImageConfig(configPath: string | null, preprocessorPath: string | null): Promise<HfImageConfig> {
  const out: HfImageConfig = {};
  if (configPath) {
    const c = await readJson(configPath);
    const v = (c.vision_config && typeof c.vision_config === 'object' ? c.vision_config : c) as Record<string, unknown>;
    out.imageSize = sizeOf(v.image_size);
    if (typeof v.num_channels === 'number') out.channels = v.num_channels;
  }
  if (preprocessorPath) {
    const p = await readJson(preprocessorPath);
    if (p.do_normalize === false) {
      out.mean = null;
      out.std = null;
    } else if (Array.isArray(p.image_mean) && Array.isArray(p.image_std)) {
      out.mean = p.image_mean.map(Number);
      out.std = p.image_std.map(Number);
    }
    out.imageSize ??= sizeOf(p.crop_size) ?? sizeOf(p.size);
  }
  return out;
}

const near = (a: number[], b: number[]): boolean => a.length >= 3 && b.every((v, i) => Math.abs(a[i] - v) < 1e-3);

/** Extra declarations a named backbone makes on top of an `hf:` spec. */
export interface HfDeclared {
  /** Input normalisation to use regardless of the hub's preprocessor config. */
  normalize?: 'imagenet' | 'none';
  imageSize?: number;
  /** ONNX file inside the repo (default onnx/model.onnx). */
  file?: string;
  /** Output to use when the spec names none. */
  output?: string;
}

/** Build an `hf:<repo>[@revision][#output]` backbone: the repo's ONNX export on the `onnx` backbone. */
export async function createHfBackbone(spec: BackboneSpec, opts: BackboneOptions, declared: HfDeclared = {}): Promise<Backbone> {
  const ref = parseHfTarget(spec.target);
  const fileOpts: HfFileOptions = { cacheRoot: opts.cacheRoot, offline: opts.offline || hfOfflineFromEnv(), quiet: opts.quiet };
  const onnxName = declared.file ?? HF_ONNX_FILE;
  const model = (await resolveHfFile(ref, onnxName, fileOpts)) as HfFile;
  // Small files of the same revision (pinned to the commit the model resolved to).
  const pinned: HfRef = { repo: ref.repo, revision: model.commit };
  const config = await resolveHfFile(pinned, 'config.json', { ...fileOpts, optional: true, quiet: true });
  const prep = await resolveHfFile(pinned, 'preprocessor_config.json', { ...fileOpts, optional: true, quiet: true });
  const hub = await readHfImageConfig(config?.path ?? null, prep?.path ?? null);

  let normalize = opts.normalize ?? declared.normalize;
  if (!normalize) {
    if (hub.mean === null || hub.mean === undefined) normalize = 'none';
    else if (near(hub.mean, IMAGENET_MEAN) && hub.std && near(hub.std, IMAGENET_STD)) normalize = 'imagenet';
    else {
      throw new UserError(
        `${ref.repo}: its preprocessor_config.json normalises with mean [${hub.mean.join(', ')}] / std [${(hub.std ?? []).join(', ')}], which the onnx backbone cannot apply`,
        'choose the input scaling explicitly: --input-norm none ([0, 1], as the NMC paper feeds ViT) or --input-norm imagenet',
      );
    }
  }
  const imageSize = opts.imageSize ?? declared.imageSize ?? hub.imageSize;
  const output = spec.output ?? declared.output;
  const inner = await createOnnxBackbone(
    { kind: 'onnx', target: model.path, raw: `onnx:${model.path}${output ? `#${output}` : ''}`, ...(output ? { output } : {}) },
    { ...opts, normalize, ...(imageSize ? { imageSize } : {}) },
  );
  const innerDescribe = inner.describe();
  const sha256 = model.sha256 ?? (typeof innerDescribe.sha256 === 'string' ? innerDescribe.sha256 : await sha256File(model.path));
  // "onnx:<file>@<sha>#<output>[/pool]" -> keep everything after the file name.
  const tail = inner.id.slice(inner.id.indexOf('@'));
  return withIdentity(inner, {
    id: `hf:${ref.repo}${tail}`,
    kind: 'hf',
    describe: {
      kind: 'hf',
      repo: ref.repo,
      revision: ref.revision,
      commit: model.commit,
      file: onnxName,
      url: model.url,
      sha256,
      hubConfig: { imageSize: hub.imageSize ?? null, mean: hub.mean ?? null, std: hub.std ?? null },
      fromCache: model.offline,
    },
  });
}
