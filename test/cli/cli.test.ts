/**
 * `cl` as a user runs it: a child process on the built CLI (npm test builds first).
 * Real-data checks read the datasets from CL_SHARED_DIR, as a user would pass --data-dir.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRunRecord, openStore } from '../../src/store/store.js';
import type { RunRecord } from '../../src/types.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = path.join(root, 'dist', 'src', 'cli', 'main.js');
const shared = process.env.CL_SHARED_DIR ? path.resolve(root, process.env.CL_SHARED_DIR) : null;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cl(args: string[], env: Record<string, string> = {}): Result {
  const r = spawnSync(process.execPath, [entry, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', ...env },
    timeout: 600_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The run records in a store, read the way cl reads them (docs/store.md). */
async function storedRuns(file: string): Promise<RunRecord[]> {
  return (await (await openStore(file, { warn: () => undefined })).list()).filter(isRunRecord);
}

function expectUserError(r: Result, pattern: RegExp): void {
  expect(r.code, r.stderr).to.equal(2);
  expect(r.stderr).to.match(pattern);
  expect(r.stderr).to.match(/^cl: error: /m);
  expect(r.stderr, 'no stack trace').not.to.match(/\n\s+at /);
}

describe('cl CLI (child process)', function () {
  let tmp: string;
  let store: string;
  let env: Record<string, string>;

  before(function () {
    if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-cli-'));
    store = path.join(tmp, 'db.json');
    env = { CL_CACHE_DIR: path.join(tmp, 'cache') };
  });

  after(function () {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('runs the offline default scenario and stores a finished record', async function () {
    const r = cl(['run', 'split-mnist-mini', '--method', 'nmc', '--json', '--quiet', '--store', store], env);
    expect(r.code, r.stderr).to.equal(0);
    const rec = JSON.parse(r.stdout) as RunRecord;
    expect(rec.status).to.equal('finished');
    expect(rec.method).to.equal('nmc');
    expect(rec.scenario.split).to.equal('B0-Inc2');
    expect(rec.increments).to.have.length(5);
    expect(rec.summary?.tasks).to.equal(5);
    // Every increment predicts among the seen classes only: R[t] has t+1 cells.
    rec.increments.forEach((inc, t) => expect(inc.accuracyRow).to.have.length(t + 1));
    // Nearest class mean on raw pixels of MNIST digits is far above chance (10 %) but not perfect.
    expect(rec.summary!.finalAccuracy).to.be.within(60, 95);
    expect((await storedRuns(store)).map((x) => x.id)).to.include(rec.id);

    const ls = cl(['ls', '--json', '--store', store], env);
    expect(ls.code).to.equal(0);
    expect((JSON.parse(ls.stdout) as RunRecord[]).map((x) => x.id)).to.include(rec.id);
    const show = cl(['show', rec.id.slice(0, 8), '--store', store], env);
    expect(show.code, show.stderr).to.equal(0);
    expect(show.stdout).to.contain('A_T');
    expect(show.stdout).to.contain(rec.summary!.finalAccuracy.toFixed(2));
  });

  it('rejects an unknown method with one clear line and no stack', function () {
    expectUserError(cl(['run', 'split-mnist-mini', '--method', 'nope', '--store', store], env), /unknown method.*nope/i);
  });

  it('rejects an unknown scenario, naming the available ones', function () {
    expectUserError(cl(['run', 'no-such-scenario', '--method', 'nmc', '--store', store], env), /split-mnist-mini/);
  });

  it('rejects a malformed scenario file, naming the file', function () {
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, '{"name": "bad", "dataset": ');
    expectUserError(cl(['run', bad, '--method', 'nmc', '--store', store], env), /bad\.json/);
  });

  it('rejects an impossible split override', function () {
    expectUserError(cl(['run', 'split-mnist-mini', '--method', 'nmc', '--increment', '3', '--store', store], env), /increment|divide/i);
  });

  it('rejects a bad method option value, and an option the method does not have, before touching the store', function () {
    const none = path.join(tmp, 'untouched.json');
    expectUserError(cl(['run', 'split-mnist-mini', '--method', 'nmc', '--variant', 'bogus', '--store', none], env), /nmc --variant must be one of janson, simplecil, custom, got "bogus"/);
    const r = cl(['run', 'split-mnist-mini', '--method', 'nmc', '--bias', 'true', '--store', none], env);
    expectUserError(r, /nmc has no option --bias/);
    expect(r.stderr).to.match(/hint: the options of nmc: --variant, --normalize/);
    // Booleans are true or false wherever they are given: cl run and cl compat answer alike.
    expectUserError(cl(['run', 'split-mnist-mini', '--method', 'wa', '--bias', 'yes', '--store', none], env), /wa --bias must be true or false, got "yes"/);
    expectUserError(cl(['compat', 'split-mnist-mini', '--method', 'oca', '--steps', '2', '--layer-norm', 'yes', '--store', none], env), /cl compat --layer-norm must be true or false, got "yes"/);
    expect(fs.existsSync(none)).to.equal(false);
  });

  it('takes trainSeeds 0..2^32−1 only: 2^32 + 1 would repeat seed 1', function () {
    for (const seed of ['4294967297', '-1', '1.5']) {
      expectUserError(cl(['run', 'split-mnist-mini', '--method', 'wa', '--seed', seed, '--store', store], env), /cl run --seed must be an integer in 0\.\.4294967295/);
    }
    expectUserError(cl(['compat', 'split-mnist-mini', '--method', 'oca', '--steps', '2', '--seed', '4294967296', '--store', store], env), /cl compat --seed must be an integer in 0\.\.4294967295/);
  });

  it("cl run --method X --help shows X's options (and the run's), not the other methods'", function () {
    const wa = cl(['run', '--method', 'wa', '--help']);
    expect(wa.code).to.equal(0);
    expect(wa.stdout).to.match(/wa options \(docs\/methods\/wa\.md\):/);
    expect(wa.stdout).to.match(/--normalize <true\|false>/); // wa's boolean, not nmc's auto|true|false
    expect(wa.stdout).to.match(/--seed <n>/);
    expect(wa.stdout).not.to.match(/--variant|--graph|--adapter-lr/);
    expect(wa.stdout).not.to.match(/§/);
    const nmc = cl(['run', '-m', 'nmc', '--help']);
    expect(nmc.stdout).to.match(/--normalize <auto\|true\|false>/);
    expect(nmc.stdout).not.to.match(/--epochs|--memory/);
    const plain = cl(['run', '--help']);
    expect(plain.stdout).not.to.match(/--epochs/);
    expect(plain.stdout).to.match(/cl run --method <name> --help/);
  });

  it('stores secondary decision rules beside the headline (WA: unaligned head and NME)', function () {
    const r = cl(['run', 'split-mnist-mini', '--method', 'wa', '--epochs', '2', '--json', '--quiet', '--store', path.join(tmp, 'wa.json')], env);
    expect(r.code, r.stderr).to.equal(0);
    const rec = JSON.parse(r.stdout) as RunRecord;
    // No alignment after the first task, so no "unaligned" rule there; NME exists from the start.
    expect(Object.keys(rec.increments[0].extra ?? {})).to.deep.equal(['nme']);
    for (const inc of rec.increments.slice(1)) {
      expect(Object.keys(inc.extra ?? {}).sort()).to.deep.equal(['nme', 'unaligned']);
      const u = inc.extra!.unaligned;
      expect(u.accuracyRow).to.have.length(inc.task + 1);
      // A_t is the sample-weighted mean of the row when the tasks' test sets have these sizes.
      const sizes = rec.scenario.taskClasses.slice(0, inc.task + 1).map((cls) => cls.reduce((n, c) => n + inc.totalPerClass[String(c)], 0));
      const weighted = u.accuracyRow.reduce((acc, a, i) => acc + a * sizes[i], 0) / sizes.reduce((a, b) => a + b, 0);
      expect(u.accuracy).to.be.closeTo(weighted, 1e-9);
    }
  });

  it('stops a diverging run with a clear message and records it as failed', async function () {
    const nanStore = path.join(tmp, 'nan.json');
    const r = cl(['run', 'split-mnist-mini', '--method', 'wa', '--lr', '1e30', '--epochs', '2', '--store', nanStore], env);
    expect(r.code, r.stderr).to.equal(3);
    expect(r.stderr).to.match(/^cl: error: training diverged.*--lr/m);
    expect(r.stderr, 'no stack trace').not.to.match(/\n\s+at /);
    const [rec] = await storedRuns(nanStore);
    expect(rec.status).to.equal('failed');
    expect(rec.error).to.match(/diverged/);
  });

  it('refuses a corrupt store and leaves its bytes untouched', function () {
    const corrupt = path.join(tmp, 'corrupt.json');
    fs.writeFileSync(corrupt, '{"version": 1, "records": [');
    const before = fs.readFileSync(corrupt);
    expectUserError(cl(['run', 'split-mnist-mini', '--method', 'nmc', '--store', corrupt], env), /corrupt\.json/);
    expect(fs.readFileSync(corrupt).equals(before)).to.equal(true);
  });

  describe('cl resume', function () {
    const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;
    let full: RunRecord;
    /** A store holding `full` as a crash after `k` tasks leaves it (optionally edited). */
    const crashedStore = (name: string, k: number, edit: (r: RunRecord) => void = () => undefined): string => {
      const rec = structuredClone(full);
      rec.increments = rec.increments.slice(0, k);
      rec.status = 'running';
      rec.pid = deadPid();
      delete rec.summary;
      edit(rec);
      const file = path.join(tmp, name);
      fs.writeFileSync(file, JSON.stringify({ version: 1, records: [rec] }));
      return file;
    };

    before(function () {
      const r = cl(['run', 'split-mnist-mini', '--method', 'wa', '--epochs', '2', '--json', '--quiet', '--store', path.join(tmp, 'resume-full.json')], env);
      expect(r.code, r.stderr).to.equal(0);
      full = JSON.parse(r.stdout) as RunRecord;
    });

    it('marks a run killed mid-way as interrupted, keeps the store readable, and cl resume finishes it as the uninterrupted run did', async function () {
      this.timeout(300_000);
      const killStore = path.join(tmp, 'kill.json');
      // Killed as soon as the first of 5 increments is stored: the other four WA tasks take far
      // longer than a signal, so the run is always caught mid-way and the resume always runs.
      const child = spawn(process.execPath, [entry, 'run', 'split-mnist-mini', '--method', 'wa', '--epochs', '2', '--store', killStore], {
        cwd: root,
        env: { ...process.env, ...env, NO_COLOR: '1' },
      });
      await new Promise<void>((resolve, reject) => {
        let err = '';
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          if (/task {2}1\/5 {2}classes/.test(err)) child.kill('SIGKILL');
        });
        child.on('exit', () => resolve());
        child.on('error', reject);
      });
      expect(await storedRuns(killStore)).to.have.length(1);
      const ls = cl(['ls', '--json', '--store', killStore], env);
      const [rec] = JSON.parse(ls.stdout) as { id: string; status: string; tasksDone: number }[];
      expect(rec.status).to.equal('interrupted');
      expect(rec.tasksDone).to.be.within(1, 4);
      const r = cl(['resume', rec.id, '--json', '--store', killStore], env);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.match(new RegExp(`${rec.tasksDone} stored tasks?, continuing from task ${rec.tasksDone + 1}`));
      const done = JSON.parse(r.stdout) as RunRecord;
      expect(done.status).to.equal('finished');
      expect(done.increments.map((i) => i.correctPerClass)).to.deep.equal(full.increments.map((i) => i.correctPerClass));
    });

    it('continues a WA run cut after 2 of 5 tasks: relearns and checks them, then finishes as the uninterrupted run did', function () {
      const file = crashedStore('resume-cut.json', 2);
      const r = cl(['resume', full.id.slice(0, 10), '--json', '--store', file], env);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.match(/2 stored tasks, continuing from task 3/);
      expect(r.stderr).to.match(/relearning tasks 1\.\.2 \(wa keeps no checkpoints\)/);
      expect(r.stderr).to.match(/task {2}2\/5 {2}replayed: A_t/);
      const rec = JSON.parse(r.stdout) as RunRecord;
      expect(rec.id).to.equal(full.id);
      expect(rec.status).to.equal('finished');
      expect(rec.resumes).to.have.length(1);
      expect(rec.resumes![0]).to.include({ fromTask: 2 });
      expect(rec.increments.map((i) => i.task)).to.deep.equal([0, 1, 2, 3, 4]);
      // Every task's per-class counts equal the uninterrupted run's (the learner is seeded).
      expect(rec.increments.map((i) => i.correctPerClass)).to.deep.equal(full.increments.map((i) => i.correctPerClass));
      expect(rec.summary!.finalAccuracy).to.equal(full.summary!.finalAccuracy);
      // The stored tasks were kept as stored, not rewritten by the replay.
      expect(rec.increments.slice(0, 2)).to.deep.equal(full.increments.slice(0, 2));
    });

    it('refuses a finished run, a live one and an unknown id, each with one clear line', function () {
      expectUserError(cl(['resume', full.id, '--store', path.join(tmp, 'resume-full.json')], env), /has already finished/);
      const live = crashedStore('resume-live.json', 2, (rec) => {
        rec.pid = process.pid;
        rec.host = os.hostname();
      });
      expectUserError(cl(['resume', full.id, '--store', live], env), /is still running \(pid \d+/);
      expectUserError(cl(['resume', 'zzzz', '--store', live], env), /zzzz/);
    });

    it("resumes on the run's own tfjs backend, not on what auto picks now", async function () {
      // A run made on the native backend cannot continue where only wasm/cpu exist.
      if (fs.existsSync(path.join(root, 'node_modules', '@tensorflow', 'tfjs-node')) || fs.existsSync(path.join(root, 'node_modules', '@tensorflow', 'tfjs-node-gpu'))) this.skip();
      const file = crashedStore('resume-native.json', 2, (rec) => {
        rec.backend = 'tensorflow';
      });
      const [before] = (JSON.parse(fs.readFileSync(file, 'utf8')) as { records: RunRecord[] }).records;
      expectUserError(cl(['resume', full.id, '--store', file], env), /tfjs backend "tensorflow" is not available/);
      // (the single-file store was migrated to the current layout; the record is as it was)
      expect(await storedRuns(file)).to.deep.equal([before]);
    });

    it('runs wa on --backend wasm-mlas, records that backend, and resumes on it with the same counts as its uninterrupted run', function () {
      this.timeout(300_000);
      const r = cl(['run', 'split-mnist-mini', '--method', 'wa', '--epochs', '2', '--backend', 'wasm-mlas', '--json', '--quiet', '--store', path.join(tmp, 'mlas-full.json')], env);
      expect(r.code, r.stderr).to.equal(0);
      const mlas = JSON.parse(r.stdout) as RunRecord;
      expect(mlas.backend).to.equal('wasm-mlas');
      expect(mlas.provenance?.tfjsBackend).to.equal('wasm-mlas');
      // A run of its own: same learner and seed as the wasm run, other float rounding.
      expect(mlas.increments).to.have.length(full.increments.length);
      expect(Math.abs(mlas.summary!.finalAccuracy - full.summary!.finalAccuracy)).to.be.below(2);
      const rec = structuredClone(mlas);
      rec.increments = rec.increments.slice(0, 2);
      rec.status = 'running';
      rec.pid = deadPid();
      delete rec.summary;
      const file = path.join(tmp, 'mlas-cut.json');
      fs.writeFileSync(file, JSON.stringify({ version: 1, records: [rec] }));
      const resumed = cl(['resume', mlas.id, '--json', '--store', file], env);
      expect(resumed.code, resumed.stderr).to.equal(0);
      expect(resumed.stderr).to.match(/backend wasm-mlas/);
      const done = JSON.parse(resumed.stdout) as RunRecord;
      expect(done.backend).to.equal('wasm-mlas');
      expect(done.increments.map((i) => i.correctPerClass)).to.deep.equal(mlas.increments.map((i) => i.correctPerClass));
    });

    it('stops when a replayed task does not reproduce the stored counts, leaving them as stored', async function () {
      const file = crashedStore('resume-tampered.json', 2, (rec) => {
        const c = Object.keys(rec.increments[1].correctPerClass)[0];
        rec.increments[1].correctPerClass[c] -= 1;
      });
      const before = (JSON.parse(fs.readFileSync(file, 'utf8')) as { records: RunRecord[] }).records[0];
      expectUserError(cl(['resume', full.id, '--store', file], env), /relearning task 2 gave A_t .* where the run stored/);
      const [after] = await storedRuns(file);
      expect(after.increments).to.deep.equal(before.increments);
      expect(after.status).to.equal('failed');
      expect(after.error).to.match(/relearning task 2/);
    });
  });

  describe('on real data (CL_SHARED_DIR)', function () {
    before(function () {
      if (!shared) this.skip();
    });

    it('runs NMC on real Fashion-MNIST, then a second variant reuses the feature cache', async function () {
      const dataDir = path.join(shared!, 'datasets', 'fashion-mnist');
      const first = cl(['run', 'split-fashion-mnist', '--method', 'nmc', '--data-dir', dataDir, '--json', '--store', store], env);
      expect(first.code, first.stderr).to.equal(0);
      const a = JSON.parse(first.stdout) as RunRecord;
      expect(a.status).to.equal('finished');
      expect(a.increments).to.have.length(5);
      expect(a.backbone.dim).to.equal(784);
      // Nearest class mean on L2-normalised Fashion-MNIST pixels: published linear baselines are
      // around 80 %; the NMC lands clearly above chance (10 %) and below a trained classifier.
      expect(a.summary!.finalAccuracy).to.be.within(55, 85);
      expect(first.stderr).to.match(/extracted 60000 × 784/);

      const second = cl(['run', 'split-fashion-mnist', '--method', 'nmc', '--variant', 'simplecil', '--data-dir', dataDir, '--json', '--store', store], env);
      expect(second.code, second.stderr).to.equal(0);
      expect(second.stderr).to.match(/features train: cache hit/);
      const b = JSON.parse(second.stdout) as RunRecord;
      expect(b.backbone.featureCacheId).to.equal(a.backbone.featureCacheId);
      expect(b.methodOptions.variant).to.equal('simplecil');
      expect((await storedRuns(store)).filter((r) => r.id === a.id || r.id === b.id)).to.have.length(2);
    });

    it('runs NMC over the shared MobileNetV2 with preprocessing inside onnxruntime (grey digits -> RGB 224)', function () {
      // 10,000 images through MobileNetV2: ~25 s on 2 idle cores, minutes on a loaded machine.
      this.timeout(600_000);
      const model = path.join(shared!, 'models', 'mobilenetv2-int8', 'mobilenetv2-12-int8-features.onnx');
      const r = cl(['run', 'split-mnist-mini', '--method', 'nmc', '--backbone', `onnx:${model}#features`, '--json', '--store', store], env);
      expect(r.code, r.stderr).to.equal(0);
      const rec = JSON.parse(r.stdout) as RunRecord;
      expect(rec.backbone).to.deep.include({ dim: 1280, preprocessing: 'bilinear224-unit-imagenetnorm-nchw', preprocessingEngine: 'onnxruntime' });
      expect(r.stderr).to.match(/extracted 8000 × 1280/);
      // Frozen ImageNet features separate digits well short of a trained model: measured 81.75 %
      // final accuracy over 5 increments (chance 10 %).
      expect(rec.summary!.finalAccuracy).to.be.within(70, 92);
    });

    it('names a corrupt dataset file in its error', function () {
      const dir = path.join(tmp, 'fmnist-corrupt');
      fs.mkdirSync(dir, { recursive: true });
      for (const f of fs.readdirSync(path.join(shared!, 'datasets', 'fashion-mnist'))) {
        fs.copyFileSync(path.join(shared!, 'datasets', 'fashion-mnist', f), path.join(dir, f));
      }
      const victim = path.join(dir, 't10k-labels-idx1-ubyte.gz');
      fs.writeFileSync(victim, fs.readFileSync(victim).subarray(0, 100));
      const r = cl(['run', 'split-fashion-mnist', '--method', 'nmc', '--data-dir', dir, '--store', store, '--cache-dir', path.join(tmp, 'cache2')], env);
      expectUserError(r, /t10k-labels-idx1-ubyte/);
    });
  });
});
