/**
 * Image-folder benchmark: features of the same CIFAR-100 test images through the two paths, in
 * alternating rounds (this shared machine's speed drifts, so only side-by-side ratios mean anything):
 *
 *   binary   the binary reader's pixels already in memory -> MobileNetV2 (what `cl run split-cifar100` does)
 *   folder   the same images as PNG files (test/bench/cifar-png.ts, --resize none) -> digest + sharp
 *            decode in chunks beside inference -> MobileNetV2 (what `cl run imagefolder:...` does on a
 *            cache miss)
 *   decode   the folder path's digest + decode alone, no model
 *
 * Both model paths go through extractFeatures with a fresh cache folder each time, so both extract.
 * The folder path's features are checked bit-identical to the binary path's.
 *
 *   CL_SHARED_DIR=/path/to/shared npx tsx test/bench/imagefolder.ts <png folder> [images=1024] [rounds=3]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createBackbone } from '../../src/backbones/backbone.js';
import { extractFeatures } from '../../src/backbones/feature-cache.js';
import { loadCifar100 } from '../../src/data/cifar100.js';
import { decodeChunks, decodeTarget, fileSplitDigest } from '../../src/data/decode.js';
import { fileSplit, listImageFolder } from '../../src/data/image-folder.js';
import type { ImageDataset, ImageSplit } from '../../src/types.js';

const load = (): string => os.loadavg().map((v) => v.toFixed(1)).join(' ');

async function main(): Promise<void> {
  const shared = process.env.CL_SHARED_DIR;
  const folder = process.argv[2];
  if (!shared || !folder) {
    console.error('usage: CL_SHARED_DIR=... npx tsx test/bench/imagefolder.ts <png folder from cifar-png.ts> [images] [rounds]');
    process.exit(2);
  }
  const n = Number(process.argv[3] ?? 1024);
  const rounds = Number(process.argv[4] ?? 3);
  const listing = listImageFolder(folder);
  // Every 10th test image, so all classes take part; the file name is the index in test.bin.
  const files = listing.test.files.filter((_, i) => i % 10 === 0).slice(0, n);
  const bin = await loadCifar100({ dataDir: path.join(shared, 'datasets'), quiet: true });
  const per = 32 * 32 * 3;
  const images = new Uint8Array(files.length * per);
  files.forEach((f, k) => {
    const idx = Number(path.basename(f.rel, '.png'));
    if (bin.test.labels[idx] !== f.label) throw new Error(`${f.rel}: label ${f.label}, test.bin says ${bin.test.labels[idx]}`);
    images.set(bin.test.images.subarray(idx * per, (idx + 1) * per), k * per);
  });
  const memSplit: ImageSplit = { images, labels: Int32Array.from(files.map((f) => f.label)), count: files.length, height: 32, width: 32, channels: 3 };
  const fileSplitOf = fileSplit(listing.test.dir, files, 'none', false);
  const dsBin: ImageDataset = { name: 'cifar100-bench', numClasses: 100, train: memSplit, test: memSplit, source: { location: 'memory', verified: 'structure' } };
  const dsFolder: ImageDataset<typeof fileSplitOf> = { name: `imagefolder:${folder}`, numClasses: 100, train: fileSplitOf, test: fileSplitOf, source: { location: folder, verified: 'structure' } };
  const model = path.join(shared, 'models', 'mobilenetv2-int8', 'mobilenetv2-12-int8-features.onnx');
  const backbone = await createBackbone(`onnx:${model}#features`, { cacheRoot: os.tmpdir() });
  console.log(`${files.length} CIFAR-100 test images, MobileNetV2 int8 (${backbone.preprocessingEngine} preprocessing), ${os.availableParallelism()} cores, ${rounds} rounds`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-bench-if-'));
  const time = async (f: () => Promise<unknown>): Promise<number> => {
    const t0 = performance.now();
    await f();
    return (performance.now() - t0) / 1000;
  };
  const results: Record<'binary' | 'folder' | 'decode', number[]> = { binary: [], folder: [], decode: [] };
  let reference: Float32Array | null = null;
  try {
    // Warm-up: session and sharp loaded, fused model built.
    await extractFeatures(dsBin, 'test', backbone, { cacheRoot: fs.mkdtempSync(path.join(tmp, 'w-')), quiet: true });
    for (let r = 0; r < rounds; r++) {
      const before = load();
      const tb = await time(async () => {
        reference = (await extractFeatures(dsBin, 'test', backbone, { cacheRoot: fs.mkdtempSync(path.join(tmp, 'b-')), quiet: true })).features.x;
      });
      let x: Float32Array | null = null;
      const tf = await time(async () => {
        x = (await extractFeatures(dsFolder, 'test', backbone, { cacheRoot: fs.mkdtempSync(path.join(tmp, 'f-')), quiet: true })).features.x;
      });
      const td = await time(async () => {
        await fileSplitDigest(fileSplitOf, fs.mkdtempSync(path.join(tmp, 'd-')));
        for await (const c of decodeChunks(fileSplitOf, decodeTarget('none', null, 'bench'))) void c;
      });
      const same = reference !== null && x !== null && Buffer.compare(Buffer.from((x as Float32Array).buffer, (x as Float32Array).byteOffset, (x as Float32Array).byteLength), Buffer.from((reference as Float32Array).buffer, (reference as Float32Array).byteOffset, (reference as Float32Array).byteLength)) === 0;
      results.binary.push(files.length / tb);
      results.folder.push(files.length / tf);
      results.decode.push(files.length / td);
      console.log(
        `round ${r + 1}: binary ${(files.length / tb).toFixed(1)} img/s, folder ${(files.length / tf).toFixed(1)} img/s (${((tb / tf) * 100).toFixed(1)} %), ` +
          `digest+decode alone ${(files.length / td).toFixed(0)} img/s; features identical: ${same}; load ${before} -> ${load()}`,
      );
    }
    const median = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    const ratios = results.binary.map((b, i) => results.folder[i] / b);
    console.log(`median: binary ${median(results.binary).toFixed(1)} img/s, folder ${median(results.folder).toFixed(1)} img/s, folder/binary ${(median(ratios) * 100).toFixed(1)} % (per-round ratios ${ratios.map((v) => (v * 100).toFixed(1)).join(', ')} %)`);
  } finally {
    await backbone.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
