/** The `vit-b16-in21k-int8` named backbone: the hub's quantised export file, its own identity, no published baseline. */
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBackbone } from '../../src/backbones/backbone.js';
import { findNamedBackbone } from '../../src/backbones/named.js';
import { backboneMatches } from '../../src/report/baselines.js';
import { Rng } from '../../src/rng.js';
import type { ImageSplit } from '../../src/types.js';
import { HubServer, sha256, tinyVitModel } from './hf-hub-server.js';
import { reshapeModel } from './tiny-onnx.js';

describe('backbones/zoo: vit-b16-in21k-int8 (tiny exports in the hub layout, local server)', () => {
  const server = new HubServer();
  const commit = 'fedcba9876543210fedcba9876543210fedcba98';
  const float = tinyVitModel(224);
  // A different tiny model under the quantised file name: tokens of 6 values, so the two are told apart.
  const quantized = reshapeModel('pixel_values', ['batch_size', 3, 224, 224], 'last_hidden_state', [0, -1, 6], ['batch_size', (224 * 224) / 2, 6]);
  let root: string;
  const backup = process.env.HF_ENDPOINT;
  before(async () => {
    server.addRepo('Xenova/vit-base-patch16-224-in21k', commit, {
      'onnx/model.onnx': { body: float, lfs: true },
      'onnx/model_quantized.onnx': { body: quantized, lfs: true },
      'config.json': { body: JSON.stringify({ image_size: 224, num_channels: 3, hidden_size: 768 }) },
    });
    process.env.HF_ENDPOINT = await server.start();
    root = await fsp.mkdtemp(path.join(os.tmpdir(), 'cl-zoo-int8-'));
  });
  after(async () => {
    await server.stop();
    await fsp.rm(root, { recursive: true, force: true });
    if (backup === undefined) delete process.env.HF_ENDPOINT;
    else process.env.HF_ENDPOINT = backup;
  });

  it('runs onnx/model_quantized.onnx with vit-b16-in21k\'s pipeline under its own name', async () => {
    const n = 3;
    const rng = new Rng(5);
    const split: ImageSplit = { images: Uint8Array.from({ length: n * 3072 }, () => rng.int(256)), labels: new Int32Array(n), count: n, height: 32, width: 32, channels: 3 };
    const bb = await createBackbone('vit-b16-in21k-int8', { cacheRoot: root, threads: 1, batchSize: 2 });
    try {
      const x = await bb.extract(split);
      expect(x.length).to.equal(n * 6); // the quantised file's [CLS] width, not the float one's 3
      expect(bb.id).to.equal(`vit-b16-in21k-int8@${sha256(quantized).slice(0, 12)}`);
      expect(bb.preprocessingId).to.equal('bilinear224-unit-nchw'); // vit-b16-in21k's pipeline
      const d = bb.describe();
      expect(d).to.deep.include({ name: 'vit-b16-in21k-int8', sha256: sha256(quantized) });
      expect((d.engine as Record<string, unknown>).file).to.equal('onnx/model_quantized.onnx');
      expect(server.log.some((l) => l.url.includes('onnx/model.onnx'))).to.equal(false);
    } finally {
      await bb.dispose();
    }
  });

  it('is labelled as not the paper\'s features, and published vit-b16-in21k baselines do not match it', () => {
    const n = findNamedBackbone('vit-b16-in21k-int8')!;
    expect(n.title).to.match(/NOT the paper's features/);
    const entry = { backbone: 'vit-b16-in21k', backboneAliases: ['Xenova/vit-base-patch16-224-in21k'] };
    expect(backboneMatches(entry, 'vit-b16-in21k@0123456789ab')).to.equal(true);
    expect(backboneMatches(entry, 'vit-b16-in21k-int8@0123456789ab')).to.equal(false);
  });
});
