import { expect } from 'chai';
import { Rng } from '../../src/rng.js';
import { initBackend, tf } from '../../src/tf.js';
import { matMul, tfMatMul } from '../../src/train/ops.js';

const bits = (t: tf.Tensor): string => Buffer.from((t.dataSync() as Float32Array).buffer).toString('hex');

describe('train/ops: products with the values of tf.matMul', () => {
  before(async () => {
    await initBackend();
  });

  const rng = new Rng(3);
  const rand = (shape: [number, number]): tf.Tensor2D => tf.tensor2d(Float32Array.from({ length: shape[0] * shape[1] }, () => rng.normal()), shape);

  // Shared dimensions of 100 and 130 (two and three blocks of 48, the last partial); > 1 M multiply-adds.
  for (const [tA, tB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
    it(`tfMatMul(transposeA ${tA}, transposeB ${tB}): value and both gradients bit for bit as tf.matMul`, () => {
      const [m, k, n] = [100, 130, 90];
      const a = rand(tA ? [k, m] : [m, k]);
      const b = rand(tB ? [n, k] : [k, n]);
      const w = rand([m, n]); // a weighting, so that the gradients are not all ones
      const loss = (f: (x: tf.Tensor2D, y: tf.Tensor2D) => tf.Tensor2D) => (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor2D, y as tf.Tensor2D), w));
      const ref = tf.grads(loss((x, y) => tf.matMul(x, y, tA, tB)))([a, b]);
      const got = tf.grads(loss((x, y) => tfMatMul(x, y, { transposeA: tA, transposeB: tB })))([a, b]);
      expect(bits(tfMatMul(a, b, { transposeA: tA, transposeB: tB }))).to.equal(bits(tf.matMul(a, b, tA, tB)));
      expect(bits(got[0])).to.equal(bits(ref[0]));
      expect(bits(got[1])).to.equal(bits(ref[1]));
      // a as data: the same gradient for b, none asked for a
      const onlyB = tf.grad((y: tf.Tensor) => tf.sum(tf.mul(tfMatMul(a, y as tf.Tensor2D, { transposeA: tA, transposeB: tB, aIsData: true }), w)))(b);
      expect(bits(onlyB)).to.equal(bits(ref[1]));
    });
  }

  it('matMul (explicit transposes): the product of tf.matMul without transposes, gradient for b', () => {
    const a = rand([64, 200]);
    const b = rand([200, 30]);
    expect(bits(matMul(a, b, true))).to.equal(bits(tf.matMul(a, b)));
    const g = tf.grad((y: tf.Tensor) => tf.sum(matMul(a, y as tf.Tensor2D, true)))(b);
    expect(g.shape).to.deep.equal([200, 30]);
  });
});
