/**
 * Datasets shipped as four IDX files (LeCun's format, gzipped or raw): MNIST and Fashion-MNIST, both
 * 60,000 train / 10,000 test 28x28 grayscale images in 10 classes.
 *
 * Sources, in order: a local copy (--data-dir / CL_DATA_DIR: the folder with the four files, or a
 * folder holding `<folder>/`), a system folder (Debian's /usr/share/datasets/...), the dataset cache
 * (earlier downloads), a download of the official .gz files (md5-verified). Local copies are validated
 * structurally (Debian recompressed its .gz files, so their md5 sums differ from upstream's).
 */
import path from 'node:path';
import { UserError } from '../errors.js';
import type { ImageDataset, ImageSplit } from '../types.js';
import { downloadFile } from './download.js';
import { pathKind, readMaybeGzip } from './files.js';
import { parseIdx } from './idx.js';
import { DATA_DIR_HINT, datasetsDir, resolveDataDir, type DatasetOptions } from './options.js';

export type IdxFileKey = 'trainImages' | 'trainLabels' | 'testImages' | 'testLabels';
export const IDX_KEYS: readonly IdxFileKey[] = ['trainImages', 'trainLabels', 'testImages', 'testLabels'];

export interface IdxDatasetDef {
  /** Dataset id (the record's dataset name). */
  id: string;
  /** Name in messages, e.g. "Fashion-MNIST". */
  title: string;
  /** Folder name in the cache and inside a --data-dir. */
  folder: string;
  classNames: string[];
  counts: { train: number; test: number };
  /** The four files (without .gz) and the official md5 of their .gz versions. */
  files: Record<IdxFileKey, { name: string; md5: string }>;
  /** Official download location of the .gz files. */
  baseUrl: string;
  /** A system-wide copy (Debian dataset package), if any. */
  systemDir?: string;
}

/** Test hooks. */
export interface IdxOverrides {
  baseUrl?: string;
  md5?: Partial<Record<IdxFileKey, string>>;
  systemDir?: string;
  expected?: { train: number; test: number };
}

const SIDE = 28;

/** Reads one images+labels pair and checks it is a split of `expectedCount` 28x28 images with labels < numClasses. */
export async function readIdxPair(imagesFile: string, labelsFile: string, title: string, expectedCount?: number, numClasses = 10): Promise<ImageSplit> {
  const hint = `The file is truncated or is not a ${title} IDX file: copy or download it again.`;
  const imgs = parseIdx(await readMaybeGzip(imagesFile, 'IDX file'), imagesFile, 3);
  const lbls = parseIdx(await readMaybeGzip(labelsFile, 'IDX file'), labelsFile, 1);
  const [count, height, width] = imgs.dims;
  if (height !== SIDE || width !== SIDE) {
    throw new UserError(`${imagesFile} holds ${height}x${width} images; ${title} images are ${SIDE}x${SIDE}.`, hint);
  }
  if (expectedCount !== undefined && count !== expectedCount) {
    throw new UserError(`${imagesFile} holds ${count} images; this ${title} split has ${expectedCount}.`, hint);
  }
  if (lbls.dims[0] !== count) {
    throw new UserError(`${labelsFile} holds ${lbls.dims[0]} labels but ${imagesFile} holds ${count} images.`, 'The two files must belong to the same split.');
  }
  const labels = new Int32Array(lbls.data);
  for (let i = 0; i < count; i++) {
    if (labels[i] >= numClasses) {
      throw new UserError(`${labelsFile}: label ${i} is ${labels[i]}; ${title} labels are < ${numClasses}.`, hint);
    }
  }
  return { images: imgs.data.slice(), labels, count, height, width, channels: 1 };
}

/** Path of each of the four files in `dir` (the .gz or the raw file), or undefined when one is missing. */
async function findFiles(def: IdxDatasetDef, dir: string): Promise<Record<IdxFileKey, string> | undefined> {
  const out: Partial<Record<IdxFileKey, string>> = {};
  for (const k of IDX_KEYS) {
    const base = path.join(dir, def.files[k].name);
    if ((await pathKind(`${base}.gz`)) === 'file') out[k] = `${base}.gz`;
    else if ((await pathKind(base)) === 'file') out[k] = base;
    else return undefined;
  }
  return out as Record<IdxFileKey, string>;
}

export async function loadIdxDataset(def: IdxDatasetDef, opts: DatasetOptions = {}, overrides: IdxOverrides = {}): Promise<ImageDataset> {
  const expected = overrides.expected ?? def.counts;
  const readAll = async (files: Record<IdxFileKey, string>): Promise<{ train: ImageSplit; test: ImageSplit }> => ({
    train: await readIdxPair(files.trainImages, files.trainLabels, def.title, expected.train, def.classNames.length),
    test: await readIdxPair(files.testImages, files.testLabels, def.title, expected.test, def.classNames.length),
  });
  const make = (c: { train: ImageSplit; test: ImageSplit }, location: string, verified: 'checksum' | 'structure'): ImageDataset => ({
    name: def.id,
    numClasses: def.classNames.length,
    classNames: [...def.classNames],
    train: c.train,
    test: c.test,
    source: { location, verified },
  });
  const names = IDX_KEYS.map((k) => def.files[k].name).join(', ');

  // (a) the user's local copy: the folder with the four files, or a folder holding <folder>/
  const local = resolveDataDir(opts);
  if (local) {
    const dir = path.resolve(local.path);
    if ((await pathKind(dir)) !== 'dir') throw new UserError(`${local.from} ${dir} is not a folder.`, `Point it at the folder holding the four ${def.title} IDX files.`);
    for (const d of [dir, path.join(dir, def.folder)]) {
      const files = await findFiles(def, d);
      if (files) return make(await readAll(files), d, 'structure');
    }
    throw new UserError(
      `${local.from} ${dir} holds no ${def.title} copy (neither it nor ${def.folder}/ has all of ${names}, as .gz or raw).`,
      'Point it at the folder holding the four IDX files.',
    );
  }

  // (b) a system-wide copy
  const systemDir = overrides.systemDir ?? def.systemDir;
  if (systemDir) {
    const systemFiles = await findFiles(def, systemDir);
    if (systemFiles) return make(await readAll(systemFiles), systemDir, 'structure');
  }

  // (c) the cache (each file landed there only after its md5 matched), (d) download the missing ones
  const cacheDir = path.join(datasetsDir(opts), def.folder);
  const baseUrl = overrides.baseUrl ?? def.baseUrl;
  const files = {} as Record<IdxFileKey, string>;
  for (const k of IDX_KEYS) {
    const file = path.join(cacheDir, `${def.files[k].name}.gz`);
    if ((await pathKind(file)) !== 'file') {
      if (opts.offline) {
        throw new UserError(
          `${def.title} is not in the cache (${cacheDir})${systemDir ? ` nor in ${systemDir}` : ''}, and offline mode forbids downloading it.`,
          `${DATA_DIR_HINT}: the folder with the four *-ubyte.gz files from ${def.baseUrl}.`,
        );
      }
      const url = new URL(`${def.files[k].name}.gz`, baseUrl).toString();
      await downloadFile(url, file, { md5: overrides.md5?.[k] ?? def.files[k].md5, label: `Downloading ${path.basename(file)}`, quiet: opts.quiet });
    }
    files[k] = file;
  }
  return make(await readAll(files), cacheDir, 'checksum');
}
