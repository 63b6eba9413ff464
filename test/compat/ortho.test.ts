import { expect } from 'chai';
import { expm, expmSquarings, OrthoLayer, orthogonalityError, randomOrthogonal } from '../../src/compat/ortho.js';
import { Adam } from '../../src/train/optimizers.js';
import { Rng } from '../../src/rng.js';
import { initBackend, tf } from '../../src/tf.js';

/** Set X of an expm layer to N(0, σ²) entries. */
function randomizeX(layer: OrthoLayer, sigma: number, rng: Rng): void {
  const n = layer.n;
  const v = Float32Array.from({ length: n * n }, () => sigma * rng.normal());
  tf.tidy(() => layer.x!.assign(tf.tensor2d(v, [n, n])));
}

describe('compat/ortho: the orthogonal transformation layer (docs/methods/compat.md "The orthogonal layer", "Tests")', () => {
  before(async () => {
    await initBackend();
  });

  it('expm of a 2-D skew matrix is the rotation by θ', () => {
    const theta = 2.5; // ‖A‖_F = 3.54 → s = 4 squarings
    const r = tf.tidy(() => expm(tf.tensor2d([0, -theta, theta, 0], [2, 2]), expmSquarings(Math.SQRT2 * theta)).dataSync());
    const [c, s] = [Math.cos(theta), Math.sin(theta)];
    [c, -s, s, c].forEach((v, i) => expect(r[i]).to.be.closeTo(v, 1e-6));
    expect(expmSquarings(0.2)).to.equal(0);
    expect(expmSquarings(16)).to.equal(6); // 16 / 0.25 = 64 = 2^6
  });

  it('random Q0 is orthogonal; Q = Q0 at X = 0 within 1e-6', () => {
    const rng = new Rng(3);
    const q0 = randomOrthogonal(32, new Rng(3));
    expect(orthogonalityError(q0, 32)).to.be.below(1e-6);
    const layer = new OrthoLayer('expm', 32, rng);
    const q = layer.matrixValues();
    let worst = 0;
    for (let i = 0; i < q.length; i++) worst = Math.max(worst, Math.abs(q[i] - q0[i]));
    expect(worst).to.be.below(1e-6);
    layer.dispose();
  });

  it('QᵀQ = I within 1e-5 with X ~ N(0, 0.1²) at n = 32, and after 10 Adam steps on a random loss', () => {
    const rng = new Rng(11);
    const layer = new OrthoLayer('expm', 32, rng);
    randomizeX(layer, 0.1, rng);
    const a = tf.tidy(() => {
      const l = tf.mul(layer.x!, tf.linalg.bandPart(tf.ones([32, 32]), -1, 0));
      return tf.norm(tf.sub(l, tf.transpose(l))).dataSync()[0];
    });
    expect(a).to.be.within(2, 4.5); // ‖A‖_F ≈ 3
    expect(layer.orthogonalityError()).to.be.at.most(1e-5);
    const target = tf.randomNormal([16, 32], 0, 1, 'float32', 5);
    const h = tf.randomNormal([16, 32], 0, 1, 'float32', 6);
    const opt = new Adam(layer.variables(), 0.05);
    for (let step = 0; step < 10; step++) {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(layer.apply(h as tf.Tensor2D), target))) as tf.Scalar, layer.variables());
        opt.apply(grads);
      });
    }
    expect(layer.orthogonalityError()).to.be.at.most(1e-5);
    opt.dispose();
    tf.dispose([target, h]);
    layer.dispose();
  });

  it('is an isometry: ‖T⊥(h) − T⊥(h′)‖ = ‖h − h′‖ within 1e-5 relative on 100 random pairs (the bias cancels)', () => {
    const rng = new Rng(4);
    const layer = new OrthoLayer('expm', 24, rng);
    randomizeX(layer, 0.1, rng);
    tf.tidy(() => layer.b!.assign(tf.randomNormal([24], 0, 3, 'float32', 9)));
    const h1 = Float32Array.from({ length: 100 * 24 }, () => rng.normal());
    const h2 = Float32Array.from({ length: 100 * 24 }, () => rng.normal());
    const [t1, t2] = tf.tidy(() => [layer.apply(tf.tensor2d(h1, [100, 24])).dataSync(), layer.apply(tf.tensor2d(h2, [100, 24])).dataSync()]);
    for (let p = 0; p < 100; p++) {
      let before = 0;
      let after = 0;
      for (let j = 0; j < 24; j++) {
        before += (h1[p * 24 + j] - h2[p * 24 + j]) ** 2;
        after += (t1[p * 24 + j] - t2[p * 24 + j]) ** 2;
      }
      expect(Math.abs(Math.sqrt(after) - Math.sqrt(before)) / Math.sqrt(before)).to.be.below(1e-5);
    }
    layer.dispose();
  });

  it('autodiff through expm agrees with central finite differences at n = 8', () => {
    const rng = new Rng(8);
    const layer = new OrthoLayer('expm', 8, rng);
    randomizeX(layer, 0.3, rng);
    const h = tf.tensor2d(Float32Array.from({ length: 4 * 8 }, () => rng.normal()), [4, 8]);
    const c = tf.tensor2d(Float32Array.from({ length: 4 * 8 }, () => rng.normal()), [4, 8]);
    const s = layer.squarings();
    const loss = (): tf.Scalar => tf.sum(tf.mul(layer.apply(h, s), c)) as tf.Scalar;
    const g = tf.tidy(() => tf.variableGrads(loss, [layer.x!]).grads[layer.x!.name].dataSync());
    const x0 = Float32Array.from(layer.x!.dataSync());
    const step = 1e-2;
    let checked = 0;
    for (let i = 1; i < 8; i++) {
      for (let j = 0; j < i; j++) {
        const at = (delta: number): number => {
          const x = Float32Array.from(x0);
          x[i * 8 + j] += delta;
          tf.tidy(() => layer.x!.assign(tf.tensor2d(x, [8, 8])));
          return tf.tidy(() => loss().dataSync()[0]);
        };
        const fd = (at(step) - at(-step)) / (2 * step);
        const ad = g[i * 8 + j];
        expect(Math.abs(fd - ad)).to.be.at.most(2e-2 * Math.max(1, Math.abs(ad)));
        checked++;
      }
    }
    expect(checked).to.equal(28);
    tf.dispose([h, c]);
    layer.dispose();
  });

  it('sizes: 25,760 parameters at n = 160; identity gives logits W·(h + b); none has no parameters', () => {
    const rng = new Rng(1);
    const expmLayer = new OrthoLayer('expm', 160, rng);
    expect(expmLayer.parameterCount()).to.equal(160 * 160 + 160).and.to.equal(25760);
    expmLayer.dispose();
    const none = new OrthoLayer('none', 4, rng);
    expect(none.parameterCount()).to.equal(0);
    none.dispose();
    const id = new OrthoLayer('identity', 3, rng);
    expect(id.parameterCount()).to.equal(3);
    tf.tidy(() => id.b!.assign(tf.tensor1d([0.5, -1, 2])));
    const out = tf.tidy(() => id.apply(tf.tensor2d([[1, 2, 3]])).dataSync());
    expect(Array.from(out)).to.deep.equal([1.5, 1, 5]);
    id.dispose();
  });
});
