/**
 * Test/bench helper: the first `n` CIFAR-100 test images from $CL_SHARED_DIR's
 * cifar-100-binary.tar.gz, decoded straight from the gzip stream (test.bin is the first file in
 * the archive, so only its first records are inflated). Records: coarse label, fine label,
 * 1024 R + 1024 G + 1024 B bytes (planar 32x32), converted here to HWC.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import type { ImageSplit } from '../../src/types.js';

const RECORD = 3074;

export function sharedDir(): string | null {
  return process.env.CL_SHARED_DIR ? path.resolve(process.env.CL_SHARED_DIR) : null;
}

export async function cifar100TestSample(shared: string, n: number): Promise<ImageSplit> {
  const file = path.join(shared, 'datasets', 'cifar-100-binary.tar.gz');
  const chunks: Buffer[] = [];
  let have = 0;
  let need = Infinity;
  let dataStart = -1;
  // Forward read errors (e.g. CL_SHARED_DIR pointing at the wrong folder) to the gunzip stream so
  // they reject this promise instead of crashing the test runner.
  const source = createReadStream(file);
  const stream = source.pipe(createGunzip());
  source.on('error', (err) => stream.destroy(err));
  for await (const chunk of stream) {
    chunks.push(chunk as Buffer);
    have += (chunk as Buffer).length;
    if (dataStart < 0) {
      const buf = Buffer.concat(chunks);
      // Walk ustar headers (512-byte blocks) until test.bin.
      let off = 0;
      while (off + 512 <= buf.length) {
        const name = buf.toString('latin1', off, off + 100).replace(/\0.*$/s, '');
        const size = parseInt(buf.toString('latin1', off + 124, off + 136).replace(/\0.*$/s, '').trim() || '0', 8);
        if (name.endsWith('test.bin')) {
          dataStart = off + 512;
          need = dataStart + n * RECORD;
          break;
        }
        off += 512 + Math.ceil(size / 512) * 512;
      }
    }
    if (have >= need) break;
  }
  stream.destroy();
  const buf = Buffer.concat(chunks);
  if (dataStart < 0 || buf.length < need) throw new Error(`${file}: test.bin not found or too short`);
  const images = new Uint8Array(n * 3072);
  const labels = new Int32Array(n);
  const coarseLabels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const r = dataStart + i * RECORD;
    coarseLabels[i] = buf[r];
    labels[i] = buf[r + 1];
    for (let p = 0; p < 1024; p++) {
      for (let c = 0; c < 3; c++) images[i * 3072 + p * 3 + c] = buf[r + 2 + c * 1024 + p];
    }
  }
  return { images, labels, coarseLabels, count: n, height: 32, width: 32, channels: 3 };
}
