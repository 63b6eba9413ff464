/**
 * The closed-form learners (slda, fecam, ranpac; docs/methods/) on real cached features against
 * an independent numpy reference (test/bench/closed_form_ref.py): CIFAR-100 B0-Inc10, class order
 * icarl-1993, default options (ranpac seed 1). Per method, interleaved: cl learns the 10 tasks and
 * predicts the seen-class test samples after the first and the last task, then numpy does the
 * same. Prints time per side and the agreement: scores after the last task (max |Δ| relative to
 * the largest |score|, and the largest element-wise relative error), identical predicted labels,
 * and RanPAC's λ per task. Exits 1 when an agreement check fails (|Δ|/max|s| > 1e-6 or a label
 * differs).
 *
 *   npx tsx test/bench/closed-form.ts [--train <feature cache entry dir>] [--test <dir>] [--methods slda,fecam,ranpac]
 *
 * Without --train/--test it uses the CIFAR-100 entries in the feature cache ($CL_CACHE_DIR or
 * ~/.cache/cl/features) of a 1280-d backbone (the MobileNetV2 of README's main job); it skips with
 * a message when there are none or when python3 with numpy is missing.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readNpy } from '../../src/backbones/npy.js';
import { FecamLearner, fecamConfig } from '../../src/learners/fecam.js';
import { RanpacLearner, ranpacConfig, randomProjection, ridgeSplit } from '../../src/learners/ranpac.js';
import { SldaLearner, sldaConfig } from '../../src/learners/slda.js';
import { gemmEngine } from '../../src/linalg/gemm.js';
import { featureCacheDir } from '../../src/paths.js';
import { ICARL_1993 } from '../../src/scenario/orders.js';
import { taskClasses } from '../../src/scenario/split.js';
import { selectClasses } from '../../src/scenario/stream.js';
import type { Experience, Features, Learner } from '../../src/types.js';

const here = path.dirname(new URL(import.meta.url).pathname);
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

function findEntries(): { train: string; test: string } | null {
  const root = featureCacheDir();
  if (!fs.existsSync(root)) return null;
  const metas = fs
    .readdirSync(root)
    .map((name) => path.join(root, name))
    .filter((dir) => fs.existsSync(path.join(dir, 'meta.json')))
    .map((dir) => ({ dir, meta: JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) }))
    .filter((e) => e.meta.dataset?.name === 'cifar100' && e.meta.dim === 1280);
  for (const tr of metas.filter((e) => e.meta.split === 'train')) {
    const te = metas.find((e) => e.meta.split === 'test' && e.meta.backbone.id === tr.meta.backbone.id && e.meta.preprocessing?.id === tr.meta.preprocessing?.id);
    if (te) return { train: tr.dir, test: te.dir };
  }
  return null;
}

function npyF8(data: Float64Array | Int32Array, shape: number[]): Buffer {
  const descr = data instanceof Float64Array ? '<f8' : '<i4';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const h = Buffer.alloc(10);
  Buffer.from('\x93NUMPY', 'latin1').copy(h);
  h[6] = 1;
  h[7] = 0;
  h.writeUInt16LE(header.length, 8);
  return Buffer.concat([h, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

function readF8(file: string): { data: Float64Array; shape: number[] } {
  const buf = fs.readFileSync(file);
  const len = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + len);
  if (!header.includes("'<f8'")) throw new Error(`${file}: not float64 (${header.trim()})`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)![1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const bytes = buf.subarray(10 + len);
  const data = new Float64Array(bytes.length / 8);
  new Uint8Array(data.buffer).set(bytes);
  return { data, shape };
}

interface Side {
  learnSeconds: number;
  evalSeconds: number;
  /** CPU time of the process, all threads (onnxruntime's included). */
  cpuSeconds: number;
  preds: Record<string, number[]>;
  scores: Float64Array;
}

const EVAL_TASKS = [0, 9];

async function runCl(make: () => Learner, scoresOf: (l: Learner, f: Features) => Float64Array, train: Features, test: Features, tasks: number[][]): Promise<Side> {
  const cpu0 = process.cpuUsage();
  const l = make();
  const seen: number[] = [];
  let learnSeconds = 0;
  let evalSeconds = 0;
  const preds: Record<string, number[]> = {};
  let scores: Float64Array = new Float64Array(0);
  for (let t = 0; t < tasks.length; t++) {
    const block = selectClasses(train, tasks[t]);
    let t0 = performance.now();
    await l.learn({ index: t, classes: tasks[t], train: block });
    learnSeconds += (performance.now() - t0) / 1000;
    seen.push(...tasks[t]);
    if (EVAL_TASKS.includes(t)) {
      const q = selectClasses(test, seen);
      t0 = performance.now();
      scores = scoresOf(l, q);
      preds[t] = Array.from(l.predict(q));
      evalSeconds += (performance.now() - t0) / 1000;
    }
  }
  l.dispose();
  const cpu = process.cpuUsage(cpu0);
  return { learnSeconds, evalSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, preds, scores };
}

const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
const dirs = arg('--train') && arg('--test') ? { train: arg('--train')!, test: arg('--test')! } : findEntries();
if (!dirs) {
  console.log('closed-form bench: skipped (no CIFAR-100 1280-d entries in the feature cache; run the README main job first, or pass --train/--test)');
  process.exit(0);
}
if (!hasNumpy) console.log('closed-form bench: python3 with numpy not found; timing cl only, no agreement check (apt-get install python3-numpy)');

const [xtr, ytr, xte, yte] = await Promise.all(
  [['train', 'features'], ['train', 'labels'], ['test', 'features'], ['test', 'labels']].map(([split, f]) => readNpy(path.join(dirs[split as 'train' | 'test'], `${f}.npy`))),
);
const dim = xtr.shape[1];
const train: Features = { x: xtr.data as Float32Array, y: ytr.data as Int32Array, count: xtr.shape[0], dim };
const test: Features = { x: xte.data as Float32Array, y: yte.data as Int32Array, count: xte.shape[0], dim };
const tasks = taskClasses(ICARL_1993, 'B0-Inc10');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-closed-form-bench-'));
const seed = 1;
const methods = (arg('--methods') ?? 'slda,fecam,ranpac').split(',');
console.log(`closed-form bench: ${train.count} train / ${test.count} test × ${dim} (${dirs.train}), B0-Inc10 icarl-1993, products on ${gemmEngine().engine}`);
console.log(`  load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}; ${os.availableParallelism()} cores`);

let failed = false;
const rows: string[][] = [
  ['method', 'cl learn s', 'cl eval s', 'cl CPU s', 'numpy learn s', 'numpy eval s', 'numpy CPU s', 'cl/numpy wall', 'cl/numpy CPU', 'max|Δ|/max|s|', 'max rel Δ', 'labels equal'],
];
for (const name of methods) {
  const manifest: Record<string, unknown> = {
    features: {
      train: path.join(dirs.train, 'features.npy'),
      trainLabels: path.join(dirs.train, 'labels.npy'),
      test: path.join(dirs.test, 'features.npy'),
      testLabels: path.join(dirs.test, 'labels.npy'),
    },
    tasks,
    evalTasks: EVAL_TASKS,
  };
  let side: Side;
  let extra = '';
  if (name === 'slda') {
    const config = sldaConfig();
    manifest.methods = { slda: config };
    side = await runCl(() => new SldaLearner(config, dim), (l, f) => (l as SldaLearner).rawScores(f), train, test, tasks);
  } else if (name === 'fecam') {
    const config = fecamConfig();
    manifest.methods = { fecam: config };
    side = await runCl(() => new FecamLearner(config, dim), (l, f) => (l as FecamLearner).distances(f), train, test, tasks);
  } else if (name === 'ranpac') {
    const config = ranpacConfig();
    const projectionFile = path.join(work, 'ranpac_projection.npy');
    fs.writeFileSync(projectionFile, npyF8(randomProjection(seed, dim, config.projection), [dim, config.projection]));
    const valFiles = tasks.map((classes, t) => {
      const n = selectClasses(train, classes).count;
      const file = path.join(work, `ranpac_val_${t}.npy`);
      fs.writeFileSync(file, npyF8(Int32Array.from(ridgeSplit(seed, t, n).val), [n - Math.floor(n * 0.8)]));
      return file;
    });
    manifest.methods = { ranpac: { ...config, projectionFile, valFiles } };
    const lambdas: (number | null)[] = [];
    side = await runCl(
      () => {
        const l = new RanpacLearner(config, dim, seed);
        const learn = l.learn.bind(l);
        l.learn = async (exp: Experience) => {
          await learn(exp);
          lambdas.push(l.ridge());
        };
        return l;
      },
      (l, f) => (l as RanpacLearner).rawScores(f),
      train,
      test,
      tasks,
    );
    extra = `λ per task (cl): ${lambdas.join(', ')}`;
  } else {
    throw new Error(`unknown method ${name}`);
  }
  const row = [name, side.learnSeconds.toFixed(1), side.evalSeconds.toFixed(1), side.cpuSeconds.toFixed(1)];
  if (hasNumpy) {
    fs.writeFileSync(path.join(work, 'manifest.json'), JSON.stringify(manifest));
    const py = spawnSync('python3', [path.join(here, 'closed_form_ref.py'), work], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (py.status !== 0) {
      console.log(`  numpy reference failed for ${name} (exit ${py.status})`);
      failed = true;
      continue;
    }
    const res = JSON.parse(fs.readFileSync(path.join(work, 'np_results.json'), 'utf8')).methods[name];
    const ref = readF8(path.join(work, `np_${name}_scores.npy`));
    let maxAbs = 0;
    let maxRef = 0;
    let maxRel = 0;
    for (let i = 0; i < ref.data.length; i++) {
      const d = Math.abs(side.scores[i] - ref.data[i]);
      maxAbs = Math.max(maxAbs, d);
      maxRef = Math.max(maxRef, Math.abs(ref.data[i]));
      maxRel = Math.max(maxRel, d / Math.max(Math.abs(ref.data[i]), 1e-300));
    }
    let same = 0;
    let total = 0;
    for (const t of EVAL_TASKS) {
      const a = side.preds[t];
      const b = res.preds[t] as number[];
      total += b.length;
      for (let i = 0; i < b.length; i++) if (a[i] === b[i]) same++;
    }
    const scaled = maxAbs / maxRef;
    if (ref.data.length !== side.scores.length || scaled > 1e-6 || same !== total) failed = true;
    const npTotal = res.learnSeconds + res.evalSeconds;
    row.push(
      res.learnSeconds.toFixed(1),
      res.evalSeconds.toFixed(1),
      res.cpuSeconds.toFixed(1),
      ((side.learnSeconds + side.evalSeconds) / npTotal).toFixed(2),
      (side.cpuSeconds / res.cpuSeconds).toFixed(2),
      scaled.toExponential(1),
      maxRel.toExponential(1),
      `${same}/${total}`,
    );
    if (name === 'ranpac') extra += `; numpy: ${res.lambdas.join(', ')}`;
  }
  rows.push(row);
  console.log(`  ${row.join('  ')}${extra ? `\n    ${extra}` : ''}`);
}
const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => (r[j] ?? '').length)));
console.log('\n' + rows.map((r) => r.map((v, j) => (v ?? '').padStart(widths[j])).join('  ')).join('\n'));
console.log(
  `  (seconds; learn = 10 increments, eval = predict after tasks ${EVAL_TASKS.map((t) => t + 1).join(' and ')}, wall clock; CPU = the process's CPU time over all its threads,\n` +
    `   the fairer ratio on a loaded machine; load average now ${os.loadavg().map((v) => v.toFixed(2)).join(' ')})`,
);
fs.rmSync(work, { recursive: true, force: true });
process.exitCode = failed ? 1 : 0;
