/** Named backbones, `cl backbones`, and the extraction time estimate. */
import { expect } from 'chai';
import { Command } from 'commander';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backboneSpecForms, createBackbone, parseBackboneSpec } from '../../src/backbones/backbone.js';
import { NAMED_BACKBONES, findNamedBackbone } from '../../src/backbones/named.js';
import { EtaEstimator, formatDuration } from '../../src/backbones/wrap.js';
import { register } from '../../src/cli/backbones.js';
import { UserError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';
import type { ImageSplit } from '../../src/types.js';
import { HubServer, sha256, tinyVitModel } from './hf-hub-server.js';

describe('backbones/zoo: named backbones', () => {
  it('declares source, feature, pooling, dim and preprocessing for each name', () => {
    const vit = findNamedBackbone('vit-b16-in21k')!;
    expect(vit).to.deep.include({ source: 'hf:Xenova/vit-base-patch16-224-in21k#last_hidden_state', output: 'last_hidden_state', pool: 'cls', dim: 768 });
    expect(vit.preprocessing).to.deep.include({ size: [224, 224], resize: 'bilinear', scale: 1 / 255, mean: null, std: null, layout: 'NCHW' });
    expect(vit.feature).to.match(/\[CLS\].*not pooler_output/);
    const fast = findNamedBackbone('mobilenet-v1-tfjs')!;
    expect(fast).to.deep.include({ output: 'conv_pw_13_relu', pool: 'gap', dim: 1024 });
    expect(fast.preprocessing).to.deep.include({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], layout: 'NHWC' });
    expect(new Set(NAMED_BACKBONES.map((n) => n.name)).size).to.equal(NAMED_BACKBONES.length);
    for (const n of NAMED_BACKBONES) expect(parseBackboneSpec(n.name)).to.deep.equal({ kind: n.name, target: '', raw: n.name });
  });

  it('lists the spec forms; unknown names list the named backbones', () => {
    const forms = backboneSpecForms().join('\n');
    for (const k of ['pixels', 'onnx:', 'hf:', 'tfjs:']) expect(forms).to.include(k);
    expect(forms).to.not.include('vit-b16-in21k');
    let err: unknown;
    try {
      parseBackboneSpec('vit-b16');
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(UserError);
    expect((err as UserError).hint).to.include('named backbones: vit-b16-in21k');
  });

  it('`cl backbones` prints names, sources, feature sizes and the spec forms (and --json)', async () => {
    const run = async (args: string[]): Promise<string> => {
      const program = new Command().exitOverride();
      register(program);
      let out = '';
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = ((s: string | Uint8Array) => {
        out += String(s);
        return true;
      }) as typeof process.stdout.write;
      try {
        await program.parseAsync(['node', 'cl', 'backbones', ...args]);
      } finally {
        process.stdout.write = write;
      }
      return out;
    };
    const text = await run([]);
    expect(text).to.match(/vit-b16-in21k\S*\s+768-d/);
    expect(text).to.include('hf:Xenova/vit-base-patch16-224-in21k#last_hidden_state');
    expect(text).to.match(/mobilenet-v1-tfjs\S*\s+1024-d/);
    expect(text).to.include('tfjs:<path-or-URL>[#layer]');
    const json = JSON.parse(await run(['--json'])) as { named: { name: string; dim: number; preprocessing: string }[]; forms: string[] };
    expect(json.named.find((n) => n.name === 'vit-b16-in21k')).to.deep.include({ dim: 768, preprocessing: 'bilinear224-unit-nchw' });
    expect(json.forms.length).to.equal(4);
  });
});

describe('backbones/zoo: vit-b16-in21k end to end (tiny export in the hub layout, local server)', () => {
  const server = new HubServer();
  const commit = '0123456789abcdef0123456789abcdef01234567';
  const model = tinyVitModel(224);
  let root: string;
  const backup = process.env.HF_ENDPOINT;
  const hubBackup = process.env.HF_HUB_CACHE;
  before(async () => {
    server.addRepo('Xenova/vit-base-patch16-224-in21k', commit, {
      'onnx/model.onnx': { body: model, lfs: true },
      'config.json': { body: JSON.stringify({ image_size: 224, num_channels: 3, hidden_size: 768 }) },
      'preprocessor_config.json': { body: JSON.stringify({ do_normalize: true, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5], size: { height: 224, width: 224 } }) },
    });
    process.env.HF_ENDPOINT = await server.start();
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'cl-zoo-'));
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

  it('downloads the export, feeds [0,1] pixels resized 32 -> 224 and returns the [CLS] token', async () => {
    const rng = new Rng(11);
    const n = 5;
    const split: ImageSplit = { images: Uint8Array.from({ length: n * 32 * 32 * 3 }, () => rng.int(256)), labels: new Int32Array(n), count: n, height: 32, width: 32, channels: 3 };
    const bb = await createBackbone('vit-b16-in21k', { cacheRoot: root, threads: 1, batchSize: 2 });
    try {
      const progress: (number | undefined)[][] = [];
      const x = await bb.extract(split, { onProgress: (done, total, rate, eta) => progress.push([done, total, eta]) });
      // The model's token 0 is the first three R values of row 0 of the 224x224 input. Half-pixel
      // bilinear 32 -> 224 maps output columns 0..3 onto source x = max(0, (o + 0.5) / 7 - 0.5) < 0.5 with
      // weights 0, 0, 0 for o = 0, 1, 2: all three equal the source pixel R[0, 0], scaled to [0, 1] only.
      expect(x.length).to.equal(n * 3);
      for (let i = 0; i < n; i++) {
        const r00 = split.images[i * 3072] / 255;
        for (let d = 0; d < 3; d++) expect(x[i * 3 + d]).to.be.closeTo(r00, 1e-6);
      }
      expect(bb.id).to.equal(`vit-b16-in21k@${sha256(model).slice(0, 12)}`);
      expect(bb.kind).to.equal('named');
      expect(bb.preprocessingId).to.equal('bilinear224-unit-nchw');
      const d = bb.describe();
      expect(d).to.deep.include({ name: 'vit-b16-in21k', source: 'hf:Xenova/vit-base-patch16-224-in21k#last_hidden_state', pool: 'cls', sha256: sha256(model) });
      expect((d.engine as Record<string, unknown>).commit).to.equal(commit);
      // Progress per batch (2, 4, 5); the estimate appears from the second report on.
      expect(progress.map((p) => p[0])).to.deep.equal([2, 4, 5]);
      expect(progress[0][2]).to.equal(undefined);
      expect(progress[1][2]).to.be.a('number').and.at.least(0);
      expect(progress[2][2]).to.equal(0);
    } finally {
      await bb.dispose();
    }
    // Offline afterwards: the cached revision, no request.
    server.log.length = 0;
    const off = await createBackbone('vit-b16-in21k', { cacheRoot: root, threads: 1, offline: true });
    expect(off.id).to.equal(`vit-b16-in21k@${sha256(model).slice(0, 12)}`);
    await off.dispose();
    expect(server.log).to.have.length(0);
  });
});

describe('backbones/zoo: extraction time estimate', () => {
  it('ignores the warm-up of the first batch', () => {
    let t = 0;
    const eta = new EtaEstimator(() => t);
    t = 5000; // first batch of 100 images: 5 s, mostly warm-up
    expect(eta.update(100, 1000)).to.equal(undefined);
    t = 6000; // then 100 images per second
    expect(eta.update(200, 1000)).to.be.closeTo(8, 1e-9);
    t = 8000;
    expect(eta.update(400, 1000)).to.be.closeTo(6, 1e-9);
    expect(formatDuration(45)).to.equal('45 s');
    expect(formatDuration(760)).to.equal('12 min 40 s');
    expect(formatDuration(3 * 3600 + 5 * 60 + 10)).to.equal('3 h 05 min');
  });
});
