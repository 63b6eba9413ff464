/**
 * Writes CIFAR-100 (read by cl's binary reader) out as PNG files in ImageFolder layout, for the
 * end-to-end check that `cl run imagefolder:<out> --resize none` gives the binary run's numbers:
 *
 *   <out>/train/<fine label name>/<index in train.bin, 5 digits>.png   (50,000)
 *   <out>/test/<fine label name>/<index in test.bin, 5 digits>.png     (10,000)
 *
 * CIFAR-100's fine label names are in code-point order, so ImageFolder's sorted class folders get the
 * binary labels as ids, and zero-padded indices keep each class's images in dataset order (the order
 * NMC sums them in). Both are asserted. PNG is lossless: the pixels are the binary file's.
 *
 *   npx tsx test/bench/cifar-png.ts <cifar-100 copy (archive or folder)> <out> [--classes N]
 *
 * --classes N writes only the first N classes (a quicker, smaller check).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { loadCifar100 } from '../../src/data/cifar100.js';
import { byCodePoint } from '../../src/data/image-folder.js';
import type { ImageSplit } from '../../src/types.js';

async function writeSplit(split: ImageSplit, names: string[], dir: string, classes: number): Promise<number> {
  const per = split.height * split.width * split.channels;
  let written = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < split.count) {
      const i = next++;
      const label = split.labels[i];
      if (label >= classes) continue;
      const file = path.join(dir, names[label], `${String(i).padStart(5, '0')}.png`);
      const raw = Buffer.from(split.images.buffer, split.images.byteOffset + i * per, per);
      await sharp(raw, { raw: { width: split.width, height: split.height, channels: 3 } }).png({ compressionLevel: 6 }).toFile(file);
      written++;
    }
  };
  for (const n of names.slice(0, classes)) await fs.mkdir(path.join(dir, n), { recursive: true });
  await Promise.all(Array.from({ length: 4 }, worker));
  return written;
}

async function main(): Promise<void> {
  const [src, out] = process.argv.slice(2, 4);
  if (!src || !out) {
    console.error('usage: npx tsx test/bench/cifar-png.ts <cifar-100 copy> <out> [--classes N]');
    process.exit(2);
  }
  const k = process.argv.indexOf('--classes');
  const classes = k > 0 ? Number(process.argv[k + 1]) : 100;
  const ds = await loadCifar100({ dataDir: src, quiet: true });
  const names = ds.classNames;
  if (!names || names.length !== 100) throw new Error('the copy has no fine_label_names.txt');
  const sorted = [...names].sort(byCodePoint);
  if (sorted.some((n, i) => n !== names[i])) throw new Error('fine label names are not in code-point order: ImageFolder ids would differ from the labels');
  const t0 = performance.now();
  const tr = await writeSplit(ds.train, names, path.join(out, 'train'), classes);
  const te = await writeSplit(ds.test, names, path.join(out, 'test'), classes);
  console.log(`wrote ${tr} train + ${te} test PNGs of ${classes} classes to ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
