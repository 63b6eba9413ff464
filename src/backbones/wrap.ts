/**
 * Backbone decorators: give a backbone built by one kind the identity of another (an `hf:` repo or a
 * named backbone running on the `onnx` / `tfjs` engine), and add an honest time estimate to progress.
 */
import type { ImageSplit } from '../types.js';
import type { Backbone, ExtractOptions } from './types.js';

export interface Identity {
  id: string;
  kind: string;
  /** Merged over the inner backbone's describe(); the inner one is kept under `engine`. */
  describe: Record<string, unknown>;
}

/** `inner` with another id / kind and a describe() that records both layers. */
export function withIdentity(inner: Backbone, who: Identity): Backbone {
  return {
    id: who.id,
    kind: who.kind,
    preprocessing: inner.preprocessing,
    preprocessingId: inner.preprocessingId,
    ...(inner.preprocessingEngine ? { preprocessingEngine: inner.preprocessingEngine } : {}),
    describe: () => ({ ...who.describe, dim: inner.dim(), engine: inner.describe() }),
    extract: (split: ImageSplit, opts?: ExtractOptions) => inner.extract(split, opts),
    dim: () => inner.dim(),
    dispose: () => inner.dispose(),
  };
}

/**
 * Remaining-time estimate from progress reports. The first report is excluded from the rate: it
 * carries model warm-up (graph optimisation, kernel compilation, first allocations), which would make
 * a naive `done / elapsed` estimate far too pessimistic early on. So no estimate exists until the
 * second report; then rate = images since the first report / time since the first report.
 */
export class EtaEstimator {
  private first: { t: number; done: number } | null = null;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Seconds left, or undefined while no steady-state rate is known yet. */
  update(done: number, total: number): number | undefined {
    const t = this.now();
    if (!this.first) {
      this.first = { t, done };
      return undefined;
    }
    const images = done - this.first.done;
    const secs = (t - this.first.t) / 1000;
    if (images <= 0 || secs <= 0) return undefined;
    return Math.max(0, total - done) / (images / secs);
  }
}

/** `inner` whose extract() progress carries an ETA (4th argument, seconds) after the first batches. */
export function withEta(inner: Backbone): Backbone {
  return {
    id: inner.id,
    kind: inner.kind,
    preprocessing: inner.preprocessing,
    preprocessingId: inner.preprocessingId,
    ...(inner.preprocessingEngine ? { preprocessingEngine: inner.preprocessingEngine } : {}),
    describe: () => inner.describe(),
    dim: () => inner.dim(),
    dispose: () => inner.dispose(),
    extract: (split: ImageSplit, opts: ExtractOptions = {}) => {
      const cb = opts.onProgress;
      if (!cb) return inner.extract(split, opts);
      const eta = new EtaEstimator();
      return inner.extract(split, { ...opts, onProgress: (done, total, rate) => cb(done, total, rate, eta.update(done, total)) });
    },
  };
}

/** `3 h 05 min`, `12 min 40 s`, `45 s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}
