/**
 * The WebAssembly SGD pass (src/train/sgd-wasm.ts) against the same update written as separate
 * float32 operations in JS (Math.fround after every product and sum, torch.optim.SGD's order):
 * equal bit for bit, for every length (the loop runs 4 values at a time), with and without the
 * clip, and a NaN stays a NaN (the divergence guard must still see it).
 */
import { expect } from 'chai';
import { Rng } from '../../src/rng.js';
import { SgdArena } from '../../src/train/sgd-wasm.js';

const f = Math.fround;

/** One step in float32, op by op: g' = g + W·wd; v' = v·μ + g'; W' = W − v'·lr; then max(W', 0). */
function reference(w: Float32Array, v: Float32Array, g: Float32Array, lr: number, mu: number, wd: number, clip: boolean): void {
  for (let i = 0; i < w.length; i++) {
    const gi = f(g[i] + f(w[i] * f(wd)));
    const vi = f(f(v[i] * f(mu)) + gi);
    const wi = f(w[i] - f(vi * f(lr)));
    v[i] = vi;
    w[i] = clip && wi < 0 ? 0 : wi;
  }
}

describe('SgdArena: the SGD update as one WebAssembly SIMD pass', function () {
  for (const size of [0, 1, 3, 4, 5, 127, 1280 * 7 + 2]) {
    for (const clip of [false, true]) {
      it(`${size} values, ${clip ? 'clipped' : 'unclipped'}: three steps equal the float32 reference bit for bit`, function () {
        const rng = new Rng(size + (clip ? 1 : 0));
        const arena = new SgdArena(size);
        const w = Float32Array.from({ length: size }, () => rng.next() - 0.3);
        const v = new Float32Array(size);
        arena.w.set(w);
        for (const [lr, mu, wd] of [
          [0.1, 0.9, 5e-4],
          [0.1, 0.9, 5e-4],
          [0.01, 0.5, 0],
        ]) {
          const g = Float32Array.from({ length: size }, () => rng.next() - 0.5);
          arena.grad.set(g);
          arena.step(lr, mu, wd, clip);
          reference(w, v, g, lr, mu, wd, clip);
          expect(Array.from(arena.w)).to.deep.equal(Array.from(w));
          expect(Array.from(arena.v)).to.deep.equal(Array.from(v));
        }
        // With a hundred values or more some weights do cross zero, so the clip is exercised.
        if (size >= 100) {
          if (clip) expect(Math.min(...w)).to.equal(0);
          else expect(Math.min(...w)).to.be.below(0);
        }
      });
    }
  }

  it('a NaN gradient leaves NaN in W and v, clipped or not (the divergence guard sees it)', function () {
    for (const clip of [false, true]) {
      const arena = new SgdArena(6);
      arena.w.set([1, 2, 3, 4, 5, 6]);
      arena.grad.set([0, 0, NaN, 0, 0, 0]);
      arena.step(0.1, 0.9, 0, clip);
      expect(Number.isNaN(arena.w[2])).to.equal(true);
      expect(Number.isNaN(arena.v[2])).to.equal(true);
      expect(arena.w[0]).to.equal(1);
      expect(arena.w[5]).to.equal(6);
    }
  });

  it('rejects an impossible size', function () {
    expect(() => new SgdArena(-1)).to.throw(RangeError, /non-negative integer/);
    expect(() => new SgdArena(2.5)).to.throw(RangeError, /non-negative integer/);
  });
});
