import { expect } from 'chai';
import { initBackend, tf } from '../../src/tf.js';
import { Rng } from '../../src/rng.js';
import { UserError } from '../../src/errors.js';
import { defaultsOf } from '../../src/options.js';
import type { Features, Learner } from '../../src/types.js';
import { ClassifierHead, alignmentGamma } from '../../src/learners/head.js';
import { WA_OPTIONS, waMethod } from '../../src/learners/wa.js';
import { createLearner } from '../../src/learners/index.js';
import type { HeadLearner, TaskRecord } from '../../src/learners/head-learner.js';
import { TrainingDivergedError } from '../../src/train/diverged.js';
import { accuracy, experiences, gaussianClusters, subset } from '../train/synthetic.js';

const ctxFor = (dim: number, seed = 1) => ({ seed, dim, numClasses: 100 });

function createWa(options: Record<string, number | boolean | string>, dim: number, seed = 1): HeadLearner {
  return createLearner(waMethod, options, ctxFor(dim, seed)) as HeadLearner;
}

function perTask(l: Learner): TaskRecord[] {
  return l.stateSummary().perTask as TaskRecord[];
}

function meanNorm(w: Float32Array, d: number, from: number, to: number): number {
  let s = 0;
  for (let k = from; k < to; k++) {
    let q = 0;
    for (let j = 0; j < d; j++) q += w[k * d + j] ** 2;
    s += Math.sqrt(q);
  }
  return s / (to - from);
}

/** Share (%) of test samples of `old` classes predicted as one of `neu`. */
function shareToNew(pred: Int32Array, truth: Features, old: number[], neu: number[]): number {
  const o = new Set(old);
  const n = new Set(neu);
  let hit = 0;
  let tot = 0;
  for (let i = 0; i < truth.count; i++) {
    if (!o.has(truth.y[i])) continue;
    tot++;
    if (n.has(pred[i])) hit++;
  }
  return (100 * hit) / tot;
}

describe('learners/wa', function () {
  this.timeout(60000);
  before(async () => {
    await initBackend();
  });

  describe('weight aligning on the head (docs/methods/wa.md "Tests")', () => {
    it('hand-made matrix: γ = 0.5, new rows halved, old rows bit-identical', () => {
      const head = new ClassifierHead({ kind: 'linear', dim: 2, hidden: 0, bias: false }, new Rng(1));
      head.setLastLayer(Float32Array.from([1, 0, 0, 3, 4, 0, 0, -4]), 4);
      expect(head.align(2)).to.equal(0.5);
      expect(Array.from(head.snapshot().w)).to.deep.equal([1, 0, 0, 3, 2, 0, 0, -2]);
      head.dispose();
    });

    it('random W (K = 30, d = 64, n = 20): equal mean norms after aligning; a second alignment is a no-op', () => {
      const rng = new Rng(4);
      const head = new ClassifierHead({ kind: 'linear', dim: 64, hidden: 0, bias: false }, rng);
      const w = Float32Array.from({ length: 30 * 64 }, (_, i) => rng.normal() * (i >= 20 * 64 ? 3 : 1));
      head.setLastLayer(w, 30);
      const gamma = head.align(20);
      const after = head.snapshot().w;
      expect(gamma).to.be.closeTo(meanNorm(w, 64, 0, 20) / meanNorm(w, 64, 20, 30), 1e-6);
      const oldN = meanNorm(after, 64, 0, 20);
      expect(Math.abs(meanNorm(after, 64, 20, 30) - oldN) / oldN).to.be.lessThan(1e-5);
      expect(Array.from(after.subarray(0, 20 * 64))).to.deep.equal(Array.from(w.subarray(0, 20 * 64)));
      const again = head.align(20);
      expect(again).to.be.closeTo(1, 1e-5);
      const twice = head.snapshot().w;
      twice.forEach((v, i) => expect(v).to.be.closeTo(after[i], 1e-5 * Math.abs(after[i]) + 1e-12));
      expect(alignmentGamma([1, 3, 4, 4], 2)).to.equal(0.5);
      head.dispose();
    });

    it('bias untouched; aligned logits equal (o_old, γ·o_new) for a bias-free head', () => {
      const rng = new Rng(6);
      const withBias = new ClassifierHead({ kind: 'linear', dim: 3, hidden: 0, bias: true }, rng);
      withBias.setLastLayer(Float32Array.from({ length: 12 }, () => rng.normal()), 4, Float32Array.from([0.1, -0.2, 0.3, 0.4]));
      withBias.align(2);
      expect(Array.from(withBias.snapshot().b ?? [])).to.deep.equal(Array.from(Float32Array.from([0.1, -0.2, 0.3, 0.4])));
      withBias.dispose();

      const head = new ClassifierHead({ kind: 'linear', dim: 3, hidden: 0, bias: false }, rng);
      head.setLastLayer(Float32Array.from({ length: 15 }, () => rng.normal()), 5);
      const x = tf.tensor2d(Float32Array.from({ length: 12 }, () => rng.normal()), [4, 3]);
      const before = tf.tidy(() => head.logits(x).arraySync());
      const g = head.align(3);
      const after = tf.tidy(() => head.logits(x).arraySync());
      x.dispose();
      before.forEach((row, i) =>
        row.forEach((v, k) => expect(after[i][k]).to.be.closeTo(k < 3 ? v : g * v, 1e-6)),
      );
      head.dispose();
    });
  });

  describe('the learner', () => {
    // 3 tasks × 5 non-negative Gaussian classes, 200 training samples per class.
    const dim = 32;
    const data = gaussianClusters({ classes: 15, dim, trainPerClass: 200, testPerClass: 50, sigma: 0.3, seed: 7, nonNegative: true });
    const stream = experiences(data.train, 15, 5);

    it('3-task stream: old-class accuracy after alignment beats before; γ per task recorded; nothing aligned at task 0', async () => {
      const wa = createWa({ epochs: 8, memory: 150 }, dim);
      for (const exp of stream) {
        await wa.learn(exp);
        if (exp.index === 0) continue;
        const seen = stream.slice(0, exp.index + 1).flatMap((e) => e.classes);
        const old = seen.slice(0, exp.index * 5);
        const test = subset(data.test, seen);
        const aligned = accuracy(wa.predict(test), test, old);
        const unaligned = accuracy(wa.extraPredictions(test).unaligned, test, old);
        expect(aligned, `task ${exp.index}`).to.be.greaterThan(unaligned + 10);
      }
      const gammas = wa.stateSummary().gamma as Array<number | null>;
      expect(gammas[0]).to.equal(null);
      expect(gammas.slice(1).every((g) => g !== null && g > 0 && g < 1)).to.equal(true);
      expect(perTask(wa).map((r) => r.gamma)).to.deep.equal(gammas);
      wa.dispose();
    });

    it('imbalance (docs/methods/wa.md "Tests"): new rows outgrow old before aligning; aligning raises old accuracy and sends fewer old samples to new classes', async () => {
      const d = gaussianClusters({ classes: 10, dim: 16, trainPerClass: 200, testPerClass: 60, sigma: 0.3, seed: 12, nonNegative: true });
      const s = experiences(d.train, 10, 5);
      const wa = createWa({ epochs: 8, memory: 50 }, 16, 3);
      for (const exp of s) await wa.learn(exp);
      const rec = perTask(wa)[1];
      expect(rec.meanNewNormBefore).to.be.greaterThan(rec.meanOldNorm ?? Infinity);
      expect(rec.meanNewNormAfter).to.be.closeTo(rec.meanOldNorm ?? NaN, 1e-5 * (rec.meanOldNorm ?? 1));
      const old = [0, 1, 2, 3, 4];
      const neu = [5, 6, 7, 8, 9];
      const aligned = wa.predict(d.test);
      const unaligned = wa.extraPredictions(d.test).unaligned;
      expect(accuracy(aligned, d.test, old)).to.be.greaterThan(accuracy(unaligned, d.test, old));
      expect(shareToNew(aligned, d.test, old, neu)).to.be.lessThan(shareToNew(unaligned, d.test, old, neu));
      wa.dispose();
    });

    it('same seed → identical predictions twice (linear and mlp); the seed matters', async () => {
      const run = async (head: string, seed: number) => {
        const wa = createWa({ epochs: 3, memory: 60, head, hidden: 16 }, dim, seed);
        for (const exp of stream.slice(0, 2)) await wa.learn(exp);
        const test = subset(data.test, [...stream[0].classes, ...stream[1].classes]);
        const out = { pred: Array.from(wa.predict(test)), acc: accuracy(wa.predict(test), test), w: Array.from(wa.lastLayer().w) };
        wa.dispose();
        return out;
      };
      for (const head of ['linear', 'mlp']) {
        const a = await run(head, 5);
        const b = await run(head, 5);
        expect(a.acc).to.equal(b.acc);
        expect(a.pred).to.deep.equal(b.pred);
        expect(a.w).to.deep.equal(b.w);
        const c = await run(head, 6);
        expect(c.w).to.not.deep.equal(a.w);
      }
    });

    it('λ schedule (docs/methods/wa.md "Tests"): B0-Inc10 → 0.5 at task 2, 0.9 at task 10; B50-Inc10 → 50/60 at task 2', async () => {
      const d = gaussianClusters({ classes: 100, dim: 4, trainPerClass: 2, testPerClass: 1, sigma: 0.3, seed: 1, nonNegative: true });
      const wa = createWa({ epochs: 1, memory: 200 }, 4);
      for (const exp of experiences(d.train, 100, 10)) await wa.learn(exp);
      const lambdas = perTask(wa).map((r) => r.lambda);
      expect(lambdas[0]).to.equal(null);
      expect(lambdas[1]).to.equal(0.5);
      expect(lambdas[9]).to.be.closeTo(0.9, 1e-12);
      wa.dispose();
      const b50 = createWa({ epochs: 1, memory: 200 }, 4);
      const cls = (a: number, n: number) => Array.from({ length: n }, (_, k) => a + k);
      await b50.learn({ index: 0, classes: cls(0, 50), train: subset(d.train, cls(0, 50)) });
      await b50.learn({ index: 1, classes: cls(50, 10), train: subset(d.train, cls(50, 10)) });
      expect(perTask(b50)[1].lambda).to.be.closeTo(50 / 60, 1e-12);
      b50.dispose();
    });

    it('teacher option is wired: raw (pre-alignment) distillation changes the result, aligned is the default; one old class works', async () => {
      const run = async (teacher: string) => {
        const wa = createWa({ epochs: 2, memory: 60, teacher }, dim);
        for (const exp of stream) await wa.learn(exp);
        const w = Array.from(wa.lastLayer().w);
        wa.dispose();
        return w;
      };
      expect(await run('aligned')).to.deep.equal(await run('aligned'));
      expect(await run('raw')).to.not.deep.equal(await run('aligned'));
      // B1-Inc1: the teacher has a single old class (KD over one logit is a constant, still well-formed)
      const one = createWa({ epochs: 1, memory: 10 }, dim);
      await one.learn({ index: 0, classes: [0], train: subset(data.train, [0]) });
      await one.learn({ index: 1, classes: [1], train: subset(data.train, [1]) });
      expect(perTask(one)[1].lambda).to.equal(0.5);
      one.dispose();
    });

    it('clipping (docs/methods/wa.md "Tests"): clip true keeps min(W) ≥ 0; clip auto on signed features is off and says so', async () => {
      const wa = createWa({ epochs: 2, memory: 40, clip: 'true' }, dim);
      for (const exp of stream.slice(0, 2)) {
        await wa.learn(exp);
        expect(Math.min(...wa.lastLayer().w)).to.be.at.least(0);
      }
      expect(wa.stateSummary().clip).to.equal(true);
      wa.dispose();
      const signed = gaussianClusters({ classes: 4, dim: 8, trainPerClass: 20, testPerClass: 1, sigma: 1, seed: 2 });
      const auto = createWa({ epochs: 1, memory: 8 }, 8);
      await auto.learn({ index: 0, classes: [0, 1, 2, 3], train: signed.train });
      const s = auto.stateSummary();
      expect(s.clip).to.equal(false);
      expect(s.clipSetting).to.equal('auto');
      expect(s.featureMin as number).to.be.lessThan(0);
      expect(Math.min(...auto.lastLayer().w)).to.be.lessThan(0);
      auto.dispose();
    });

    it('exemplar counts per class in stateSummary respect the budget after every increment (fixed-total, per-class)', async () => {
      const wa = createWa({ epochs: 1, memory: 70 }, dim);
      for (const exp of stream) {
        await wa.learn(exp);
        const ex = wa.stateSummary().exemplars as { total: number; quota: number; perClass: Record<string, number> };
        const K = (exp.index + 1) * 5;
        expect(ex.quota).to.equal(Math.floor(70 / K));
        expect(Object.keys(ex.perClass)).to.have.length(K);
        expect(Object.values(ex.perClass).every((c) => c === ex.quota)).to.equal(true);
        expect(ex.total).to.be.at.most(70);
      }
      wa.dispose();
      const pc = createWa({ epochs: 1, memoryMode: 'per-class', memoryPerClass: 7 }, dim);
      for (const exp of stream) await pc.learn(exp);
      const ex = pc.stateSummary().exemplars as { total: number };
      expect(ex.total).to.equal(7 * 15);
      pc.dispose();
    });

    it('NME prediction works and is offered as an extra prediction; eval nme makes it the headline', async () => {
      const wa = createWa({ epochs: 2, memory: 100 }, dim);
      for (const exp of stream) await wa.learn(exp);
      const nme = wa.predictNme(data.test);
      expect(accuracy(nme, data.test)).to.be.greaterThan(90);
      const extra = wa.extraPredictions(data.test);
      expect(Object.keys(extra).sort()).to.deep.equal(['nme', 'unaligned']);
      expect(Array.from(extra.nme)).to.deep.equal(Array.from(nme));
      wa.dispose();
      const onlyNme = createWa({ epochs: 1, memory: 100, eval: 'nme' }, dim);
      await onlyNme.learn(stream[0]);
      const t0 = subset(data.test, stream[0].classes);
      expect(Array.from(onlyNme.predict(t0))).to.deep.equal(Array.from(onlyNme.predictNme(t0)));
      expect(Object.keys(onlyNme.extraPredictions(t0))).to.deep.equal(['cnn']);
      onlyNme.dispose();
    });

    it('tf.memory().numTensors does not grow across increments (mlp head, bias, all predictions)', async () => {
      const wa = createWa({ epochs: 2, memory: 60, head: 'mlp', hidden: 16, bias: true }, dim);
      const counts: number[] = [];
      for (const exp of stream) {
        await wa.learn(exp);
        wa.predict(data.test);
        wa.extraPredictions(data.test);
        counts.push(tf.memory().numTensors);
      }
      expect(counts[2]).to.equal(counts[1]);
      expect(counts[1]).to.equal(counts[0]);
      const before = counts[0];
      wa.dispose();
      expect(tf.memory().numTensors).to.equal(before - 4); // w1, b1, w, b
    });

    it('lr 1e30 and NaN features stop the run with TrainingDivergedError', async () => {
      const wa = createWa({ epochs: 20, lr: 1e30, memory: 20 }, dim);
      let err: unknown = null;
      try {
        await wa.learn(stream[0]);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(TrainingDivergedError);
      expect((err as Error).message).to.match(/task index 0/).and.to.match(/--lr/);
      wa.dispose();
      const poisoned = { ...stream[1], train: { ...stream[1].train, x: Float32Array.from(stream[1].train.x) } };
      poisoned.train.x[5] = NaN;
      const wa2 = createWa({ epochs: 2, memory: 20 }, dim);
      await wa2.learn(stream[0]);
      let err2: unknown = null;
      try {
        await wa2.learn(poisoned);
      } catch (e) {
        err2 = e;
      }
      expect(err2).to.be.instanceOf(TrainingDivergedError);
      expect((err2 as TrainingDivergedError).task).to.equal(1);
      wa2.dispose();
    });
  });

  describe('options', () => {
    it('spec defaults (docs/methods/wa.md "Hyperparameters", "Options")', () => {
      const d = defaultsOf(WA_OPTIONS);
      expect(d).to.include({
        epochs: 40, lr: 0.1, batchSize: 128, weightDecay: 2e-4, weightDecayFirst: 5e-4, momentum: 0.9,
        schedule: 'step', optimizer: 'sgd', align: true, clip: 'auto', bias: false, kd: true, kdT: 2,
        lambda: 'ratio', memory: 2000, memoryMode: 'fixed-total', herding: 'icarl', head: 'linear',
        hidden: 512, eval: 'both', teacher: 'aligned',
      });
      const wa = createWa({}, 8);
      expect(wa.options()).to.include({ epochs: 40, memory: 2000, lambda: 'ratio' });
      wa.dispose();
    });

    it('bad options are UserErrors naming the flag', () => {
      expect(() => createWa({ lambda: 'half' }, 8)).to.throw(UserError, /--lambda must be ratio or a number in 0\.\.1/);
      expect(() => createWa({ lambda: 1.5 }, 8)).to.throw(UserError, /--lambda/);
      expect(() => createWa({ head: 'cnn' }, 8)).to.throw(UserError, /--head must be one of linear, mlp/);
      expect(() => createWa({ epochs: 2.5 }, 8)).to.throw(UserError, /--epochs must be an integer/);
      expect(() => createWa({ batchSize: 0 }, 8)).to.throw(UserError, /--batch-size/);
      expect(() => createWa({ kdT: 0 }, 8)).to.throw(UserError, /--kd-t must be a number > 0/);
      expect(() => createWa({ bias: 'yes' }, 8)).to.throw(UserError, /--bias must be true or false/);
      expect(() => createWa({ memorySize: 10 }, 8)).to.throw(UserError, /wa has no option --memory-size/);
      expect(() => createWa({ eval: 'nme', memory: 0 }, 8)).to.throw(UserError, /--eval nme/);
      const wa = createWa({ lambda: '0.25', align: 'false' }, 8);
      expect(wa.options()).to.include({ align: false, lambda: 0.25 });
      wa.dispose();
    });
  });
});
