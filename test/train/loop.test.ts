import { expect } from 'chai';
import { initBackend, tf } from '../../src/tf.js';
import { Rng } from '../../src/rng.js';
import type { LearnerEvent } from '../../src/types.js';
import { batchRanges, epochBatches } from '../../src/train/batches.js';
import { fit, hostRows } from '../../src/train/loop.js';
import { createOptimizer } from '../../src/train/optimizers.js';
import { makeSchedule } from '../../src/train/schedule.js';
import { crossEntropy } from '../../src/train/losses.js';
import { kaimingUniform } from '../../src/train/init.js';
import { TrainingDivergedError } from '../../src/train/diverged.js';
import { gaussianClusters } from './synthetic.js';

/** Trains a linear softmax classifier with the shared loop; returns final weights and the events. */
async function trainLinear(opts: { seed: number; lr: number; epochs: number; poison?: boolean; host?: boolean }) {
  const d = gaussianClusters({ classes: 4, dim: 5, trainPerClass: 40, testPerClass: 1, sigma: 0.3, seed: 4 });
  const xs = Float32Array.from(d.train.x);
  if (opts.poison) xs[17] = NaN;
  const x = tf.tensor2d(xs, [d.train.count, 5]);
  const y = tf.tensor1d(d.train.y, 'int32');
  const rng = new Rng(opts.seed);
  const w = tf.tidy(() => tf.variable(kaimingUniform(rng, 4, 5)));
  const optimizer = createOptimizer([w], { kind: 'sgd', lr: opts.lr, momentum: 0.9, weightDecay: 5e-4 });
  const events: LearnerEvent[] = [];
  try {
    const result = await fit({
      data: opts.host ? { x: hostRows(xs, 5), y: hostRows(d.train.y) } : { x, y },
      loss: (b) => crossEntropy(tf.matMul(b.x as tf.Tensor2D, w, false, true), b.y as tf.Tensor1D),
      groups: [{ optimizer, schedule: makeSchedule('step', opts.lr, opts.epochs) }],
      epochs: opts.epochs,
      batchSize: 32,
      rng,
      task: 2,
      ctx: { emit: (e) => events.push(e) },
    });
    return { w: Array.from(w.dataSync()), result, events };
  } finally {
    optimizer.dispose();
    w.dispose();
    x.dispose();
    y.dispose();
  }
}

describe('train/loop', () => {
  before(async () => {
    await initBackend();
  });

  it('batches: seeded permutation cut into consecutive ranges, last one smaller', () => {
    expect(batchRanges(10, 4)).to.deep.equal([
      [0, 4],
      [4, 8],
      [8, 10],
    ]);
    const a = epochBatches(10, 4, new Rng(3)).map((b) => Array.from(b));
    const b = epochBatches(10, 4, new Rng(3)).map((v) => Array.from(v));
    expect(a).to.deep.equal(b);
    expect(a.flat().sort((p, q) => p - q)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('learns, emits one epoch event per epoch with a falling loss, and frees every tensor', async () => {
    const before = tf.memory().numTensors;
    const { result, events } = await trainLinear({ seed: 1, lr: 0.1, epochs: 6 });
    expect(tf.memory().numTensors).to.equal(before);
    expect(result.steps).to.equal(6 * 5);
    expect(events.map((e) => (e.type === 'epoch' ? e.epoch : -1))).to.deep.equal([1, 2, 3, 4, 5, 6]);
    const losses = result.epochLosses;
    expect(losses[5]).to.be.lessThan(losses[0] * 0.5);
    const first = events[0];
    if (first.type !== 'epoch') throw new Error('expected an epoch event');
    expect(first).to.include({ task: 2, epochs: 6 });
    expect(first.loss).to.equal(losses[0]);
  });

  it('same seed → bit-identical weights; another seed → different', async () => {
    const a = await trainLinear({ seed: 7, lr: 0.1, epochs: 3 });
    const b = await trainLinear({ seed: 7, lr: 0.1, epochs: 3 });
    const c = await trainLinear({ seed: 8, lr: 0.1, epochs: 3 });
    expect(a.w).to.deep.equal(b.w);
    expect(a.w).to.not.deep.equal(c.w);
  });

  it('host-side rows and device tensors give bit-identical training', async () => {
    const a = await trainLinear({ seed: 7, lr: 0.1, epochs: 3, host: true });
    const b = await trainLinear({ seed: 7, lr: 0.1, epochs: 3, host: false });
    expect(a.w).to.deep.equal(b.w);
    expect(a.result.epochLosses).to.deep.equal(b.result.epochLosses);
  });

  it('lr 1e30 → TrainingDivergedError naming the task, the epoch and --lr; no tensors leak', async () => {
    const before = tf.memory().numTensors;
    let err: unknown = null;
    try {
      await trainLinear({ seed: 1, lr: 1e30, epochs: 20 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(TrainingDivergedError);
    const e = err as TrainingDivergedError;
    expect(e.message).to.match(/task index 2, epoch \d+\/20/);
    expect(e.message).to.match(/--lr, now 1e\+30/);
    expect(Number.isFinite(e.loss)).to.equal(false);
    expect(tf.memory().numTensors).to.equal(before);
  });

  it('NaN in the features → TrainingDivergedError in epoch 1', async () => {
    let err: unknown = null;
    try {
      await trainLinear({ seed: 1, lr: 0.1, epochs: 3, poison: true });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(TrainingDivergedError);
    expect((err as TrainingDivergedError).epoch).to.equal(1);
    expect((err as Error).message).to.match(/NaN/);
  });
});
