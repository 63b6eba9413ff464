/**
 * `B{b}-Inc{i}` splits (docs/protocols.md "Scenario names"). B0-Inc{i}: every task, the first included, holds i classes.
 * B{b}-Inc{i} with b > 0: the first task holds b classes, every later task i. Uneven increments are
 * an explicit list, `B50-Inc[17,17,16]`. A uniform increment that does not divide the remaining
 * classes is rejected (PyCIL silently appends a smaller remainder task; `cl` does not).
 */
import { UserError } from '../errors.js';

export interface SplitSpec {
  /** Classes of the first task; 0 means the first task is an ordinary increment. */
  base: number;
  /** Uniform increment, or the explicit list of increments after the base task. */
  increment: number | number[];
}

const SPLIT_RE = /^B(\d+)-Inc(?:(\d+)|\[\s*(\d+(?:\s*,\s*\d+)*)\s*\])$/i;
const SPLIT_HINT = 'write B{base}-Inc{increment} (e.g. B0-Inc10, B50-Inc5) or B{base}-Inc[a,b,...] for uneven increments';

export function parseSplit(name: string): SplitSpec {
  const m = SPLIT_RE.exec(name.trim());
  if (!m) throw new UserError(`cannot read split "${name}"`, SPLIT_HINT);
  const base = Number(m[1]);
  const increment = m[2] !== undefined ? Number(m[2]) : m[3].split(',').map((t) => Number(t.trim()));
  return { base, increment };
}

/** Canonical name: B0-Inc10, B50-Inc[17,17,16]. */
export function formatSplit(spec: SplitSpec): string {
  const inc = Array.isArray(spec.increment) ? `[${spec.increment.join(',')}]` : String(spec.increment);
  return `B${spec.base}-Inc${inc}`;
}

function asSpec(split: string | SplitSpec): SplitSpec {
  return typeof split === 'string' ? parseSplit(split) : split;
}

/**
 * Number of classes in each task, validated against `numClasses`.
 * T = C / i for b = 0, T = 1 + (C − b) / i for b > 0.
 */
export function taskSizes(split: string | SplitSpec, numClasses: number): number[] {
  const spec = asSpec(split);
  const name = formatSplit(spec);
  const { base } = spec;
  if (!Number.isInteger(base) || base < 0 || base > numClasses) {
    throw new UserError(`split ${name}: base ${base} is outside 0..${numClasses}`, `the dataset has ${numClasses} classes`);
  }
  const rest = numClasses - base;
  const head = base > 0 ? [base] : [];
  if (Array.isArray(spec.increment)) {
    const list = spec.increment;
    if (list.length === 0 || list.some((v) => !Number.isInteger(v) || v < 1)) {
      throw new UserError(`split ${name}: every increment must be a positive integer`, SPLIT_HINT);
    }
    const sum = list.reduce((a, v) => a + v, 0);
    if (sum !== rest) {
      throw new UserError(
        `split ${name}: the increments add up to ${sum} but ${rest} classes remain after the base of ${base} (dataset: ${numClasses} classes)`,
        `make the increments sum to ${rest}`,
      );
    }
    return [...head, ...list];
  }
  const inc = spec.increment;
  if (!Number.isInteger(inc) || inc < 1) {
    throw new UserError(`split ${name}: the increment must be a positive integer`, SPLIT_HINT);
  }
  if (rest % inc !== 0) {
    const t = Math.floor(rest / inc);
    const remainder = rest - t * inc;
    const divisors = [];
    for (let d = 1; d <= rest; d++) if (rest % d === 0) divisors.push(d);
    throw new UserError(
      `split ${name}: increment ${inc} does not divide the ${rest} classes after the base of ${base} (dataset: ${numClasses} classes)`,
      `choose an increment that divides ${rest} (${divisors.join(', ')}), or list the increments explicitly, ` +
        `e.g. B${base}-Inc[${[...Array<number>(t).fill(inc), remainder].join(',')}]`,
    );
  }
  return [...head, ...Array<number>(rest / inc).fill(inc)];
}

export function numTasks(split: string | SplitSpec, numClasses: number): number {
  return taskSizes(split, numClasses).length;
}

/** The classes of every task: task k holds the next taskSizes[k] entries of the class order. */
export function taskClasses(order: readonly number[], split: string | SplitSpec): number[][] {
  const sizes = taskSizes(split, order.length);
  const out: number[][] = [];
  let p = 0;
  for (const n of sizes) {
    out.push(order.slice(p, p + n));
    p += n;
  }
  return out;
}
