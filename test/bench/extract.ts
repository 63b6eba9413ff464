/**
 * Feature-extraction benchmark: bare `session.run` throughput at batch 16 on already preprocessed
 * inputs vs end-to-end extraction (uint8 CIFAR-100 images -> resize 32->224 + ImageNet normalise
 * -> MobileNetV2 -> features) through the `onnx:` backbone, with preprocessing inside onnxruntime
 * (the default) and in JS (`--preprocess js`). Target: end-to-end >= 90 % of bare. The headline
 * is the paired figure (short alternating segments), because this shared 2-core machine's speed
 * drifts by ±15 % between rounds; per-round figures follow.
 *
 *   CL_SHARED_DIR=/path/to/shared npx tsx test/bench/extract.ts [images=1008] [rounds=3]
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
  const rounds = Number(process.argv[3] ?? 3);
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

  // End to end through the backbone: preprocessing inside onnxruntime (default) and in JS.
  const inOrt = await createBackbone(`onnx:${model}#features`, { threads, batchSize: BATCH });
  const inJs = await createBackbone(`onnx:${model}#features`, { threads, batchSize: BATCH, preprocess: 'js' });
  const e2e = async (backbone: typeof inOrt): Promise<number> => {
    const t0 = performance.now();
    const x = await backbone.extract(split);
    if (x.length !== n * 1280) throw new Error('unexpected feature size');
    return n / ((performance.now() - t0) / 1000);
  };

  // Warm up every session.
  await session.run({ input: inputs[0] }, ['features']);
  const warm = { ...split, images: split.images.subarray(0, BATCH * 3072), labels: split.labels.subarray(0, BATCH), count: BATCH };
  await inOrt.extract(warm);
  await inJs.extract(warm);

  // Rounds interleave the modes so that a slow spell of the machine hits them alike.
  const best = { bare: 0, ort: 0, js: 0, serial: 0, prep: 0 };
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const b = await bare();
    const o = await e2e(inOrt);
    const j = await e2e(inJs);
    const s = await serial();
    const p = prepOnly();
    console.log(
      `round ${r + 1}: bare ${b.toFixed(1)}, end-to-end (onnxruntime preprocessing) ${o.toFixed(1)} = ${((100 * o) / b).toFixed(1)} %, ` +
        `end-to-end (JS preprocessing) ${j.toFixed(1)}, serial JS ${s.toFixed(1)}, JS preprocessing alone ${p.toFixed(0)} img/s`,
    );
    ratios.push(o / b);
    best.bare = Math.max(best.bare, b);
    best.ort = Math.max(best.ort, o);
    best.js = Math.max(best.js, j);
    best.serial = Math.max(best.serial, s);
    best.prep = Math.max(best.prep, p);
  }
  // Paired: short alternating segments of 8 batches (bare, then the same number of images end to end),
  // so that the shared machine's slow and fast spells hit both modes alike; the headline figure.
  const SEG = 8 * BATCH;
  const segments = Math.max(1, Math.floor(n / SEG)) * rounds;
  let bareMs = 0;
  let e2eMs = 0;
  let jsMs = 0;
  for (let k = 0; k < segments; k++) {
    let t0 = performance.now();
    for (let b = 0; b < SEG / BATCH; b++) (await session.run({ input: inputs[b % inputs.length] }, ['features'])).features.dispose();
    bareMs += performance.now() - t0;
    const start = (k * SEG) % (n - SEG + 1);
    const seg = { ...split, images: split.images.subarray(start * 3072, (start + SEG) * 3072), labels: split.labels.subarray(start, start + SEG), count: SEG };
    t0 = performance.now();
    await inOrt.extract(seg);
    e2eMs += performance.now() - t0;
    t0 = performance.now();
    await inJs.extract(seg);
    jsMs += performance.now() - t0;
  }
  const pairedBare = (segments * SEG) / (bareMs / 1000);
  const pairedE2e = (segments * SEG) / (e2eMs / 1000);
  const pairedJs = (segments * SEG) / (jsMs / 1000);
  console.log(
    `paired (${segments} alternating segments of ${SEG} images): bare ${pairedBare.toFixed(1)} img/s, end-to-end (onnxruntime preprocessing) ${pairedE2e.toFixed(1)} img/s = ` +
      `${((100 * pairedE2e) / pairedBare).toFixed(1)} % (target >= 90 %), end-to-end (JS preprocessing) ${pairedJs.toFixed(1)} img/s = ${((100 * pairedJs) / pairedBare).toFixed(1)} %`,
  );
  const pct = (x: number): string => `${((100 * x) / best.bare).toFixed(1)} %`;
  console.log(`bare session.run (batch ${BATCH}):               ${best.bare.toFixed(1)} img/s`);
  const sorted = [...ratios].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  console.log(`end-to-end, preprocessing in onnxruntime:    ${best.ort.toFixed(1)} img/s = ${pct(best.ort)} of bare (target >= 90 %)`);
  console.log(`  same-round ratios: median ${(100 * median).toFixed(1)} %, range ${(100 * sorted[0]).toFixed(1)}-${(100 * sorted[sorted.length - 1]).toFixed(1)} %`);
  console.log(`end-to-end, preprocessing in JS (overlapped): ${best.js.toFixed(1)} img/s = ${pct(best.js)}`);
  console.log(`JS preprocessing then run (no overlap):      ${best.serial.toFixed(1)} img/s = ${pct(best.serial)}`);
  console.log(`JS preprocessing alone (1 thread):           ${best.prep.toFixed(0)} img/s`);
  await inOrt.dispose();
  await inJs.dispose();
  await session.release();
}

await main();
