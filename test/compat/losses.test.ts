import { expect } from 'chai';
import { labelSmoothedCE, prototypeCosineLoss, prototypeLogits } from '../../src/compat/losses.js';
import { warmupCosineSchedule, warmupEpochs } from '../../src/compat/options.js';
import { initBackend, tf } from '../../src/tf.js';

describe('compat/losses and schedule (docs/methods/compat.md "Tests")', () => {
  before(async () => {
    await initBackend();
  });

  it('label smoothing: logits (2, 0, 0), y = 0, ε = 0.1 → 0.372878 (plain CE 0.239545)', () => {
    const z = tf.tensor2d([[2, 0, 0]]);
    const y = tf.tensor1d([0], 'int32');
    expect(tf.tidy(() => labelSmoothedCE(z, y, 0.1).dataSync()[0])).to.be.closeTo(0.372878, 1e-6);
    expect(tf.tidy(() => labelSmoothedCE(z, y, 0).dataSync()[0])).to.be.closeTo(0.239545, 1e-6);
    tf.dispose([z, y]);
  });

  it('prototype logits are ĥ·P_c with un-normalised P (not a cosine); L_cos is 0 when ĥ ∥ P_y', () => {
    const h = tf.tensor2d([[0.6, 0.8]]);
    const p = tf.tensor2d([
      [0.3, 0.4], // norm 0.5, parallel to h
      [0, 0.2], // norm 0.2
      [-0.9, 0], // norm 0.9
    ]);
    const logits = tf.tidy(() => prototypeLogits(h, p).dataSync());
    expect(logits[0]).to.be.closeTo(0.5, 1e-6); // a cosine would give 1
    expect(logits[1]).to.be.closeTo(0.16, 1e-6); // cosine 0.8
    expect(logits[2]).to.be.closeTo(-0.54, 1e-6); // cosine −0.6
    const y0 = tf.tensor1d([0], 'int32');
    const y1 = tf.tensor1d([1], 'int32');
    expect(tf.tidy(() => prototypeCosineLoss(h, p, y0).dataSync()[0])).to.be.closeTo(0, 1e-6);
    expect(tf.tidy(() => prototypeCosineLoss(h, p, y1).dataSync()[0])).to.be.closeTo(1 - 0.8, 1e-6);
    tf.dispose([h, p, y0, y1]);
  });

  it('learning-rate schedule of the reference code: 100 epochs, lr 1e-3', () => {
    const lr = warmupCosineSchedule(1e-3, 100, 0.05);
    expect(warmupEpochs(100, 0.05)).to.equal(5);
    expect(lr(0)).to.be.closeTo(2e-4, 1e-12);
    expect(lr(4)).to.be.closeTo(1e-3, 1e-12);
    expect(lr(5)).to.be.closeTo(1e-3, 1e-12);
    expect(lr(99)).to.be.closeTo(2.73e-7, 0.01e-7);
  });
});
