/**
 * Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 60,000 train / 10,000 test 28x28 grayscale images,
 * 10 classes, four IDX files (gzipped or raw). Read by the shared IDX loader (src/data/idx-dataset.ts):
 * a local copy, Debian's dataset-fashion-mnist package (/usr/share/datasets/fashion-mnist), the cache,
 * or the official files (md5-verified).
 */
import type { ImageDataset, ImageSplit } from '../types.js';
import { loadIdxDataset, readIdxPair, type IdxDatasetDef, type IdxOverrides } from './idx-dataset.js';
import type { DatasetOptions } from './options.js';

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

export const FASHION_MNIST: IdxDatasetDef = {
  id: 'fashion-mnist',
  title: 'Fashion-MNIST',
  folder: FASHION_MNIST_FOLDER,
  classNames: FASHION_MNIST_CLASSES,
  counts: FASHION_MNIST_COUNTS,
  files: FASHION_MNIST_FILES,
  baseUrl: FASHION_MNIST_BASE_URL,
  systemDir: FASHION_MNIST_SYSTEM_DIR,
};

/** Test hooks. */
export type FashionMnistOverrides = IdxOverrides;

/** Reads one images+labels pair and checks it is a Fashion-MNIST split of `expectedCount` images. */
export function readIdxSplit(imagesFile: string, labelsFile: string, expectedCount?: number, numClasses = 10): Promise<ImageSplit> {
  return readIdxPair(imagesFile, labelsFile, 'Fashion-MNIST', expectedCount, numClasses);
}

export function loadFashionMnist(opts: DatasetOptions = {}, overrides: FashionMnistOverrides = {}): Promise<ImageDataset> {
  return loadIdxDataset(FASHION_MNIST, opts, overrides);
}
