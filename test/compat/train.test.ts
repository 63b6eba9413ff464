import { expect } from 'chai';
import { resolveCompatOptions } from '../../src/compat/options.js';
import { classMeans, labelRows, trainVersion } from '../../src/compat/train.js';
import { Rng } from '../../src/rng.js';
import { initBackend, tf } from '../../src/tf.js';
import { gaussianClasses } from './helpers.js';

describe('compat/train: one model version (docs/methods/compat.md "Tests")', () => {
  before(async () => {
    await initBackend();
  });

  const data = gaussianClasses({ classes: 6, dim: 16, trainPer: 30, testPer: 10, sigma: 0.8, seed: 21 });
  const classes = [0, 1, 2, 3, 4, 5];
  const options = resolveCompatOptions({ d: 8, k: 4, hidden: 32, epochs: 4, batchSize: 32 });

  it('unit-norm embeddings of width d_t; P = un-normalised class means of the old model, bit-identical after training; QᵀQ = I within 1e-5; no tensor leak', async () => {
    const before = tf.memory().numTensors;
    const v1 = await trainVersion({ role: 'plain', version: 1, train: data.train, classes, previous: null, dim: 8, options, rng: new Rng(1) });
    expect(v1.prototypes).to.equal(null);
    // P by hand from the frozen old model, before version 2 trains.
    const old = v1.model.embed(data.train.x, data.train.count);
    const expected = new Float64Array(6 * 8);
    const counts = new Float64Array(6);
    for (let i = 0; i < data.train.count; i++) {
      counts[data.train.y[i]]++;
      for (let j = 0; j < 8; j++) expected[data.train.y[i] * 8 + j] += old[i * 8 + j];
    }
    const v2 = await trainVersion({ role: 'oca', version: 2, train: data.train, classes, previous: v1.model, dim: 12, options, rng: new Rng(2) });
    const P = v2.prototypes!;
    expect(P.length).to.equal(6 * 8);
    for (let k = 0; k < P.length; k++) expect(P[k]).to.be.closeTo(expected[k] / counts[Math.floor(k / 8)], 1e-6);
    // Not re-normalised: class means of unit vectors are shorter than 1.
    for (let c = 0; c < 6; c++) {
      const n = Math.hypot(...P.subarray(c * 8, c * 8 + 8));
      expect(n).to.be.below(1).and.above(0.1);
    }
    // The old model is frozen: recomputing P after training gives the same bits.
    const again = classMeans(v1.model.embed(data.train.x, data.train.count), labelRows(data.train.y, classes), 6, 8);
    expect(Buffer.from(again.buffer).equals(Buffer.from(P.buffer))).to.equal(true);
    // Embedding contract.
    const e = v2.model.embed(data.test.x, data.test.count);
    expect(e.length).to.equal(data.test.count * 12);
    for (let i = 0; i < data.test.count; i++) expect(Math.hypot(...e.subarray(i * 12, i * 12 + 12))).to.be.closeTo(1, 1e-5);
    // T⊥ stays orthogonal through training (expm parametrisation).
    expect(v2.orthoErrors).to.have.length(4);
    for (const err of v2.orthoErrors) expect(err).to.be.at.most(1e-5);
    expect(v2.orthoParams).to.equal(12 * 12 + 12);
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('is deterministic for a seed and differs for another seed', async () => {
    const run = async (seed: number) =>
      (await trainVersion({ role: 'plain', version: 1, train: data.train, classes, previous: null, dim: 8, options, rng: new Rng(seed) })).model.embed(data.test.x, data.test.count);
    const [a, b, c] = [await run(5), await run(5), await run(6)];
    expect(Array.from(a)).to.deep.equal(Array.from(b));
    expect(Array.from(a)).to.not.deep.equal(Array.from(c));
  });
});
