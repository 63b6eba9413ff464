/**
 * Class orders (protocols.md §2). Orders are data: the published orders ship as literal lists and
 * are never regenerated. A seeded order is a permutation from `cl`'s own Rng (src/rng.ts), labelled
 * `seed-<n>`; it is NOT NumPy's `np.random.permutation` for that seed.
 */
import { UserError } from '../errors.js';
import { Rng } from '../rng.js';

export interface ClassOrder {
  /** 'icarl-1993', 'podnet-fixed', 'natural', 'seed-<n>', or 'custom-<hash>' for a literal list. */
  id: string;
  /** The seed of a seeded order, null otherwise. */
  seed: number | null;
  /** Position p of the order holds original label classes[p]. */
  classes: number[];
}

/** NumPy `np.random.seed(1993); np.random.permutation(100)` (PyCIL, PILOT, APER, PASS, FACIL `cifar100_icarl`). */
export const ICARL_1993: readonly number[] = Object.freeze([
  68, 56, 78, 8, 23, 84, 90, 65, 74, 76, 40, 89, 3, 92, 55, 9, 26, 80, 43, 38,
  58, 70, 77, 1, 85, 19, 17, 50, 28, 53, 13, 81, 45, 82, 6, 59, 83, 16, 15, 44,
  91, 41, 72, 60, 79, 52, 20, 10, 31, 54, 37, 95, 14, 71, 96, 98, 97, 2, 64, 66,
  42, 22, 35, 86, 24, 34, 87, 21, 99, 0, 88, 27, 18, 94, 11, 12, 47, 25, 30, 46,
  62, 69, 36, 61, 7, 63, 75, 5, 32, 4, 51, 48, 73, 93, 39, 67, 29, 49, 57, 33,
]);

/** Janson et al. `main_cifar100.py` (Pauljanson002/pretrained-cl) = PODNet's `inclearn` CIFAR-100 order. */
export const PODNET_FIXED: readonly number[] = Object.freeze([
  87, 0, 52, 58, 44, 91, 68, 97, 51, 15, 94, 92, 10, 72, 49, 78, 61, 14, 8, 86,
  84, 96, 18, 24, 32, 45, 88, 11, 4, 67, 69, 66, 77, 47, 79, 93, 29, 50, 57, 83,
  17, 81, 41, 12, 37, 59, 25, 20, 80, 73, 1, 28, 6, 46, 62, 82, 53, 9, 31, 75,
  38, 63, 33, 74, 27, 22, 36, 3, 16, 21, 60, 19, 70, 90, 89, 43, 5, 42, 65, 76,
  40, 30, 23, 85, 2, 95, 56, 48, 71, 64, 98, 13, 99, 7, 34, 55, 54, 26, 35, 39,
]);

/** Literal orders by name; each applies only to a dataset with exactly that many classes. */
export const NAMED_ORDERS: Readonly<Record<string, readonly number[]>> = Object.freeze({
  'icarl-1993': ICARL_1993,
  'podnet-fixed': PODNET_FIXED,
});

/** Every order name accepted on the command line (besides `seed:<n>` and literal lists). */
export const ORDER_NAMES: readonly string[] = ['icarl-1993', 'podnet-fixed', 'natural'];

export type OrderSpec = string | number[] | { seed: number };

const ORDER_HINT =
  'use icarl-1993, podnet-fixed, natural, seed:<n> (a seeded permutation), or a comma-separated list of every class id';

/** Σ p·order[p]: the checksum quoted in protocols.md §2. */
export function orderChecksum(order: readonly number[]): number {
  let s = 0;
  for (let p = 0; p < order.length; p++) s += p * order[p];
  return s;
}

/** Throws a UserError unless `order` is a permutation of 0..numClasses-1. `what` names the source. */
export function validatePermutation(order: readonly number[], numClasses: number, what = 'class order'): void {
  if (order.length !== numClasses) {
    throw new UserError(
      `${what} has ${order.length} entries but the dataset has ${numClasses} classes`,
      `list every class id 0..${numClasses - 1} exactly once`,
    );
  }
  const seen = new Uint8Array(numClasses);
  for (let p = 0; p < order.length; p++) {
    const c = order[p];
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
      throw new UserError(
        `${what}: entry ${p} is ${String(c)}, not a class id in 0..${numClasses - 1}`,
        `list every class id 0..${numClasses - 1} exactly once`,
      );
    }
    if (seen[c]) {
      throw new UserError(
        `${what}: class ${c} appears more than once (again at position ${p})`,
        `list every class id 0..${numClasses - 1} exactly once`,
      );
    }
    seen[c] = 1;
  }
}

function seededOrder(seed: number, numClasses: number): ClassOrder {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new UserError(`order seed ${String(seed)} is not an integer in 0..4294967295`, 'use for example seed:1993');
  }
  return { id: `seed-${seed}`, seed, classes: new Rng(seed).permutation(numClasses) };
}

/** FNV-1a over the decimal list: a short stable id for a literal order that is not a named one. */
function literalId(order: readonly number[]): string {
  let h = 0x811c9dc5;
  for (const ch of order.join(',')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `custom-${h.toString(16).padStart(8, '0')}`;
}

function literalOrder(list: number[], numClasses: number, what: string): ClassOrder {
  validatePermutation(list, numClasses, what);
  for (const [name, named] of Object.entries(NAMED_ORDERS)) {
    if (named.length === list.length && named.every((c, i) => c === list[i])) {
      return { id: name, seed: null, classes: [...named] };
    }
  }
  if (list.every((c, i) => c === i)) return { id: 'natural', seed: null, classes: [...list] };
  return { id: literalId(list), seed: null, classes: [...list] };
}

/**
 * Resolve an order spec for a dataset with `numClasses` classes.
 * Strings: 'icarl-1993', 'podnet-fixed', 'natural', 'seed:<n>', or a comma-separated literal list.
 * A literal list equal to a named order takes that order's id.
 */
export function resolveOrder(spec: OrderSpec, numClasses: number): ClassOrder {
  if (Array.isArray(spec)) return literalOrder(spec, numClasses, 'class order list');
  if (typeof spec === 'object' && spec !== null) return seededOrder(spec.seed, numClasses);
  const s = String(spec).trim();
  if (s === 'natural') return { id: 'natural', seed: null, classes: Array.from({ length: numClasses }, (_, i) => i) };
  const named = NAMED_ORDERS[s];
  if (named) {
    if (named.length !== numClasses) {
      throw new UserError(
        `class order "${s}" lists ${named.length} classes but the dataset has ${numClasses}`,
        `"${s}" is a CIFAR-100 order; for this dataset use natural, seed:<n> or a literal list`,
      );
    }
    return { id: s, seed: null, classes: [...named] };
  }
  const seedMatch = /^seed[:-](\d+)$/.exec(s);
  if (seedMatch) return seededOrder(Number(seedMatch[1]), numClasses);
  if (/^\s*\d+(\s*,\s*\d+)*\s*,?\s*$/.test(s) && s.includes(',')) {
    const list = s.split(',').map((t) => t.trim()).filter((t) => t !== '').map(Number);
    return literalOrder(list, numClasses, `class order "${s.length > 40 ? s.slice(0, 37) + '...' : s}"`);
  }
  throw new UserError(`unknown class order "${s}"`, ORDER_HINT);
}
