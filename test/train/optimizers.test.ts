import { expect } from 'chai';
import { initBackend, tf } from '../../src/tf.js';
import { createOptimizer } from '../../src/train/optimizers.js';
import { UserError } from '../../src/errors.js';

function grads(v: tf.Variable, g: number[]): tf.NamedTensorMap {
  return { [v.name]: tf.tensor1d(g) };
}

describe('train/optimizers', () => {
  before(async () => {
    await initBackend();
  });

  it('SGD with momentum and coupled weight decay follows torch.optim.SGD by hand', () => {
    const v = tf.variable(tf.tensor1d([1, -2]));
    const opt = createOptimizer([v], { kind: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    // step 1: g' = g + wd·θ = (0.5 + 0.01, 0.5 − 0.02); v1 = g'; θ1 = θ − 0.1·v1
    tf.tidy(() => opt.apply(grads(v, [0.5, 0.5])));
    const v1 = [0.51, 0.48];
    const t1 = [1 - 0.1 * v1[0], -2 - 0.1 * v1[1]];
    const got1 = Array.from(v.dataSync());
    got1.forEach((x, i) => expect(x).to.be.closeTo(t1[i], 1e-6));
    // step 2: g' = g + wd·θ1; v2 = 0.9·v1 + g'; θ2 = θ1 − lr·v2 (lr changed to 0.05)
    opt.learningRate = 0.05;
    tf.tidy(() => opt.apply(grads(v, [-1, 2])));
    const v2 = [0.9 * v1[0] + (-1 + 0.01 * t1[0]), 0.9 * v1[1] + (2 + 0.01 * t1[1])];
    const t2 = [t1[0] - 0.05 * v2[0], t1[1] - 0.05 * v2[1]];
    Array.from(v.dataSync()).forEach((x, i) => expect(x).to.be.closeTo(t2[i], 1e-6));
    opt.dispose();
    v.dispose();
  });

  it('Adam: the first step moves each weight by lr·sign(g); matches the bias-corrected formula on step 2', () => {
    const v = tf.variable(tf.tensor1d([0.5, 0.5]));
    const opt = createOptimizer([v], { kind: 'adam', lr: 0.01 });
    tf.tidy(() => opt.apply(grads(v, [3, -0.002])));
    Array.from(v.dataSync()).forEach((x, i) => expect(x).to.be.closeTo([0.49, 0.51][i], 1e-6));
    tf.tidy(() => opt.apply(grads(v, [1, -0.002])));
    const m = 0.9 * 0.1 * 3 + 0.1 * 1;
    const s = 0.999 * 0.001 * 9 + 0.001 * 1;
    const step = (0.01 * (m / (1 - 0.81))) / (Math.sqrt(s / (1 - 0.999 ** 2)) + 1e-8);
    expect(v.dataSync()[0]).to.be.closeTo(0.49 - step, 1e-6);
    opt.dispose();
    v.dispose();
  });

  it('frees its state: no tensors left after dispose', () => {
    const v = tf.variable(tf.zeros([3, 4]));
    const before = tf.memory().numTensors;
    for (const kind of ['sgd', 'adam'] as const) {
      const opt = createOptimizer([v], { kind, lr: 0.1, weightDecay: 1e-3 });
      tf.tidy(() => opt.apply({ [v.name]: tf.onesLike(v) }));
      opt.dispose();
    }
    expect(tf.memory().numTensors).to.equal(before);
    v.dispose();
  });

  it('rejects a non-positive learning rate and an unknown kind with a UserError', () => {
    expect(() => createOptimizer([], { kind: 'sgd', lr: 0 })).to.throw(UserError, /learning rate/);
    expect(() => createOptimizer([], { kind: 'rmsprop' as 'sgd', lr: 0.1 })).to.throw(UserError, /unknown optimiser/);
  });
});
