/** The `onnx:` backbone end to end on tiny hand-built ONNX models (no shared data needed). */
import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '../../src/rng.js';
import type { ImageSplit } from '../../src/types.js';
import { createBackbone, type BackboneOptions } from '../../src/backbones/backbone.js';
import { ONNX_FLOAT, onnxModel, onnxNode, onnxValueInfo } from '../../src/backbones/onnx-graph.js';
import { concat, pbBytes, pbInt, pbString } from '../../src/backbones/protobuf.js';
import { identityModel, tokensModel } from './tiny-onnx.js';

function images(count: number, channels: number, seed = 3): ImageSplit {
  const rng = new Rng(seed);
  return {
    images: Uint8Array.from({ length: count * 4 * 4 * channels }, () => rng.int(256)),
    labels: new Int32Array(count),
    count,
    height: 4,
    width: 4,
    channels,
  };
}

/** Independent expectation: per-image, per-channel mean of pixel / 255 (optionally normalised). */
function channelMeans(s: ImageSplit, norm?: { mean: number[]; std: number[] }): number[] {
  const out: number[] = [];
  const per = s.height * s.width * s.channels;
  for (let i = 0; i < s.count; i++) {
    for (let c = 0; c < 3; c++) {
      const sc = s.channels === 1 ? 0 : c;
      let sum = 0;
      for (let p = 0; p < s.height * s.width; p++) sum += s.images[i * per + p * s.channels + sc];
      const m = sum / (s.height * s.width) / 255;
      out.push(norm ? (m - norm.mean[c]) / norm.std[c] : m);
    }
  }
  return out;
}

function close(actual: Float32Array, expected: number[], tol = 1e-5): void {
  expect(actual.length).to.equal(expected.length);
  for (let i = 0; i < expected.length; i++) expect(actual[i], `[${i}]`).to.be.closeTo(expected[i], tol);
}

// Both preprocessing engines must meet the same independent expectations: 'auto' runs resize and
// normalisation as ONNX operators inside onnxruntime, 'js' in JavaScript.
for (const preprocess of ['auto', 'js'] as const) describe(`backbones/onnx on tiny hand-built models (preprocess: ${preprocess})`, () => {
  let dir: string;
  const file = async (name: string, buf: Buffer): Promise<string> => {
    const p = path.join(dir, name);
    await fsp.writeFile(p, buf);
    return p;
  };
  const extract = async (spec: string, s: ImageSplit, opts: BackboneOptions, batchSize?: number): Promise<[Float32Array, string, string]> => {
    const bb = await createBackbone(spec, { threads: 1, preprocess, ...opts });
    try {
      expect(bb.preprocessingEngine).to.equal(preprocess === 'auto' ? 'onnxruntime' : 'js');
      expect(bb.describe().preprocessingEngine).to.equal(bb.preprocessingEngine);
      return [await bb.extract(s, batchSize ? { batchSize } : {}), bb.id, bb.preprocessingId];
    } finally {
      await bb.dispose();
    }
  };
  before(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cl-tiny-onnx-'));
  });
  after(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('NCHW rank-4 output: global average pool = channel means; size and layout from the metadata', async () => {
    const m = await file('nchw.onnx', identityModel(['N', 3, 4, 4]));
    const s = images(5, 3);
    const [x, id, pp] = await extract(`onnx:${m}`, s, { normalize: 'none' }, 2); // batches 2, 2, 1
    close(x, channelMeans(s));
    expect(id).to.match(/^onnx:nchw@[0-9a-f]{12}#y\/gap$/);
    expect(pp).to.equal('bilinear4-unit-nchw');
    const [xi] = await extract(`onnx:${m}`, s, {}); // default normalisation: ImageNet mean/std
    close(xi, channelMeans(s, { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }), 1e-4);
  });

  it('NHWC rank-4 output pools over the spatial dims with channels last', async () => {
    const m = await file('nhwc.onnx', identityModel(['N', 4, 4, 3]));
    const s = images(3, 3);
    const [x, , pp] = await extract(`onnx:${m}`, s, { normalize: 'none' });
    expect(pp).to.equal('bilinear4-unit-nhwc');
    close(x, channelMeans(s));
  });

  it('a static batch dim is honoured and the last batch padded', async () => {
    const m = await file('static.onnx', identityModel([2, 3, 4, 4]));
    const s = images(3, 3);
    const [x] = await extract(`onnx:${m}`, s, { normalize: 'none' }, 16);
    close(x, channelMeans(s));
  });

  it('grayscale images are replicated into a 3-channel model', async () => {
    const m = await file('nchw.onnx', identityModel(['N', 3, 4, 4]));
    const s = images(2, 1);
    const [x] = await extract(`onnx:${m}`, s, { normalize: 'none' });
    close(x, channelMeans(s));
    expect(x[0]).to.equal(x[1]);
  });

  it('one backbone serves two input geometries (RGB, then grey images)', async () => {
    const m = await file('nchw.onnx', identityModel(['N', 3, 4, 4]));
    const bb = await createBackbone(`onnx:${m}`, { threads: 1, preprocess, normalize: 'none' });
    try {
      const rgb = images(2, 3);
      const grey = images(2, 1, 5);
      close(await bb.extract(rgb), channelMeans(rgb));
      close(await bb.extract(grey), channelMeans(grey));
    } finally {
      await bb.dispose();
    }
  });

  it('rank-3 token output: cls = token 0, mean = average over tokens; #output picks another output', async () => {
    const m = await file('tokens.onnx', tokensModel(3, 4, 4));
    const s = images(2, 3);
    const [cls, id] = await extract(`onnx:${m}`, s, { normalize: 'none' });
    expect(id).to.match(/#tokens\/cls$/);
    const [mean] = await extract(`onnx:${m}#tokens`, s, { normalize: 'none', pool: 'mean' });
    const [flat] = await extract(`onnx:${m}#z`, s, { normalize: 'none', pool: 'none' });
    const px = (i: number, p: number, c: number): number => s.images[i * 48 + p * 3 + c] / 255;
    const expCls: number[] = [];
    const expMean: number[] = [];
    for (let i = 0; i < 2; i++) {
      for (let p = 0; p < 16; p++) {
        expCls.push(px(i, p, 0)); // token 0 = the R plane in raster order
        expMean.push((px(i, p, 0) + px(i, p, 1) + px(i, p, 2)) / 3);
      }
    }
    close(cls, expCls);
    close(mean, expMean);
    expect(flat.length).to.equal(2 * 48); // NCHW input passed through and flattened
    expect(flat[16]).to.be.closeTo(px(0, 0, 1), 1e-6); // plane 1 (G) starts at 16
  });
});

describe('backbones/onnx: a model with external weight files', () => {
  it('is loaded from its path, preprocesses in JS and says why', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cl-onnx-ext-'));
    try {
      // y = x + w, with w = [0.5] stored in w.bin beside the model (TensorProto.data_location = EXTERNAL).
      const bin = Buffer.alloc(4);
      bin.writeFloatLE(0.5, 0);
      await fsp.writeFile(path.join(dir, 'w.bin'), bin);
      const entry = (k: string, v: string): Uint8Array => pbBytes(13, concat([pbString(1, k), pbString(2, v)]));
      const w = concat([pbInt(1, 1), pbInt(2, ONNX_FLOAT), pbString(8, 'w'), entry('location', 'w.bin'), entry('offset', '0'), entry('length', '4'), pbInt(14, 1)]);
      const dims = ['N', 3, 4, 4];
      const model = onnxModel(
        concat([
          pbBytes(1, onnxNode('Add', ['x', 'w'], ['y'], 'add')),
          pbString(2, 'g'),
          pbBytes(5, w),
          pbBytes(11, onnxValueInfo('x', ONNX_FLOAT, dims)),
          pbBytes(12, onnxValueInfo('y', ONNX_FLOAT, dims)),
        ]),
      );
      const file = path.join(dir, 'ext.onnx');
      await fsp.writeFile(file, model);
      const bb = await createBackbone(`onnx:${file}`, { threads: 1, normalize: 'none' });
      try {
        expect(bb.preprocessingEngine).to.equal('js');
        expect(bb.describe().preprocessingInJsBecause).to.match(/external data/);
        const s = images(2, 3);
        close(
          await bb.extract(s),
          channelMeans(s).map((m) => m + 0.5),
        );
      } finally {
        await bb.dispose();
      }
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
