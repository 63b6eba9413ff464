/**
 * CIFAR-100, binary version (Krizhevsky 2009): `train.bin` (50,000 records) and `test.bin` (10,000),
 * each record 3,074 bytes: coarse label, fine label, then 1,024 red, 1,024 green, 1,024 blue bytes
 * (32x32 row-major planes). Converted to the canonical HWC ImageSplit with fine labels as `labels`.
 *
 * Sources, in order: a local copy (--data-dir / CL_DATA_DIR: the .tar.gz, its folder, or the extracted
 * folder; validated structurally), the dataset cache (an earlier download or extraction), a download
 * of the official archive (md5-verified).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.js';
import type { ImageDataset, ImageSplit } from '../types.js';
import { downloadFile } from './download.js';
import { commitDir, extractToTemp, findFolderWith, readMarker, removeDir, writeMarker } from './extract.js';
import { pathKind, readFileOrFail } from './files.js';
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
const MEMBERS = new Set(['train.bin', 'test.bin', 'fine_label_names.txt', 'coarse_label_names.txt']);

export interface SplitCounts {
  train: number;
  test: number;
}

/** Test hooks: where to download from and which record counts a complete copy has. */
export interface Cifar100Overrides {
  url?: string;
  md5?: string;
  expected?: SplitCounts;
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
    // planar CHW -> interleaved HWC
    const red = s + 2;
    const green = red + PLANE;
    const blue = green + PLANE;
    let o = r * 3 * PLANE;
    for (let p = 0; p < PLANE; p++) {
      images[o++] = buf[red + p];
      images[o++] = buf[green + p];
      images[o++] = buf[blue + p];
    }
  }
  return { images, labels, coarseLabels, count, height: SIDE, width: SIDE, channels: 3 };
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

const LAYOUT_HINT = `Point it at ${CIFAR100_ARCHIVE}, a folder containing it, a folder containing ${CIFAR100_FOLDER}/, or the extracted folder with train.bin and test.bin.`;

/** Where in a user-supplied path the CIFAR-100 copy is. */
async function locateLocal(p: string, from: string): Promise<{ kind: 'dir' | 'archive'; path: string }> {
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
  throw new UserError(`${from} ${p} holds no CIFAR-100 copy (no train.bin/test.bin, no ${CIFAR100_FOLDER}/, no ${CIFAR100_ARCHIVE}).`, LAYOUT_HINT);
}

/**
 * Extracts `archive` into `<cache>/cifar-100-binary` (atomically), unless that folder already holds an
 * extraction of the same archive (same origin, size and mtime).
 */
async function fromArchive(
  archive: string,
  origin: string,
  verified: 'checksum' | 'structure',
  cacheDir: string,
  expected: SplitCounts,
  quiet: boolean | undefined,
): Promise<Cifar100Content> {
  const st = await fs.stat(archive);
  const target = path.join(cacheDir, CIFAR100_FOLDER);
  const marker = await readMarker(target);
  if (marker && marker.origin === origin && marker.archiveSize === st.size && marker.archiveMtimeMs === st.mtimeMs) {
    return readCifar100Folder(target, expected);
  }
  const tmp = await extractToTemp(archive, cacheDir, MEMBERS, { quiet });
  try {
    const folder = await findFolderWith(tmp, 'train.bin');
    if (!folder || !(await hasBins(folder))) {
      throw new UserError(`${archive} does not contain train.bin and test.bin.`, `Is it the CIFAR-100 binary version (${CIFAR100_ARCHIVE})?`);
    }
    const content = await readCifar100Folder(folder, expected);
    await writeMarker(folder, { origin, archiveSize: st.size, archiveMtimeMs: st.mtimeMs, verified, createdAt: new Date().toISOString() });
    await commitDir(folder, target);
    return content;
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
    return make(await fromArchive(found.path, found.path, 'structure', cacheDir, expected, opts.quiet), found.path, 'structure');
  }

  // (b) the cache
  const cached = path.join(cacheDir, CIFAR100_FOLDER);
  if (await hasBins(cached)) {
    const marker = await readMarker(cached);
    return make(await readCifar100Folder(cached, expected), marker?.origin ?? cached, marker?.verified ?? 'structure');
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
  const content = await fromArchive(archive, url, 'checksum', cacheDir, expected, opts.quiet);
  await fs.rm(archive, { force: true }); // the verified extraction is what the cache keeps
  return make(content, url, 'checksum');
}
