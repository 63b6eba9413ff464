/**
 * Benchmark: what the default backbone costs on this CPU. `vit-b16-in21k` (343 MB, hub download)
 * is replaced by a ViT-B/16-shaped model with random weights built by test/bench/vit-model.ts
 * (same graph, same FLOPs), and its int8 variant (the hub's onnx/model_quantized.onnx, the
 * `vit-b16-in21k-int8` backbone) by the same model through dynamic quantisation. Measured, in
 * interleaved rounds: the bare session.run on preprocessed input, and extraction end to end
 * through the `onnx:` backbone (uint8 32×32 images, resize + scaling inside onnxruntime, [CLS]
 * pooling); with $CL_SHARED_DIR also the shared MobileNetV2 for scale. Prints the ETA of the
 * main job's 60,000 images.
 *
 *   npx tsx test/bench/vit.ts [--images 16] [--rounds 2] [--batch 8]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { createBackbone, type Backbone } from '../../src/backbones/backbone.js';
import { onnxSessionOptions } from '../../src/backbones/onnx.js';
import { formatDuration } from '../../src/backbones/wrap.js';
import { Rng } from '../../src/rng.js';
import type { ImageSplit } from '../../src/types.js';
import { cifar100TestSample, sharedDir } from '../backbones/cifar-sample.js';
import { MOBILENET_MODEL, argValue, loadLine, median } from './data.js';
import { VIT, buildVit } from './vit-model.js';

const MAIN_JOB_IMAGES = 60000;

interface Model {
  name: string;
  file: string;
  input: string;
  output: string;
  dims: number[];
  pool: 'cls' | 'none';
  normalize: 'imagenet' | 'none';
}

async function main(): Promise<void> {
  const images = Number(argValue('--images', '16'));
  const rounds = Number(argValue('--rounds', '2'));
  const batch = Number(argValue('--batch', '8'));
  const threads = os.availableParallelism();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cl-bench-vit-'));
  const models: Model[] = [];
  try {
    for (const int8 of [false, true]) {
      const t0 = performance.now();
      const { bytes, params } = buildVit({ int8 });
      const file = path.join(dir, int8 ? 'vit-b16-int8.onnx' : 'vit-b16.onnx');
      writeFileSync(file, bytes);
      console.log(`built ${path.basename(file)}: ${(bytes.length / 1e6).toFixed(1)} MB, ${(params / 1e6).toFixed(2)} M parameters (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      models.push({ name: int8 ? 'ViT-B/16 int8' : 'ViT-B/16 float32', file, input: 'pixel_values', output: 'last_hidden_state', dims: [3, VIT.image, VIT.image], pool: 'cls', normalize: 'none' });
    }
    const shared = sharedDir();
    if (shared) models.push({ name: 'MobileNetV2 int8 (shared)', file: MOBILENET_MODEL(shared), input: 'input', output: 'features', dims: [3, 224, 224], pool: 'none', normalize: 'imagenet' });
    // Images: CIFAR-100 test images with CL_SHARED_DIR, else random 32×32 RGB.
    let split: ImageSplit;
    if (shared) split = await cifar100TestSample(shared, images);
    else {
      const rng = new Rng(3);
      split = { images: Uint8Array.from({ length: images * 3072 }, () => rng.int(256)), labels: new Int32Array(images), count: images, height: 32, width: 32, channels: 3 };
    }
    console.log(`${images} images per measurement, batch ${batch}, ${threads} intra-op threads, ${rounds} interleaved rounds; ${loadLine()}`);

    const sessions = new Map<string, ort.InferenceSession>();
    const backbones = new Map<string, Backbone>();
    for (const m of models) {
      sessions.set(m.name, await ort.InferenceSession.create(m.file, onnxSessionOptions(threads)));
      backbones.set(m.name, await createBackbone(`onnx:${m.file}#${m.output}`, { threads, batchSize: batch, pool: m.pool === 'none' ? undefined : m.pool, normalize: m.normalize, device: 'cpu' }));
    }
    const input = (m: Model): ort.Tensor => new ort.Tensor('float32', new Float32Array(batch * m.dims[0] * m.dims[1] * m.dims[2]).fill(0.5), [batch, ...m.dims]);
    const bare = async (m: Model): Promise<number> => {
      const s = sessions.get(m.name)!;
      const feed = { [m.input]: input(m) };
      const calls = Math.max(1, Math.round(images / batch));
      const t0 = performance.now();
      for (let k = 0; k < calls; k++) {
        const out = await s.run(feed, [m.output]);
        out[m.output].dispose();
      }
      return (calls * batch) / ((performance.now() - t0) / 1000);
    };
    const e2e = async (m: Model): Promise<number> => {
      const t0 = performance.now();
      await backbones.get(m.name)!.extract(split);
      return images / ((performance.now() - t0) / 1000);
    };
    // Warm-up: one batch each.
    const one = { ...split, images: split.images.subarray(0, batch * 3072), labels: split.labels.subarray(0, batch), count: Math.min(batch, split.count) };
    for (const m of models) {
      await sessions.get(m.name)!.run({ [m.input]: input(m) }, [m.output]);
      await backbones.get(m.name)!.extract(one);
    }
    const res = new Map<string, { bare: number[]; e2e: number[] }>(models.map((m) => [m.name, { bare: [], e2e: [] }]));
    for (let r = 0; r < rounds; r++) {
      const parts: string[] = [];
      for (const m of r % 2 === 0 ? models : [...models].reverse()) {
        const b = await bare(m);
        const e = await e2e(m);
        res.get(m.name)!.bare.push(b);
        res.get(m.name)!.e2e.push(e);
        parts.push(`${m.name} bare ${b.toFixed(2)} / end-to-end ${e.toFixed(2)} img/s`);
      }
      console.log(`round ${r + 1}: ${parts.join('; ')}`);
    }
    for (const m of models) {
      const v = res.get(m.name)!;
      const b = median(v.bare);
      const e = median(v.e2e);
      console.log(
        `${m.name.padEnd(26)} bare ${b.toFixed(2)} img/s, end-to-end ${e.toFixed(2)} img/s (${((100 * e) / b).toFixed(0)} % of bare); ` +
          `main job (${MAIN_JOB_IMAGES.toLocaleString('en')} images): ${formatDuration(MAIN_JOB_IMAGES / e)}`,
      );
    }
    const f = median(res.get(models[0].name)!.e2e);
    const q = median(res.get(models[1].name)!.e2e);
    console.log(`int8 speed-up end to end: ${(q / f).toFixed(2)}× (same-round ratios ${res.get(models[1].name)!.e2e.map((v, i) => (v / res.get(models[0].name)!.e2e[i]).toFixed(2)).join(', ')})`);
    if (shared) {
      const mb = median(res.get(models[2].name)!.e2e);
      console.log(`ViT-B/16 float32 runs at 1/${(mb / f).toFixed(0)} of MobileNetV2's end-to-end speed here, int8 at 1/${(mb / q).toFixed(0)}`);
    }
    console.log(loadLine());
    for (const b of backbones.values()) await b.dispose();
    for (const s of sessions.values()) await s.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
