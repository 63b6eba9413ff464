/**
 * Image folders (`imagefolder:<dir>`), in torchvision's ImageFolder convention, so that class ids and
 * sample order are the ones PyTorch users (PyCIL, PILOT, APER) get from the same folder:
 *
 *   classes   the sub-folders of the split folder (hidden ones excepted), sorted by code point;
 *             class id = position in that list
 *   files     per class, `os.walk` order sorted by path (the class folder's own files first, then
 *             its sub-folders by path), file names sorted; extensions .jpg .jpeg .png .ppm .bmp
 *             .pgm .tif .tiff .webp (any case), torchvision's IMG_EXTENSIONS
 *
 * Splits, in this order of preference:
 *   <dir>/train/<class>/...  and  <dir>/test/<class>/...  (or val/ instead of test/)
 *   <dir>/<class>/...  with  <dir>/train.txt  and  <dir>/test.txt  listing the images of each split,
 *                      one path relative to <dir> (`<class>/<file>`) per line
 * The classes are those of the training split; the test split's class folders are matched to them
 * by name, so a test folder lacking a class cannot shift the ids (it is an error instead).
 *
 * Listing is synchronous and reads no image: it runs before any work (also for the class count of
 * an ad-hoc scenario). Decoding is src/data/decode.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../errors.js';
import type { FileImageSplit, ImageFile, ResizeRule } from '../types.js';

/** torchvision.datasets.folder.IMG_EXTENSIONS. */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp'];

export const LAYOUT_HINT =
  'an image folder holds train/<class>/<image> and test/<class>/<image> (or val/), or <class>/<image> with train.txt and test.txt listing each split (see docs/datasets.md)';

const isImage = (name: string): boolean => {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => lower.endsWith(e));
};

/** Code-point order (Python's sorted() on str), not locale order. */
export function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i].codePointAt(0) as number) - (y[i].codePointAt(0) as number);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

function readDir(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new UserError(`cannot list ${dir} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, 'check that the folder exists and is readable');
  }
}

/** True for a directory or a symlink to one (os.scandir's is_dir() follows links). */
function isDir(dir: string, e: fs.Dirent): boolean {
  if (e.isDirectory()) return true;
  if (!e.isSymbolicLink()) return false;
  try {
    return fs.statSync(path.join(dir, e.name)).isDirectory();
  } catch {
    return false;
  }
}

function isFile(dir: string, e: fs.Dirent): boolean {
  if (e.isFile()) return true;
  if (!e.isSymbolicLink()) return false;
  try {
    return fs.statSync(path.join(dir, e.name)).isFile();
  } catch {
    return false;
  }
}

/** The class folders of a split folder, sorted (hidden folders such as .ipynb_checkpoints are not classes). */
export function classFolders(dir: string): string[] {
  return readDir(dir)
    .filter((e) => !e.name.startsWith('.') && isDir(dir, e))
    .map((e) => e.name)
    .sort(byCodePoint);
}

/** Image files under a class folder, in torchvision's make_dataset order, relative to `classDir`. */
export function classImages(classDir: string): string[] {
  const dirs: string[] = [];
  const walk = (rel: string, depth: number): void => {
    if (depth > 32) throw new UserError(`${classDir}: folders nested more than 32 deep (a symlink loop?)`, LAYOUT_HINT);
    dirs.push(rel);
    for (const e of readDir(path.join(classDir, rel))) {
      if (isDir(path.join(classDir, rel), e)) walk(rel ? `${rel}/${e.name}` : e.name, depth + 1);
    }
  };
  walk('', 0);
  // sorted(os.walk(top)) compares the full root paths: top first, then sub-folders by path.
  dirs.sort((a, b) => byCodePoint(a === '' ? '' : `/${a}`, b === '' ? '' : `/${b}`));
  const out: string[] = [];
  for (const rel of dirs) {
    const abs = path.join(classDir, rel);
    const names = readDir(abs)
      .filter((e) => isFile(abs, e) && isImage(e.name))
      .map((e) => e.name)
      .sort(byCodePoint);
    for (const n of names) out.push(rel ? `${rel}/${n}` : n);
  }
  return out;
}

export interface ImageFolderListing {
  root: string;
  layout: 'split-folders' | 'split-files';
  classes: string[];
  train: { dir: string; files: ImageFile[] };
  test: { dir: string; files: ImageFile[] };
}

const exists = (p: string, kind: 'dir' | 'file'): boolean => {
  try {
    const st = fs.statSync(p);
    return kind === 'dir' ? st.isDirectory() : st.isFile();
  } catch {
    return false;
  }
};

/** The split folders of `root` (train + test, or train + val), if it has them. */
function splitFolders(root: string): { train: string; test: string } | null {
  const train = path.join(root, 'train');
  if (!exists(train, 'dir')) return null;
  for (const name of ['test', 'val']) {
    const test = path.join(root, name);
    if (exists(test, 'dir')) return { train, test };
  }
  return null;
}

function folderSplit(dir: string, classIds: Map<string, number>, what: string): ImageFile[] {
  const files: ImageFile[] = [];
  for (const cls of classFolders(dir)) {
    const label = classIds.get(cls);
    if (label === undefined) {
      throw new UserError(`${what} ${dir} has a class folder "${cls}" that the training split does not have`, 'both splits must have the same class folders');
    }
    const images = classImages(path.join(dir, cls));
    if (images.length === 0) {
      throw new UserError(`${what} ${path.join(dir, cls)} holds no image (${IMAGE_EXTENSIONS.join(' ')})`, 'remove the empty class folder or add its images');
    }
    for (const rel of images) files.push({ path: path.join(dir, cls, rel), rel: `${cls}/${rel}`, label });
  }
  return files;
}

/** Lines of a split file: one relative image path each; blank lines and lines starting with # are skipped. */
function listFile(root: string, file: string, classIds: Map<string, number>): ImageFile[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read split file ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)})`, LAYOUT_HINT);
  }
  const files: ImageFile[] = [];
  const seen = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const rel = line.replace(/\\/g, '/').replace(/^\.\//, '');
    const where = `${file} line ${i + 1}`;
    if (rel.startsWith('/') || rel.split('/').includes('..')) throw new UserError(`${where}: "${line}" is not a path inside ${root}`, 'list paths relative to the image folder, e.g. cat/0001.jpg');
    const cls = rel.split('/')[0];
    const label = classIds.get(cls);
    if (label === undefined || !rel.includes('/')) {
      throw new UserError(`${where}: "${line}" is not inside a class folder of ${root}`, 'each line is <class folder>/<image>, relative to the image folder');
    }
    if (!isImage(rel)) throw new UserError(`${where}: "${line}" is not an image file (${IMAGE_EXTENSIONS.join(' ')})`, 'list image files only');
    const abs = path.join(root, rel);
    if (!exists(abs, 'file')) throw new UserError(`${where}: ${abs} does not exist`, 'fix the split file or restore the image');
    if (seen.has(rel)) throw new UserError(`${where}: "${line}" is listed twice`, 'list every image once');
    seen.add(rel);
    files.push({ path: abs, rel, label });
  });
  return files;
}

/** Every class must have training images, and test images (an empty test class would make a task unscorable). */
function checkCoverage(classes: string[], l: Pick<ImageFolderListing, 'train' | 'test'>, root: string): void {
  for (const [what, split] of [['training', l.train], ['test', l.test]] as const) {
    const have = new Set(split.files.map((f) => f.label));
    const missing = classes.filter((_, c) => !have.has(c));
    if (missing.length > 0) {
      throw new UserError(
        `image folder ${root}: class${missing.length > 1 ? 'es' : ''} ${missing.slice(0, 5).map((m) => `"${m}"`).join(', ')}${missing.length > 5 ? `, … (${missing.length})` : ''} ha${missing.length > 1 ? 've' : 's'} no ${what} image`,
        'every class needs training and test images',
      );
    }
  }
}

/** Lists an image folder's classes and the files of both splits (no image is read). */
export function listImageFolder(dir: string): ImageFolderListing {
  const root = path.resolve(dir);
  if (!exists(root, 'dir')) throw new UserError(`image folder ${root} does not exist or is not a folder`, LAYOUT_HINT);
  const folders = splitFolders(root);
  if (folders) {
    const classes = classFolders(folders.train);
    if (classes.length < 2) throw new UserError(`${folders.train} has ${classes.length} class folder${classes.length === 1 ? '' : 's'}; a class-incremental scenario needs at least 2`, LAYOUT_HINT);
    const ids = new Map(classes.map((c, i) => [c, i]));
    const listing: ImageFolderListing = {
      root,
      layout: 'split-folders',
      classes,
      train: { dir: folders.train, files: folderSplit(folders.train, ids, 'training split') },
      test: { dir: folders.test, files: folderSplit(folders.test, ids, 'test split') },
    };
    checkCoverage(classes, listing, root);
    // Paths relative to the split folder (train/ or test/) keep the class as first component.
    return listing;
  }
  const trainList = path.join(root, 'train.txt');
  const testList = path.join(root, 'test.txt');
  if (exists(trainList, 'file') && exists(testList, 'file')) {
    const classes = classFolders(root);
    if (classes.length < 2) throw new UserError(`${root} has ${classes.length} class folder${classes.length === 1 ? '' : 's'}; a class-incremental scenario needs at least 2`, LAYOUT_HINT);
    const ids = new Map(classes.map((c, i) => [c, i]));
    const train = listFile(root, trainList, ids);
    const test = listFile(root, testList, ids);
    const inTrain = new Set(train.map((f) => f.rel));
    const both = test.find((f) => inTrain.has(f.rel));
    if (both) throw new UserError(`${both.rel} is listed in both ${trainList} and ${testList}`, 'a test image must not be a training image');
    const listing: ImageFolderListing = { root, layout: 'split-files', classes, train: { dir: root, files: train }, test: { dir: root, files: test } };
    checkCoverage(classes, listing, root);
    return listing;
  }
  const hasTrain = exists(path.join(root, 'train'), 'dir');
  throw new UserError(
    hasTrain ? `image folder ${root} has train/ but neither test/ nor val/` : `image folder ${root} has no train/ and test/ folders and no train.txt and test.txt split files`,
    LAYOUT_HINT,
  );
}

/** The class names of an image folder (its training split's class folders), without listing the images. */
export function imageFolderClasses(dir: string): string[] {
  const root = path.resolve(dir);
  if (!exists(root, 'dir')) throw new UserError(`image folder ${root} does not exist or is not a folder`, LAYOUT_HINT);
  const folders = splitFolders(root);
  if (folders) return classFolders(folders.train);
  if (exists(path.join(root, 'train.txt'), 'file') && exists(path.join(root, 'test.txt'), 'file')) return classFolders(root);
  return listImageFolder(root).classes; // throws the layout error
}

/** A FileImageSplit over listed files. */
export function fileSplit(root: string, files: ImageFile[], resize: ResizeRule, skipBadImages: boolean): FileImageSplit {
  return { kind: 'files', root, files, labels: Int32Array.from(files.map((f) => f.label)), count: files.length, resize, skipBadImages };
}
