/**
 * Long synchronous work lets the event loop run (so a SIGINT/SIGTERM handler gets a turn) well
 * within an epoch, and between the classes of herding. stopWork itself is exercised through the CLI
 * (test/cli/signals.test.ts): in this process it would park every later test.
 */
import { expect } from 'chai';
import { answerInBlocks, predictInBlocks } from '../src/eval/answers.js';
import { SLICE_MS, stopRequested, yieldPoint } from '../src/interrupt.js';
import { createLearner } from '../src/learners/index.js';
import type { RanpacLearner } from '../src/learners/ranpac.js';
import { Rng } from '../src/rng.js';
import { initBackend, tf } from '../src/tf.js';
import { fit, hostRows } from '../src/train/loop.js';
import { ExemplarMemory } from '../src/train/memory.js';
import { createOptimizer } from '../src/train/optimizers.js';
import { makeSchedule } from '../src/train/schedule.js';
import { crossEntropy } from '../src/train/losses.js';
import type { Features, Learner } from '../src/types.js';
import { gaussianClusters } from './train/synthetic.js';

describe('interrupt: yield points in long work', () => {
  before(async () => {
    await initBackend();
  });

  it('yieldPoint gives the event loop a turn once a slice has passed, and is free within a slice', async () => {
    expect(stopRequested()).to.equal(null);
    const turnDuring = async (before: () => void): Promise<boolean> => {
      let turned = false;
      before();
      setImmediate(() => (turned = true));
      await yieldPoint();
      return turned;
    };
    const busy = (ms: number) => () => {
      const t0 = performance.now();
      while (performance.now() - t0 < ms);
    };
    // After more than a slice of work: a turn.
    expect(await turnDuring(busy(SLICE_MS + 5))).to.equal(true);
    // Right after a turn: none (retried, as a loaded machine may pause this process for a slice).
    let free = false;
    for (let k = 0; k < 5 && !free; k++) free = !(await turnDuring(() => undefined));
    expect(free).to.equal(true);
  });

  it('a training epoch of many mini-batches lets a timer run before the epoch ends', async () => {
    const d = gaussianClusters({ classes: 4, dim: 8, trainPerClass: 300, testPerClass: 1, sigma: 0.3, seed: 5 });
    const rng = new Rng(1);
    const w = tf.variable(tf.zeros([4, 8]));
    const optimizer = createOptimizer([w], { kind: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 0 });
    let steps = 0;
    let stepsWhenTimerRan = -1;
    setTimeout(() => (stepsWhenTimerRan = steps), 0);
    try {
      await fit({
        data: { x: hostRows(d.train.x, 8), y: hostRows(d.train.y) },
        loss: (b) => crossEntropy(tf.matMul(b.x as tf.Tensor2D, w, false, true), b.y as tf.Tensor1D),
        groups: [{ optimizer, schedule: makeSchedule('constant', 0.01, 1) }],
        epochs: 1,
        batchSize: 1, // 1,200 steps in one epoch
        rng,
        task: 0,
        afterStep: () => void steps++,
      });
    } finally {
      optimizer.dispose();
      w.dispose();
    }
    expect(steps).to.equal(1200);
    expect(stepsWhenTimerRan, 'the timer ran inside the epoch, not after it').to.be.within(1, 1199);
  });

  it('evaluation of a slow learner lets a timer run between row blocks, with the answers of one whole-block call', async () => {
    const d = gaussianClusters({ classes: 3, dim: 4, trainPerClass: 1, testPerClass: 2000, sigma: 0.5, seed: 3 });
    const busy = (ms: number): void => {
      const t0 = performance.now();
      while (performance.now() - t0 < ms);
    };
    const rowsDone: number[] = [];
    let done = 0;
    // ~40 µs of work per row: 6,000 rows take ~240 ms in one call.
    const label = (x: Features, i: number): number => (x.x[i * x.dim] > x.x[i * x.dim + 1] ? 0 : 1);
    const slow: Learner = {
      name: 'slow',
      learn: async () => undefined,
      dispose: () => undefined,
      options: () => ({}),
      stateSummary: () => ({}),
      predict: (x) => {
        busy(x.count * 0.04);
        done += x.count;
        return Int32Array.from({ length: x.count }, (_, i) => label(x, i));
      },
      scores: (x) => ({ labels: [0, 1], values: Float32Array.from({ length: x.count * 2 }, (_, k) => x.x[Math.floor(k / 2) * x.dim + (k % 2)]) }),
      extraPredictions: (x) => ({ flipped: Int32Array.from({ length: x.count }, (_, i) => 1 - label(x, i)) }),
    };
    const watcher = setInterval(() => rowsDone.push(done), 0);
    let predictions: Int32Array;
    try {
      predictions = await predictInBlocks(slow, d.test);
    } finally {
      clearInterval(watcher);
    }
    expect(done).to.equal(d.test.count);
    expect(rowsDone.some((n) => n > 0 && n < d.test.count), `rows done when the timer ran: ${rowsDone.join(', ')}`).to.equal(true);
    expect(Array.from(predictions)).to.deep.equal(Array.from(slow.predict(d.test)));
    const answers = await answerInBlocks(slow, d.test, predictions);
    expect(Array.from(answers.predict(d.test))).to.deep.equal(Array.from(predictions));
    expect(Array.from(answers.scores!(d.test).values)).to.deep.equal(Array.from(slow.scores!(d.test).values));
    expect(Array.from(answers.extraPredictions!(d.test).flipped)).to.deep.equal(Array.from(slow.extraPredictions!(d.test).flipped));
    expect(() => answers.predict({ ...d.test, x: d.test.x.slice() })).to.throw(/another block of rows/);
  });

  it("ranpac's learn (Gram blocks and the 17 ridge solves of its λ search) lets the event loop run, with learnBatch's result", async () => {
    const d = gaussianClusters({ classes: 4, dim: 64, trainPerClass: 400, testPerClass: 20, sigma: 0.5, seed: 8, nonNegative: true });
    const exp = { index: 0, classes: [0, 1, 2, 3], train: d.train };
    const stepwise = createLearner('ranpac', { projection: 600 }, { seed: 1, dim: 64, numClasses: 4 }) as RanpacLearner;
    const inOneGo = createLearner('ranpac', { projection: 600 }, { seed: 1, dim: 64, numClasses: 4 }) as RanpacLearner;
    let learning = true;
    let turnsWhileLearning = 0;
    const watcher = setInterval(() => void (learning && turnsWhileLearning++), 0);
    try {
      await stepwise.learn(exp);
      learning = false;
    } finally {
      clearInterval(watcher);
    }
    expect(turnsWhileLearning, 'timer turns while learn() ran').to.be.greaterThan(0);
    inOneGo.learnBatch(d.train);
    expect(stepwise.ridge()).to.equal(inOneGo.ridge());
    expect(Array.from(stepwise.predict(d.test))).to.deep.equal(Array.from(inOneGo.predict(d.test)));
    expect(Buffer.from(stepwise.gramMatrix().buffer).equals(Buffer.from(inOneGo.gramMatrix().buffer))).to.equal(true);
  });

  it('herding for the exemplar memory lets the event loop run between classes', async () => {
    const d = gaussianClusters({ classes: 6, dim: 256, trainPerClass: 600, testPerClass: 1, sigma: 0.5, seed: 2 });
    const mem = new ExemplarMemory(256, { mode: 'per-class', total: 0, perClass: 300, herding: 'icarl' });
    const seen: number[] = [];
    const watcher = setInterval(() => seen.push(mem.labels().length), 0);
    try {
      await mem.update([0, 1, 2, 3, 4, 5], d.train, new Rng(1));
    } finally {
      clearInterval(watcher);
    }
    expect(mem.size).to.equal(6 * 300);
    // The timer ran while classes were being herded (after some and before the last one).
    expect(seen.some((n) => n >= 1 && n < 6), `classes done when the timer ran: ${seen.join(', ')}`).to.equal(true);
  });
});
