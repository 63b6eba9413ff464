/**
 * Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60,000 train / 10,000 test 28x28 grayscale images,
 * 10 classes, four IDX files (gzipped or raw).
 *
 * Sources, in order: a local copy (--data-dir / CL_DATA_DIR), Debian's dataset-fashion-mnist package
 * (/usr/share/datasets/fashion-mnist), the dataset cache (earlier downloads), a download of the
 * official files (md5-verified). Local copies are validated structurally (Debian recompressed the .gz
 * files, so their md5 sums differ from upstream's).
 */
import path from 'node:path';
import { UserError } from '../errors.js';
import type { ImageDataset, ImageSplit } from '../types.js';
import { downloadFile } from './download.js';
import { pathKind, readMaybeGzip } from './files.js';
import { parseIdx } from './idx.js';
import { DATA_DIR_HINT, datasetsDir, resolveDataDir, type DatasetOptions } from './options.js';

export const FASHION_MNIST_BASE_URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';
export const FASHION_MNIST_SYSTEM_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_FOLDER = 'fashion-mnist';
export const FASHION_MNIST_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const FASHION_MNIST_COUNTS = { train: 60_000, test: 10_000 } as const;

/** The four files (without .gz) and the upstream md5 of their .gz versions. */
export const FASHION_MNIST_FILES = {
  trainImages: { name: 'train-images-idx3-ubyte', md5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d' },
  trainLabels: { name: 'train-labels-idx1-ubyte', md5: '25c81989df183df01b3e8a0aad5dffbe' },
  testImages: { name: 't10k-images-idx3-ubyte', md5: 'bef4ecab320f06d8554ea6380940ec79' },
  testLabels: { name: 't10k-labels-idx1-ubyte', md5: 'bb300cfdad3c16e7a12a480ee83cd310' },
} as const;
type FileKey = keyof typeof FASHION_MNIST_FILES;
const KEYS = Object.keys(FASHION_MNIST_FILES) as FileKey[];
const SIDE = 28;
const HINT = 'The file is truncated or is not a Fashion-MNIST IDX file: copy or download it again.';

/** Test hooks. */
export interface FashionMnistOverrides {
  baseUrl?: string;
  md5?: Partial<Record<FileKey, string>>;
  systemDir?: string;
  expected?: { train: number; test: number };
}

/** Reads one images+labels pair and checks it is a Fashion-MNIST split of `expectedCount` images. */
export async function readIdxSplit(imagesFile: string, labelsFile: string, expectedCount?: number, numClasses = 10): Promise<ImageSplit> {
  const imgs = parseIdx(await readMaybeGzip(imagesFile, 'IDX file'), imagesFile, 3);
  const lbls = parseIdx(await readMaybeGzip(labelsFile, 'IDX file'), labelsFile, 1);
  const [count, height, width] = imgs.dims;
  if (height !== SIDE || width !== SIDE) {
    throw new UserError(`${imagesFile} holds ${height}x${width} images; Fashion-MNIST images are ${SIDE}x${SIDE}.`, HINT);
  }
  if (expectedCount !== undefined && count !== expectedCount) {
    throw new UserError(`${imagesFile} holds ${count} images; this Fashion-MNIST split has ${expectedCount}.`, HINT);
  }
  if (lbls.dims[0] !== count) {
    throw new UserError(`${labelsFile} holds ${lbls.dims[0]} labels but ${imagesFile} holds ${count} images.`, 'The two files must belong to the same split.');
  }
  const labels = new Int32Array(lbls.data);
  for (let i = 0; i < count; i++) {
    if (labels[i] >= numClasses) {
      throw new UserError(`${labelsFile}: label ${i} is ${labels[i]}; Fashion-MNIST labels are < ${numClasses}.`, HINT);
    }
  }
  return { images: imgs.data.slice(), labels, count, height, width, channels: 1 };
}

/** Path of each of the four files in `dir` (the .gz or the raw file), or undefined when one is missing. */
async function findFiles(dir: string): Promise<Record<FileKey, string> | undefined> {
  const out: Partial<Record<FileKey, string>> = {};
  for (const k of KEYS) {
    const base = path.join(dir, FASHION_MNIST_FILES[k].name);
    if ((await pathKind(`${base}.gz`)) === 'file') out[k] = `${base}.gz`;
    else if ((await pathKind(base)) === 'file') out[k] = base;
    else return undefined;
  }
  return out as Record<FileKey, string>;
}

async function readAll(files: Record<FileKey, string>, expected: { train: number; test: number }): Promise<{ train: ImageSplit; test: ImageSplit }> {
  return {
    train: await readIdxSplit(files.trainImages, files.trainLabels, expected.train),
    test: await readIdxSplit(files.testImages, files.testLabels, expected.test),
  };
}

export async function loadFashionMnist(opts: DatasetOptions = {}, overrides: FashionMnistOverrides = {}): Promise<ImageDataset> {
  const expected = overrides.expected ?? FASHION_MNIST_COUNTS;
  const make = (c: { train: ImageSplit; test: ImageSplit }, location: string, verified: 'checksum' | 'structure'): ImageDataset => ({
    name: 'fashion-mnist',
    numClasses: 10,
    classNames: [...FASHION_MNIST_CLASSES],
    train: c.train,
    test: c.test,
    source: { location, verified },
  });

  // (a) the user's local copy: the folder with the four files, or a folder holding fashion-mnist/
  const local = resolveDataDir(opts);
  if (local) {
    const dir = path.resolve(local.path);
    if ((await pathKind(dir)) !== 'dir') throw new UserError(`${local.from} ${dir} is not a folder.`, 'Point it at the folder holding the four Fashion-MNIST IDX files.');
    for (const d of [dir, path.join(dir, FASHION_MNIST_FOLDER)]) {
      const files = await findFiles(d);
      if (files) return make(await readAll(files, expected), d, 'structure');
    }
    throw new UserError(
      `${local.from} ${dir} holds no Fashion-MNIST copy (neither it nor ${FASHION_MNIST_FOLDER}/ has all of ${KEYS.map((k) => FASHION_MNIST_FILES[k].name).join(', ')}, as .gz or raw).`,
      'Point it at the folder holding the four IDX files.',
    );
  }

  // (b) Debian's package
  const systemDir = overrides.systemDir ?? FASHION_MNIST_SYSTEM_DIR;
  const systemFiles = await findFiles(systemDir);
  if (systemFiles) return make(await readAll(systemFiles, expected), systemDir, 'structure');

  // (c) the cache (each file landed there only after its md5 matched), (d) download the missing ones
  const cacheDir = path.join(datasetsDir(opts), FASHION_MNIST_FOLDER);
  const baseUrl = overrides.baseUrl ?? FASHION_MNIST_BASE_URL;
  const files = {} as Record<FileKey, string>;
  for (const k of KEYS) {
    const file = path.join(cacheDir, `${FASHION_MNIST_FILES[k].name}.gz`);
    if ((await pathKind(file)) !== 'file') {
      if (opts.offline) {
        throw new UserError(
          `Fashion-MNIST is not in the cache (${cacheDir}) nor in ${systemDir}, and offline mode forbids downloading it.`,
          `${DATA_DIR_HINT}: the folder with the four *-ubyte.gz files from ${FASHION_MNIST_BASE_URL}, or install Debian's dataset-fashion-mnist package.`,
        );
      }
      const url = new URL(`${FASHION_MNIST_FILES[k].name}.gz`, baseUrl).toString();
      await downloadFile(url, file, { md5: overrides.md5?.[k] ?? FASHION_MNIST_FILES[k].md5, label: `Downloading ${path.basename(file)}`, quiet: opts.quiet });
    }
    files[k] = file;
  }
  return make(await readAll(files, expected), cacheDir, 'checksum');
}
