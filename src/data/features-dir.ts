/**
 * `features:<path>`: features extracted elsewhere (timm, open_clip, ...) and saved by numpy, run
 * through cl's learners without any backbone or feature cache (docs/datasets.md "Features made
 * elsewhere").
 *
 * <path> is a folder holding train_features.npy, train_labels.npy, test_features.npy and
 * test_labels.npy, or a folder holding one .npz with those four arrays, or that .npz file itself.
 * An optional class_names.txt (one name per line, label order) beside them names the classes.
 *
 * Checked before any learning: features 2-D floating point and finite, labels 1-D integers, one
 * label per feature row, the same feature dim in both splits, labels 0..C-1 where C = 1 + the largest
 * label, every class with training and test samples. Float16/64 features become float32; labels
 * int32. The sha256 of every file read goes into the run record.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import { describeNonFinite, firstNonFinite } from '../finite.js';
import type { Features } from '../types.js';
import { Npz, readNpyFile, toFloat32Matrix, toLabels, type NpyAny } from './numpy.js';

export const FEATURE_ARRAYS = ['train_features', 'train_labels', 'test_features', 'test_labels'] as const;
type ArrayName = (typeof FEATURE_ARRAYS)[number];
export const CLASS_NAMES_FILE = 'class_names.txt';

const LAYOUT_HINT =
  'features:<path> is a folder with train_features.npy, train_labels.npy, test_features.npy and test_labels.npy, or one .npz holding those four arrays (np.savez(path, train_features=..., ...))';

type Located = { kind: 'npy'; dir: string } | { kind: 'npz'; dir: string; file: string };

const statOf = (p: string): fs.Stats | null => {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
};

/** Where the arrays are: the four .npy files of a folder, or one .npz. */
export function locateFeatures(p: string): Located {
  const abs = path.resolve(p);
  const st = statOf(abs);
  if (!st) throw new UserError(`features path ${abs} does not exist`, LAYOUT_HINT);
  if (st.isFile()) {
    if (!abs.toLowerCase().endsWith('.npz')) throw new UserError(`features path ${abs} is a file but not an .npz archive`, LAYOUT_HINT);
    return { kind: 'npz', dir: path.dirname(abs), file: abs };
  }
  const have = FEATURE_ARRAYS.filter((n) => statOf(path.join(abs, `${n}.npy`))?.isFile());
  if (have.length === FEATURE_ARRAYS.length) return { kind: 'npy', dir: abs };
  const npz = fs.readdirSync(abs).filter((f) => f.toLowerCase().endsWith('.npz'));
  if (have.length === 0 && npz.length === 1) return { kind: 'npz', dir: abs, file: path.join(abs, npz[0]) };
  if (have.length > 0) {
    const missing = FEATURE_ARRAYS.filter((n) => !have.includes(n)).map((n) => `${n}.npy`);
    throw new UserError(`features folder ${abs} lacks ${missing.join(', ')}`, LAYOUT_HINT);
  }
  throw new UserError(
    npz.length > 1 ? `features folder ${abs} holds ${npz.length} .npz files (${npz.join(', ')}); cl cannot tell which to read` : `features folder ${abs} holds neither the four .npy files nor an .npz`,
    npz.length > 1 ? 'point features: at the .npz file itself' : LAYOUT_HINT,
  );
}

/** sha256 of a file, read in chunks. */
function sha256File(file: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 22);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** Opens the located arrays; `get` reads one, `files` the sha256 of every file read so far. */
function open(loc: Located): { get: (n: ArrayName) => NpyAny; files: Record<string, string>; close: () => void } {
  const files: Record<string, string> = {};
  if (loc.kind === 'npy') {
    return {
      get: (n) => {
        const { array, bytes } = readNpyFile(path.join(loc.dir, `${n}.npy`));
        files[`${n}.npy`] = createHash('sha256').update(bytes).digest('hex');
        return array;
      },
      files,
      close: () => undefined,
    };
  }
  const npz = new Npz(loc.file);
  files[path.basename(loc.file)] = sha256File(loc.file);
  return { get: (n) => npz.array(n), files, close: () => npz.close() };
}

function classNamesOf(dir: string, numClasses: number): string[] | undefined {
  const file = path.join(dir, CLASS_NAMES_FILE);
  if (!statOf(file)?.isFile()) return undefined;
  const names = fs.readFileSync(file, 'utf8').split(/\r?\n/).map((s) => s.trim());
  while (names.length > 0 && names[names.length - 1] === '') names.pop();
  if (names.length !== numClasses) {
    throw new UserError(`${file} lists ${names.length} class names but the labels have ${numClasses} classes`, 'one name per line, in label order 0..C-1');
  }
  return names;
}

/** C = 1 + the largest label; every class 0..C-1 must occur in the training labels, test labels must be < C. */
function checkLabels(train: Int32Array, test: Int32Array, where: string): number {
  let max = -1;
  for (const v of train) if (v > max) max = v;
  const C = max + 1;
  const seenTrain = new Uint8Array(C);
  for (const v of train) seenTrain[v] = 1;
  const gaps: number[] = [];
  for (let c = 0; c < C; c++) if (!seenTrain[c]) gaps.push(c);
  if (gaps.length > 0) {
    throw new UserError(
      `${where}: train_labels run from 0 to ${max} but class${gaps.length > 1 ? 'es' : ''} ${gaps.slice(0, 8).join(', ')}${gaps.length > 8 ? ', …' : ''} ha${gaps.length > 1 ? 've' : 's'} no training sample`,
      'labels must be the class ids 0..C-1 with every class present; map them first (np.unique(y, return_inverse=True))',
    );
  }
  const seenTest = new Uint8Array(C);
  test.forEach((v, i) => {
    if (v >= C) throw new UserError(`${where}: test_labels[${i}] is ${v}, but the training labels only go up to ${max}`, 'test classes must be training classes');
    seenTest[v] = 1;
  });
  const noTest: number[] = [];
  for (let c = 0; c < C; c++) if (!seenTest[c]) noTest.push(c);
  if (noTest.length > 0) {
    throw new UserError(`${where}: class${noTest.length > 1 ? 'es' : ''} ${noTest.slice(0, 8).join(', ')}${noTest.length > 8 ? ', …' : ''} ha${noTest.length > 1 ? 've' : 's'} no test sample`, 'every class needs test samples to be scored');
  }
  if (C < 2) throw new UserError(`${where}: the labels hold ${C} class; a class-incremental scenario needs at least 2`, 'check the labels');
  return C;
}

/** The class count (and names) of a features path, reading only the labels: for ad-hoc scenarios. */
export function externalClasses(p: string): { numClasses: number; classNames?: string[] } {
  const loc = locateFeatures(p);
  const o = open(loc);
  try {
    const train = toLabels(o.get('train_labels'), 'train_labels');
    const test = toLabels(o.get('test_labels'), 'test_labels');
    const numClasses = checkLabels(train, test, loc.kind === 'npz' ? loc.file : loc.dir);
    return { numClasses, classNames: classNamesOf(loc.dir, numClasses) };
  } finally {
    o.close();
  }
}

export interface ExternalFeatures {
  train: Features;
  test: Features;
  numClasses: number;
  classNames?: string[];
  /** Absolute path of the folder or .npz. */
  location: string;
  /** sha256 of every file read, by file name. */
  files: Record<string, string>;
  /** sha256 over the file digests: the identity of these features. */
  checksum: string;
}

/**
 * Every feature must be finite (NaN/Inf would silently wreck every learner): the first non-finite
 * value and how many there are, naming the file.
 */
async function checkFinite(a: NpyAny, f: { x: Float32Array; rows: number; cols: number }, what: string): Promise<void> {
  const bad = await firstNonFinite(f.x, f.cols);
  if (!bad) return;
  throw new UserError(
    `${a.file}: ${what} holds ${describeNonFinite(bad, f.rows, f.cols, (r) => `row ${r}`)}${a.header.itemSize === 8 ? ' (float64 values beyond the float32 range count as infinite)' : ''}`,
    'features must be finite numbers; check the extraction (np.isfinite(feats).all() must hold)',
  );
}

/** Reads and validates a features path (see the module comment). */
export async function readExternalFeatures(p: string): Promise<ExternalFeatures> {
  const loc = locateFeatures(p);
  const where = loc.kind === 'npz' ? loc.file : loc.dir;
  const o = open(loc);
  try {
    const split = async (s: 'train' | 'test'): Promise<{ f: ReturnType<typeof toFloat32Matrix>; y: Int32Array }> => {
      const a = o.get(`${s}_features`);
      const f = toFloat32Matrix(a, `${s}_features`);
      await checkFinite(a, f, `${s}_features`);
      const y = toLabels(o.get(`${s}_labels`), `${s}_labels`);
      if (y.length !== f.rows) throw new UserError(`${where}: ${s}_features has ${f.rows} rows but ${s}_labels has ${y.length} labels`, 'save one label per feature row, in the same order');
      return { f, y };
    };
    const tr = await split('train');
    const te = await split('test');
    if (tr.f.cols !== te.f.cols) throw new UserError(`${where}: train_features have dim ${tr.f.cols} but test_features dim ${te.f.cols}`, 'extract both splits with the same model and output');
    const numClasses = checkLabels(tr.y, te.y, where);
    const files = o.files;
    const checksum = createHash('sha256')
      .update(Object.keys(files).sort().map((k) => `${k} ${files[k]}`).join('\n'))
      .digest('hex');
    const classNames = classNamesOf(loc.dir, numClasses);
    if (classNames) files[CLASS_NAMES_FILE] = sha256File(path.join(loc.dir, CLASS_NAMES_FILE));
    return {
      train: { x: tr.f.x, y: tr.y, count: tr.f.rows, dim: tr.f.cols },
      test: { x: te.f.x, y: te.y, count: te.f.rows, dim: te.f.cols },
      numClasses,
      ...(classNames ? { classNames } : {}),
      location: where,
      files,
      checksum,
    };
  } finally {
    o.close();
  }
}
