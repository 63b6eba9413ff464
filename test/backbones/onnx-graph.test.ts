/**
 * Protobuf wire reading/writing and the preprocessing splice that runs resize + normalisation inside
 * onnxruntime, checked against hand-computed values and against the JS preprocessor.
 */
import { expect } from 'chai';
import * as ort from 'onnxruntime-node';
import {
  FUSED_INPUT,
  ONNX_FLOAT,
  defaultOpset,
  fuseBlocker,
  fusePreprocessing,
  hasExternalData,
  onnxModel,
  onnxNode,
  onnxTensor,
  onnxValueInfo,
} from '../../src/backbones/onnx-graph.js';
import { Preprocessor, imagenetPreset, unitPreset, type Preprocessing } from '../../src/backbones/preprocess.js';
import { ProtobufError, concat, pbBytes, pbInt, pbString, wireFields } from '../../src/backbones/protobuf.js';
import { Rng } from '../../src/rng.js';
import { identityModel } from './tiny-onnx.js';

const fields = (b: Uint8Array): { field: number; int?: bigint; text?: string }[] =>
  [...wireFields(b)].map((f) => ({ field: f.field, ...(f.int !== undefined ? { int: f.int } : {}), ...(f.data ? { text: Buffer.from(f.data).toString('latin1') } : {}) }));

/** Run a fused identity model on uint8 HWC pixels; returns the model's (float) input tensor. */
async function fusedPixels(dims: (number | string)[], p: Preprocessing, px: Uint8Array, n: number, h: number, w: number, c: 1 | 3, opset = 13): Promise<Float32Array> {
  const model = identityModel(dims, 'x', 'y', opset);
  expect(fuseBlocker(model, 'x')).to.equal(null);
  const fused = fusePreprocessing(model, { input: 'x', batch: typeof dims[0] === 'number' ? dims[0] : null, inH: h, inW: w, inC: c, p });
  const s = await ort.InferenceSession.create(fused, { intraOpNumThreads: 1 });
  try {
    expect(s.inputNames).to.deep.equal([FUSED_INPUT]);
    const out = await s.run({ [FUSED_INPUT]: new ort.Tensor('uint8', px, [n, h, w, c]) });
    return out.y.data as Float32Array;
  } finally {
    await s.release();
  }
}

function jsPixels(p: Preprocessing, px: Uint8Array, n: number, h: number, w: number, c: number): Float32Array {
  const pre = new Preprocessor(p, h, w, c);
  const out = new Float32Array(n * pre.floatsPerImage);
  pre.runBatch({ images: px, labels: new Int32Array(n), count: n, height: h, width: w, channels: c }, 0, n, out);
  return out;
}

const randomPixels = (len: number, seed: number): Uint8Array => {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: len }, () => rng.int(256));
};

describe('backbones/protobuf wire format', () => {
  it('reads back what it writes: varints (int64 negatives too), strings and nested messages', () => {
    const inner = concat([pbInt(1, 300), pbString(2, 'héllo')]);
    const msg = concat([pbInt(3, -2), pbBytes(7, inner), pbInt(2, 0)]);
    const top = fields(msg);
    expect(top.map((f) => f.field)).to.deep.equal([3, 7, 2]);
    expect(top[0].int).to.equal((1n << 64n) - 2n); // two's complement, 10 bytes
    expect(top[2].int).to.equal(0n);
    const nested = [...wireFields([...wireFields(msg)][1].data!)];
    expect(nested[0].int).to.equal(300n);
    expect(Buffer.from(nested[1].data!).toString('utf8')).to.equal('héllo');
    // raw spans re-concatenate to the message byte for byte
    expect(Buffer.from(concat([...wireFields(msg)].map((f) => f.raw))).equals(Buffer.from(msg))).to.equal(true);
  });

  it('rejects truncated and malformed bytes with a ProtobufError', () => {
    const msg = pbString(2, 'abcdef');
    expect(() => [...wireFields(msg.subarray(0, msg.length - 1))]).to.throw(ProtobufError, /runs past the end/);
    expect(() => [...wireFields(Uint8Array.from([0x08, 0x80]))]).to.throw(ProtobufError, /truncated varint/);
    expect(() => [...wireFields(Uint8Array.from([0x0b]))]).to.throw(ProtobufError, /wire type 3/);
    expect(() => [...wireFields(Uint8Array.from([0x00, 0x01]))]).to.throw(ProtobufError, /field number 0/);
  });
});

describe('backbones/onnx-graph: preprocessing inside onnxruntime', () => {
  it('upsamples 2x2 -> 4x4 with half-pixel bilinear weights computed by hand', async () => {
    // One grey image [[a, b], [c, d]]; source coordinate of output o is (o + 0.5) / 2 - 0.5, clamped:
    // o = 0 -> 0 (edge), 1 -> 0.25, 2 -> 0.75, 3 -> 1 (edge). Weights per axis: [1,0], [.75,.25], [.25,.75], [0,1].
    const [a, b, c, d] = [0, 100, 200, 255];
    const wts = [
      [1, 0],
      [0.75, 0.25],
      [0.25, 0.75],
      [0, 1],
    ];
    const src = [
      [a, b],
      [c, d],
    ];
    const p: Preprocessing = { size: [4, 4], resize: 'bilinear', scale: 1, mean: null, std: null, layout: 'NCHW', channels: 1 };
    const y = await fusedPixels(['N', 1, 4, 4], p, Uint8Array.from([a, b, c, d]), 1, 2, 2, 1);
    for (let r = 0; r < 4; r++) {
      for (let q = 0; q < 4; q++) {
        let expected = 0;
        for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) expected += wts[r][i] * wts[q][j] * src[i][j];
        expect(y[r * 4 + q], `[${r},${q}]`).to.be.closeTo(expected, 1e-4);
      }
    }
  });

  const cases: { what: string; dims: (number | string)[]; p: Preprocessing; n: number; h: number; w: number; c: 1 | 3; opset?: number }[] = [
    { what: 'CIFAR 32x32 RGB -> 224 NCHW, ImageNet mean/std', dims: ['N', 3, 224, 224], p: imagenetPreset(224, 'NCHW'), n: 3, h: 32, w: 32, c: 3 },
    { what: '28x28 grey -> 50x40 NHWC RGB, [0, 1] (opset 7)', dims: ['N', 50, 40, 3], p: { ...unitPreset(50, 'NHWC'), size: [50, 40] }, n: 2, h: 28, w: 28, c: 1, opset: 7 },
    { what: '9x9 -> 4x4 (downsampling, no antialias), static batch', dims: [2, 3, 4, 4], p: unitPreset(4, 'NCHW'), n: 2, h: 9, w: 9, c: 3 },
    { what: 'no resize, NHWC, scale 2/255 - 1', dims: ['N', 5, 5, 3], p: { size: [5, 5], resize: 'bilinear', scale: 2 / 255, mean: [1, 1, 1], std: null, layout: 'NHWC', channels: 3 }, n: 2, h: 5, w: 5, c: 3 },
  ];
  for (const t of cases) {
    it(`equals the JS preprocessor to float rounding: ${t.what}`, async () => {
      const px = randomPixels(t.n * t.h * t.w * t.c, 11);
      const y = await fusedPixels(t.dims, t.p, px, t.n, t.h, t.w, t.c, t.opset);
      const js = jsPixels(t.p, px, t.n, t.h, t.w, t.c);
      expect(y.length).to.equal(js.length);
      let maxDiff = 0;
      for (let i = 0; i < js.length; i++) maxDiff = Math.max(maxDiff, Math.abs(y[i] - js[i]));
      expect(maxDiff).to.be.below(1e-5);
    });
  }

  it('keeps every other byte of the model: header fields, opset imports, nodes after the new ones', () => {
    const model = identityModel(['N', 3, 8, 8], 'x', 'y');
    const fused = fusePreprocessing(model, { input: 'x', batch: null, inH: 4, inW: 4, inC: 3, p: unitPreset(8) });
    const outside = (b: Uint8Array): string[] => [...wireFields(b)].filter((f) => f.field !== 7).map((f) => Buffer.from(f.raw).toString('hex'));
    expect(outside(fused)).to.deep.equal(outside(model));
    const graph = (b: Uint8Array): Uint8Array => [...wireFields(b)].find((f) => f.field === 7)!.data!;
    const ops = [...wireFields(graph(fused))].filter((f) => f.field === 1).map((f) => fields(f.data!).find((g) => g.field === 4)!.text);
    expect(ops).to.deep.equal(['Cast', 'Mul', 'Add', 'Transpose', 'MatMul', 'MatMul', 'Identity']);
    const inputs = [...wireFields(graph(fused))].filter((f) => f.field === 11).map((f) => fields(f.data!)[0].text);
    expect(inputs).to.deep.equal([FUSED_INPUT]);
    expect(defaultOpset(fused)).to.equal(13);
  });

  it('says why a model cannot take the preprocessing', () => {
    expect(fuseBlocker(identityModel(['N', 3, 4, 4], 'x', 'y', 6), 'x')).to.match(/opset 6 is older than 7/);
    expect(fuseBlocker(identityModel(['N', 3, 4, 4], 'x', 'y'), 'pixels')).to.match(/input "pixels" is not a graph input/);
    expect(fuseBlocker(Uint8Array.from([0x3a, 0x05, 0x01]), 'x')).to.match(/protobuf could not be read/);
    expect(fuseBlocker(identityModel(['N', 3, 4, 4], FUSED_INPUT, 'y'), FUSED_INPUT)).to.match(/already has a tensor named cl_pixels/);
    // An initializer whose data lives in an external file (TensorProto.data_location = EXTERNAL).
    const ext = concat([onnxTensor('w', ONNX_FLOAT, [1], [0]), pbInt(14, 1)]);
    const withExt = onnxModel(
      concat([
        pbBytes(1, onnxNode('Add', ['x', 'w'], ['y'], 'add')),
        pbBytes(5, ext),
        pbBytes(11, onnxValueInfo('x', ONNX_FLOAT, ['N', 3, 4, 4])),
        pbBytes(12, onnxValueInfo('y', ONNX_FLOAT, ['N', 3, 4, 4])),
      ]),
    );
    expect(hasExternalData(withExt)).to.equal(true);
    expect(fuseBlocker(withExt, 'x')).to.match(/external data/);
  });
});
