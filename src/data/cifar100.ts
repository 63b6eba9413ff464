/**
 * CIFAR-100 (Krizhevsky 2009), in either official version, converted to the canonical HWC ImageSplit
 * with fine labels as `labels`; both versions give the same images in the same order.
 *
 * Binary version: `train.bin` (50,000 records) and `test.bin` (10,000), each record 3,074 bytes:
 * coarse label, fine label, then 1,024 red, 1,024 green, 1,024 blue bytes (32x32 row-major planes).
 *
 * Python version (`cifar-100-python.tar.gz`, what torchvision, PyCIL and PILOT download): the
 * pickles `train`, `test` and `meta`, read without Python by src/data/pickle.ts; `data` holds the same
 * 3,072 planar bytes per image. Each file must match the md5 torchvision checks it against.
 *
 * Sources, in order: a local copy (--data-dir / CL_DATA_DIR: either archive, a folder holding it, or
 * the extracted folder; the binary one is validated structurally), the dataset cache (an earlier
 * download or extraction), a download of the official binary archive (md5-verified).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import type { ImageDataset, ImageSplit } from '../types.js';
import { downloadFile } from './download.js';
import { commitDir, extractToTemp, findFolderWith, readMarker, removeDir, writeMarker } from './extract.js';
import { pathKind, readFileOrFail } from './files.js';
import { dictGet, isPickledArray, readPickle, type PickleValue } from './pickle.js';
import { DATA_DIR_HINT, datasetsDir, resolveDataDir, type DatasetOptions } from './options.js';

export const CIFAR100_URL = 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz';
export const CIFAR100_MD5 = '03b5dce01913d631647c71ecec9e9cb8';
export const CIFAR100_ARCHIVE = 'cifar-100-binary.tar.gz';
/** Name of the extracted folder, in the archive and in the cache. */
export const CIFAR100_FOLDER = 'cifar-100-binary';
export const CIFAR100_COUNTS = { train: 50_000, test: 10_000 } as const;
export const CIFAR_RECORD_BYTES = 3074;
const SIDE = 32;
const PLANE = SIDE * SIDE;
const MEMBERS = new Set(['train.bin', 'test.bin', 'fine_label_names.txt', 'coarse_label_names.txt', 'train', 'test', 'meta']);

export const CIFAR100_PYTHON_ARCHIVE = 'cifar-100-python.tar.gz';
export const CIFAR100_PYTHON_FOLDER = 'cifar-100-python';
/** md5 of the archive and of its three pickles (torchvision.datasets.CIFAR100's tgz_md5, train_list, test_list, meta). */
export const CIFAR100_PYTHON_MD5 = {
  archive: 'eb9058c3a382ffc7106e4002c42a8d85',
  train: '16019d7e3df5f24257cddd939b257f8d',
  test: 'f0ef6b0ae62326f3e7ffdfab6717acfc',
  meta: '7973b15100ade9c7d40fb424638fde48',
} as const;
type PythonFile = 'train' | 'test' | 'meta';

export interface SplitCounts {
  train: number;
  test: number;
}

/** Test hooks: where to download from, which record counts a complete copy has, the pickles' md5 sums. */
export interface Cifar100Overrides {
  url?: string;
  md5?: string;
  expected?: SplitCounts;
  pythonMd5?: Partial<Record<PythonFile, string>>;
}

const REFETCH_HINT = 'The file is truncated or is not a CIFAR-100 binary file: copy or download it again (delete the cache folder if it is in the cache).';

/**
 * Parses CIFAR-100 binary records into an HWC ImageSplit (fine labels in `labels`, coarse in
 * `coarseLabels`), validating record size, count (when given) and label ranges.
 */
export function parseCifar100Records(buf: Uint8Array, file: string, expectedCount?: number): ImageSplit {
  if (buf.length === 0 || buf.length % CIFAR_RECORD_BYTES !== 0) {
    throw new UserError(
      `${file} has ${buf.length} bytes, which is not a positive multiple of the CIFAR-100 record size ${CIFAR_RECORD_BYTES}.`,
      REFETCH_HINT,
    );
  }
  const count = buf.length / CIFAR_RECORD_BYTES;
  if (expectedCount !== undefined && count !== expectedCount) {
    throw new UserError(`${file} holds ${count} records; a complete CIFAR-100 copy has ${expectedCount}.`, REFETCH_HINT);
  }
  const labels = new Int32Array(count);
  const coarseLabels = new Int32Array(count);
  const images = new Uint8Array(count * 3 * PLANE);
  for (let r = 0; r < count; r++) {
    const s = r * CIFAR_RECORD_BYTES;
    const coarse = buf[s];
    const fine = buf[s + 1];
    if (coarse >= 20 || fine >= 100) {
      throw new UserError(
        `${file}: record ${r} has coarse label ${coarse} and fine label ${fine}; CIFAR-100 labels are < 20 and < 100.`,
        REFETCH_HINT,
      );
    }
    coarseLabels[r] = coarse;
    labels[r] = fine;
    planarToHwc(buf, s + 2, images, r * 3 * PLANE);
  }
  return { images, labels, coarseLabels, count, height: SIDE, width: SIDE, channels: 3 };
}

/** One CIFAR image: 1,024 red, 1,024 green, 1,024 blue bytes (planar) -> interleaved HWC. */
function planarToHwc(src: Uint8Array, at: number, dst: Uint8Array, to: number): void {
  const green = at + PLANE;
  const blue = green + PLANE;
  let o = to;
  for (let p = 0; p < PLANE; p++) {
    dst[o++] = src[at + p];
    dst[o++] = src[green + p];
    dst[o++] = src[blue + p];
  }
}

const PYTHON_HINT = `The file is damaged or not the official one: use ${CIFAR100_PYTHON_ARCHIVE} (md5 ${CIFAR100_PYTHON_MD5.archive}) or its extracted folder, or the binary version.`;

/** A pickle's list of ints (labels), checked against `count` and `limit`. */
function intList(v: PickleValue | undefined, file: string, key: string, count: number, limit: number): Int32Array {
  if (!Array.isArray(v) || v.length !== count) {
    throw new UserError(`${file}: "${key}" is not a list of ${count} labels${Array.isArray(v) ? ` (it has ${v.length})` : ''}.`, PYTHON_HINT);
  }
  const out = new Int32Array(count);
  v.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= limit) throw new UserError(`${file}: ${key}[${i}] is ${String(x)}; CIFAR-100 labels are < ${limit}.`, PYTHON_HINT);
    out[i] = x;
  });
  return out;
}

/** Parses a `train` or `test` pickle of cifar-100-python into an HWC ImageSplit. */
export function parseCifar100Pickle(buf: Uint8Array, file: string, expectedCount?: number): ImageSplit {
  const d = readPickle(buf, file);
  const data = dictGet(d, 'data');
  if (!isPickledArray(data) || data.shape.length !== 2 || data.shape[1] !== 3 * PLANE || data.fortranOrder) {
    throw new UserError(`${file}: "data" is not a C-order uint8 array of shape (N, ${3 * PLANE}).`, PYTHON_HINT);
  }
  const count = data.shape[0];
  if (expectedCount !== undefined && count !== expectedCount) {
    throw new UserError(`${file} holds ${count} images; a complete CIFAR-100 copy has ${expectedCount}.`, PYTHON_HINT);
  }
  const labels = intList(dictGet(d, 'fine_labels'), file, 'fine_labels', count, 100);
  const coarseLabels = intList(dictGet(d, 'coarse_labels'), file, 'coarse_labels', count, 20);
  const images = new Uint8Array(count * 3 * PLANE);
  for (let r = 0; r < count; r++) planarToHwc(data.data, r * 3 * PLANE, images, r * 3 * PLANE);
  return { images, labels, coarseLabels, count, height: SIDE, width: SIDE, channels: 3 };
}

/** Reads a pickle file after checking its md5 against the official one. */
async function readPythonFile(dir: string, name: PythonFile, md5s: Cifar100Overrides['pythonMd5']): Promise<{ file: string; buf: Buffer }> {
  const file = path.join(dir, name);
  const buf = await readFileOrFail(file, 'CIFAR-100 file');
  const want = md5s?.[name] ?? CIFAR100_PYTHON_MD5[name];
  const got = createHash('md5').update(buf).digest('hex');
  if (got !== want) {
    throw new UserError(`${file} has md5 ${got}; the official cifar-100-python/${name} has ${want}.`, PYTHON_HINT);
  }
  return { file, buf };
}

/** Reads an extracted cifar-100-python folder (train, test, meta), md5-checked. */
export async function readCifar100PythonFolder(dir: string, expected: SplitCounts = CIFAR100_COUNTS, md5s?: Cifar100Overrides['pythonMd5']): Promise<Cifar100Content> {
  const tr = await readPythonFile(dir, 'train', md5s);
  const train = parseCifar100Pickle(tr.buf, tr.file, expected.train);
  const te = await readPythonFile(dir, 'test', md5s);
  const test = parseCifar100Pickle(te.buf, te.file, expected.test);
  const me = await readPythonFile(dir, 'meta', md5s);
  const names = dictGet(readPickle(me.buf, me.file), 'fine_label_names');
  if (!Array.isArray(names) || names.length !== 100 || !names.every((n) => n instanceof Uint8Array)) {
    throw new UserError(`${me.file}: "fine_label_names" is not a list of 100 names.`, PYTHON_HINT);
  }
  return { train, test, classNames: names.map((n) => Buffer.from(n as Uint8Array).toString('latin1')) };
}

async function hasPickles(dir: string): Promise<boolean> {
  for (const f of ['train', 'test', 'meta']) if ((await pathKind(path.join(dir, f))) !== 'file') return false;
  return true;
}

export interface Cifar100Content {
  train: ImageSplit;
  test: ImageSplit;
  classNames?: string[];
}

/** Reads and validates an extracted CIFAR-100 binary folder (train.bin, test.bin, fine_label_names.txt). */
export async function readCifar100Folder(dir: string, expected: SplitCounts = CIFAR100_COUNTS): Promise<Cifar100Content> {
  const trainFile = path.join(dir, 'train.bin');
  const testFile = path.join(dir, 'test.bin');
  const train = parseCifar100Records(await readFileOrFail(trainFile, 'CIFAR-100 file'), trainFile, expected.train);
  const test = parseCifar100Records(await readFileOrFail(testFile, 'CIFAR-100 file'), testFile, expected.test);
  const namesFile = path.join(dir, 'fine_label_names.txt');
  let classNames: string[] | undefined;
  if ((await pathKind(namesFile)) === 'file') {
    classNames = (await fs.readFile(namesFile, 'utf8'))
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (classNames.length !== 100) {
      throw new UserError(`${namesFile} lists ${classNames.length} class names; CIFAR-100 has 100.`, REFETCH_HINT);
    }
  }
  return { train, test, classNames };
}

async function hasBins(dir: string): Promise<boolean> {
  return (await pathKind(path.join(dir, 'train.bin'))) === 'file' && (await pathKind(path.join(dir, 'test.bin'))) === 'file';
}

const LAYOUT_HINT = `Point it at ${CIFAR100_ARCHIVE} or ${CIFAR100_PYTHON_ARCHIVE}, a folder containing one of them, a folder containing ${CIFAR100_FOLDER}/ or ${CIFAR100_PYTHON_FOLDER}/, or an extracted folder (train.bin and test.bin, or train, test and meta).`;

/** Where in a user-supplied path the CIFAR-100 copy is (the binary version first). */
async function locateLocal(p: string, from: string): Promise<{ kind: 'dir' | 'python-dir' | 'archive'; path: string }> {
  const kind = await pathKind(p);
  if (kind === undefined) throw new UserError(`${from} ${p} does not exist.`, LAYOUT_HINT);
  if (kind === 'file') {
    if (/\.(tar\.gz|tgz|tar)$/i.test(p)) return { kind: 'archive', path: p };
    throw new UserError(`${from} ${p} is a file but not a .tar.gz archive.`, LAYOUT_HINT);
  }
  if (await hasBins(p)) return { kind: 'dir', path: p };
  const sub = path.join(p, CIFAR100_FOLDER);
  if (await hasBins(sub)) return { kind: 'dir', path: sub };
  const archive = path.join(p, CIFAR100_ARCHIVE);
  if ((await pathKind(archive)) === 'file') return { kind: 'archive', path: archive };
  if (await hasPickles(p)) return { kind: 'python-dir', path: p };
  const pySub = path.join(p, CIFAR100_PYTHON_FOLDER);
  if (await hasPickles(pySub)) return { kind: 'python-dir', path: pySub };
  const pyArchive = path.join(p, CIFAR100_PYTHON_ARCHIVE);
  if ((await pathKind(pyArchive)) === 'file') return { kind: 'archive', path: pyArchive };
  throw new UserError(
    `${from} ${p} holds no CIFAR-100 copy (no train.bin/test.bin, no train/test/meta pickles, no ${CIFAR100_FOLDER}/ or ${CIFAR100_PYTHON_FOLDER}/, no ${CIFAR100_ARCHIVE} or ${CIFAR100_PYTHON_ARCHIVE}).`,
    LAYOUT_HINT,
  );
}

/**
 * Extracts `archive` (either version) into `<cache>/cifar-100-binary` or `<cache>/cifar-100-python`
 * (atomically), unless that folder already holds an extraction of the same archive (same origin,
 * size and mtime).
 */
async function fromArchive(
  archive: string,
  origin: string,
  verified: 'checksum' | 'structure',
  cacheDir: string,
  expected: SplitCounts,
  overrides: Cifar100Overrides,
  quiet: boolean | undefined,
): Promise<{ content: Cifar100Content; verified: 'checksum' | 'structure' }> {
  const st = await fs.stat(archive);
  for (const [folder, python] of [[CIFAR100_FOLDER, false], [CIFAR100_PYTHON_FOLDER, true]] as const) {
    const target = path.join(cacheDir, folder);
    const marker = await readMarker(target);
    if (marker && marker.origin === origin && marker.archiveSize === st.size && marker.archiveMtimeMs === st.mtimeMs) {
      return python
        ? { content: await readCifar100PythonFolder(target, expected, overrides.pythonMd5), verified: 'checksum' }
        : { content: await readCifar100Folder(target, expected), verified: marker.verified };
    }
  }
  const tmp = await extractToTemp(archive, cacheDir, MEMBERS, { quiet });
  try {
    const binary = await findFolderWith(tmp, 'train.bin');
    const pickles = binary ? undefined : await findFolderWith(tmp, 'meta');
    let content: Cifar100Content;
    let target: string;
    let folder: string;
    if (binary && (await hasBins(binary))) {
      content = await readCifar100Folder(binary, expected);
      folder = binary;
      target = path.join(cacheDir, CIFAR100_FOLDER);
    } else if (pickles && (await hasPickles(pickles))) {
      content = await readCifar100PythonFolder(pickles, expected, overrides.pythonMd5);
      verified = 'checksum'; // every pickle matched its official md5
      folder = pickles;
      target = path.join(cacheDir, CIFAR100_PYTHON_FOLDER);
    } else {
      throw new UserError(
        `${archive} contains neither train.bin and test.bin nor the train, test and meta pickles.`,
        `Is it ${CIFAR100_ARCHIVE} or ${CIFAR100_PYTHON_ARCHIVE}?`,
      );
    }
    await writeMarker(folder, { origin, archiveSize: st.size, archiveMtimeMs: st.mtimeMs, verified, createdAt: new Date().toISOString() });
    await commitDir(folder, target);
    return { content, verified };
  } finally {
    await removeDir(tmp);
  }
}

export async function loadCifar100(opts: DatasetOptions = {}, overrides: Cifar100Overrides = {}): Promise<ImageDataset> {
  const expected = overrides.expected ?? CIFAR100_COUNTS;
  const cacheDir = datasetsDir(opts);
  const make = (c: Cifar100Content, location: string, verified: 'checksum' | 'structure'): ImageDataset => ({
    name: 'cifar100',
    numClasses: 100,
    classNames: c.classNames,
    train: c.train,
    test: c.test,
    source: { location, verified },
  });

  // (a) a local copy chosen by the user
  const local = resolveDataDir(opts);
  if (local) {
    const found = await locateLocal(path.resolve(local.path), local.from);
    if (found.kind === 'dir') return make(await readCifar100Folder(found.path, expected), found.path, 'structure');
    if (found.kind === 'python-dir') return make(await readCifar100PythonFolder(found.path, expected, overrides.pythonMd5), found.path, 'checksum');
    const x = await fromArchive(found.path, found.path, 'structure', cacheDir, expected, overrides, opts.quiet);
    return make(x.content, found.path, x.verified);
  }

  // (b) the cache
  const cached = path.join(cacheDir, CIFAR100_FOLDER);
  if (await hasBins(cached)) {
    const marker = await readMarker(cached);
    return make(await readCifar100Folder(cached, expected), marker?.origin ?? cached, marker?.verified ?? 'structure');
  }
  const cachedPy = path.join(cacheDir, CIFAR100_PYTHON_FOLDER);
  if (await hasPickles(cachedPy)) {
    const marker = await readMarker(cachedPy);
    return make(await readCifar100PythonFolder(cachedPy, expected, overrides.pythonMd5), marker?.origin ?? cachedPy, 'checksum');
  }

  // (c) download
  const url = overrides.url ?? CIFAR100_URL;
  if (opts.offline) {
    throw new UserError(
      `CIFAR-100 is not in the cache (${cached}) and offline mode forbids downloading it.`,
      `${DATA_DIR_HINT}: ${CIFAR100_ARCHIVE} from ${CIFAR100_URL}, or its extracted folder.`,
    );
  }
  const archive = path.join(cacheDir, 'downloads', CIFAR100_ARCHIVE);
  await downloadFile(url, archive, { md5: overrides.md5 ?? CIFAR100_MD5, label: `Downloading ${CIFAR100_ARCHIVE}`, quiet: opts.quiet });
  const { content } = await fromArchive(archive, url, 'checksum', cacheDir, expected, overrides, opts.quiet);
  await fs.rm(archive, { force: true }); // the verified extraction is what the cache keeps
  return make(content, url, 'checksum');
}
