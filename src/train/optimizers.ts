/**
 * Optimisers over explicit tf.Variables, with PyTorch semantics so that recipes transfer:
 * weight decay is coupled L2 (g ← g + wd·θ), as in torch.optim.SGD / torch.optim.Adam.
 *   SGD + momentum (torch.optim.SGD, dampening 0): v ← μ·v + g;  θ ← θ − lr·v
 *   Adam (Kingma & Ba, arXiv 1412.6980, Alg. 1): m ← β1·m + (1−β1)·g;  s ← β2·s + (1−β2)·g²;
 *        θ ← θ − lr·m̂ / (√ŝ + ε) with bias-corrected m̂, ŝ.
 * The learning rate is a plain number, set per epoch from a schedule.
 */
import { tf } from '../tf.js';
import { UserError } from '../errors.js';

export type OptimizerKind = 'sgd' | 'adam';
export const OPTIMIZER_KINDS: OptimizerKind[] = ['sgd', 'adam'];

export interface OptimizerConfig {
  kind: OptimizerKind;
  lr: number;
  weightDecay?: number;
  /** SGD only (default 0.9). */
  momentum?: number;
  /** Adam only (defaults 0.9, 0.999, 1e-8). */
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export interface Optimizer {
  readonly variables: readonly tf.Variable[];
  learningRate: number;
  /** One update from gradients keyed by variable name (as tf.variableGrads returns them). */
  apply(grads: tf.NamedTensorMap): void;
  /** Free the optimiser state. */
  dispose(): void;
}

/** A non-trainable zero variable shaped like v (the temporary zeros are freed). */
function zerosVariable(v: tf.Variable): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zerosLike(v), false));
}

function gradFor(grads: tf.NamedTensorMap, v: tf.Variable): tf.Tensor | null {
  return grads[v.name] ?? null;
}

export class Sgd implements Optimizer {
  learningRate: number;
  private readonly velocity: tf.Variable[];

  constructor(
    readonly variables: readonly tf.Variable[],
    lr: number,
    private readonly momentum = 0.9,
    private readonly weightDecay = 0,
  ) {
    this.learningRate = lr;
    this.velocity = momentum > 0 ? variables.map(zerosVariable) : [];
  }

  apply(grads: tf.NamedTensorMap): void {
    tf.tidy(() => {
      this.variables.forEach((v, i) => {
        let g = gradFor(grads, v);
        if (!g) return;
        if (this.weightDecay > 0) g = tf.add(g, tf.mul(v, this.weightDecay));
        let step = g;
        if (this.momentum > 0) {
          const vel = tf.add(tf.mul(this.velocity[i], this.momentum), g);
          this.velocity[i].assign(vel);
          step = vel;
        }
        v.assign(tf.sub(v, tf.mul(step, this.learningRate)));
      });
    });
  }

  dispose(): void {
    for (const v of this.velocity) v.dispose();
    this.velocity.length = 0;
  }
}

export class Adam implements Optimizer {
  learningRate: number;
  private readonly m: tf.Variable[];
  private readonly s: tf.Variable[];
  private t = 0;

  constructor(
    readonly variables: readonly tf.Variable[],
    lr: number,
    private readonly weightDecay = 0,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {
    this.learningRate = lr;
    this.m = variables.map(zerosVariable);
    this.s = variables.map(zerosVariable);
  }

  apply(grads: tf.NamedTensorMap): void {
    this.t++;
    const c1 = 1 - Math.pow(this.beta1, this.t);
    const c2 = 1 - Math.pow(this.beta2, this.t);
    tf.tidy(() => {
      this.variables.forEach((v, i) => {
        let g = gradFor(grads, v);
        if (!g) return;
        if (this.weightDecay > 0) g = tf.add(g, tf.mul(v, this.weightDecay));
        const m = tf.add(tf.mul(this.m[i], this.beta1), tf.mul(g, 1 - this.beta1));
        const s = tf.add(tf.mul(this.s[i], this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        this.m[i].assign(m);
        this.s[i].assign(s);
        const denom = tf.add(tf.sqrt(tf.div(s, c2)), this.epsilon);
        v.assign(tf.sub(v, tf.mul(tf.div(tf.div(m, c1), denom), this.learningRate)));
      });
    });
  }

  dispose(): void {
    for (const v of [...this.m, ...this.s]) v.dispose();
    this.m.length = 0;
    this.s.length = 0;
  }
}

/** Rejects a configuration no optimiser runs with (a non-positive learning rate, an unknown kind); returns it. */
export function checkOptimizerConfig(cfg: OptimizerConfig): OptimizerConfig {
  if (!(cfg.lr > 0) || !Number.isFinite(cfg.lr)) {
    throw new UserError(`learning rate must be a positive number, got ${cfg.lr}`, 'pass e.g. --lr 0.1');
  }
  if (!OPTIMIZER_KINDS.includes(cfg.kind)) throw new UserError(`unknown optimiser "${String(cfg.kind)}"`, `use --optimizer ${OPTIMIZER_KINDS.join(' | ')}`);
  return cfg;
}

export function createOptimizer(variables: readonly tf.Variable[], cfg: OptimizerConfig): Optimizer {
  checkOptimizerConfig(cfg);
  switch (cfg.kind) {
    case 'sgd':
      return new Sgd(variables, cfg.lr, cfg.momentum ?? 0.9, cfg.weightDecay ?? 0);
    case 'adam':
      return new Adam(variables, cfg.lr, cfg.weightDecay ?? 0, cfg.beta1, cfg.beta2, cfg.epsilon);
  }
}
