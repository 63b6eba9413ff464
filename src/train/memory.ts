/**
 * Exemplar memory of feature copies (docs/methods/wa.md "Algorithm" step 6 and "On frozen features"; iCaRL, Rebuffi et al., arXiv 1611.07725).
 * Each class keeps its rows in selection (herding) order; a smaller quota is a prefix cut, and
 * selection runs once per class, when the class first arrives.
 *   fixed-total: quota m_c = floor(M / K) over the K classes seen (≤ M rows in all)
 *   per-class:   quota m_c = perClass for every class (grows with K)
 */
import type { Features } from '../types.js';
import type { Rng } from '../rng.js';
import { UserError } from '../errors.js';
import { yieldPoint } from '../interrupt.js';
import { selectionOrder, type HerdingKind } from './herding.js';

export type MemoryMode = 'fixed-total' | 'per-class';
export const MEMORY_MODES: MemoryMode[] = ['fixed-total', 'per-class'];

export interface MemoryConfig {
  mode: MemoryMode;
  /** Total budget M (fixed-total). */
  total: number;
  /** Rows per class (per-class). */
  perClass: number;
  herding: HerdingKind;
}

interface ClassExemplars {
  label: number;
  /** Kept rows (row-major, count × dim), in selection order. */
  rows: Float32Array;
  count: number;
}

export class ExemplarMemory {
  private readonly classes: ClassExemplars[] = [];

  constructor(
    readonly dim: number,
    readonly config: MemoryConfig,
  ) {
    if (!(config.total >= 0) || !Number.isInteger(config.total)) {
      throw new UserError(`memory must be a non-negative integer, got ${config.total}`, 'pass e.g. --memory 2000');
    }
    if (!(config.perClass >= 0) || !Number.isInteger(config.perClass)) {
      throw new UserError(
        `memoryPerClass must be a non-negative integer, got ${config.perClass}`,
        'pass e.g. --memory-per-class 20',
      );
    }
  }

  /** Per-class quota once `numClasses` classes are seen. */
  quota(numClasses: number): number {
    if (this.config.mode === 'per-class') return this.config.perClass;
    return numClasses > 0 ? Math.floor(this.config.total / numClasses) : 0;
  }

  /**
   * After a task: trim the old classes to the new quota (prefix of their order) and select
   * exemplars for each new class from its training rows. Async only to let the event loop run
   * between classes (herding a class takes a while; see interrupt.ts).
   */
  async update(newClasses: number[], train: Features, rng: Rng): Promise<void> {
    const K = this.classes.length + newClasses.length;
    const q = this.quota(K);
    for (const c of this.classes) {
      if (c.count > q) {
        c.rows = c.rows.slice(0, q * this.dim);
        c.count = q;
      }
    }
    for (const label of newClasses) {
      await yieldPoint();
      if (this.classes.some((c) => c.label === label)) throw new Error(`class ${label} is already in the memory`);
      const idx: number[] = [];
      for (let i = 0; i < train.count; i++) if (train.y[i] === label) idx.push(i);
      const rows = gatherRows(train.x, idx, this.dim);
      const order = selectionOrder(this.config.herding, rows, idx.length, this.dim, q, rng);
      const ordered = gatherRows(rows, Array.from(order), this.dim);
      this.classes.push({ label, rows: ordered, count: order.length });
    }
  }

  /** Exemplar count per class (label as key), in arrival order. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.classes) out[String(c.label)] = c.count;
    return out;
  }

  get size(): number {
    return this.classes.reduce((s, c) => s + c.count, 0);
  }

  labels(): number[] {
    return this.classes.map((c) => c.label);
  }

  /** The kept rows of one class, in selection order. */
  rowsOf(label: number): { rows: Float32Array; count: number } | null {
    const c = this.classes.find((e) => e.label === label);
    return c ? { rows: c.rows, count: c.count } : null;
  }

  /** All exemplars as one Features block (classes in arrival order). */
  features(): Features {
    const n = this.size;
    const x = new Float32Array(n * this.dim);
    const y = new Int32Array(n);
    let o = 0;
    for (const c of this.classes) {
      x.set(c.rows, o * this.dim);
      y.fill(c.label, o, o + c.count);
      o += c.count;
    }
    return { x, y, count: n, dim: this.dim };
  }
}

function gatherRows(x: Float32Array, idx: ArrayLike<number>, dim: number): Float32Array {
  const out = new Float32Array(idx.length * dim);
  for (let k = 0; k < idx.length; k++) out.set(x.subarray(idx[k] * dim, idx[k] * dim + dim), k * dim);
  return out;
}
