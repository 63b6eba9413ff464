/** Hugging Face hub downloads against a local server with the hub's layout and headers. */
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../src/errors.js';
import { hfHubCacheDir, parseHfTarget, resolveHfFile } from '../../src/backbones/hf.js';
import { createBackbone } from '../../src/backbones/backbone.js';
import { Rng } from '../../src/rng.js';
import type { ImageSplit } from '../../src/types.js';
import { HubServer, gitBlobId, sha256, tinyVitModel } from './hf-hub-server.js';

const COMMIT = 'a'.repeat(8) + '0123456789abcdef0123456789abcdef';
const REPO = 'acme/tiny-vit';

async function rejection(p: Promise<unknown>): Promise<UserError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(UserError);
    return e as UserError;
  }
  throw new Error('expected a rejection');
}

const exists = (p: string): Promise<boolean> =>
  fsp.stat(p).then(
    () => true,
    () => false,
  );

describe('backbones/hf: hub downloads (local hub server)', () => {
  const server = new HubServer();
  const model = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 251));
  let root: string;
  let endpoint: string;
  const envBackup = { endpoint: process.env.HF_ENDPOINT, offline: process.env.HF_HUB_OFFLINE, hub: process.env.HF_HUB_CACHE };
  /** The Hugging Face hub cache layout under the test's HF_HUB_CACHE. */
  const repoDir = (): string => path.join(root, 'hub', 'models--acme--tiny-vit');
  const modelPath = (commit = COMMIT): string => path.join(repoDir(), 'snapshots', commit, 'onnx', 'model.onnx');
  const blobPath = (): string => path.join(repoDir(), 'blobs', sha256(model));

  before(async () => {
    server.addRepo(REPO, COMMIT, {
      'onnx/model.onnx': { body: model, lfs: true },
      'config.json': { body: JSON.stringify({ image_size: 8 }) },
    });
    endpoint = await server.start();
    delete process.env.HF_HUB_OFFLINE;
  });
  after(async () => {
    await server.stop();
    if (envBackup.endpoint === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = envBackup.endpoint;
    if (envBackup.offline === undefined) delete process.env.HF_HUB_OFFLINE;
    else process.env.HF_HUB_OFFLINE = envBackup.offline;
    if (envBackup.hub === undefined) delete process.env.HF_HUB_CACHE;
    else process.env.HF_HUB_CACHE = envBackup.hub;
  });
  beforeEach(async () => {
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'cl-hf-'));
    process.env.HF_HUB_CACHE = path.join(root, 'hub');
    server.log.length = 0;
    server.cuts = 0;
    server.corrupt = false;
    server.corruptSmall = false;
  });
  afterEach(async () => {
    await fsp.rm(root, { recursive: true, force: true });
  });

  it('parses repo ids and revisions', () => {
    expect(parseHfTarget('Xenova/vit-base-patch16-224-in21k')).to.deep.equal({ repo: 'Xenova/vit-base-patch16-224-in21k', revision: 'main' });
    expect(parseHfTarget('a/b@v1.0')).to.deep.equal({ repo: 'a/b', revision: 'v1.0' });
    expect(() => parseHfTarget('a/../b')).to.throw(UserError);
    expect(() => parseHfTarget('a/b@')).to.throw(UserError);
  });

  it('honours huggingface_hub\'s cache variables: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME, XDG_CACHE_HOME', () => {
    const keys = ['HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HOME', 'XDG_CACHE_HOME'] as const;
    const saved = keys.map((k) => process.env[k]);
    try {
      for (const k of keys) delete process.env[k];
      expect(hfHubCacheDir()).to.equal(path.join(os.homedir(), '.cache', 'huggingface', 'hub'));
      process.env.XDG_CACHE_HOME = '/x';
      expect(hfHubCacheDir()).to.equal(path.join('/x', 'huggingface', 'hub'));
      process.env.HF_HOME = '/h';
      expect(hfHubCacheDir()).to.equal(path.join('/h', 'hub'));
      process.env.HUGGINGFACE_HUB_CACHE = '/old';
      expect(hfHubCacheDir()).to.equal('/old');
      process.env.HF_HUB_CACHE = '/new';
      expect(hfHubCacheDir()).to.equal('/new');
    } finally {
      keys.forEach((k, i) => {
        if (saved[i] === undefined) delete process.env[k];
        else process.env[k] = saved[i];
      });
    }
  });

  it('downloads an LFS file into the hub layout: blob named by its sha256, snapshot symlink, branch ref', async () => {
    const f = await resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/model.onnx', { cacheRoot: root, endpoint, quiet: true });
    expect(f).to.deep.include({ commit: COMMIT, path: modelPath(), sha256: sha256(model), size: model.length, offline: false });
    expect((await fsp.readFile(modelPath())).equals(model)).to.equal(true);
    expect((await fsp.lstat(modelPath())).isSymbolicLink()).to.equal(true);
    expect(await fsp.readlink(modelPath())).to.equal(path.join('..', '..', '..', 'blobs', sha256(model)));
    expect((await fsp.readFile(blobPath())).equals(model)).to.equal(true);
    expect(await fsp.readFile(path.join(repoDir(), 'refs', 'main'), 'utf8')).to.equal(COMMIT);
    expect(server.log.map((r) => r.method)).to.deep.equal(['HEAD', 'GET', 'GET']); // HEAD, resolve (302), CDN
    // A second resolve only asks the hub which commit main is; nothing is downloaded again.
    server.log.length = 0;
    await resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/model.onnx', { cacheRoot: root, endpoint, quiet: true });
    expect(server.log.map((r) => r.method)).to.deep.equal(['HEAD']);
    // Small (non-LFS) files: the etag is a git blob id, not a sha256; the blob is named and checked by it.
    const c = await resolveHfFile({ repo: REPO, revision: COMMIT }, 'config.json', { cacheRoot: root, endpoint, quiet: true });
    expect(c?.sha256).to.equal(undefined);
    expect(JSON.parse(await fsp.readFile(c!.path, 'utf8'))).to.deep.equal({ image_size: 8 });
    expect(await exists(path.join(repoDir(), 'blobs', gitBlobId(Buffer.from(JSON.stringify({ image_size: 8 })))))).to.equal(true);
    // A missing optional file is remembered as huggingface_hub does (.no_exist), and found absent offline.
    expect(await resolveHfFile({ repo: REPO, revision: 'main' }, 'preprocessor_config.json', { cacheRoot: root, endpoint, quiet: true, optional: true })).to.equal(null);
    expect(await exists(path.join(repoDir(), '.no_exist', COMMIT, 'preprocessor_config.json'))).to.equal(true);
    expect(await resolveHfFile({ repo: REPO, revision: 'main' }, 'preprocessor_config.json', { cacheRoot: root, endpoint, offline: true, optional: true })).to.equal(null);
  });

  it('uses a model that Python tools already put in the hub cache, without downloading it', async () => {
    // What huggingface_hub leaves after hf_hub_download(REPO, 'onnx/model.onnx'): blob, snapshot link, refs/main.
    await fsp.mkdir(path.join(repoDir(), 'blobs'), { recursive: true });
    await fsp.writeFile(blobPath(), model);
    await fsp.mkdir(path.dirname(modelPath()), { recursive: true });
    await fsp.symlink(path.join('..', '..', '..', 'blobs', sha256(model)), modelPath());
    await fsp.mkdir(path.join(repoDir(), 'refs'), { recursive: true });
    await fsp.writeFile(path.join(repoDir(), 'refs', 'main'), COMMIT);
    const online = await resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/model.onnx', { cacheRoot: root, endpoint, quiet: true });
    expect(online?.path).to.equal(modelPath());
    expect(server.log.map((r) => r.method)).to.deep.equal(['HEAD']);
    server.log.length = 0;
    const offline = await resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/model.onnx', { cacheRoot: root, endpoint: 'http://127.0.0.1:9', offline: true });
    expect(offline).to.deep.include({ commit: COMMIT, path: modelPath(), offline: true });
    expect(server.log).to.have.length(0);
  });

  it('files cl downloaded before it used the hub layout are reused (offline as is; online moved into the hub cache after a hash check)', async () => {
    const legacy = path.join(root, 'models', 'hf', 'acme', 'tiny-vit', COMMIT, 'onnx', 'model.onnx');
    await fsp.mkdir(path.dirname(legacy), { recursive: true });
    await fsp.writeFile(legacy, model);
    const off = await resolveHfFile({ repo: REPO, revision: COMMIT }, 'onnx/model.onnx', { cacheRoot: root, endpoint: 'http://127.0.0.1:9', offline: true });
    expect(off?.path).to.equal(legacy);
    const on = await resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/model.onnx', { cacheRoot: root, endpoint, quiet: true });
    expect(on?.path).to.equal(modelPath());
    expect(server.log.filter((r) => r.url.startsWith('/cdn/'))).to.have.length(0);
    expect((await fsp.readFile(blobPath())).equals(model)).to.equal(true);
  });

  it('a small file whose content does not match its git blob id is refused and not cached', async () => {
    server.corruptSmall = true;
    const err = await rejection(resolveHfFile({ repo: REPO, revision: 'main' }, 'config.json', { cacheRoot: root, endpoint, quiet: true }));
    expect(err.message).to.match(/Checksum mismatch .*git blob id/);
    expect(await exists(path.join(repoDir(), 'snapshots', COMMIT, 'config.json'))).to.equal(false);
    expect(await fsp.readdir(path.join(repoDir(), 'blobs'))).to.deep.equal([]);
  });

  it('resumes after a cut connection (within one call, and across calls) with a Range request', async () => {
    server.cutAfter = 12_000;
    server.cuts = 1;
    const f = await resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/model.onnx', { cacheRoot: root, endpoint, quiet: true });
    expect((await fsp.readFile(f!.path)).equals(model)).to.equal(true);
    expect(server.log.filter((r) => r.url.startsWith('/cdn/')).map((r) => r.range)).to.deep.equal([undefined, 'bytes=12000-']);

    // Both attempts cut: the call fails, the .part stays; the next call resumes from it.
    await fsp.rm(root, { recursive: true, force: true });
    server.log.length = 0;
    server.cuts = 2;
    const err = await rejection(resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/model.onnx', { cacheRoot: root, endpoint, quiet: true }));
    expect(err.message).to.match(/interrupted/);
    expect((await fsp.stat(`${blobPath()}.part`)).size).to.equal(24_000);
    expect(await exists(modelPath())).to.equal(false);
    const g = await resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/model.onnx', { cacheRoot: root, endpoint, quiet: true });
    expect((await fsp.readFile(g!.path)).equals(model)).to.equal(true);
    expect(server.log.filter((r) => r.url.startsWith('/cdn/')).map((r) => r.range)).to.deep.equal([undefined, 'bytes=12000-', 'bytes=24000-']);
  });

  it('rejects a body whose sha256 differs from the hub etag and leaves no cache entry', async () => {
    server.corrupt = true;
    const err = await rejection(resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/model.onnx', { cacheRoot: root, endpoint, quiet: true }));
    expect(err.message).to.match(/Checksum mismatch/).and.include(sha256(model));
    expect(await exists(modelPath())).to.equal(false);
    expect(await exists(blobPath())).to.equal(false);
    expect(await exists(`${blobPath()}.part`)).to.equal(false);
    expect(await exists(path.join(repoDir(), 'refs', 'main'))).to.equal(false);
  });

  it('gives clear errors for a missing repo, revision or file (404)', async () => {
    const opts = { cacheRoot: root, endpoint, quiet: true };
    expect((await rejection(resolveHfFile({ repo: 'acme/nope', revision: 'main' }, 'onnx/model.onnx', opts))).message).to.match(/repository acme\/nope not found.*HTTP 404/);
    expect((await rejection(resolveHfFile({ repo: REPO, revision: 'v9' }, 'onnx/model.onnx', opts))).message).to.match(/revision "v9" not found/);
    expect((await rejection(resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/other.onnx', opts))).message).to.match(/onnx\/other\.onnx not found in acme\/tiny-vit@main/);
    expect(await resolveHfFile({ repo: REPO, revision: 'main' }, 'preprocessor_config.json', { ...opts, optional: true })).to.equal(null);
    expect(await exists(path.join(root, 'hub', 'models--acme--nope'))).to.equal(false);
  });

  it('works offline from the cache (option or HF_HUB_OFFLINE=1), with a clear error when nothing is cached', async () => {
    const closed = 'http://127.0.0.1:9'; // nothing listens: any request would fail
    const none = await rejection(resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/model.onnx', { cacheRoot: root, endpoint: closed, offline: true }));
    expect(none.message).to.match(/not in the Hugging Face cache.*offline/);
    await resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/model.onnx', { cacheRoot: root, endpoint, quiet: true });
    server.log.length = 0;
    const a = await resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/model.onnx', { cacheRoot: root, endpoint: closed, offline: true });
    expect(a).to.deep.include({ commit: COMMIT, path: modelPath(), offline: true });
    process.env.HF_HUB_OFFLINE = '1';
    try {
      // A branch never seen: the newest cached revision is used.
      const b = await resolveHfFile({ repo: REPO, revision: 'dev' }, 'onnx/model.onnx', { cacheRoot: root, endpoint: closed });
      expect(b?.commit).to.equal(COMMIT);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
    expect(server.log).to.have.length(0);
    // Online, the hub being unreachable is a clear error too.
    expect((await rejection(resolveHfFile({ repo: REPO, revision: 'main' }, 'onnx/model.onnx', { cacheRoot: root, endpoint: closed }))).message).to.match(/not reachable/);
  });
});

describe('backbones/hf: hf: backbones on a tiny ONNX export served by the local hub', () => {
  const server = new HubServer();
  let root: string;
  const backup = process.env.HF_ENDPOINT;
  const hubBackup = process.env.HF_HUB_CACHE;
  const size = 8;
  before(async () => {
    server.addRepo('acme/vit-tiny', COMMIT, {
      'onnx/model.onnx': { body: tinyVitModel(size), lfs: true },
      'config.json': { body: JSON.stringify({ image_size: size, num_channels: 3 }) },
      'preprocessor_config.json': { body: JSON.stringify({ do_normalize: true, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] }) },
    });
    process.env.HF_ENDPOINT = await server.start();
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'cl-hf-bb-'));
    process.env.HF_HUB_CACHE = path.join(root, 'hub');
  });
  after(async () => {
    await server.stop();
    await fsp.rm(root, { recursive: true, force: true });
    if (backup === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = backup;
    if (hubBackup === undefined) delete process.env.HF_HUB_CACHE;
    else process.env.HF_HUB_CACHE = hubBackup;
  });

  it('needs an explicit input scaling when the hub asks for a mean/std the onnx engine cannot apply', async () => {
    const err = await rejection(createBackbone('hf:acme/vit-tiny', { cacheRoot: root, threads: 1 }));
    expect(err.message).to.match(/mean \[0\.5, 0\.5, 0\.5\]/);
    expect(err.hint).to.match(/--input-norm none/);
  });

  it('runs the export, [CLS]-pools last_hidden_state and records repo, commit and sha256', async () => {
    const rng = new Rng(5);
    const split: ImageSplit = { images: Uint8Array.from({ length: 2 * size * size * 3 }, () => rng.int(256)), labels: new Int32Array(2), count: 2, height: size, width: size, channels: 3 };
    const bb = await createBackbone('hf:acme/vit-tiny@main#last_hidden_state', { cacheRoot: root, threads: 1, normalize: 'none' });
    try {
      const x = await bb.extract(split);
      // Token 0 of Reshape(NCHW pixels, [0, -1, 3]) = R[0,0], R[0,1], R[0,2]; the input is not resized (8 -> 8).
      const px = (i: number, col: number): number => split.images[i * size * size * 3 + col * 3] / 255;
      const expected = [px(0, 0), px(0, 1), px(0, 2), px(1, 0), px(1, 1), px(1, 2)];
      expect(Array.from(x)).to.have.length(6);
      Array.from(x).forEach((v, i) => expect(v).to.be.closeTo(expected[i], 1e-6));
      expect(bb.kind).to.equal('hf');
      expect(bb.id).to.match(/^hf:acme\/vit-tiny@[0-9a-f]{12}#last_hidden_state\/cls$/);
      expect(bb.preprocessingId).to.equal('bilinear8-unit-nchw');
      expect(bb.describe()).to.deep.include({ repo: 'acme/vit-tiny', revision: 'main', commit: COMMIT, sha256: sha256(tinyVitModel(size)), dim: 3 });
    } finally {
      await bb.dispose();
    }
  });
});
