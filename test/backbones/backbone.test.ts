import { expect } from 'chai';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../src/errors.js';
import { backboneSpecForms, createBackbone, parseBackboneSpec } from '../../src/backbones/backbone.js';
import { inputGeometry } from '../../src/backbones/onnx.js';
import { pooledDim, poolInto } from '../../src/backbones/pool.js';
import { cachedModelPath } from '../../src/backbones/model-file.js';

async function rejection(p: Promise<unknown>): Promise<UserError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(UserError);
    return e as UserError;
  }
  throw new Error('expected a rejection');
}

describe('backbones/backbone', () => {
  it('parses specs: kind, target, #output', () => {
    expect(parseBackboneSpec('pixels')).to.deep.equal({ kind: 'pixels', target: '', raw: 'pixels' });
    expect(parseBackboneSpec('onnx:models/m.onnx')).to.deep.include({ kind: 'onnx', target: 'models/m.onnx' });
    expect(parseBackboneSpec('onnx:models/m.onnx#features')).to.deep.include({ kind: 'onnx', target: 'models/m.onnx', output: 'features' });
    expect(parseBackboneSpec('onnx:https://host/a/b.onnx?x=1#last_hidden_state')).to.deep.include({
      target: 'https://host/a/b.onnx?x=1',
      output: 'last_hidden_state',
    });
  });

  it('rejects unknown or malformed specs with a UserError listing the accepted forms', () => {
    for (const [spec, re] of [
      ['resnet:foo', /unknown backbone kind "resnet"/],
      ['constructor', /unknown backbone kind/],
      ['onnx:', /needs a model path/],
      ['onnx:m.onnx#', /empty output/],
      ['pixels:x', /takes no argument/],
    ] as const) {
      let err: unknown;
      try {
        parseBackboneSpec(spec);
      } catch (e) {
        err = e;
      }
      expect(err, spec).to.be.instanceOf(UserError);
      expect((err as UserError).message).to.match(re);
      expect((err as UserError).hint).to.include('pixels').and.include('onnx:<path-or-URL>[#output]');
    }
    expect(backboneSpecForms().length).to.be.at.least(2);
  });

  it('pixels: flattened HWC values / 255, dim = h*w*c', async () => {
    const bb = await createBackbone('pixels');
    expect(bb.id).to.equal('pixels');
    expect(bb.dim()).to.equal(null);
    const images = Uint8Array.from([0, 51, 255, 102, 0, 0, 1, 2, 3, 4, 5, 6]);
    const calls: number[][] = [];
    const x = await bb.extract(
      { images, labels: Int32Array.from([0, 1]), count: 2, height: 1, width: 2, channels: 3 },
      { onProgress: (d, t) => calls.push([d, t]) },
    );
    expect(bb.dim()).to.equal(6);
    expect(x.length).to.equal(12);
    expect(x[1]).to.be.closeTo(0.2, 1e-7);
    expect(x[2]).to.equal(1);
    expect(x[3]).to.be.closeTo(0.4, 1e-7);
    expect(calls).to.deep.equal([[2, 2]]);
    await bb.dispose();
  });

  it('onnx: a missing file and a non-ONNX file are UserErrors naming the file', async () => {
    const missing = await rejection(createBackbone('onnx:/nonexistent/dir/model.onnx'));
    expect(missing.message).to.include('/nonexistent/dir/model.onnx').and.include('not found');
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cl-onnx-'));
    try {
      const bad = path.join(dir, 'garbage.onnx');
      await fsp.writeFile(bad, 'this is not a protobuf model\n'.repeat(10));
      const err = await rejection(createBackbone(`onnx:${bad}`));
      expect(err.message).to.include(bad).and.include('not a loadable ONNX model');
      const offline = await rejection(createBackbone('onnx:https://example.invalid/m.onnx', { cacheRoot: dir, offline: true }));
      expect(offline.message).to.include('--offline');
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  it('onnx: URL models get a stable cache file name per URL', () => {
    const a = cachedModelPath('https://h/x/model.onnx', '/c');
    expect(a).to.match(/^\/c\/models\/[0-9a-f]{16}-model\.onnx$/);
    expect(cachedModelPath('https://h/x/model.onnx', '/c')).to.equal(a);
    expect(cachedModelPath('https://h/y/model.onnx', '/c')).to.not.equal(a);
  });

  it('onnx: input geometry from static metadata, else from options', () => {
    expect(inputGeometry([null, 3, 224, 224], {}, 'm')).to.deep.equal({ layout: 'NCHW', height: 224, width: 224, channels: 3, fixedBatch: null });
    expect(inputGeometry([1, 160, 128, 3], {}, 'm')).to.deep.equal({ layout: 'NHWC', height: 160, width: 128, channels: 3, fixedBatch: 1 });
    expect(inputGeometry([null, 3, null, null], { imageSize: 384 }, 'm')).to.include({ layout: 'NCHW', height: 384, width: 384 });
    expect(inputGeometry([null, null, null, null], {}, 'm')).to.include({ layout: 'NCHW', height: 224 });
    expect(inputGeometry([null, null, null, null], { layout: 'NHWC' }, 'm')).to.include({ layout: 'NHWC' });
    expect(() => inputGeometry([null, 3, 224, 224], { imageSize: 256 }, 'm')).to.throw(UserError, /224x224/);
    expect(() => inputGeometry([null, 3, 224, 224], { layout: 'NHWC' }, 'm')).to.throw(UserError, /NCHW/);
    expect(() => inputGeometry([null, 768], {}, 'm')).to.throw(UserError, /rank 2/);
  });

  it('pooling: cls, mean over tokens, global average pool NCHW / NHWC, none', () => {
    // Two images, 3 tokens x 2 dims.
    const tokens = Float32Array.from([1, 2, 3, 4, 5, 6, /* image 2 */ -1, 0, 1, 0, 3, 3]);
    const g3 = { dims: [3, 2], channelsLast: false };
    const cls = new Float32Array(4);
    poolInto(tokens, 2, g3, 'cls', cls, 0, 2);
    expect(Array.from(cls)).to.deep.equal([1, 2, -1, 0]);
    const mean = new Float32Array(4);
    poolInto(tokens, 2, g3, 'mean', mean, 0, 2);
    expect(Array.from(mean)).to.deep.equal([3, 4, 1, 1]);
    // One image, C=2, H=1, W=2 (NCHW): channel 0 = [1, 3], channel 1 = [10, 20]
    const gap = new Float32Array(2);
    poolInto(Float32Array.from([1, 3, 10, 20]), 1, { dims: [2, 1, 2], channelsLast: false }, 'gap', gap, 0, 2);
    expect(Array.from(gap)).to.deep.equal([2, 15]);
    // Same values NHWC: H=1, W=2, C=2 -> pixels (1, 10), (3, 20)
    poolInto(Float32Array.from([1, 10, 3, 20]), 1, { dims: [1, 2, 2], channelsLast: true }, 'gap', gap, 0, 2);
    expect(Array.from(gap)).to.deep.equal([2, 15]);
    // Writing at a row offset
    const out = new Float32Array(6).fill(9);
    poolInto(tokens, 1, g3, 'none', out, 0, 6);
    expect(Array.from(out)).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(pooledDim([197, 768], 'cls', false)).to.equal(768);
    expect(pooledDim([1280, 7, 7], 'gap', false)).to.equal(1280);
    expect(pooledDim([7, 7, 1024], 'gap', true)).to.equal(1024);
    expect(pooledDim([null, 768], 'none', false)).to.equal(null);
  });
});
