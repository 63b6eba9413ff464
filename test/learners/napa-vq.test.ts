/**
 * NAPA-VQ building blocks against hand-computed values (docs/methods/napa-vq.md "Tests"): the class graph,
 * the losses, NA-PA geometry, and the two test rules.
 */
import { expect } from 'chai';
import { ClassGraph, nearestUnits, neighboursOf } from '../../src/learners/napa-vq/graph.js';
import { dceLoss, kdLoss, naCoefficients, naLoss, squaredDistances } from '../../src/learners/napa-vq/losses.js';
import { augmentPrototypes } from '../../src/learners/napa-vq/augment.js';
import { NapaVqLearner } from '../../src/learners/napa-vq/learner.js';
import { NAPA_VQ_OPTIONS } from '../../src/learners/napa-vq/options.js';
import type { CvState } from '../../src/learners/napa-vq/state.js';
import { resolveOptions } from '../../src/options.js';
import { Rng } from '../../src/rng.js';
import { initBackend, tf } from '../../src/tf.js';

/** Graph fixture (docs/methods/napa-vq.md "Tests"): k = 2, units c0 = (0, 0), c1 = (1, 0), c2 = (0, 1), c3 = (5, 5). */
const UNITS: Array<[number, number]> = [
  [0, 0],
  [1, 0],
  [0, 1],
  [5, 5],
];

function sqDist2d(points: Array<[number, number]>, units: Array<[number, number]>): Float64Array {
  const d = new Float64Array(points.length * units.length);
  points.forEach(([x, y], b) => units.forEach(([u, v], j) => (d[b * units.length + j] = (x - u) ** 2 + (y - v) ** 2)));
  return d;
}

/** One graph update with the given 2-D samples; returns the pre-symmetric matrix. */
function feed(g: ClassGraph, points: Array<[number, number]>, k = 2, units = UNITS): Float64Array {
  const { knn, k: kk } = nearestUnits(sqDist2d(points, units), points.length, units.length, k);
  return g.update(knn, points.length, kk);
}

function expectInvariants(g: ClassGraph): void {
  const n = g.units;
  for (let i = 0; i < n; i++) {
    expect(g.get(i, i)).to.equal(1);
    for (let j = 0; j < n; j++) {
      expect(g.get(i, j)).to.equal(g.get(j, i));
      expect(g.get(i, j)).to.be.within(0, 1);
    }
  }
}

describe('napa-vq class graph (competitive Hebbian, ageing, pruning)', () => {
  it('nearestUnits ranks by distance, breaks ties by unit index and clips k to the unit count', () => {
    const { knn, k } = nearestUnits([3, 1, 1, 0, 9], 1, 5, 3);
    expect(k).to.equal(3);
    expect(Array.from(knn)).to.deep.equal([3, 1, 2]);
    expect(nearestUnits([1, 2], 1, 2, 15).k).to.equal(2);
  });

  it('creates an edge from the winner to its runner-up: pre-symmetric 1 / 0, then 1 − 0.5^n after symmetrising', () => {
    const g = new ClassGraph(4);
    const pre = feed(g, [[0.1, 0]]);
    expect(pre[0 * 4 + 1]).to.equal(1);
    expect(pre[1 * 4 + 0]).to.equal(0);
    expect(g.get(0, 1)).to.equal(0.5);
    expect(g.get(1, 0)).to.equal(0.5);
    feed(g, [[0.1, 0]]);
    expect(g.get(0, 1)).to.equal(0.75);
    feed(g, [[0.1, 0]]);
    expect(g.get(0, 1)).to.equal(0.875);
    expect(g.get(0, 2)).to.equal(0);
    expect(g.get(0, 3)).to.equal(0);
    expectInvariants(g);
  });

  it('ages a stale edge by 0.9 per unsupported win, prunes it below 0.9^10 and removes it one update later', () => {
    const g = new ClassGraph(4);
    const start = new Float64Array(16);
    for (let i = 0; i < 4; i++) start[i * 4 + i] = 1;
    start[1] = start[4] = 1;
    g.setMatrix(start, 4);
    for (let n = 1; n <= 21; n++) {
      const pre = feed(g, [[0, 0.4]]); // winner 0, nearest pair {0, 2}
      if (n < 20) {
        expect(pre[1], `pre-symmetric G[0][1] after ${n}`).to.be.closeTo(0.9 * 0.95 ** (n - 1), 1e-12);
        expect(g.get(0, 1), `G[0][1] after ${n}`).to.be.closeTo(0.95 ** n, 1e-12);
        expect(g.get(1, 0)).to.equal(g.get(0, 1));
      } else if (n === 20) {
        expect(0.9 * 0.95 ** 19).to.be.closeTo(0.33962, 1e-5);
        expect(pre[1]).to.equal(0); // 0.33962 < 0.34868: pruned
        expect(g.get(0, 1)).to.be.closeTo(0.18868, 1e-5);
        expect(g.get(1, 0)).to.be.closeTo(0.18868, 1e-5);
      } else {
        expect(g.get(0, 1)).to.equal(0);
        expect(g.get(1, 0)).to.equal(0);
      }
      expect(g.get(0, 2)).to.be.closeTo(1 - 0.5 ** n, 1e-12);
      expectInvariants(g);
    }
    expect(g.edgeCount()).to.equal(1); // only 0–2 remains
    expect(neighboursOf(g.matrix(), 4, 0)).to.deep.equal([2]);
  });

  it('on a 2-D point set, keeps the edges the samples support and drops the one they stopped supporting', () => {
    // Units on a line: 0 (0,0), 1 (2,0), 2 (4,0), 3 (20,0). Samples near 0, 1, 2 with k = 2.
    const units: Array<[number, number]> = [
      [0, 0],
      [2, 0],
      [4, 0],
      [20, 0],
    ];
    const g = new ClassGraph(4);
    const early: Array<[number, number]> = [
      [0.5, 0], // 0 → {0, 1}
      [2.5, 0], // 1 → {1, 2}
      [3.5, 0], // 2 → {2, 1}
      [13, 0], // 3 → {3, 2}: an edge 2–3 the later stream no longer supports
    ];
    feed(g, early, 2, units);
    expect(g.get(2, 3)).to.equal(0.5);
    const late: Array<[number, number]> = [
      [0.5, 0],
      [2.5, 0],
      [3.5, 0],
    ];
    for (let n = 0; n < 12; n++) {
      feed(g, late, 2, units);
      expectInvariants(g);
    }
    // 2–3: only row 2 ages (×0.9 per update), so the symmetric value falls as 0.5·0.95^n; its
    // aged side is pruned at update 6, the remaining half (0.19) at update 7.
    expect(g.get(2, 3)).to.equal(0);
    // 0–1: row 0 refreshes it every update, row 1 ages it (its sample's pair is {1, 2}):
    // s ← (1 + 0.9·s) / 2 converges to 1 / 1.1.
    expect(g.get(0, 1)).to.be.closeTo(1 / 1.1, 1e-3);
    expect(g.get(1, 2)).to.equal(1); // refreshed from both sides
    expect(g.get(0, 2)).to.equal(0);
    expect(g.edgeCount()).to.equal(2);
  });

  it('keeps its invariants on random updates and runs with k larger than the number of units', () => {
    const rng = new Rng(5);
    const g = new ClassGraph(3);
    g.grow(2); // 5 units
    for (let t = 0; t < 30; t++) {
      const rows = 1 + rng.int(6);
      const d = Float64Array.from({ length: rows * 5 }, () => rng.next());
      const { knn, k } = nearestUnits(d, rows, 5, 15);
      expect(k).to.equal(5);
      g.update(knn, rows, k);
      expectInvariants(g);
    }
  });
});

describe('napa-vq losses', () => {
  before(async () => {
    await initBackend('cpu');
  });

  const z = (): tf.Tensor2D => tf.tensor2d([[0, 0]]);
  // units: 0 = c_y (3, 4), 1 = (1, 0), 2 = (0, 2)
  const cvs = (): tf.Tensor2D => tf.tensor2d([[3, 4], [1, 0], [0, 2]]);
  const fullGraph = new Float64Array([1, 1, 1, 1, 1, 1, 1, 1, 1]);

  it('L_NA = d_pos − softmin-weighted neighbour distance (22.50225), d_pos alone without neighbours (25)', () => {
    const d2 = tf.tidy(() => squaredDistances(z(), cvs()));
    const values = d2.dataSync();
    expect(Array.from(values)).to.deep.equal([25, 1, 4]);
    const coef = naCoefficients(values, [0], 1, 3, fullGraph, 0.001);
    expect(coef[0]).to.equal(1);
    expect(-coef[1]).to.be.closeTo(0.50075, 1e-5);
    expect(-coef[2]).to.be.closeTo(0.49925, 1e-5);
    const loss = tf.tidy(() => naLoss(d2, tf.tensor2d(coef, [1, 3])).dataSync()[0]);
    expect(loss).to.be.closeTo(22.50225, 1e-4);
    const none = naCoefficients(values, [0], 1, 3, null, 0.001);
    expect(tf.tidy(() => naLoss(d2, tf.tensor2d(none, [1, 3])).dataSync()[0])).to.equal(25);
    d2.dispose();
  });

  it('L_NA has the gradient of the loss with the softmin weights held constant', () => {
    const w1 = Math.exp(-0.001) / (Math.exp(-0.001) + Math.exp(-0.004));
    const w2 = 1 - w1;
    const grad = tf.tidy(() => {
      const c = cvs();
      const coef = tf.tensor2d(naCoefficients([25, 1, 4], [0], 1, 3, fullGraph, 0.001), [1, 3]);
      return tf.grad((zz: tf.Tensor) => naLoss(squaredDistances(zz as tf.Tensor2D, c), coef))(z()).dataSync();
    });
    // ∂/∂z [‖z − c_y‖² − Σ w_j ‖z − c_j‖²] at z = 0 = −2 c_y + 2 Σ w_j c_j
    expect(grad[0]).to.be.closeTo(-6 + 2 * w1 * 1, 1e-4);
    expect(grad[1]).to.be.closeTo(-8 + 2 * w2 * 2, 1e-4);
  });

  it('the separation loss is zero (with zero gradient) when every sample is far closer to its own CV than to its neighbours', () => {
    const out = tf.tidy(() => {
      const c = tf.tensor2d([[0, 0], [10, 0], [0, 10]]);
      const zz = tf.variable(tf.tensor2d([[0.1, 0.2], [9.8, 0.3], [0.2, 10.1]]));
      const d2 = squaredDistances(zz, c);
      const coef = tf.tensor2d(naCoefficients(d2.dataSync(), [0, 1, 2], 3, 3, fullGraph, 0.001), [3, 3]);
      const { value, grads } = tf.variableGrads(() => naLoss(squaredDistances(zz, c), coef), [zz]);
      const r = { value: value.dataSync()[0], grad: Array.from(grads[zz.name].dataSync()) };
      zz.dispose();
      return r;
    });
    expect(out.value).to.equal(0);
    expect(out.grad.every((g) => g === 0)).to.equal(true);
  });

  it('drops a neighbour at distance exactly 0', () => {
    const coef = naCoefficients([25, 0, 4], [0], 1, 3, fullGraph, 0.001);
    expect(Array.from(coef)).to.deep.equal([1, 0, -1]);
  });

  it('L_DCE on Euclidean (not squared) distances with τ = 0.1: logits −50, −10, −20 → 40.0000454', () => {
    const v = tf.tidy(() => dceLoss(squaredDistances(z(), cvs()), tf.tensor1d([0], 'int32'), 0.1).dataSync()[0]);
    expect(v).to.be.closeTo(40.0000454, 1e-3);
  });

  it('L_KD is the un-squared, un-averaged Frobenius norm over the batch (5), mean-l2 the mean row distance (2.5)', () => {
    const [fro, mean] = tf.tidy(() => {
      const a = tf.tensor2d([[3, 4], [0, 0]]);
      const b = tf.zeros([2, 2]) as tf.Tensor2D;
      return [kdLoss(a, b, 'frobenius').dataSync()[0], kdLoss(a, b, 'mean-l2').dataSync()[0]];
    });
    expect(fro).to.be.closeTo(5, 1e-6);
    expect(mean).to.be.closeTo(2.5, 1e-6);
    // finite gradient where F_new = F_old (ε under the root)
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => kdLoss(x as tf.Tensor2D, tf.zeros([2, 2]) as tf.Tensor2D, 'frobenius'))(tf.zeros([2, 2])).dataSync());
    expect(Array.from(g).every(Number.isFinite)).to.equal(true);
  });
});

describe('napa-vq prototype augmentation (NA-PA)', () => {
  const dim = 6;
  const U = 6;
  const rng0 = new Rng(11);
  const protos = Array.from({ length: U }, () => Float64Array.from({ length: dim }, () => rng0.normal() * 3));
  // symmetric graph: 0–1, 0–2, 1–3, 4–5 (5 is a current-task unit), diagonal 1
  const g = new Float64Array(U * U);
  for (let i = 0; i < U; i++) g[i * U + i] = 1;
  for (const [i, j, s] of [
    [0, 1, 0.5],
    [0, 2, 0.9],
    [1, 3, 1],
    [4, 5, 0.4],
  ]) {
    g[i * U + j] = s;
    g[j * U + i] = s;
  }
  const oldUnits = [0, 1, 2, 3, 4];

  it('labels every sample with an old anchor and puts it on the segment from μ_a toward a graph neighbour, nearer μ_a', () => {
    const aug = augmentPrototypes(400, oldUnits, protos, g, U, new Rng(3));
    let selfPicks = 0;
    for (let s = 0; s < 400; s++) {
      const a = aug.anchors[s];
      const j = aug.partners[s];
      expect(oldUnits).to.include(a);
      expect(g[a * U + j], `partner ${j} of ${a} is a graph neighbour or itself`).to.be.greaterThan(0);
      const gamma = aug.gammas[s];
      expect(gamma).to.be.at.least(0.5).and.below(1);
      const p = aug.p.subarray(s * dim, (s + 1) * dim);
      let toA = 0;
      let toJ = 0;
      for (let d = 0; d < dim; d++) {
        // on the segment: p − μ_a = (1 − γ)(μ_j − μ_a)
        expect(p[d]).to.be.closeTo(protos[a][d] + (1 - gamma) * (protos[j][d] - protos[a][d]), 1e-4);
        toA += (p[d] - protos[a][d]) ** 2;
        toJ += (p[d] - protos[j][d]) ** 2;
      }
      expect(Math.sqrt(toA)).to.be.at.most(Math.sqrt(toJ) + 1e-5);
      if (j === a) selfPicks++;
    }
    expect(selfPicks, 'the anchor is its own candidate').to.be.greaterThan(0);
    expect(new Set(aug.anchors).size).to.equal(oldUnits.length);
    expect(aug.partners.some((j, s) => aug.anchors[s] === 4 && j === 5), 'a current-task neighbour can be the partner').to.equal(true);
  });

  it('draws the same samples from the same seed', () => {
    const a = augmentPrototypes(64, oldUnits, protos, g, U, new Rng(9));
    const b = augmentPrototypes(64, oldUnits, protos, g, U, new Rng(9));
    expect(Array.from(a.p)).to.deep.equal(Array.from(b.p));
    expect(Array.from(a.anchors)).to.deep.equal(Array.from(b.anchors));
  });

  it('without the graph a class is its own only neighbour: p = μ_a', () => {
    const aug = augmentPrototypes(50, oldUnits, protos, null, U, new Rng(4));
    for (let s = 0; s < 50; s++) {
      const a = aug.anchors[s];
      expect(aug.partners[s]).to.equal(a);
      for (let d = 0; d < dim; d++) expect(aug.p[s * dim + d]).to.be.closeTo(protos[a][d], 1e-5);
    }
  });

  it('strength picks follow the edge weights', () => {
    const aug = augmentPrototypes(3000, [0], protos, g, U, new Rng(8), 'strength');
    const count = (j: number): number => aug.partners.filter((x) => x === j).length;
    // weights 1 (self), 0.5 (→1), 0.9 (→2): shares 1/2.4, 0.5/2.4, 0.9/2.4
    expect(count(0) / 3000).to.be.closeTo(1 / 2.4, 0.04);
    expect(count(1) / 3000).to.be.closeTo(0.5 / 2.4, 0.04);
    expect(count(2) / 3000).to.be.closeTo(0.9 / 2.4, 0.04);
  });
});

describe('napa-vq test rules', () => {
  before(async () => {
    await initBackend('cpu');
  });

  it('cosine picks A, Euclidean picks B for z = (1, 0), CV_A = (10, 0), CV_B = (0.8, 0.6)', () => {
    // Identity adapter on 2-D features (relu(x·I)·I), no standardisation: z = x for x ≥ 0.
    const cfg = resolveOptions(NAPA_VQ_OPTIONS, { hidden: 2, embedDim: 2, standardize: false }, 'napa-vq');
    const learner = new NapaVqLearner(cfg, 2, 1);
    const state: CvState = {
      format: 'cl-napa-vq',
      version: 2,
      config: cfg,
      dim: 2,
      seed: 1,
      standardisation: null,
      adapter: { w1: [1, 0, 0, 1], b1: [0, 0], w2: [1, 0, 0, 1], b2: [0, 0] },
      codingVectors: [10, 0, 0.8, 0.6],
      units: [
        { label: 7, task: 0, count: 1, muF: [10, 0], muZ: [10, 0] },
        { label: 3, task: 0, count: 1, muF: [0.8, 0.6], muZ: [0.8, 0.6] },
      ],
      tasks: [],
      extra: { softminScale: 0.001, graph: [1, 0, 0, 1] },
    };
    learner.setState(state);
    const x = { x: new Float32Array([1, 0]), y: new Int32Array([0]), count: 1, dim: 2 };
    expect(learner.predictWith(x, 'cosine')[0]).to.equal(7);
    expect(learner.predictWith(x, 'euclidean')[0]).to.equal(3);
    expect(learner.predict(x)[0]).to.equal(7); // default rule: cosine (paper)
    learner.dispose();
  });
});
