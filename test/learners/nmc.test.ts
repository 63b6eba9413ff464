import { expect } from 'chai';
import { concatMap, defer, lastValueFrom, toArray } from 'rxjs';
import { getMethod, METHODS, resolveMethodOptions } from '../../src/learners/index.js';
import { nmcConfig, nmcMethod, NmcLearner, type NmcState } from '../../src/learners/nmc.js';
import { Rng } from '../../src/rng.js';
import { taskClasses } from '../../src/scenario/split.js';
import { experienceStream, selectClasses } from '../../src/scenario/stream.js';
import { initBackend, tf } from '../../src/tf.js';
import type { Experience, Features } from '../../src/types.js';
import { userError } from '../user-error.js';

interface Data {
  train: Features;
  test: Features;
}

/** Gaussian class clusters: class c has mean m_c (N(0, sep²) per coordinate, scaled by radius_c). */
function clusters(seed: number, K: number, D: number, nTrain: number, nTest: number, opts: { sep?: number; spread?: number; radii?: number[] } = {}): Data {
  const rng = new Rng(seed);
  const sep = opts.sep ?? 1;
  const spread = opts.spread ?? 0.6;
  const means = Array.from({ length: K }, (_, c) => Array.from({ length: D }, () => rng.normal() * sep * (opts.radii?.[c] ?? 1)));
  const make = (n: number): Features => {
    const labels: number[] = [];
    for (let c = 0; c < K; c++) for (let i = 0; i < n; i++) labels.push(c);
    rng.shuffle(labels); // dataset order interleaves classes
    const x = new Float32Array(labels.length * D);
    labels.forEach((c, i) => {
      for (let d = 0; d < D; d++) x[i * D + d] = means[c][d] + spread * rng.normal();
    });
    return { x, y: Int32Array.from(labels), count: labels.length, dim: D };
  };
  return { train: make(nTrain), test: make(nTest) };
}

function rows(f: Features, idx: number[]): Features {
  const x = new Float32Array(idx.length * f.dim);
  idx.forEach((i, r) => x.set(f.x.subarray(i * f.dim, (i + 1) * f.dim), r * f.dim));
  return { x, y: Int32Array.from(idx, (i) => f.y[i]), count: idx.length, dim: f.dim };
}

function unit(f: Features, i: number): Float64Array {
  const v = Float64Array.from(f.x.subarray(i * f.dim, (i + 1) * f.dim));
  const n = Math.max(Math.hypot(...v), 1e-12);
  return v.map((a) => a / n);
}

function scaled(f: Features, s: number): Features {
  return { ...f, x: f.x.map((v) => v * s) };
}

/** Run a learner over a split with the experience stream; predictions on the seen-class test samples after each task. */
async function runSplit(learner: NmcLearner, data: Data, order: number[], split: string, from = 0): Promise<{ seen: number[]; pred: Int32Array }[]> {
  const tasks = taskClasses(order, split);
  const stream = experienceStream(data.train, tasks);
  return lastValueFrom(
    stream.pipe(
      concatMap((exp: Experience) =>
        defer(async () => {
          if (exp.index < from) return null;
          await learner.learn(exp);
          const seen = tasks.slice(0, exp.index + 1).flat();
          return { seen, pred: learner.predict(selectClasses(data.test, seen)) };
        }),
      ),
      toArray(),
    ),
  ).then((r) => r.filter((v): v is { seen: number[]; pred: Int32Array } => v !== null));
}

function accuracy(pred: Int32Array, y: Int32Array): number {
  let ok = 0;
  for (let i = 0; i < y.length; i++) if (pred[i] === y[i]) ok++;
  return (100 * ok) / y.length;
}


describe('learners/nmc (docs/methods/nmc.md "Tests")', () => {
  before(async () => {
    await initBackend();
  });

  it('1. running mean equals the batch mean; sums are bit-identical across batchings', () => {
    const { train } = clusters(11, 3, 8, 50, 0);
    const rng = new Rng(5);
    const perm = rng.permutation(train.count); // shuffled stream
    const a = new NmcLearner({}, 8);
    for (let p = 0; p < perm.length; ) {
      const n = 1 + rng.int(17);
      a.learnBatch(rows(train, perm.slice(p, p + n)));
      p += n;
    }
    for (let c = 0; c < 3; c++) {
      const idx = perm.filter((i) => train.y[i] === c);
      const ref = new Float64Array(8);
      for (const i of idx) unit(train, i).forEach((v, d) => (ref[d] += v / idx.length));
      const mu = a.mean(c) as Float64Array;
      expect(a.count(c)).to.equal(50);
      for (let d = 0; d < 8; d++) expect(Math.abs(mu[d] - ref[d])).to.be.below(1e-12);
    }
    // Same within-class order, different batching and class interleaving: identical bits.
    const b = new NmcLearner({}, 8);
    b.learnBatch(rows(train, perm));
    const c = new NmcLearner({}, 8);
    for (let k = 0; k < 3; k++) for (const i of perm.filter((j) => train.y[j] === k)) c.learnBatch(rows(train, [i]));
    const sums = (l: NmcLearner): Record<number, number[]> =>
      Object.fromEntries(l.getState().classes.map((s) => [s.label, s.sum]));
    expect(sums(b)).to.deep.equal(sums(a));
    expect(sums(c)).to.deep.equal(sums(a));
    // float32 Kahan accumulator: same mean to float32 precision.
    const k32 = new NmcLearner({ accumulator: 'kahan32' }, 8);
    k32.learnBatch(rows(train, perm));
    for (let cl = 0; cl < 3; cl++) {
      const m64 = a.mean(cl) as Float64Array;
      (k32.mean(cl) as Float64Array).forEach((v, d) => expect(Math.abs(v - m64[d])).to.be.below(1e-6));
    }
  });

  it('2. split invariance (docs/protocols.md "Split invariance of NMC"): B0-Inc5 after task 2j === B0-Inc10 after task j === an uneven split', async () => {
    const data = clusters(21, 20, 16, 30, 10, { sep: 0.5, spread: 1 });
    const order = new Rng(3).permutation(20);
    const rng = new Rng(8);
    const cut = (): number[] => {
      const a = 1 + rng.int(9);
      return [a, 10 - a];
    };
    const uneven = `B0-Inc[${[...cut(), ...cut()].join(',')}]`;
    const inc5 = await runSplit(new NmcLearner({}, 16), data, order, 'B0-Inc5');
    const inc10 = await runSplit(new NmcLearner({}, 16), data, order, 'B0-Inc10');
    const unev = await runSplit(new NmcLearner({}, 16), data, order, uneven);
    expect(inc5).to.have.length(4);
    expect(inc10).to.have.length(2);
    const acc = [];
    for (let j = 0; j < 2; j++) {
      const a = inc5[2 * j + 1];
      const b = inc10[j];
      const u = unev[2 * j + 1];
      expect(a.seen).to.deep.equal(b.seen);
      expect(u.seen).to.deep.equal(b.seen);
      expect(a.pred.length).to.equal(b.pred.length);
      for (let i = 0; i < a.pred.length; i++) {
        expect(a.pred[i] === b.pred[i]).to.equal(true);
        expect(u.pred[i] === b.pred[i]).to.equal(true);
      }
      acc.push(accuracy(b.pred, selectClasses(data.test, b.seen).y));
    }
    // the task is not trivial (forgetting-free but not perfect), so the equality says something
    expect(acc[1]).to.be.above(30).and.below(100);
  });

  it('3. final accuracy and every final prediction are independent of the class order', async () => {
    const data = clusters(31, 20, 16, 30, 10, { sep: 0.5, spread: 1 });
    const o1 = Array.from({ length: 20 }, (_, i) => i);
    const o2 = new Rng(77).permutation(20);
    for (const variant of ['janson', 'simplecil']) {
      const r1 = await runSplit(new NmcLearner({ variant }, 16), data, o1, 'B0-Inc5');
      const r2 = await runSplit(new NmcLearner({ variant }, 16), data, o2, 'B0-Inc5');
      const f1 = r1[3].pred;
      const f2 = r2[3].pred;
      expect(Array.from(f2)).to.deep.equal(Array.from(f1)); // both evaluate the whole test set in dataset order
      expect(accuracy(f2, data.test.y)).to.equal(accuracy(f1, data.test.y));
      // intermediate accuracies do depend on the order
      expect(r1[0].seen).to.not.deep.equal(r2[0].seen);
    }
  });

  it('4. the linear form equals the Euclidean distance rule', () => {
    const data = clusters(41, 10, 16, 40, 20, { sep: 0.4, spread: 1 });
    const l = new NmcLearner({}, 16);
    l.learnBatch(data.train);
    // independent float64 reference: means of normalised training features
    const mu = Array.from({ length: 10 }, () => new Float64Array(16));
    const n = new Array<number>(10).fill(0);
    for (let i = 0; i < data.train.count; i++) {
      const c = data.train.y[i];
      unit(data.train, i).forEach((v, d) => (mu[c][d] += v));
      n[c]++;
    }
    mu.forEach((m, c) => m.forEach((_, d) => (m[d] /= n[c])));
    const pred = l.predict(data.test);
    expect(data.test.count).to.equal(200);
    let disagreeWithTruth = 0;
    for (let i = 0; i < data.test.count; i++) {
      const z = unit(data.test, i);
      let bestD = Infinity, argmin = -1, bestS = -Infinity, argmax = -1;
      for (const c of l.labels()) {
        let dist = 0, dot = 0, nn = 0;
        for (let d = 0; d < 16; d++) {
          dist += (z[d] - mu[c][d]) ** 2;
          dot += z[d] * mu[c][d];
          nn += mu[c][d] ** 2;
        }
        if (dist < bestD) [bestD, argmin] = [dist, c];
        if (2 * dot - nn > bestS) [bestS, argmax] = [2 * dot - nn, c];
      }
      expect(argmax).to.equal(argmin);
      expect(pred[i]).to.equal(argmin);
      if (argmin !== data.test.y[i]) disagreeWithTruth++;
    }
    expect(disagreeWithTruth).to.be.above(0); // errors exist, so agreement is not just "always correct"
  });

  it('5. janson and simplecil disagree on the example of docs/methods/nmc.md', () => {
    // unit training vectors whose means are μ_A = (0.3, 0) and μ_B = (0.9, 0.3)
    const a = Math.sqrt(1 - 0.09);
    const m = [0.9, 0.3];
    const nm = Math.hypot(0.9, 0.3);
    const s = Math.sqrt(1 - nm * nm);
    const perp = [-0.3 / nm, 0.9 / nm];
    const train: Features = {
      x: Float32Array.from([0.3, a, 0.3, -a, m[0] + s * perp[0], m[1] + s * perp[1], m[0] - s * perp[0], m[1] - s * perp[1]]),
      y: Int32Array.from([0, 0, 1, 1]),
      count: 4,
      dim: 2,
    };
    const q: Features = { x: Float32Array.from([1, 0]), y: Int32Array.from([0]), count: 1, dim: 2 };
    const j = new NmcLearner({ variant: 'janson' }, 2);
    const sc = new NmcLearner({ variant: 'simplecil' }, 2);
    j.learnBatch(train);
    sc.learnBatch(train);
    const muA = j.mean(0) as Float64Array;
    const muB = j.mean(1) as Float64Array;
    expect(muA[0]).to.be.closeTo(0.3, 1e-7);
    expect(muA[1]).to.be.closeTo(0, 1e-7);
    expect(muB[0]).to.be.closeTo(0.9, 1e-7);
    expect(muB[1]).to.be.closeTo(0.3, 1e-7);
    expect(Math.hypot(1 - muA[0], muA[1])).to.be.closeTo(0.7, 1e-6);
    expect(Math.hypot(1 - muB[0], muB[1])).to.be.closeTo(0.3162, 1e-4);
    expect(j.predict(q)[0]).to.equal(1); // Euclidean: B
    expect(sc.predict(q)[0]).to.equal(0); // cosine 1.0 vs 0.9487: A
    // renormalised prototypes turn the Euclidean rule into cosine
    const r = new NmcLearner({ variant: 'custom', renormalizePrototypes: true }, 2);
    r.learnBatch(train);
    expect(r.predict(q)[0]).to.equal(0);
    for (const l of [j, sc, r]) l.dispose();
  });

  it('6. scale invariance: janson and simplecil unchanged by ×7.5; raw Euclidean changes', () => {
    const data = clusters(61, 8, 12, 30, 25, { sep: 1, spread: 0.8, radii: [0.5, 0.7, 1, 1.3, 1.6, 2, 2.5, 3] });
    for (const variant of ['janson', 'simplecil']) {
      const l = new NmcLearner({ variant }, 12);
      l.learnBatch(data.train);
      const base = l.predict(data.test);
      expect(Array.from(l.predict(scaled(data.test, 7.5)))).to.deep.equal(Array.from(base));
      const l2 = new NmcLearner({ variant }, 12);
      l2.learnBatch(scaled(data.train, 7.5));
      expect(Array.from(l2.predict(scaled(data.test, 7.5)))).to.deep.equal(Array.from(base));
      l.dispose();
      l2.dispose();
    }
    const raw = new NmcLearner({ variant: 'custom', normalize: 'false', metric: 'euclidean' }, 12);
    raw.learnBatch(data.train);
    const before = raw.predict(data.test);
    const after = raw.predict(scaled(data.test, 7.5));
    let changed = 0;
    for (let i = 0; i < before.length; i++) if (before[i] !== after[i]) changed++;
    expect(changed).to.be.above(0);
    raw.dispose();
  });

  it('7. predicts seen classes only, as original label ids', async () => {
    // labels 100..107 stand for dataset ids that are not positions
    const data = clusters(71, 8, 10, 20, 10, { sep: 1.5, spread: 0.5 });
    const relabel = (f: Features): Features => ({ ...f, y: f.y.map((v) => 100 + v) });
    const d2 = { train: relabel(data.train), test: relabel(data.test) };
    const order = [105, 101, 107, 100, 103, 106, 102, 104];
    const l = new NmcLearner({}, 10);
    const tasks = taskClasses(order, 'B0-Inc2');
    for (const exp of await lastValueFrom(experienceStream(d2.train, tasks).pipe(toArray()))) {
      await l.learn(exp);
      const seen = new Set(tasks.slice(0, exp.index + 1).flat());
      const pred = l.predict(d2.test); // all test samples, also of unseen classes
      for (const p of pred) expect(seen.has(p)).to.equal(true);
      const sub = selectClasses(d2.test, [...seen]);
      expect(accuracy(l.predict(sub), sub.y)).to.be.above(90);
    }
    expect(l.labels()).to.deep.equal(order);
    l.dispose();
  });

  it('8. a zero vector gives no NaN and a deterministic label', () => {
    const data = clusters(81, 4, 6, 10, 0, { radii: [1, 0.2, 2, 0.5] });
    const zero: Features = { x: new Float32Array(6), y: Int32Array.from([0]), count: 1, dim: 6 };
    for (const variant of ['janson', 'simplecil', 'custom']) {
      const l = new NmcLearner({ variant }, 6);
      l.learnBatch(data.train);
      l.learnBatch({ ...zero, y: Int32Array.from([2]) }); // a zero training sample too
      for (const c of l.labels()) for (const v of l.mean(c) as Float64Array) expect(Number.isFinite(v)).to.equal(true);
      const p1 = l.predict(zero)[0];
      expect(p1).to.equal(l.predict(zero)[0]);
      // hand-derived: the Euclidean rule reduces to argmin ‖μ_c‖ (ẑ = 0); cosine scores are all 0 → first class
      const norms = l.labels().map((c) => Math.hypot(...(l.mean(c) as Float64Array)));
      const expected = variant === 'simplecil' ? l.labels()[0] : l.labels()[norms.indexOf(Math.min(...norms))];
      expect(p1).to.equal(expected);
      l.dispose();
    }
  });

  it('9. a recurring class keeps accumulating (μ_3 = mean of all 40 normalised samples)', async () => {
    const { train } = clusters(91, 5, 8, 40, 0);
    const idx3 = Array.from({ length: train.count }, (_, i) => i).filter((i) => train.y[i] === 3);
    const other = Array.from({ length: train.count }, (_, i) => i).filter((i) => train.y[i] === 1);
    const l = new NmcLearner({}, 8);
    await l.learn({ index: 0, classes: [3, 1], train: rows(train, [...idx3.slice(0, 10), ...other]) });
    await l.learn({ index: 1, classes: [3], train: rows(train, idx3.slice(10)) });
    expect(l.count(3)).to.equal(40);
    const ref = new Float64Array(8);
    for (const i of idx3) unit(train, i).forEach((v, d) => (ref[d] += v / 40));
    (l.mean(3) as Float64Array).forEach((v, d) => expect(Math.abs(v - ref[d])).to.be.below(1e-12));
    const once = new NmcLearner({}, 8);
    once.learnBatch(rows(train, idx3));
    expect(Array.from(l.mean(3) as Float64Array)).to.deep.equal(Array.from(once.mean(3) as Float64Array));
    expect(l.labels()).to.deep.equal([3, 1]);
  });

  it('10. checkpoint round trip: restore after task 2 and continue === uninterrupted run', async () => {
    const data = clusters(101, 20, 16, 30, 10, { sep: 0.5, spread: 1 });
    const order = new Rng(4).permutation(20);
    for (const accumulator of ['float64', 'kahan32']) {
      const full = new NmcLearner({ accumulator }, 16);
      const ref = await runSplit(full, data, order, 'B0-Inc5');
      const first = new NmcLearner({ accumulator }, 16);
      const tasks = taskClasses(order, 'B0-Inc5');
      const exps = await lastValueFrom(experienceStream(data.train, tasks).pipe(toArray()));
      await first.learn(exps[0]);
      await first.learn(exps[1]);
      const saved = JSON.parse(JSON.stringify(first.getState())) as NmcState;
      first.dispose();
      const resumed = new NmcLearner({ accumulator }, 16);
      resumed.setState(saved);
      const rest = await runSplit(resumed, data, order, 'B0-Inc5', 2);
      expect(Array.from(rest[1].pred)).to.deep.equal(Array.from(ref[3].pred));
      expect(resumed.stateSummary()).to.deep.equal(full.stateSummary());
      full.dispose();
      resumed.dispose();
    }
    const st = new NmcLearner({}, 16);
    st.learnBatch(data.train);
    const state = st.getState();
    expect(userError(() => new NmcLearner({ variant: 'simplecil' }, 16).setState(state)).message).to.match(/option variant was janson, now simplecil/);
    expect(userError(() => new NmcLearner({}, 8).setState(state)).message).to.match(/dimension 16, learner has 8/);
    expect(userError(() => new NmcLearner({}, 16).setState({ format: 'x' })).message).to.match(/not an nmc state/);
  });

  it('11. no tensor leak across increments', async () => {
    const data = clusters(111, 12, 16, 20, 5);
    const before = tf.memory().numTensors;
    const l = new NmcLearner({}, 16);
    const tasks = taskClasses(Array.from({ length: 12 }, (_, i) => i), 'B0-Inc3');
    const counts: number[] = [];
    for (const exp of await lastValueFrom(experienceStream(data.train, tasks).pipe(toArray()))) {
      await l.learn(exp);
      l.predict(data.test);
      l.predict(data.test);
      counts.push(tf.memory().numTensors);
    }
    expect(counts.slice(1).every((n) => n === counts[0])).to.equal(true);
    expect(counts[0] - before).to.equal(2); // W and b
    l.dispose();
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('predicts in chunks of 4,096 rows with the same result as row by row', () => {
    const data = clusters(121, 5, 4, 20, 0);
    const big = clusters(122, 5, 4, 900, 0).train; // 4,500 rows: two chunks
    const l = new NmcLearner({ variant: 'simplecil' }, 4);
    l.learnBatch(data.train);
    const all = l.predict(big);
    for (const i of [0, 1, 4095, 4096, 4097, 4499]) expect(l.predict(rows(big, [i]))[0]).to.equal(all[i]);
    l.dispose();
  });

  it('stateSummary: classes, per-class counts, dim, bytes', async () => {
    const data = clusters(131, 4, 6, 7, 0);
    const l = new NmcLearner({}, 6);
    await l.learn({ index: 0, classes: [2, 0], train: selectClasses(data.train, [0, 2]) });
    expect(l.stateSummary()).to.deep.include({ classes: 2, labels: [2, 0], countsPerClass: { '2': 7, '0': 7 }, samples: 14, dim: 6, bytes: 2 * 6 * 8 });
    expect(() => new NmcLearner({}, 6).predict(data.train)).to.throw(/before any class/);
    expect(userError(() => l.predict({ ...data.train, dim: 5 })).message).to.match(/dimension 5/);
  });
});

describe('learners/nmc options and the method registry', () => {
  it('variant presets, and contradictions pointing at --variant custom', () => {
    expect(nmcConfig({})).to.deep.equal({ variant: 'janson', normalize: true, metric: 'euclidean', renormalizePrototypes: false, accumulator: 'float64' });
    expect(nmcConfig(resolveMethodOptions(nmcMethod, { variant: 'simplecil' }))).to.deep.include({ normalize: false, metric: 'cosine' });
    expect(nmcConfig({ variant: 'simplecil', metric: 'cosine', normalize: 'false' }).metric).to.equal('cosine');
    expect(nmcConfig({ variant: 'custom', normalize: 'false' })).to.deep.include({ normalize: false, metric: 'euclidean' });
    const e = userError(() => nmcConfig(resolveMethodOptions(nmcMethod, { variant: 'janson', normalize: 'false' })));
    expect(e.message).to.match(/--normalize false contradicts --variant janson/);
    expect(e.hint).to.match(/--variant custom/);
    expect(userError(() => nmcConfig({ variant: 'simplecil', 'renormalizePrototypes': true })).message).to.match(/--renormalize-prototypes true/);
    expect(userError(() => nmcMethod.create(resolveMethodOptions(nmcMethod, { metric: 'cosine' }), { seed: 0, dim: 4, numClasses: 10 })).hint).to.match(/--variant custom/);
    const l = nmcMethod.create(resolveMethodOptions(nmcMethod, {}), { seed: 0, dim: 4, numClasses: 10 });
    expect(l.name).to.equal('nmc');
    expect(l.options()).to.deep.equal(nmcConfig({}));
    expect(nmcMethod.seeded).to.equal(false);
    // options() as stored in a run record resolve back to the same configuration (resume)
    for (const variant of ['janson', 'simplecil', 'custom']) {
      const cfg = nmcConfig({ variant, accumulator: 'kahan32' });
      expect(nmcConfig(resolveMethodOptions(nmcMethod, { ...cfg }))).to.deep.equal(cfg);
    }
  });

  it('getMethod finds nmc and lists the known methods otherwise', () => {
    expect(getMethod('nmc')).to.equal(nmcMethod);
    expect(METHODS.map((m) => m.name)).to.include('nmc');
    const e = userError(() => getMethod('icarl2'));
    expect(e.message).to.match(/unknown method "icarl2"/);
    expect(e.hint).to.match(/known methods: .*nmc/);
  });

  it('resolveMethodOptions: defaults, CLI-string coercion, kebab-case keys', () => {
    expect(resolveMethodOptions(nmcMethod, {})).to.deep.equal({
      variant: 'janson', normalize: 'auto', metric: 'auto', renormalizePrototypes: false, accumulator: 'float64',
    });
    const o = resolveMethodOptions(nmcMethod, { variant: 'custom', 'renormalize-prototypes': 'true', accumulator: 'kahan32', metric: undefined });
    expect(o).to.deep.equal({ variant: 'custom', normalize: 'auto', metric: 'auto', renormalizePrototypes: true, accumulator: 'kahan32' });
  });

  it('resolveMethodOptions: choices and unknown options are UserErrors naming the flag and listing the options', () => {
    expect(userError(() => resolveMethodOptions(nmcMethod, { variant: 'bogus' })).message).to.equal('nmc --variant must be one of janson, simplecil, custom, got "bogus"');
    const e = userError(() => resolveMethodOptions(nmcMethod, { k: 3 }));
    expect(e.message).to.equal('nmc has no option --k');
    expect(e.hint).to.equal('the options of nmc: --variant, --normalize, --metric, --renormalize-prototypes, --accumulator');
  });
});
