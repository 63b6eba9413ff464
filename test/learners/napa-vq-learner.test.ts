/**
 * The NAPA-VQ learner and the finetune-adapter baseline on small synthetic streams (docs/methods/napa-vq.md
 * "Tests"): exemplar-free state, freezing, determinism, tensor discipline, resume,
 * and less forgetting than plain fine-tuning of the same adapter.
 */
import { expect } from 'chai';
import { TrainingDivergedError } from '../../src/train/diverged.js';
import { UserError } from '../../src/errors.js';
import { finetuneAdapterMethod } from '../../src/learners/finetune-adapter.js';
import { createLearner, resolveMethodOptions } from '../../src/learners/index.js';
import type { MethodDef } from '../../src/learners/method.js';
import { napaVqMethod } from '../../src/learners/napa-vq.js';
import type { NapaVqLearner } from '../../src/learners/napa-vq/learner.js';
import { Rng } from '../../src/rng.js';
import { initBackend, tf } from '../../src/tf.js';
import type { Experience, Features, Learner } from '../../src/types.js';

interface Stream {
  train: Features;
  test: Features;
  tasks: number[][];
  dim: number;
}

/** Gaussian class clusters (unit noise around N(0, sep²) means), classes interleaved in the data. */
function makeStream(seed: number, K: number, D: number, nTrain: number, nTest: number, tasks: number[][], sep = 1): Stream {
  const rng = new Rng(seed);
  const means = Array.from({ length: K }, () => Array.from({ length: D }, () => rng.normal() * sep));
  const make = (n: number): Features => {
    const labels: number[] = [];
    for (let c = 0; c < K; c++) for (let i = 0; i < n; i++) labels.push(c);
    rng.shuffle(labels);
    const x = new Float32Array(labels.length * D);
    labels.forEach((c, i) => {
      for (let d = 0; d < D; d++) x[i * D + d] = means[c][d] + rng.normal();
    });
    return { x, y: Int32Array.from(labels), count: labels.length, dim: D };
  };
  return { train: make(nTrain), test: make(nTest), tasks, dim: D };
}

function select(f: Features, classes: number[]): Features {
  const keep = new Set(classes);
  const idx: number[] = [];
  for (let i = 0; i < f.count; i++) if (keep.has(f.y[i])) idx.push(i);
  const x = new Float32Array(idx.length * f.dim);
  idx.forEach((i, r) => x.set(f.x.subarray(i * f.dim, (i + 1) * f.dim), r * f.dim));
  return { x, y: Int32Array.from(idx, (i) => f.y[i]), count: idx.length, dim: f.dim };
}

function experience(s: Stream, t: number): Experience {
  return { index: t, classes: s.tasks[t], train: select(s.train, s.tasks[t]) };
}

function accuracy(l: Learner, f: Features): number {
  if (f.count === 0) return NaN;
  const p = l.predict(f);
  let ok = 0;
  for (let i = 0; i < f.count; i++) if (p[i] === f.y[i]) ok++;
  return (100 * ok) / f.count;
}

/** R[t][i] after every task (docs/protocols.md "The accuracy matrix"). */
async function runStream(l: Learner, s: Stream, after?: (t: number) => void): Promise<number[][]> {
  const R: number[][] = [];
  for (let t = 0; t < s.tasks.length; t++) {
    await l.learn(experience(s, t));
    R.push(s.tasks.slice(0, t + 1).map((cls) => accuracy(l, select(s.test, cls))));
    after?.(t);
  }
  return R;
}

/** max-prev forgetting F_T (docs/protocols.md "Forgetting"). */
function forgetting(R: number[][]): number {
  const T = R.length;
  let sum = 0;
  for (let i = 0; i < T - 1; i++) {
    let best = -Infinity;
    for (let t = i; t < T - 1; t++) best = Math.max(best, R[t][i]);
    sum += best - R[T - 1][i];
  }
  return sum / (T - 1);
}

const SMALL = { hidden: 32, embedDim: 16, epochsBase: 8, epochs: 8, batchSize: 32 };

function create(def: MethodDef, given: Record<string, unknown>, dim: number, seed = 1): Learner {
  return createLearner(def, given, { seed, dim, numClasses: 100 });
}

describe('napa-vq learner', function () {
  this.timeout(60_000);
  before(async () => {
    await initBackend('cpu');
  });

  // 12 classes, B6-Inc2 (4 tasks), D = 24.
  const small = makeStream(3, 12, 24, 30, 15, [[0, 1, 2, 3, 4, 5], [6, 7], [8, 9], [10, 11]]);

  it('registers as a seeded MethodDef with the spec options; --graph false is the no-graph ablation', () => {
    expect(napaVqMethod.name).to.equal('napa-vq');
    expect(napaVqMethod.seeded).to.equal(true);
    expect(finetuneAdapterMethod.name).to.equal('finetune-adapter');
    expect(finetuneAdapterMethod.seeded).to.equal(true);
    const o = resolveMethodOptions(napaVqMethod, { graph: 'false', separation: 'false', mode: 'frozen-adapter' });
    expect(o.graph).to.equal(false);
    expect(o.separation).to.equal(false);
    const def = resolveMethodOptions(napaVqMethod, {});
    expect(def).to.include({ mode: 'faithful', graph: true, separation: true, napa: true, k: 15, tau: 0.1, paWeight: 10, kdWeight: 10, naWeight: 1 });
    expect(() => resolveMethodOptions(napaVqMethod, { mode: 'adapted' })).to.throw(UserError);
    expect(() => resolveMethodOptions(napaVqMethod, { softminScale: 'fast' })).to.throw(UserError, /--softmin-scale must be auto or a number > 0/);
    expect(resolveMethodOptions(napaVqMethod, { softminScale: '0.001' }).softminScale).to.equal(0.001);
    // finetune-adapter has no NAPA-VQ switches and the same rates on every task
    const ft = resolveMethodOptions(finetuneAdapterMethod, {});
    expect(ft).to.not.have.property('graph');
    expect(ft.adapterLrLater).to.equal(ft.adapterLr);
    expect(ft.cvLrLaterFactor).to.equal(1);
  });

  it('keeps no old-class sample: only per-class vectors of the documented sizes, no feature matrix of an old class', async () => {
    const cfg = { ...SMALL, epochsBase: 2, epochs: 2 };
    const l = create(napaVqMethod, cfg, small.dim) as NapaVqLearner;
    await l.learn(experience(small, 0));
    await l.learn(experience(small, 1));
    const D = small.dim;
    const p = cfg.embedDim;
    const H = cfg.hidden;
    const U = 8;
    const allowed = new Set([D, p, U * U, U * p, D * H, H, H * p]);
    // Everything reachable from the learner object: typed arrays and tensors.
    const found: number[] = [];
    const rows: Float32Array[] = [];
    const seen = new Set<unknown>();
    const walk = (v: unknown): void => {
      if (v === null || typeof v !== 'object' || seen.has(v)) return;
      seen.add(v);
      if (v instanceof tf.Tensor) {
        found.push(v.size);
        rows.push(Float32Array.from(v.dataSync()));
        return;
      }
      if (ArrayBuffer.isView(v)) {
        const a = v as unknown as ArrayLike<number>;
        found.push(a.length);
        rows.push(Float32Array.from(a));
        return;
      }
      if (v instanceof Map) {
        for (const [k, x] of v) {
          walk(k);
          walk(x);
        }
      }
      else for (const x of Object.values(v)) walk(x);
    };
    walk(l);
    for (const n of found) expect(allowed.has(n), `stored array of ${n} values`).to.equal(true);
    // The state as a checkpoint: the same sizes, and no stored vector equals any training row.
    const st = l.getState();
    expect(st.units.length).to.equal(U);
    for (const u of st.units) {
      expect(u.muF.length).to.equal(D);
      expect(u.muZ.length).to.equal(p);
    }
    expect(st.codingVectors.length).to.equal(U * p);
    expect((st.extra.graph as number[]).length).to.equal(U * U);
    const old = select(small.train, small.tasks[0]);
    for (const arr of rows.filter((r) => r.length % D === 0)) {
      for (let off = 0; off + D <= arr.length; off += D) {
        for (let i = 0; i < old.count; i++) {
          let same = true;
          for (let d = 0; d < D && same; d++) same = Math.fround(old.x[i * D + d]) === arr[off + d];
          expect(same, `a stored vector equals training sample ${i} of the base task`).to.equal(false);
        }
      }
    }
    // The run record shows it.
    const sum = l.stateSummary();
    expect(sum).to.include({ exemplarFree: true, storedSamples: 0, storedFeatureMatrices: 0, classes: U });
    expect(sum.perClass).to.deep.equal([
      { name: 'backboneMean', length: D, dtype: 'float64' },
      { name: 'adapterPrototype', length: p, dtype: 'float64' },
      { name: 'graphRow', length: U, dtype: 'float64' },
      { name: 'codingVector', length: p, dtype: 'float32' },
      { name: 'sampleCount', length: 1, dtype: 'int' },
    ]);
    expect((sum.countsPerClass as Record<string, number>)['0']).to.equal(30);
    expect(sum.graph).to.include({ units: U });
    l.dispose();
  });

  it('keeps old CVs bit-identical in every mode, old prototypes in faithful, and the adapter after the base task in frozen-adapter', async () => {
    for (const mode of ['faithful', 'frozen-adapter', 'regen-prototypes']) {
      const l = create(napaVqMethod, { ...SMALL, epochsBase: 2, epochs: 2, mode }, small.dim) as NapaVqLearner;
      await l.learn(experience(small, 0));
      const cvs = l.codingVectors();
      const protos = small.tasks[0].map((c) => l.prototypes(c)!);
      const adapter = l.adapterWeights();
      await l.learn(experience(small, 1));
      const after = l.codingVectors();
      expect(after.length).to.equal(8);
      cvs.forEach((c, i) => expect(Array.from(after[i]), `${mode}: CV ${i}`).to.deep.equal(Array.from(c)));
      if (mode === 'faithful') {
        small.tasks[0].forEach((c, i) => expect(Array.from(l.prototypes(c)!.muZ)).to.deep.equal(Array.from(protos[i].muZ)));
      }
      if (mode === 'frozen-adapter') {
        l.adapterWeights().forEach((w, i) => expect(Array.from(w)).to.deep.equal(Array.from(adapter[i])));
      } else {
        expect(Array.from(l.adapterWeights()[0])).to.not.deep.equal(Array.from(adapter[0]));
      }
      // backbone means are exact class means
      const base0 = select(small.train, [0]);
      const m0 = l.prototypes(0)!.muF;
      for (const d of [0, 5, 23]) {
        let s = 0;
        for (let i = 0; i < base0.count; i++) s += base0.x[i * small.dim + d];
        expect(m0[d]).to.be.closeTo(s / base0.count, 1e-9);
      }
      l.dispose();
    }
  });

  it('gives the same numbers for the same seed and different ones for another seed', async () => {
    const run = async (seed: number): Promise<{ pred: number[]; cv: number[]; g: number[] }> => {
      const l = create(napaVqMethod, { ...SMALL, epochsBase: 2, epochs: 2 }, small.dim, seed) as NapaVqLearner;
      await l.learn(experience(small, 0));
      await l.learn(experience(small, 1));
      const out = { pred: Array.from(l.predict(small.test)), cv: Array.from(l.codingVectors()[7]), g: Array.from(l.graphMatrix()) };
      l.dispose();
      return out;
    };
    const a = await run(5);
    const b = await run(5);
    const c = await run(6);
    expect(b).to.deep.equal(a);
    expect(c.cv).to.not.deep.equal(a.cv);
  });

  it('scores the other test rule as an extra prediction (Euclidean beside the cosine headline)', async () => {
    const l = create(napaVqMethod, { ...SMALL, epochsBase: 2, epochs: 2 }, small.dim, 5) as NapaVqLearner;
    await l.learn(experience(small, 0));
    const extra = l.extraPredictions(small.test);
    expect(Object.keys(extra)).to.deep.equal(['euclidean']);
    expect(Array.from(extra.euclidean)).to.deep.equal(Array.from(l.predictWith(small.test, 'euclidean')));
    expect(Array.from(l.predict(small.test))).to.deep.equal(Array.from(l.predictWith(small.test, 'cosine')));
    l.dispose();
  });

  it('holds tf.memory().numTensors constant across increments (both methods, every mode)', async () => {
    const variants: Array<[MethodDef, Record<string, unknown>]> = [
      [napaVqMethod, { mode: 'faithful' }],
      [napaVqMethod, { mode: 'frozen-adapter' }],
      [napaVqMethod, { mode: 'regen-prototypes', graph: false }],
      [napaVqMethod, { separation: false, napa: false, kdForm: 'mean-l2', neighbourPick: 'strength' }],
      [finetuneAdapterMethod, {}],
    ];
    for (const [def, extra] of variants) {
      const before = tf.memory().numTensors;
      const l = create(def, { ...SMALL, epochsBase: 1, epochs: 1, ...extra }, small.dim);
      const counts: number[] = [];
      await runStream(l, small, () => counts.push(tf.memory().numTensors));
      expect(new Set(counts).size, `${def.name} ${JSON.stringify(extra)}: ${counts.join(', ')}`).to.equal(1);
      l.dispose();
      expect(tf.memory().numTensors).to.equal(before);
    }
  });

  it('resumes from a checkpoint: same predictions, and continuing gives the uninterrupted run', async () => {
    const opts = { ...SMALL, epochsBase: 2, epochs: 2 };
    const full = create(napaVqMethod, opts, small.dim) as NapaVqLearner;
    await full.learn(experience(small, 0));
    await full.learn(experience(small, 1));
    const state = JSON.parse(JSON.stringify(full.getState())) as unknown;
    const resumed = create(napaVqMethod, opts, small.dim) as NapaVqLearner;
    resumed.setState(state);
    expect(Array.from(resumed.predict(small.test))).to.deep.equal(Array.from(full.predict(small.test)));
    await full.learn(experience(small, 2));
    await resumed.learn(experience(small, 2));
    expect(Array.from(resumed.codingVectors()[9])).to.deep.equal(Array.from(full.codingVectors()[9]));
    expect(Array.from(resumed.predict(small.test))).to.deep.equal(Array.from(full.predict(small.test)));
    const other = create(napaVqMethod, { ...opts, k: 3 }, small.dim) as NapaVqLearner;
    expect(() => other.setState(state)).to.throw(UserError, /option k/);
    for (const l of [full, resumed, other]) l.dispose();
  });

  it('standardisation only centres a dimension that is constant in the base task (no 1e6 blow-up later)', async () => {
    const exp = experience(small, 0);
    const x = Float32Array.from(exp.train.x);
    for (let i = 0; i < exp.train.count; i++) x[i * small.dim] = 0.25; // dim 0 constant, as MNIST's border pixels
    const l = create(napaVqMethod, { ...SMALL, epochsBase: 1 }, small.dim) as NapaVqLearner;
    await l.learn({ ...exp, train: { ...exp.train, x } });
    const st = l.getState().standardisation!;
    expect(st.mean[0]).to.be.closeTo(0.25, 1e-7);
    expect(st.invStd[0]).to.equal(1);
    // Other dims: 1 / population std of the base-task rows.
    let m = 0;
    let v = 0;
    for (let i = 0; i < exp.train.count; i++) m += x[i * small.dim + 1] / exp.train.count;
    for (let i = 0; i < exp.train.count; i++) v += (x[i * small.dim + 1] - m) ** 2 / exp.train.count;
    expect(st.invStd[1]).to.be.closeTo(1 / Math.sqrt(v), 1e-4);
    l.dispose();
  });

  it('a diverging run names the learning-rate options of napa-vq, not a --lr it does not have', async () => {
    const l = create(napaVqMethod, { ...SMALL, epochsBase: 1, cvLr: 1e30 }, small.dim);
    let err: unknown;
    try {
      await l.learn(experience(small, 0));
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(TrainingDivergedError);
    expect((err as Error).message).to.match(/--adapter-lr, now 0\.001; --cv-lr, now 1e\+30/);
    l.dispose();
  });

  it('rejects wrong feature dimensions and repeated classes with a UserError', async () => {
    const l = create(napaVqMethod, { ...SMALL, epochsBase: 1 }, small.dim);
    await l.learn(experience(small, 0));
    expect(() => l.predict({ x: new Float32Array(5), y: new Int32Array(1), count: 1, dim: 5 })).to.throw(UserError, /dimension/);
    let err: unknown = null;
    try {
      await l.learn(experience(small, 0));
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(UserError);
    l.dispose();
  });

  it('forgets less than finetune-adapter on a synthetic B-large-Inc-small stream', async () => {
    // 16 classes, B8-Inc2 (5 tasks); defaults but the adapter size, epochs and the CV rate (with 8
    // base classes a CV gets 1/8 of every batch, so the reference rate 5 overshoots: see the report).
    const s = makeStream(21, 16, 32, 40, 20, [[0, 1, 2, 3, 4, 5, 6, 7], [8, 9], [10, 11], [12, 13], [14, 15]]);
    const opts = { hidden: 48, embedDim: 24, epochsBase: 20, epochs: 24, cvLr: 1 };
    const napa = create(napaVqMethod, opts, s.dim);
    const ft = create(finetuneAdapterMethod, opts, s.dim);
    const Rn = await runStream(napa, s);
    const Rf = await runStream(ft, s);
    const fN = forgetting(Rn);
    const fF = forgetting(Rf);
    const finalN = accuracy(napa, s.test);
    const finalF = accuracy(ft, s.test);
    expect(Rn[0][0], 'base task learned').to.be.greaterThan(70);
    expect(fN, `forgetting napa-vq ${fN.toFixed(1)} vs finetune-adapter ${fF.toFixed(1)}`).to.be.lessThan(fF - 10);
    expect(Rn.at(-1)![0], 'base classes at the end').to.be.greaterThan(Rf.at(-1)![0] + 10);
    expect(finalN, `final accuracy napa-vq ${finalN.toFixed(1)} vs finetune-adapter ${finalF.toFixed(1)}`).to.be.greaterThan(finalF);
    napa.dispose();
    ft.dispose();
  });
});
