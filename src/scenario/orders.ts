/**
 * Class orders (docs/protocols.md "Class orders"). Orders are data: the published orders ship as literal lists and
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

/** NumPy `np.random.seed(1993); np.random.permutation(50)` (PILOT / APER `shuffle: true, seed: 1993`). */
export const NUMPY_1993_50: readonly number[] = Object.freeze([
  43, 41, 23, 14, 13, 40, 42, 22, 16, 45, 17, 10, 27, 46, 35, 8, 2, 34, 1, 37,
  21, 0, 18, 36, 38, 24, 12, 6, 15, 20, 25, 48, 30, 19, 44, 26, 7, 28, 11, 5,
  32, 4, 9, 47, 39, 31, 3, 29, 49, 33,
]);
/** NumPy `np.random.seed(1993); np.random.permutation(200)` (PILOT / APER `shuffle: true, seed: 1993`). */
export const NUMPY_1993_200: readonly number[] = Object.freeze([
  168, 136, 51, 9, 183, 101, 171, 99, 42, 159, 191, 70, 16, 188, 27, 10, 175, 26, 68, 187,
  98, 6, 85, 35, 112, 43, 100, 0, 103, 181, 88, 59, 4, 2, 116, 174, 94, 80, 106, 1,
  147, 17, 141, 131, 72, 23, 173, 54, 197, 118, 87, 32, 79, 104, 91, 19, 135, 107, 178, 36,
  11, 199, 142, 8, 122, 3, 28, 57, 153, 172, 190, 56, 49, 44, 97, 62, 151, 169, 194, 55,
  192, 12, 189, 78, 66, 180, 15, 137, 109, 134, 92, 119, 126, 52, 170, 40, 148, 65, 144, 64,
  138, 45, 77, 89, 154, 90, 71, 193, 74, 30, 113, 143, 96, 84, 67, 50, 186, 156, 69, 21,
  18, 111, 108, 58, 125, 157, 150, 110, 182, 129, 166, 83, 81, 60, 13, 165, 14, 176, 63, 117,
  5, 22, 145, 121, 38, 41, 82, 127, 114, 20, 31, 53, 37, 163, 196, 130, 152, 162, 86, 76,
  24, 34, 184, 149, 33, 128, 198, 155, 146, 167, 139, 120, 140, 102, 47, 25, 158, 123, 46, 164,
  61, 7, 115, 75, 133, 160, 105, 132, 179, 124, 48, 73, 93, 39, 95, 195, 29, 177, 185, 161,
]);
/** NumPy `np.random.seed(1993); np.random.permutation(300)` (PILOT / APER `shuffle: true, seed: 1993`). */
export const NUMPY_1993_300: readonly number[] = Object.freeze([
  169, 221, 146, 296, 92, 229, 49, 70, 126, 77, 243, 57, 120, 223, 27, 217, 154, 8, 101, 182,
  54, 50, 97, 162, 28, 193, 79, 6, 151, 0, 173, 187, 44, 277, 157, 16, 257, 122, 35, 9,
  171, 176, 134, 4, 87, 255, 112, 153, 246, 286, 147, 186, 107, 98, 10, 7, 266, 214, 36, 165,
  139, 254, 103, 269, 59, 23, 298, 39, 73, 208, 135, 299, 102, 20, 12, 268, 11, 209, 161, 210,
  74, 42, 56, 99, 235, 133, 159, 189, 145, 238, 215, 241, 138, 195, 233, 279, 88, 199, 64, 280,
  26, 203, 17, 245, 174, 236, 137, 252, 80, 68, 181, 150, 118, 94, 75, 2, 109, 119, 232, 15,
  69, 184, 201, 261, 55, 287, 273, 66, 175, 32, 142, 136, 116, 76, 179, 1, 91, 248, 275, 240,
  290, 170, 132, 106, 265, 270, 85, 19, 284, 43, 259, 293, 228, 200, 104, 227, 51, 224, 163, 297,
  216, 260, 93, 46, 100, 272, 105, 72, 131, 3, 156, 256, 249, 48, 113, 82, 172, 213, 62, 53,
  271, 168, 253, 226, 183, 180, 276, 283, 78, 61, 143, 278, 30, 141, 196, 264, 231, 52, 222, 40,
  125, 219, 65, 166, 192, 289, 45, 205, 89, 267, 90, 71, 167, 262, 281, 212, 96, 84, 127, 67,
  294, 178, 288, 197, 21, 18, 111, 108, 58, 230, 188, 31, 110, 291, 129, 24, 204, 83, 81, 251,
  60, 13, 128, 14, 86, 63, 117, 198, 274, 5, 22, 144, 258, 121, 38, 207, 148, 292, 41, 234,
  237, 114, 202, 37, 149, 206, 155, 29, 130, 177, 194, 152, 34, 33, 239, 160, 140, 47, 244, 25,
  282, 158, 211, 123, 190, 218, 164, 247, 263, 191, 220, 115, 242, 250, 124, 295, 95, 285, 225, 185,
]);

/**
 * `icarl-1993` is NumPy's seed-1993 permutation of the class ids, the order PyCIL / PILOT / APER use
 * for every dataset they shuffle; it ships as a literal list per class count (never regenerated).
 */
export const SEED_1993_ORDERS: Readonly<Record<number, readonly number[]>> = Object.freeze({
  50: NUMPY_1993_50,
  100: ICARL_1993,
  200: NUMPY_1993_200,
  300: NUMPY_1993_300,
});

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

/** Σ p·order[p]: the checksum quoted in docs/protocols.md "Class orders". */
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
  const seeded = SEED_1993_ORDERS[numClasses];
  if (seeded && seeded.every((c, i) => c === list[i])) return { id: 'icarl-1993', seed: null, classes: [...seeded] };
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
  const seeded = s === 'icarl-1993' ? SEED_1993_ORDERS[numClasses] : undefined;
  if (seeded) return { id: s, seed: null, classes: [...seeded] };
  const named = NAMED_ORDERS[s];
  if (named) {
    if (named.length !== numClasses) {
      throw new UserError(
        `class order "${s}" lists ${named.length} classes but the dataset has ${numClasses}`,
        s === 'icarl-1993'
          ? `"icarl-1993" (NumPy's seed-1993 permutation) ships for ${Object.keys(SEED_1993_ORDERS).join(', ')} classes; for this dataset use natural, seed:<n> or a literal list`
          : `"${s}" is a CIFAR-100 order; for this dataset use natural, seed:<n> or a literal list`,
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
