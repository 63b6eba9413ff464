/**
 * Benchmark: the results store at scale (docs/store.md "Scale"). For each size N, a store of N
 * copies of one real CIFAR-100 run record (fresh ids, increasing creation times) is generated, then
 * timed as a user meets it: `cl ls`, `cl show <id>`, `cl compare --last 5`, and one new
 * `cl run split-mnist-mini --method nmc` (the embedded digits, offline) writing into it — wall time and peak RSS of each command.
 *
 * The run's store overhead is measured two ways: (1) in-process, the exact store calls a 5-task run
 * makes (open, insert, 5 × appendIncrement, finishRun, getRun) against the big store and against an
 * empty one, interleaved; (2) end to end, `cl run` into the big store minus `cl run` into an empty
 * store, alternating, median of 3 each.
 *
 * Run: npx tsx test/bench/store.ts [--sizes 1000,10000] [--record run.json] [--dir DIR] [--keep] [--reuse]
 *   --record   a run record as `cl run split-cifar100 --method nmc --json` prints it; without it the
 *              record is made by that command (needs CL_SHARED_DIR and the feature cache; ~15 s
 *              when the CIFAR-100 MobileNetV2 features are cached, minutes otherwise)
 *   --dir      where the stores go (default: a temp folder; 100,000 records take ~2.5 GB)
 *   --keep     leave the stores there; --reuse measures stores a --keep run left instead of generating them
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { appendIncrement, finishRun, getRun, newRunId, openStore } from '../../src/store/store.js';
import type { RunRecord, RunSummary } from '../../src/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const entry = path.join(root, 'dist', 'src', 'cli', 'main.js');
const probe = path.join(here, 'max-rss.mjs');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const sizes = (arg('--sizes') ?? '1000,10000').split(',').map(Number);
const keep = process.argv.includes('--keep');
/** Measure stores left by an earlier --keep run instead of generating them again. */
const reuse = process.argv.includes('--reuse');
const base = arg('--dir') ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cl-bench-store-'));
fs.mkdirSync(base, { recursive: true });
if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);

interface Measured {
  s: number;
  /** CPU time of the process (user + system): less sensitive to a busy machine than wall time. */
  cpuS: number;
  rssMb: number;
  code: number | null;
  out: string;
  err: string;
}

/** One cl command as a child process: wall time and peak RSS (from the child's own resourceUsage). */
function cl(args: string[], env: Record<string, string> = {}): Measured {
  const rssFile = path.join(base, `rss-${process.pid}.txt`);
  fs.rmSync(rssFile, { force: true });
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--import', probe, entry, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    env: { ...process.env, NO_COLOR: '1', CL_BENCH_RSS: rssFile, ...env },
  });
  const s = (performance.now() - t0) / 1000;
  const usage = fs.existsSync(rssFile) ? (JSON.parse(fs.readFileSync(rssFile, 'utf8')) as { maxRSS: number; cpuMs: number }) : { maxRSS: NaN, cpuMs: NaN };
  if (r.status !== 0) throw new Error(`cl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { s, cpuS: usage.cpuMs / 1000, rssMb: usage.maxRSS / 1024, code: r.status, out: r.stdout, err: r.stderr };
}

function realRecord(): RunRecord {
  const given = arg('--record');
  if (given) return JSON.parse(fs.readFileSync(given, 'utf8')) as RunRecord;
  const shared = process.env.CL_SHARED_DIR;
  if (!shared) throw new Error('pass --record <run.json>, or set CL_SHARED_DIR so that a real CIFAR-100 record can be made');
  const bb = `onnx:${path.join(shared, 'models', 'mobilenetv2-int8', 'mobilenetv2-12-int8-features.onnx')}#features`;
  const store = path.join(base, 'source.json');
  console.log('making a real record: cl run split-cifar100 --method nmc (MobileNetV2 features)');
  const r = cl(['run', 'split-cifar100', '--method', 'nmc', '--data-dir', path.join(shared, 'datasets'), '--backbone', bb, '--json', '--quiet', '--store', store]);
  return JSON.parse(r.out) as RunRecord;
}

/** A store of `n` copies of `template` with fresh ids, written through the store itself (fsync off, one sync at the end). */
async function generate(dir: string, n: number, template: RunRecord): Promise<{ file: string; ids: string[] }> {
  const file = path.join(dir, 'db.json');
  const store = await openStore(file, { durable: false });
  const ids: string[] = [];
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  for (let i = 0; i < n; i += 16) {
    const batch: Promise<unknown>[] = [];
    for (let k = i; k < Math.min(n, i + 16); k++) {
      const created = new Date(t0 + k * 1000).toISOString();
      const id = newRunId();
      ids.push(id);
      batch.push(store.insert({ ...template, id, createdAt: created, updatedAt: created, trainSeed: k }));
    }
    await Promise.all(batch);
    if (Math.floor((i + 16) / 10000) > Math.floor(i / 10000)) process.stdout.write(`  ${Math.min(n, i + 16)} records\n`);
  }
  await store.compact();
  spawnSync('sync');
  return { file, ids };
}

const inc = (task: number): RunRecord['increments'][number] => ({
  task,
  classes: [2 * task, 2 * task + 1],
  seenClasses: 2 * task + 2,
  accuracyRow: Array.from({ length: task + 1 }, () => 90),
  accuracy: 90,
  oldAccuracy: task ? 90 : null,
  newAccuracy: 90,
  correctPerClass: Object.fromEntries(Array.from({ length: 2 * task + 2 }, (_, c) => [String(c), 900])),
  totalPerClass: Object.fromEntries(Array.from({ length: 2 * task + 2 }, (_, c) => [String(c), 1000])),
  learnMs: 10,
  evalMs: 10,
});

/** The store calls of a 5-task run, timed in-process: wall and CPU ms. */
async function runCalls(file: string, template: RunRecord, durable: boolean): Promise<{ ms: number; cpuMs: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const store = await openStore(file, { durable });
  const id = newRunId();
  const now = new Date().toISOString();
  await store.insert({ ...template, id, createdAt: now, updatedAt: now, status: 'running', pid: process.pid, host: os.hostname(), increments: [], summary: undefined });
  for (let t = 0; t < 5; t++) await appendIncrement(store, id, inc(t));
  const summary: RunSummary = {
    tasks: 5,
    finalAccuracy: 90,
    averageIncrementalAccuracy: 90,
    forgetting: { 'max-prev': 0, 'max-all': 0, first: 0 },
    forgettingCurve: { 'max-prev': [], 'max-all': [], first: [] },
    bwt: 0,
    totalMs: 100,
  };
  await finishRun(store, id, summary);
  await getRun(store, id);
  const c = process.cpuUsage(c0);
  return { ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000 };
}

/** This disk's latency of a 20 KB write + fsync (ms, median of 21): what every durable write pays at least once. */
function fsyncLatency(dir: string): number {
  const t: number[] = [];
  for (let i = 0; i < 21; i++) {
    const f = path.join(dir, `fsync-probe-${i}`);
    const t0 = performance.now();
    const fd = fs.openSync(f, 'w');
    fs.writeSync(fd, Buffer.alloc(20000, 120));
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    t.push(performance.now() - t0);
    fs.rmSync(f);
  }
  return median(t);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const du = (p: string): string => spawnSync('du', ['-sh', p], { encoding: 'utf8' }).stdout.split('\t')[0];

const template = realRecord();
console.log(`record: ${template.id} (${template.scenario.name}, ${template.method}, ${template.increments.length} increments, ${JSON.stringify(template).length} bytes as JSON)`);
console.log(`load average: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (${os.cpus().length} cores)`);
const empty = path.join(base, 'empty', 'db.json');
await openStore(empty);
const env = { CL_CACHE_DIR: path.join(base, 'cache') };

const rows: string[][] = [];
for (const n of sizes) {
  const dir = path.join(base, `n${n}`);
  const idsFile = path.join(dir, 'ids.json');
  let file = path.join(dir, 'db.json');
  let ids: string[];
  if (reuse && fs.existsSync(idsFile)) {
    ids = JSON.parse(fs.readFileSync(idsFile, 'utf8')) as string[];
    console.log(`\n== ${n} records: reusing ${dir} (${du(`${file}.d`)} on disk)`);
  } else {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const g0 = performance.now();
    ({ file, ids } = await generate(dir, n, template));
    fs.writeFileSync(idsFile, JSON.stringify(ids));
    console.log(`\n== ${n} records: generated in ${((performance.now() - g0) / 1000).toFixed(1)} s, ${du(`${file}.d`)} on disk`);
  }
  // Each reader three times; the run with the median wall time is shown.
  const med3 = (args: string[]): Measured => [cl(args, env), cl(args, env), cl(args, env)].sort((a, b) => a.s - b.s)[1];
  const ls = med3(['ls', '--store', file]);
  const lsLines = ls.out.split('\n').length;
  const show = med3(['show', ids[Math.floor(n / 2)], '--store', file]);
  const cmp = med3(['compare', '--last', '5', '--no-baselines', '--store', file]);
  // One real run into the big store and one into an empty store, alternating (warm-up run first).
  cl(['run', 'split-mnist-mini', '--method', 'nmc', '--quiet', '--store', empty], env);
  const big: Measured[] = [];
  const small: Measured[] = [];
  for (let k = 0; k < 3; k++) {
    big.push(cl(['run', 'split-mnist-mini', '--method', 'nmc', '--quiet', '--store', file], env));
    small.push(cl(['run', 'split-mnist-mini', '--method', 'nmc', '--quiet', '--store', empty], env));
  }
  // In-process, alternating big and empty store, with fsync (as cl runs) and without (what the
  // store's size could add: listing, reading, writing, parsing).
  const calls: Record<string, { ms: number; cpuMs: number }[]> = { big: [], empty: [], bigNoSync: [], emptyNoSync: [] };
  for (let k = 0; k < 7; k++) {
    calls.big.push(await runCalls(file, template, true));
    calls.empty.push(await runCalls(empty, template, true));
    calls.bigNoSync.push(await runCalls(file, template, false));
    calls.emptyNoSync.push(await runCalls(empty, template, false));
  }
  const callMs = (k: string): string => `${median(calls[k].map((c) => c.ms)).toFixed(0)} ms (min ${Math.min(...calls[k].map((c) => c.ms)).toFixed(0)}, CPU ${median(calls[k].map((c) => c.cpuMs)).toFixed(0)})`;
  const latency = fsyncLatency(dir);
  const runS = median(big.map((m) => m.s));
  const refS = median(small.map((m) => m.s));
  const runCpu = median(big.map((m) => m.cpuS));
  const refCpu = median(small.map((m) => m.cpuS));
  const line = (m: Measured): string => `${m.s.toFixed(2)} s (CPU ${m.cpuS.toFixed(2)} s), peak RSS ${m.rssMb.toFixed(0)} MB`;
  console.log(`cl ls:                   ${line(ls)} (${lsLines} lines)`);
  console.log(`cl show <id>:            ${line(show)}`);
  console.log(`cl compare --last 5:     ${line(cmp)}`);
  console.log(
    `cl run split-mnist-mini nmc:  ${runS.toFixed(2)} s, CPU ${runCpu.toFixed(2)} s (empty store ${refS.toFixed(2)} s, CPU ${refCpu.toFixed(2)} s; difference ${(runS - refS).toFixed(2)} s, CPU ${(runCpu - refCpu).toFixed(2)} s), peak RSS ${median(big.map((m) => m.rssMb)).toFixed(0)} MB (empty store ${median(small.map((m) => m.rssMb)).toFixed(0)} MB)`,
  );
  console.log(`store calls of a 5-task run (open, insert, 5 increments, finish, read back), in-process, median of 7:`);
  console.log(`  fsynced (as cl does):  ${callMs('big')}; empty store ${callMs('empty')}`);
  console.log(`  without fsync:         ${callMs('bigNoSync')}; empty store ${callMs('emptyNoSync')}`);
  console.log(`  this disk: write + fsync of 20 KB takes ${latency.toFixed(1)} ms (median of 21)`);
  rows.push([
    String(n),
    ls.s.toFixed(2),
    ls.rssMb.toFixed(0),
    show.s.toFixed(2),
    show.rssMb.toFixed(0),
    cmp.s.toFixed(2),
    cmp.rssMb.toFixed(0),
    runS.toFixed(2),
    `${(runS - refS).toFixed(2)} / CPU ${(runCpu - refCpu).toFixed(2)}`,
    median(big.map((m) => m.rssMb)).toFixed(0),
    `${median(calls.big.map((c) => c.ms)).toFixed(0)} / no fsync ${median(calls.bigNoSync.map((c) => c.ms)).toFixed(0)}`,
    `${median(calls.empty.map((c) => c.ms)).toFixed(0)} / no fsync ${median(calls.emptyNoSync.map((c) => c.ms)).toFixed(0)}`,
  ]);
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
}
console.log('\nrecords | ls s | ls MB | show s | show MB | compare s | compare MB | run s | run − empty s | run MB | store calls of a run, ms (empty store)');
for (const r of rows) console.log(`${r.slice(0, 11).join(' | ')} (${r[11]})`);
console.log(`load average: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
if (!keep && !arg('--dir')) fs.rmSync(base, { recursive: true, force: true });
