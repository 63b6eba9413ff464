import { expect } from 'chai';
import { initBackend, tf } from '../../src/tf.js';
import type { Learner } from '../../src/types.js';
import type { MethodDef } from '../../src/learners/method.js';
import { createLearner } from '../../src/learners/index.js';
import { finetuneMethod } from '../../src/learners/finetune.js';
import { replayMethod } from '../../src/learners/replay.js';
import { jointMethod } from '../../src/learners/joint.js';
import { waMethod } from '../../src/learners/wa.js';
import type { TaskRecord } from '../../src/learners/head-learner.js';
import { accuracy, experiences, gaussianClusters, subset } from '../train/synthetic.js';

describe('learners/baselines (finetune, replay, joint)', function () {
  this.timeout(60000);
  const dim = 32;
  const data = gaussianClusters({ classes: 15, dim, trainPerClass: 200, testPerClass: 50, sigma: 0.3, seed: 7, nonNegative: true });
  const stream = experiences(data.train, 15, 5);
  const old = [...stream[0].classes, ...stream[1].classes];

  before(async () => {
    await initBackend();
  });

  async function runStream(method: MethodDef, options: Record<string, number | boolean | string>): Promise<Learner> {
    const l = createLearner(method, { epochs: 8, ...options }, { seed: 3, dim, numClasses: 15 });
    for (const exp of stream) await l.learn(exp);
    return l;
  }

  it('finetune forgets more than replay; joint keeps old classes best', async () => {
    const ft = await runStream(finetuneMethod, {});
    const rp = await runStream(replayMethod, { memory: 150 });
    const jt = await runStream(jointMethod, {});
    const [ftOld, rpOld, jtOld] = [ft, rp, jt].map((l) => accuracy(l.predict(data.test), data.test, old));
    expect(ftOld).to.be.lessThan(10); // nothing protects the old classes
    expect(rpOld).to.be.greaterThan(ftOld + 50);
    expect(jtOld).to.be.at.least(rpOld - 1);
    // every learner still learns the newest task
    for (const l of [ft, rp, jt]) expect(accuracy(l.predict(data.test), data.test, stream[2].classes)).to.be.greaterThan(90);
    for (const l of [ft, rp, jt]) l.dispose();
  });

  it('finetune keeps no exemplars and no KD; replay keeps herded exemplars within the budget; neither aligns', async () => {
    const ft = createLearner(finetuneMethod, { epochs: 1 }, { seed: 1, dim, numClasses: 15 });
    const rp = createLearner(replayMethod, { epochs: 1, memory: 40 }, { seed: 1, dim, numClasses: 15 });
    for (const exp of stream) {
      await ft.learn(exp);
      await rp.learn(exp);
    }
    const fs = ft.stateSummary();
    expect(fs.exemplars).to.equal(undefined);
    expect((fs.perTask as TaskRecord[]).map((r) => r.trainSamples)).to.deep.equal([1000, 1000, 1000]);
    expect((fs.perTask as TaskRecord[]).every((r) => r.lambda === null && r.gamma === null)).to.equal(true);
    const rs = rp.stateSummary();
    const ex = rs.exemplars as { total: number; perClass: Record<string, number> };
    expect(ex.total).to.equal(2 * 15);
    expect((rs.perTask as TaskRecord[]).map((r) => r.exemplarsUsed)).to.deep.equal([0, 40, 40]);
    expect((rs.perTask as TaskRecord[]).every((r) => r.lambda === null && r.gamma === null)).to.equal(true);
    expect(rs.clip).to.equal(false); // clipping is wa's recipe; off by default here
    ft.dispose();
    rp.dispose();
  });

  it('joint retrains on every feature seen so far (and says it stores them)', async () => {
    const jt = createLearner(jointMethod, { epochs: 1 }, { seed: 1, dim, numClasses: 15 });
    const counts: number[] = [];
    for (const exp of stream) {
      await jt.learn(exp);
      counts.push(jt.stateSummary().storedFeatures as number);
    }
    expect(counts).to.deep.equal([1000, 2000, 3000]);
    expect((jt.stateSummary().perTask as TaskRecord[]).map((r) => r.trainSamples)).to.deep.equal([1000, 2000, 3000]);
    expect(jointMethod.description).to.match(/keeps every past feature/);
    jt.dispose();
  });

  it('wa --align false --kd false with the same head equals replay with clipping on', async () => {
    const opts = { epochs: 2, memory: 60, clip: 'true' };
    const a = createLearner(waMethod, { ...opts, align: false, kd: false }, { seed: 9, dim, numClasses: 15 });
    const b = createLearner(replayMethod, opts, { seed: 9, dim, numClasses: 15 });
    for (const exp of stream.slice(0, 2)) {
      await a.learn(exp);
      await b.learn(exp);
    }
    const test = subset(data.test, old);
    expect(Array.from(a.predict(test))).to.deep.equal(Array.from(b.predict(test)));
    a.dispose();
    b.dispose();
  });

  it('no tensor leak across increments for the baselines', async () => {
    for (const m of [finetuneMethod, replayMethod, jointMethod]) {
      const options: Record<string, number | string> = m === replayMethod ? { epochs: 1, memory: 30, head: 'mlp', hidden: 8 } : { epochs: 1, head: 'mlp', hidden: 8 };
      const l = createLearner(m, options, { seed: 1, dim, numClasses: 15 });
      const counts: number[] = [];
      for (const exp of stream) {
        await l.learn(exp);
        l.predict(data.test);
        counts.push(tf.memory().numTensors);
      }
      expect(new Set(counts).size, m.name).to.equal(1);
      l.dispose();
    }
  });
});
