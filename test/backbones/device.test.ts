import { expect } from 'chai';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBackbone, type Backbone } from '../../src/backbones/backbone.js';
import { featureCacheKey } from '../../src/backbones/feature-cache.js';
import { cudaProviderPath, nvidiaGpuVisible } from '../../src/backbones/onnx.js';
import { UserError } from '../../src/errors.js';
import type { ImageDataset } from '../../src/types.js';
import { identityModel } from './tiny-onnx.js';

/** What `--device` can get on this machine. */
const cudaUsable = (): boolean => existsSync(cudaProviderPath()) && nvidiaGpuVisible();

describe('backbones: --device (docs/gpu.md)', () => {
  let dir: string;
  let model: string;
  before(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cl-device-'));
    model = path.join(dir, 'id.onnx');
    await fsp.writeFile(model, identityModel(['N', 3, 4, 4]));
  });
  after(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('cpu: the ONNX backbone runs on the CPU and says so in describe()', async () => {
    const b = await createBackbone(`onnx:${model}`, { device: 'cpu', threads: 1 });
    try {
      expect(b.device).to.equal('cpu');
      expect(b.describe().device).to.equal('cpu');
    } finally {
      await b.dispose();
    }
  });

  it('auto: CUDA only where its build is installed and a GPU is visible, else the CPU', async () => {
    const b = await createBackbone(`onnx:${model}`, { threads: 1 });
    try {
      expect(b.device).to.equal(cudaUsable() ? 'cuda' : 'cpu');
    } finally {
      await b.dispose();
    }
  });

  it('cuda without the CUDA build or a GPU is one UserError naming the cause and the fix', async function () {
    if (cudaUsable()) this.skip(); // a GPU machine: covered by the benchmarks there
    let err: unknown = null;
    try {
      await createBackbone(`onnx:${model}`, { device: 'cuda', threads: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(UserError);
    const msg = (err as UserError).message;
    expect(msg).to.match(/^--device cuda: /);
    expect(msg).to.match(existsSync(cudaProviderPath()) ? /no NVIDIA GPU is visible/ : /no CUDA execution provider here/);
    expect((err as UserError).hint).to.match(/docs\/gpu\.md/);
  });

  it('cuda with a backbone that does not run on onnxruntime is a UserError', async () => {
    let err: unknown = null;
    try {
      await createBackbone('pixels', { device: 'cuda' });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(UserError);
    expect((err as UserError).message).to.match(/--device cuda applies to ONNX backbones/);
  });

  it('the feature cache key changes with a GPU device, not with the CPU (old CPU entries stay valid)', () => {
    const ds = { name: 'toy', train: { images: new Uint8Array(12), labels: new Int32Array(1), count: 1, height: 2, width: 2, channels: 3 } } as unknown as ImageDataset;
    const fake = (device?: string): Backbone =>
      ({ id: 'm@1', kind: 'onnx', preprocessing: null, preprocessingId: 'pp', ...(device ? { device } : {}) }) as unknown as Backbone;
    const none = featureCacheKey(ds, 'train', fake());
    expect(featureCacheKey(ds, 'train', fake('cpu'))).to.deep.equal(none);
    expect(featureCacheKey(ds, 'train', fake('cuda')).key).to.not.equal(none.key);
  });
});
