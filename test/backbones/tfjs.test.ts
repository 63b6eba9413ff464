/** The `tfjs:` backbone: layers and graph models from folders and URLs, layer choice, pooling (wasm backend). */
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createBackbone } from '../../src/backbones/backbone.js';
import { fileSystemHandler } from '../../src/backbones/tfjs.js';
import { UserError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';
import { initBackend, tf } from '../../src/tf.js';
import type { ImageSplit } from '../../src/types.js';
import { cifar100TestSample, sharedDir } from './cifar-sample.js';

async function rejection(p: Promise<unknown>): Promise<UserError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(UserError);
    return e as UserError;
  }
  throw new Error('expected a rejection');
}

function images(count: number, size: number, seed = 7): ImageSplit {
  const rng = new Rng(seed);
  return { images: Uint8Array.from({ length: count * size * size * 3 }, () => rng.int(256)), labels: new Int32Array(count), count, height: size, width: size, channels: 3 };
}

/** Per-image channel means of pixel / 255 (an independent expectation of global average pooling). */
function channelMeans(s: ImageSplit): number[][] {
  const per = s.height * s.width;
  return Array.from({ length: s.count }, (_, i) =>
    [0, 1, 2].map((c) => {
      let sum = 0;
      for (let p = 0; p < per; p++) sum += s.images[(i * per + p) * 3 + c];
      return sum / per / 255;
    }),
  );
}

/** 1x1 conv mixing weights of the tiny layers model: mix[k] = sum_c W[c][k] * x[c]. */
const W = [
  [0.5, -1],
  [2, 0.25],
  [-0.75, 1.5],
];

async function saveLayersModel(dir: string): Promise<void> {
  const m = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [4, 4, 3], filters: 2, kernelSize: 1, useBias: false, name: 'mix', weights: [tf.tensor4d(W.flat(), [1, 1, 3, 2])] }),
      tf.layers.reLU({ name: 'act' }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ units: 5, name: 'head', kernelInitializer: 'ones' }),
    ],
  });
  await m.save(
    tf.io.withSaveHandler(async (a) => {
      await fsp.mkdir(dir, { recursive: true });
      const json = { modelTopology: a.modelTopology, format: 'layers-model', weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] };
      await fsp.writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
      await fsp.writeFile(path.join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  m.dispose();
}

async function saveGraphModel(dir: string): Promise<void> {
  const attrT = { T: { type: 'DT_FLOAT' } };
  const json = {
    format: 'graph-model',
    generatedBy: 'cl-test',
    convertedBy: 'cl-test',
    modelTopology: {
      node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '4' }, { size: '4' }, { size: '3' }] } } } },
        { name: 'act', op: 'Relu', input: ['x'], attr: attrT },
        { name: 'sq', op: 'Square', input: ['act'], attr: attrT },
      ],
      library: {},
      versions: { producer: 1 },
    },
    weightsManifest: [],
  };
  await fsp.mkdir(dir, { recursive: true });
  await fsp.writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
}

describe('backbones/tfjs on tiny models (wasm)', () => {
  let dir: string;
  let server: http.Server;
  let base: string;
  before(async () => {
    await initBackend('wasm');
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cl-tfjs-'));
    await saveLayersModel(path.join(dir, 'layers'));
    await saveGraphModel(path.join(dir, 'graph'));
    server = http.createServer((req, res) => {
      fsp.readFile(path.join(dir, decodeURIComponent(req.url ?? '').replace(/^\/+/, ''))).then(
        (b) => res.end(b),
        () => {
          res.statusCode = 404;
          res.end();
        },
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('layers model: #layer builds a sub-model, spatial maps are global-average pooled', async () => {
    const s = images(3, 4);
    const before = tf.memory().numTensors;
    const bb = await createBackbone(`tfjs:${path.join(dir, 'layers')}#mix`, { batchSize: 2 });
    try {
      const x = await bb.extract(s);
      const expected = channelMeans(s).flatMap((m) => [0, 1].map((k) => m.reduce((acc, v, c) => acc + v * W[c][k], 0)));
      expect(x.length).to.equal(6);
      expected.forEach((v, i) => expect(x[i]).to.be.closeTo(v, 1e-5));
      expect(bb.id).to.match(/^tfjs:layers@[0-9a-f]{12}#mix\/gap$/);
      expect(bb.preprocessingId).to.equal('bilinear4-unit-nhwc');
      expect(bb.dim()).to.equal(2);
      expect(bb.describe()).to.deep.include({ format: 'layers-model', output: 'mix', pool: 'gap', dim: 2 });
      const head = await createBackbone(`tfjs:${path.join(dir, 'layers', 'model.json')}`); // default: the model output
      expect(head.id).to.match(/#head$/);
      expect((await head.extract(s)).length).to.equal(15);
      await head.dispose();
    } finally {
      await bb.dispose();
    }
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('unknown layer: a UserError naming the layers', async () => {
    const err = await rejection(createBackbone(`tfjs:${path.join(dir, 'layers')}#conv9`));
    expect(err.message).to.include('no layer named "conv9"');
    expect(err.hint).to.include('mix, act, flat, head');
  });

  it('graph model: #node picks the node; unknown node lists the nodes', async () => {
    const s = images(2, 4, 9);
    const act = await createBackbone(`tfjs:${path.join(dir, 'graph')}#act`);
    const x = await act.extract(s);
    channelMeans(s)
      .flat()
      .forEach((v, i) => expect(x[i]).to.be.closeTo(v, 1e-5));
    expect(act.describe()).to.deep.include({ format: 'graph-model', output: 'act' });
    await act.dispose();
    const sq = await createBackbone(`tfjs:${path.join(dir, 'graph')}`); // the graph output: Square
    const y = await sq.extract(s);
    const per = 16;
    for (let i = 0; i < 2; i++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let p = 0; p < per; p++) sum += (s.images[(i * per + p) * 3 + c] / 255) ** 2;
        expect(y[i * 3 + c]).to.be.closeTo(sum / per, 1e-5);
      }
    }
    await sq.dispose();
    const err = await rejection(createBackbone(`tfjs:${path.join(dir, 'graph')}#nope`));
    expect(err.hint).to.include('x, act, sq');
  });

  it('a truncated weight shard is a clear error naming the file', async () => {
    const bad = path.join(dir, 'bad');
    await fsp.mkdir(bad, { recursive: true });
    await fsp.copyFile(path.join(dir, 'layers', 'model.json'), path.join(bad, 'model.json'));
    const w = await fsp.readFile(path.join(dir, 'layers', 'weights.bin'));
    await fsp.writeFile(path.join(bad, 'weights.bin'), w.subarray(0, w.length - 4));
    const err = await rejection(createBackbone(`tfjs:${bad}`));
    expect(err.message).to.match(/weights\.bin hold \d+ bytes, the manifest declares \d+/);
    const json = await rejection(tf.loadLayersModel(fileSystemHandler(path.join(dir, 'missing', 'model.json'))));
    expect(json.message).to.include('not found');
  });

  it('a URL model is downloaded once into the model cache (same id as the local copy), then works offline', async () => {
    const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'cl-tfjs-cache-'));
    try {
      const local = await createBackbone(`tfjs:${path.join(dir, 'layers')}#act`);
      const remote = await createBackbone(`tfjs:${base}/layers/model.json#act`, { cacheRoot: root });
      expect(remote.id.split('@')[1]).to.equal(local.id.split('@')[1]);
      expect(remote.describe()).to.deep.include({ model: `${base}/layers/model.json` });
      const s = images(2, 4);
      expect(Array.from(await remote.extract(s))).to.deep.equal(Array.from(await local.extract(s)));
      await Promise.all([local.dispose(), remote.dispose()]);
      server.close();
      const offline = await createBackbone(`tfjs:${base}/layers/model.json#act`, { cacheRoot: root, offline: true });
      await offline.dispose();
      const none = await rejection(createBackbone(`tfjs:${base}/other/model.json`, { cacheRoot: root, offline: true }));
      expect(none.message).to.match(/not in the model cache/);
    } finally {
      await fsp.rm(root, { recursive: true, force: true });
    }
  });
});

describe('backbones/tfjs on the shared Tiny Darknet (wasm; needs CL_SHARED_DIR)', function () {
  let model: string;
  let cifar: ImageSplit;
  before(async function () {
    const shared = sharedDir();
    if (!shared) this.skip();
    model = path.join(shared, 'models', 'darknet-tiny-tfjs');
    cifar = await cifar100TestSample(shared, 160);
    await initBackend('wasm');
  });

  it('pooled leaky_re_lu_15 features of real CIFAR-100 images, consistent with the model logits', async () => {
    const tensors = tf.memory().numTensors;
    const bb = await createBackbone(`tfjs:${model}#leaky_re_lu_15`);
    let feats: Float32Array;
    try {
      expect(bb.preprocessingId).to.equal('bilinear224-unit-nhwc');
      expect(bb.dim()).to.equal(128);
      const t0 = performance.now();
      feats = await bb.extract(cifar);
      const secs = (performance.now() - t0) / 1000;
      console.log(`      Tiny Darknet #leaky_re_lu_15 on wasm: ${cifar.count} CIFAR images in ${secs.toFixed(1)} s = ${(cifar.count / secs).toFixed(1)} img/s`);
      expect(feats.length).to.equal(cifar.count * 128);
      expect(feats.every((v) => Number.isFinite(v))).to.equal(true);
      expect(Array.from(feats.subarray(0, 128))).to.not.deep.equal(Array.from(feats.subarray(128, 256)));
    } finally {
      await bb.dispose();
    }
    // Independent check: logits = GAP(conv2d_16(leaky_re_lu_15)) = W^T GAP(leaky_re_lu_15) + b, as the
    // 1x1 conv is linear and commutes with the average; W, b read from the model itself.
    const few: ImageSplit = { ...cifar, images: cifar.images.subarray(0, 8 * 3072), labels: cifar.labels.subarray(0, 8), count: 8 };
    const logitsBb = await createBackbone(`tfjs:${model}`);
    const logits = await logitsBb.extract(few);
    await logitsBb.dispose();
    expect(logits.length).to.equal(8 * 1000);
    const full = await tf.loadLayersModel(fileSystemHandler(path.join(model, 'model.json')));
    const [kernel, bias] = full.getLayer('conv2d_16').getWeights();
    const k = (await kernel.data()) as Float32Array; // [1, 1, 128, 1000]
    const b = (await bias.data()) as Float32Array;
    full.dispose();
    for (let i = 0; i < 8; i++) {
      for (const o of [0, 17, 400, 999]) {
        let v = b[o];
        for (let c = 0; c < 128; c++) v += feats[i * 128 + c] * k[c * 1000 + o];
        expect(logits[i * 1000 + o]).to.be.closeTo(v, 1e-3 * Math.max(1, Math.abs(v)));
      }
    }
    expect(tf.memory().numTensors).to.equal(tensors);
  });

  it('names some layers when #layer is unknown', async () => {
    const err = await rejection(createBackbone(`tfjs:${model}#leaky_re_lu_99`));
    expect(err.hint).to.include('leaky_re_lu_15').and.include('in all');
  });
});
