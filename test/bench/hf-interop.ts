/**
 * Check (not part of `npm test`): cl and Python's huggingface_hub share one hub cache. Against the
 * local test hub server (test/backbones/hf-hub-server.ts):
 *   A. Python's hf_hub_download fills a cache; cl finds the files offline (no request).
 *   B. cl downloads into a cache; huggingface_hub finds them with local_files_only=True, and
 *      scan_cache_dir reports the repo without warnings.
 *
 *   PYTHON=/path/to/python-with-huggingface_hub npx tsx test/bench/hf-interop.ts
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveHfFile } from '../../src/backbones/hf.js';
import { HubServer, tinyVitModel } from '../backbones/hf-hub-server.js';

const python = process.env.PYTHON ?? 'python3';
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Runs Python asynchronously (the hub server answers from this process's event loop). */
function py(code: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-c', code], { env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`python failed: ${err}`))));
  });
}

async function main(): Promise<void> {
  const probe = spawnSync(python, ['-c', 'import huggingface_hub; print(huggingface_hub.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log(`skipped: ${python} has no huggingface_hub (set PYTHON)`);
    return;
  }
  const repo = 'acme/tiny-vit';
  const commit = 'c0ffee0000000000000000000000000000000001';
  const model = tinyVitModel(8);
  const server = new HubServer();
  server.addRepo(repo, commit, { 'onnx/model.onnx': { body: model, lfs: true }, 'config.json': { body: '{"image_size": 8}' } });
  const endpoint = await server.start();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-hf-interop-'));
  console.log(`huggingface_hub ${probe.stdout.trim()}, local hub ${endpoint}`);
  try {
    // A: Python downloads, cl reads offline.
    const a = path.join(root, 'a');
    await py(`from huggingface_hub import hf_hub_download as d\nfor f in ('onnx/model.onnx', 'config.json'): print(d('${repo}', f))`, { HF_ENDPOINT: endpoint, HF_HUB_CACHE: a, HF_HUB_DISABLE_XET: '1' });
    server.log.length = 0;
    const fa = await resolveHfFile({ repo, revision: 'main' }, 'onnx/model.onnx', { hubCache: a, offline: true });
    const okA = fa !== null && fa.commit === commit && sha(fs.readFileSync(fa.path)) === sha(model) && server.log.length === 0;
    console.log(`A. python -> cl: ${okA ? 'OK' : 'FAILED'} (cl found ${fa?.path}, ${server.log.length} requests)`);

    // B: cl downloads, Python reads offline.
    const b = path.join(root, 'b');
    for (const f of ['onnx/model.onnx', 'config.json']) await resolveHfFile({ repo, revision: 'main' }, f, { hubCache: b, endpoint, quiet: true });
    const out = await py(
      [
        'from huggingface_hub import hf_hub_download as d, scan_cache_dir',
        `p = d('${repo}', 'onnx/model.onnx', local_files_only=True)`,
        'import hashlib; print(p); print(hashlib.sha256(open(p, "rb").read()).hexdigest())',
        `info = scan_cache_dir('${b}')`,
        'print(len(info.repos), len(info.warnings), sorted(f.file_name for r in info.repos for rev in r.revisions for f in rev.files), [sorted(rev.refs) for r in info.repos for rev in r.revisions])',
      ].join('\n'),
      { HF_HUB_CACHE: b, HF_HUB_OFFLINE: '1' },
    );
    const [p, digest, scan] = out.split('\n');
    const okB = digest === sha(model) && scan.startsWith('1 0 ') && scan.includes("'model.onnx'") && scan.includes("'main'");
    console.log(`B. cl -> python: ${okB ? 'OK' : 'FAILED'} (huggingface_hub found ${p}; scan_cache_dir: repos, warnings, files, refs = ${scan})`);
    if (!okA || !okB) process.exitCode = 1;
  } finally {
    await server.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
