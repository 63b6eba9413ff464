/**
 * Feature-extraction benchmark: bare `session.run` throughput at batch 16 on already preprocessed
 * inputs vs end-to-end extraction (uint8 CIFAR-100 images -> resize 32->224 + ImageNet normalise
 * -> MobileNetV2 -> features) through the `onnx:` backbone. Target: end-to-end >= 90 % of bare.
 *
 *   CL_SHARED_DIR=/path/to/shared npx tsx test/bench/extract.ts [images=1008] [rounds=2]
 */
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { createBackbone } from '../../src/backbones/backbone.js';
import { onnxSessionOptions } from '../../src/backbones/onnx.js';
import { Preprocessor, imagenetPreset } from '../../src/backbones/preprocess.js';
import { cifar100TestSample, sharedDir } from '../backbones/cifar-sample.js';

const BATCH = 16;

async function main(): Promise<void> {
  const shared = sharedDir();
  if (!shared) {
    console.error('set CL_SHARED_DIR to the shared folder (datasets/ and models/)');
    process.exit(2);
  }
  const n = Number(process.argv[2] ?? 1008);
  const rounds = Number(process.argv[3] ?? 2);
  const threads = os.availableParallelism();
  const model = path.join(shared, 'models', 'mobilenetv2-int8', 'mobilenetv2-12-int8-features.onnx');
  const split = await cifar100TestSample(shared, n);
  const batches = Math.ceil(n / BATCH);
  console.log(`${n} CIFAR-100 test images, batch ${BATCH}, ${threads} intra-op threads, ${rounds} rounds (best kept)`);

  // Bare: the model call alone on a few preprocessed batches, cycled.
  const session = await ort.InferenceSession.create(model, onnxSessionOptions(threads));
  const pre = new Preprocessor(imagenetPreset(224, 'NCHW'), 32, 32, 3);
  const inputs = Array.from({ length: 4 }, (_, k) => {
    const buf = new Float32Array(BATCH * pre.floatsPerImage);
    pre.runBatch(split, k * BATCH, BATCH, buf);
    return new ort.Tensor('float32', buf, [BATCH, 3, 224, 224]);
  });
  const bare = async (): Promise<number> => {
    const t0 = performance.now();
    for (let k = 0; k < batches; k++) {
      const out = await session.run({ input: inputs[k % inputs.length] }, ['features']);
      out.features.dispose();
    }
    return (batches * BATCH) / ((performance.now() - t0) / 1000);
  };

  // Preprocessing alone (single JS thread).
  const prepOnly = (): number => {
    const buf = new Float32Array(BATCH * pre.floatsPerImage);
    const t0 = performance.now();
    for (let k = 0; k < batches; k++) pre.runBatch(split, (k * BATCH) % (n - BATCH), BATCH, buf);
    return (batches * BATCH) / ((performance.now() - t0) / 1000);
  };

  // Serial: preprocess, then run, no overlap (what the backbone would do without double buffering).
  const serial = async (): Promise<number> => {
    const buf = new Float32Array(BATCH * pre.floatsPerImage);
    const t0 = performance.now();
    for (let k = 0; k < batches; k++) {
      const m = Math.min(BATCH, n - k * BATCH);
      pre.runBatch(split, k * BATCH, m, buf);
      const out = await session.run({ input: new ort.Tensor('float32', buf.subarray(0, m * pre.floatsPerImage), [m, 3, 224, 224]) }, ['features']);
      out.features.dispose();
    }
    return n / ((performance.now() - t0) / 1000);
  };

  // End to end through the backbone (double-buffered).
  const backbone = await createBackbone(`onnx:${model}#features`, { threads, batchSize: BATCH });
  const e2e = async (): Promise<number> => {
    const t0 = performance.now();
    const x = await backbone.extract(split);
    if (x.length !== n * 1280) throw new Error('unexpected feature size');
    return n / ((performance.now() - t0) / 1000);
  };

  // Warm up both sessions.
  await session.run({ input: inputs[0] }, ['features']);
  await backbone.extract({ ...split, images: split.images.subarray(0, BATCH * 3072), labels: split.labels.subarray(0, BATCH), count: BATCH });

  const best = { bare: 0, e2e: 0, serial: 0, prep: 0 };
  for (let r = 0; r < rounds; r++) {
    const b = await bare();
    const e = await e2e();
    const s = await serial();
    const p = prepOnly();
    console.log(`round ${r + 1}: bare ${b.toFixed(1)} img/s, end-to-end ${e.toFixed(1)} img/s, serial ${s.toFixed(1)} img/s, preprocess only ${p.toFixed(0)} img/s`);
    best.bare = Math.max(best.bare, b);
    best.e2e = Math.max(best.e2e, e);
    best.serial = Math.max(best.serial, s);
    best.prep = Math.max(best.prep, p);
  }
  console.log(`bare session.run (batch ${BATCH}):  ${best.bare.toFixed(1)} img/s`);
  console.log(`end-to-end extract (overlapped): ${best.e2e.toFixed(1)} img/s`);
  console.log(`serial prep + run (no overlap):  ${best.serial.toFixed(1)} img/s`);
  console.log(`preprocessing alone (1 thread):  ${best.prep.toFixed(0)} img/s`);
  console.log(`end-to-end / bare = ${((100 * best.e2e) / best.bare).toFixed(1)} % (target >= 90 %)`);
  await backbone.dispose();
  await session.release();
}

await main();
