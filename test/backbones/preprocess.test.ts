import { expect } from 'chai';
import { tf, initBackend } from '../../src/tf.js';
import { UserError } from '../../src/errors.js';
import { Rng } from '../../src/rng.js';
import {
  Preprocessor,
  axisTable,
  imagenetPreset,
  preprocessingId,
  unitPreset,
  type Preprocessing,
} from '../../src/backbones/preprocess.js';

/** Identity arithmetic (scale 1, no mean/std) so outputs are the interpolated uint8 values. */
const raw = (h: number, w: number, layout: 'NCHW' | 'NHWC' = 'NHWC', channels: 1 | 3 = 1): Preprocessing => ({
  size: [h, w],
  resize: 'bilinear',
  scale: 1,
  mean: null,
  std: null,
  layout,
  channels,
});

function run(p: Preprocessing, img: number[], h: number, w: number, c: number): Float32Array {
  const pre = new Preprocessor(p, h, w, c);
  const out = new Float32Array(pre.floatsPerImage);
  pre.run(Uint8Array.from(img), 0, out, 0);
  return out;
}

describe('backbones/preprocess', () => {
  it('half-pixel axis table for 2 -> 4 (src = (o + 0.5) / 2 - 0.5, clamped)', () => {
    const t = axisTable(2, 4);
    // o=0: -0.25 -> 0; o=1: 0.25; o=2: 0.75; o=3: 1.25 -> lo=1, hi=1
    expect(Array.from(t.lo)).to.deep.equal([0, 0, 0, 1]);
    expect(Array.from(t.hi)).to.deep.equal([1, 1, 1, 1]);
    expect(Array.from(t.w)).to.deep.equal([0, 0.25, 0.75, 0.25]);
  });

  it('bilinear 2x2 -> 4x4 matches hand-computed corner and interior values', () => {
    // [[a, b], [c, d]] = [[0, 100], [200, 40]]
    const out = run(raw(4, 4), [0, 100, 200, 40], 2, 2, 1);
    const at = (y: number, x: number): number => out[y * 4 + x];
    // Corners reproduce the input corners (the half-pixel source index clamps to the edge).
    expect([at(0, 0), at(0, 3), at(3, 0), at(3, 3)]).to.deep.equal([0, 100, 200, 40]);
    // (1,1): src (0.25, 0.25): 0.75*0.75*0 + 0.75*0.25*100 + 0.25*0.75*200 + 0.25*0.25*40 = 58.75
    expect(at(1, 1)).to.equal(58.75);
    // (0,1): row 0 only, x = 0.25: 0.75*0 + 0.25*100 = 25
    expect(at(0, 1)).to.equal(25);
    // (2,1): src (0.75, 0.25): 0.25*(0.75*0 + 0.25*100) + 0.75*(0.75*200 + 0.25*40) = 6.25 + 120 = 126.25
    expect(at(2, 1)).to.equal(126.25);
    // (3,2): y clamps to row 1, x = 0.75: 0.25*200 + 0.75*40 = 80
    expect(at(3, 2)).to.equal(80);
  });

  it('is the identity when the size does not change', () => {
    const rng = new Rng(7);
    const img = Array.from({ length: 5 * 6 * 3 }, () => rng.int(256));
    const out = run(raw(5, 6, 'NHWC', 3), img, 5, 6, 3);
    expect(Array.from(out)).to.deep.equal(img);
  });

  it('agrees with tf.image.resizeBilinear(halfPixelCenters=true) up and down, non-square', async () => {
    await initBackend('cpu');
    const rng = new Rng(11);
    for (const [h, w, oh, ow] of [
      [32, 32, 224, 224],
      [7, 5, 3, 11],
      [9, 13, 20, 6],
    ]) {
      const img = Array.from({ length: h * w * 3 }, () => rng.int(256));
      const ours = run(raw(oh, ow, 'NHWC', 3), img, h, w, 3);
      const ref = tf.tidy(() =>
        tf.image.resizeBilinear(tf.tensor4d(img, [1, h, w, 3], 'float32'), [oh, ow], false, true).dataSync(),
      ) as Float32Array;
      expect(ours.length).to.equal(ref.length);
      let maxErr = 0;
      for (let i = 0; i < ref.length; i++) maxErr = Math.max(maxErr, Math.abs(ours[i] - ref[i]));
      expect(maxErr, `${h}x${w} -> ${oh}x${ow}`).to.be.below(1e-3);
    }
  });

  it('applies scale, ImageNet mean/std and the NCHW vs NHWC layout to a known pixel', () => {
    // 2x2 RGB image, no resize; pixel (y=1, x=0) = (255, 0, 51).
    const img = [10, 20, 30, 40, 50, 60, 255, 0, 51, 70, 80, 90];
    const base: Preprocessing = { ...imagenetPreset(2, 'NCHW'), size: null };
    const nchw = run(base, img, 2, 2, 3);
    const nhwc = run({ ...base, layout: 'NHWC' }, img, 2, 2, 3);
    const expected = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (51 / 255 - 0.406) / 0.225];
    for (let c = 0; c < 3; c++) {
      // NCHW: c * H*W + y * W + x ; NHWC: (y * W + x) * C + c
      expect(nchw[c * 4 + 1 * 2 + 0]).to.be.closeTo(expected[c], 1e-5);
      expect(nhwc[(1 * 2 + 0) * 3 + c]).to.be.closeTo(expected[c], 1e-5);
    }
    // unit preset: [0, 1], no mean/std
    const unit = run({ ...unitPreset(2, 'NHWC'), size: null }, img, 2, 2, 3);
    expect(unit[6]).to.equal(1);
    expect(unit[7]).to.equal(0);
    expect(unit[8]).to.be.closeTo(0.2, 1e-7);
  });

  it('replicates grayscale to 3 channels, each normalised with its own mean/std', () => {
    const p: Preprocessing = { ...imagenetPreset(2, 'NCHW'), size: null };
    const out = run(p, [0, 255, 128, 64], 2, 2, 1);
    for (let c = 0; c < 3; c++) {
      expect(out[c * 4 + 1]).to.be.closeTo((1 - [0.485, 0.456, 0.406][c]) / [0.229, 0.224, 0.225][c], 1e-5);
    }
    expect(() => new Preprocessor({ ...p, channels: 1 }, 2, 2, 3)).to.throw(UserError, /1-channel/);
    expect(() => new Preprocessor(p, 2, 2, 4)).to.throw(UserError, /4 channels/);
  });

  it('writes batches back to back and leaves the rest of the buffer alone', () => {
    const p = raw(1, 1, 'NHWC', 1);
    const pre = new Preprocessor({ ...p, size: null }, 1, 2, 1);
    const out = new Float32Array(7).fill(-1);
    pre.runBatch({ images: Uint8Array.from([1, 2, 3, 4, 5, 6]), labels: new Int32Array(3), count: 3, height: 1, width: 2, channels: 1 }, 1, 2, out);
    expect(Array.from(out)).to.deep.equal([3, 4, 5, 6, -1, -1, -1]);
  });

  it('has stable, descriptive ids', () => {
    expect(preprocessingId(imagenetPreset())).to.equal('bilinear224-unit-imagenetnorm-nchw');
    expect(preprocessingId(unitPreset(224, 'NHWC'))).to.equal('bilinear224-unit-nhwc');
    expect(preprocessingId({ ...unitPreset(), mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] })).to.equal('bilinear224-unit-halfnorm-nchw');
    expect(preprocessingId({ ...raw(32, 48), size: null })).to.equal('native-raw255-nhwc-gray');
    expect(preprocessingId({ ...unitPreset(), size: [32, 48], mean: [0.1, 0.2, 0.3], std: [1, 2, 3] })).to.equal(
      'bilinear32x48-unit-norm(0.1,0.2,0.3;1,2,3)-nchw',
    );
  });
});
