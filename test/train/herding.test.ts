import { expect } from 'chai';
import { Rng } from '../../src/rng.js';
import { derHerding, icarlHerding, l2NormalizeRows, meanRow, randomOrder, selectionOrder } from '../../src/train/herding.js';

function randomRows(rng: Rng, count: number, dim: number): Float32Array {
  const x = new Float32Array(count * dim);
  for (let i = 0; i < x.length; i++) x[i] = Math.max(0, 0.5 + rng.normal());
  return x;
}

function dist2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += (a[j] - b[j]) ** 2;
  return s;
}

/** Mean of the chosen normalised rows. */
function meanOf(xn: Float32Array, idx: ArrayLike<number>, dim: number): Float64Array {
  const mu = new Float64Array(dim);
  for (let k = 0; k < idx.length; k++) for (let j = 0; j < dim; j++) mu[j] += xn[idx[k] * dim + j] / idx.length;
  return mu;
}

/** Brute-force iCaRL herding straight from the formula, for comparison. */
function bruteIcarl(xn: Float32Array, count: number, dim: number, m: number): number[] {
  const mu = meanRow(xn, count, dim);
  const picked: number[] = [];
  const sum = new Float64Array(dim);
  for (let k = 1; k <= m; k++) {
    let best = -1;
    let bestD = Infinity;
    for (let i = 0; i < count; i++) {
      if (picked.includes(i)) continue;
      const cand = Array.from(sum, (s, j) => (s + xn[i * dim + j]) / k);
      const d = dist2(mu, cand);
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    picked.push(best);
    for (let j = 0; j < dim; j++) sum[j] += xn[best * dim + j];
  }
  return picked;
}

describe('train/herding', () => {
  const dim = 8;

  it('iCaRL: the first pick is the sample nearest the mean of the normalised features', () => {
    const rng = new Rng(3);
    const x = randomRows(rng, 40, dim);
    const xn = l2NormalizeRows(x, 40, dim);
    const mu = meanRow(xn, 40, dim);
    let nearest = 0;
    for (let i = 1; i < 40; i++) {
      if (dist2(xn.subarray(i * dim, (i + 1) * dim), mu) < dist2(xn.subarray(nearest * dim, (nearest + 1) * dim), mu)) nearest = i;
    }
    const order = selectionOrder('icarl', x, 40, dim, 5, rng);
    expect(order[0]).to.equal(nearest);
  });

  it('iCaRL: equals the brute-force formula; m = N is a permutation; a smaller quota is a prefix', () => {
    const rng = new Rng(11);
    const x = randomRows(rng, 30, dim);
    const xn = l2NormalizeRows(x, 30, dim);
    expect(Array.from(icarlHerding(xn, 30, dim, 12))).to.deep.equal(bruteIcarl(xn, 30, dim, 12));
    const all = Array.from(icarlHerding(xn, 30, dim, 30));
    expect([...all].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 30 }, (_, i) => i));
    const twenty = Array.from(icarlHerding(xn, 30, dim, 20));
    const five = Array.from(icarlHerding(xn, 30, dim, 5));
    expect(five).to.deep.equal(twenty.slice(0, 5));
    expect(Array.from(icarlHerding(xn, 30, dim, 50))).to.have.length(30);
  });

  it('iCaRL: over 20 seeds the first k picks are on average closer to μ than a random k-subset', () => {
    let herd = 0;
    let rand = 0;
    for (let seed = 0; seed < 20; seed++) {
      const rng = new Rng(100 + seed);
      const x = randomRows(rng, 60, dim);
      const xn = l2NormalizeRows(x, 60, dim);
      const mu = meanRow(xn, 60, dim);
      const k = 6;
      herd += dist2(meanOf(xn, icarlHerding(xn, 60, dim, k), dim), mu);
      rand += dist2(meanOf(xn, randomOrder(60, k, rng), dim), mu);
    }
    expect(herd).to.be.lessThan(rand / 3);
  });

  it('DER: first pick maximises ⟨μ, φ̂⟩; picks are distinct and fill the quota; prefix property', () => {
    const rng = new Rng(5);
    const x = randomRows(rng, 25, dim);
    const xn = l2NormalizeRows(x, 25, dim);
    const mu = meanRow(xn, 25, dim);
    let best = 0;
    let bestV = -Infinity;
    for (let i = 0; i < 25; i++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += mu[j] * xn[i * dim + j];
      if (s > bestV) {
        bestV = s;
        best = i;
      }
    }
    const order = Array.from(derHerding(xn, 25, dim, 25));
    expect(order[0]).to.equal(best);
    expect(new Set(order).size).to.equal(25);
    expect(Array.from(derHerding(xn, 25, dim, 7))).to.deep.equal(order.slice(0, 7));
  });

  it('random: seeded, distinct, at most the class size', () => {
    const a = Array.from(randomOrder(10, 4, new Rng(9)));
    const b = Array.from(randomOrder(10, 4, new Rng(9)));
    expect(a).to.deep.equal(b);
    expect(new Set(a).size).to.equal(4);
    expect(randomOrder(3, 10, new Rng(1))).to.have.length(3);
  });
});
