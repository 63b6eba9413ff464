/**
 * `cl cache ls|rm` over a hand-made cache root and Hugging Face hub cache (child processes on the
 * built CLI): every kind of entry with its size in bytes, the hub layout (blobs counted once, links
 * not followed), `--all` keeping the shared hub cache, removal by id.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = path.join(root, 'dist', 'src', 'cli', 'main.js');

interface Entry {
  kind: string;
  id: string;
  bytes: number;
  shared?: boolean;
}

describe('cl cache ls|rm: cache root and Hugging Face hub cache', function () {
  this.timeout(120_000);
  let tmp: string;
  let cacheDir: string;
  let hub: string;
  const commit = 'a'.repeat(40);
  const legacyCommit = 'b'.repeat(40);
  const blobName = 'c'.repeat(64);
  let linkTarget: string;

  const cl = (args: string[]) => {
    const r = spawnSync(process.execPath, [entry, ...args], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', CL_CACHE_DIR: cacheDir, HF_HUB_CACHE: hub },
      timeout: 60_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const write = (file: string, bytes: number): void => {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.alloc(bytes, 1));
  };
  const list = (): Entry[] => {
    const r = cl(['cache', 'ls', '--json']);
    expect(r.code, r.stderr).to.equal(0);
    return JSON.parse(r.stdout) as Entry[];
  };

  before(function () {
    if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-cache-'));
    cacheDir = path.join(tmp, 'cl');
    hub = path.join(tmp, 'hub');
    write(path.join(cacheDir, 'datasets', 'foo.tar.gz'), 100);
    write(path.join(cacheDir, 'datasets', 'foo', 'a.bin'), 10);
    write(path.join(cacheDir, 'datasets', 'foo', 'sub', 'b.bin'), 20);
    write(path.join(cacheDir, 'models', 'm.onnx'), 50);
    // cl's own layout before the hub layout: models/hf/<org>/<name>/<commit>/
    write(path.join(cacheDir, 'models', 'hf', 'org', 'old', legacyCommit, 'onnx', 'model.onnx'), 30);
    // The hub layout: the content once in blobs/, the snapshot a link to it, the branch in refs/.
    const repo = path.join(hub, 'models--Xenova--vit-tiny');
    write(path.join(repo, 'blobs', blobName), 1000);
    fs.mkdirSync(path.join(repo, 'snapshots', commit, 'onnx'), { recursive: true });
    linkTarget = path.join('..', '..', '..', 'blobs', blobName);
    fs.symlinkSync(linkTarget, path.join(repo, 'snapshots', commit, 'onnx', 'model.onnx'));
    fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
    fs.writeFileSync(path.join(repo, 'refs', 'main'), commit);
    // Not a model repo: not cl's.
    write(path.join(hub, 'datasets--someone--data', 'blobs', 'x'), 7);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('lists datasets, models, cl’s old Hugging Face layout and the hub cache’s model repos with their sizes', () => {
    const byId = Object.fromEntries(list().map((e) => [e.id, e]));
    expect(Object.keys(byId).sort()).to.deep.equal(['datasets/foo', 'datasets/foo.tar.gz', 'hf-hub/Xenova/vit-tiny', 'models/hf/org/old/' + legacyCommit, 'models/m.onnx']);
    expect(byId['datasets/foo'].bytes).to.equal(30);
    expect(byId['datasets/foo.tar.gz'].bytes).to.equal(100);
    expect(byId['models/m.onnx'].bytes).to.equal(50);
    expect(byId[`models/hf/org/old/${legacyCommit}`].bytes).to.equal(30);
    // blob + refs/main + the link itself (its size is the length of its target), the blob not twice.
    expect(byId['hf-hub/Xenova/vit-tiny'].bytes).to.equal(1000 + 40 + Buffer.byteLength(linkTarget));
    expect(byId['hf-hub/Xenova/vit-tiny'].shared).to.equal(true);
    expect(byId['hf-hub/Xenova/vit-tiny'].kind).to.equal('models');

    const text = cl(['cache', 'ls', '--kind', 'models']);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.include(`the Hugging Face hub cache ${hub}`);
    expect(text.stdout).to.match(/hf-hub\/Xenova\/vit-tiny\s+1\.\d KiB\s.*Hugging Face hub Xenova\/vit-tiny, 1 revision \(aaaaaaaaaaaa\)/);
    expect(text.stdout).to.not.include('datasets/foo');
  });

  it('rm --all keeps the shared hub cache; rm <hf-hub id> removes that repo only', () => {
    const all = cl(['cache', 'rm', '--all', '--kind', 'models']);
    expect(all.code, all.stderr).to.equal(0);
    expect(all.stdout).to.include('removed 2 entries (80 B)');
    expect(all.stdout).to.include('kept 1 Hugging Face hub entry (shared with huggingface_hub; remove by id: hf-hub/Xenova/vit-tiny)');
    expect(list().map((e) => e.id).sort()).to.deep.equal(['datasets/foo', 'datasets/foo.tar.gz', 'hf-hub/Xenova/vit-tiny']);

    const one = cl(['cache', 'rm', 'hf-hub/Xenova/vit-tiny']);
    expect(one.code, one.stderr).to.equal(0);
    expect(fs.existsSync(path.join(hub, 'models--Xenova--vit-tiny'))).to.equal(false);
    expect(fs.existsSync(path.join(hub, 'datasets--someone--data'))).to.equal(true);
    expect(list().map((e) => e.id).sort()).to.deep.equal(['datasets/foo', 'datasets/foo.tar.gz']);

    const typo = cl(['cache', 'rm', 'hf-hub/Xenova/nope']);
    expect(typo.code).to.equal(2);
    expect(typo.stderr).to.match(/^cl: error: no cache entry "hf-hub\/Xenova\/nope"/m);
  });
});
