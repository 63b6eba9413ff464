/**
 * The image benchmarks of class-incremental learning with pre-trained models (SimpleCIL/APER, RanPAC,
 * EASE, PILOT), read from the user's local copy in the layout those papers distribute
 * (docs/datasets.md "Benchmarks"). None of them can be downloaded by cl: they come from the
 * authors' Google Drive / OneDrive links or, for Tiny ImageNet, from Stanford's CS231n page.
 *
 * APER's copies (github.com/zhoudw-zdw/RevisitingCIL, README "Dataset") unpack to `<name>/train/<class>/`
 * and `<name>/test/<class>/`, read exactly as torchvision's ImageFolder reads them (utils/data.py of
 * that repository), so class ids are the sorted folder names, as in their code. Tiny ImageNet keeps its
 * official layout: train/<wnid>/images/*.JPEG, val/images/*.JPEG labelled by val/val_annotations.txt
 * (the unlabelled test/ is not used); the validation set is the test split.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import type { FileImageSplit, ImageDataset, ImageFile } from '../types.js';
import { byCodePoint, classFolders, classImages, fileSplit, listImageFolder, type ImageFolderListing } from './image-folder.js';
import { datasetsDir, resolveDataDir, type DatasetOptions } from './options.js';

export interface FolderDatasetDef {
  id: string;
  title: string;
  numClasses: number;
  /** One line for `cl datasets`. */
  description: string;
  /** Folder names the copy usually has, looked for inside --data-dir. */
  folders: string[];
  /** Where the copy comes from. */
  source: string;
  layout: 'imagefolder' | 'tinyimagenet';
}

const APER = 'APER (Zhou et al., IJCV 2024; github.com/zhoudw-zdw/RevisitingCIL, README "Dataset")';

export const FOLDER_DATASETS: readonly FolderDatasetDef[] = [
  {
    id: 'imagenet-r',
    title: 'ImageNet-R',
    numClasses: 200,
    description: 'ImageNet-R (Hendrycks et al. 2021): renditions of 200 ImageNet classes, APER\'s train/test split (~24,000 / 6,000)',
    folders: ['imagenet-r', 'imagenetr'],
    source: `${APER}: https://drive.google.com/file/d/1SG4TbiL8_DooekztyCVK8mPmfhMo8fkR`,
    layout: 'imagefolder',
  },
  {
    id: 'imagenet-a',
    title: 'ImageNet-A',
    numClasses: 200,
    description: 'ImageNet-A (Hendrycks et al. 2021): natural adversarial examples of 200 ImageNet classes, APER\'s train/test split',
    folders: ['imagenet-a', 'imageneta'],
    source: `${APER}: https://drive.google.com/file/d/19l52ua_vvTtttgVRziCZJjal0TPE9f2p`,
    layout: 'imagefolder',
  },
  {
    id: 'cub200',
    title: 'CUB-200',
    numClasses: 200,
    description: 'CUB-200-2011 birds (Wah et al. 2011), 200 species, APER\'s train/test split (not the official 5,994 / 5,794 one)',
    folders: ['cub', 'cub200', 'CUB200'],
    source: `${APER}: https://drive.google.com/file/d/1XbUpnWpJPnItt5zQ6sHJnsjPncnNLvWb`,
    layout: 'imagefolder',
  },
  {
    id: 'objectnet',
    title: 'ObjectNet',
    numClasses: 200,
    description: 'ObjectNet (Barbu et al. 2019): objects in unusual poses and places, APER\'s 200-class subset and split',
    folders: ['objectnet'],
    source: `${APER}: the OneDrive link of its README (a file list is offered for very large downloads)`,
    layout: 'imagefolder',
  },
  {
    id: 'omnibenchmark',
    title: 'OmniBenchmark',
    numClasses: 300,
    description: 'OmniBenchmark (Zhang et al. 2022): 300 classes across 21 realms, APER\'s subset and split',
    folders: ['omnibenchmark', 'omni'],
    source: `${APER}: https://drive.google.com/file/d/1AbCP3zBMtv_TDXJypOCnOgX8hJmvJm3u`,
    layout: 'imagefolder',
  },
  {
    id: 'vtab',
    title: 'VTAB',
    numClasses: 50,
    description: 'VTAB (Zhai et al. 2019) as APER\'s CIL benchmark: 10 classes from each of 5 VTAB datasets (resisc45, dtd, pets, eurosat, flowers)',
    folders: ['vtab', path.join('vtab-cil', 'vtab')],
    source: `${APER}: https://drive.google.com/file/d/1xUiwlnx4k0oDhYi26KL5KwrCAya-mvJ_`,
    layout: 'imagefolder',
  },
  {
    id: 'tinyimagenet',
    title: 'Tiny ImageNet',
    numClasses: 200,
    description: 'Tiny ImageNet (Stanford CS231n): 200 ImageNet classes at 64x64, 500 train + 50 validation (used as test) per class',
    folders: ['tiny-imagenet-200'],
    source: 'http://cs231n.stanford.edu/tiny-imagenet-200.zip (unzip it; the official layout is read as is)',
    layout: 'tinyimagenet',
  },
];

export function folderDataset(id: string): FolderDatasetDef | undefined {
  return FOLDER_DATASETS.find((d) => d.id === id);
}

const isDir = (p: string): boolean => {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
};
const isFileAt = (p: string): boolean => {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
};

/** True when `dir` itself is a copy of `def` (has its layout's top-level entries). */
function isRoot(def: FolderDatasetDef, dir: string): boolean {
  if (def.layout === 'tinyimagenet') return isDir(path.join(dir, 'train')) && isDir(path.join(dir, 'val'));
  return isDir(path.join(dir, 'train')) && (isDir(path.join(dir, 'test')) || isDir(path.join(dir, 'val')));
}

/** Tiny ImageNet's official layout: classes from train/, test split from val/val_annotations.txt. */
export function listTinyImageNet(root: string): ImageFolderListing {
  const trainDir = path.join(root, 'train');
  const valDir = path.join(root, 'val');
  // A validation set already sorted into class folders is an ordinary image folder.
  if (!isFileAt(path.join(valDir, 'val_annotations.txt'))) return listImageFolder(root);
  const classes = classFolders(trainDir);
  const ids = new Map(classes.map((c, i) => [c, i]));
  const train: ImageFile[] = [];
  for (const cls of classes) {
    const images = classImages(path.join(trainDir, cls));
    if (images.length === 0) throw new UserError(`${path.join(trainDir, cls)} holds no image`, 'unzip tiny-imagenet-200.zip again');
    for (const rel of images) train.push({ path: path.join(trainDir, cls, rel), rel: `${cls}/${rel}`, label: ids.get(cls) as number });
  }
  const annotations = path.join(valDir, 'val_annotations.txt');
  const test: ImageFile[] = [];
  fs.readFileSync(annotations, 'utf8')
    .split(/\r?\n/)
    .forEach((line, i) => {
      if (line.trim() === '') return;
      const [file, wnid] = line.split('\t');
      const label = ids.get(wnid);
      if (!file || label === undefined) throw new UserError(`${annotations} line ${i + 1}: "${line.slice(0, 60)}" does not name an image and a training class`, 'unzip tiny-imagenet-200.zip again');
      const abs = path.join(valDir, 'images', file);
      if (!isFileAt(abs)) throw new UserError(`${annotations} line ${i + 1}: ${abs} does not exist`, 'unzip tiny-imagenet-200.zip again');
      test.push({ path: abs, rel: `images/${file}`, label });
    });
  // The order an ImageFolder of val/ sorted into class folders would give: by class, then by file name.
  test.sort((a, b) => a.label - b.label || byCodePoint(a.rel, b.rel));
  return { root, layout: 'split-folders', classes, train: { dir: trainDir, files: train }, test: { dir: valDir, files: test } };
}

/** Tiny ImageNet class names from words.txt (the first synonym of each wnid), when present. */
function tinyImageNetNames(root: string, wnids: string[]): string[] | undefined {
  const file = path.join(root, 'words.txt');
  if (!isFileAt(file)) return undefined;
  const names = new Map<string, string>();
  for (const line of fs.readFileSync(file, 'utf8').split(/\r?\n/)) {
    const tab = line.indexOf('\t');
    if (tab > 0) names.set(line.slice(0, tab), line.slice(tab + 1).split(',')[0].trim());
  }
  return wnids.map((w) => names.get(w) ?? w);
}

function locate(def: FolderDatasetDef, opts: DatasetOptions): string {
  const local = resolveDataDir(opts);
  const cache = path.join(datasetsDir(opts), def.id);
  const candidates = local ? [path.resolve(local.path), ...def.folders.map((f) => path.join(path.resolve(local.path), f))] : [cache];
  for (const c of candidates) if (isRoot(def, c)) return c;
  const layout = def.layout === 'tinyimagenet' ? 'wnids in train/<wnid>/images/ and val/ with val_annotations.txt' : 'train/<class>/ and test/<class>/';
  throw new UserError(
    local
      ? `${local.from} ${path.resolve(local.path)} holds no ${def.title} copy (looked for ${layout} in it and in ${def.folders.map((f) => `${f}/`).join(', ')})`
      : `${def.title} is not in ${cache} and cl cannot download it`,
    `get it from ${def.source}, unpack it, and pass the folder with --data-dir`,
  );
}

/** Loads a benchmark folder: lists the files (no image is read until features are extracted). */
export function loadFolderDataset(def: FolderDatasetDef, opts: DatasetOptions = {}): ImageDataset<FileImageSplit> {
  const root = locate(def, opts);
  const listing = def.layout === 'tinyimagenet' ? listTinyImageNet(root) : listImageFolder(root);
  if (listing.classes.length !== def.numClasses) {
    throw new UserError(
      `${root} has ${listing.classes.length} class folders; ${def.title} has ${def.numClasses}`,
      `use the copy from ${def.source}, or run the folder as imagefolder:${root} with a split of your own`,
    );
  }
  const resize = opts.resize ?? 'crop';
  const skip = opts.skipBadImages ?? false;
  return {
    name: def.id,
    numClasses: def.numClasses,
    classNames: (def.layout === 'tinyimagenet' ? tinyImageNetNames(root, listing.classes) : undefined) ?? listing.classes,
    train: fileSplit(listing.train.dir, listing.train.files, resize, skip),
    test: fileSplit(listing.test.dir, listing.test.files, resize, skip),
    source: { location: root, verified: 'structure' },
  };
}
