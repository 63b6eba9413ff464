/**
 * Studies as a user runs them (child processes on the built CLI): a stored run's configuration
 * repeats it exactly, experiment files and their errors, cl rm while other runs write, cl ls filters.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { RunRecord } from '../../src/types.js';
import { entry, type ClResult } from './child.js';

type Result = Omit<ClResult, 'ms'>;

describe('studies (cl run --config, cl show --config, cl sweep exp.json, cl rm, cl ls filters)', function () {
  this.timeout(300_000);
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  const cl = (args: string[]): Result => {
    const r = spawnSync(process.execPath, [entry, ...args], { cwd: tmp, encoding: 'utf8', env, timeout: 240_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const clAsync = (args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [entry, ...args], { cwd: tmp, env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  const records = (store: string): RunRecord[] => JSON.parse(cl(['ls', '--json', '--store', store]).stdout) as RunRecord[];

  before(function () {
    if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-studies-'));
    env = { ...process.env, CL_CACHE_DIR: path.join(tmp, 'cache'), NO_COLOR: '1' };
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('cl show <id> --config prints a file that cl run --config repeats exactly (same per-class counts)', () => {
    const store = path.join(tmp, 'repro.json');
    const first = cl(['run', 'split-mnist-mini', '--method', 'replay', '--epochs', '2', '--memory', '40', '--seed', '3', '--order', 'seed:4', '--json', '-q', '--store', store]);
    expect(first.code, first.stderr).to.equal(0);
    const a = JSON.parse(first.stdout) as RunRecord;
    expect(a.config).to.include({ scenario: 'split-mnist-mini', method: 'replay', seed: 3, order: 'seed:4', base: 0, increment: 2, backbone: 'pixels' });
    expect(a.config!.options).to.include({ epochs: 2, memory: 40, lr: 0.1 }); // resolved: defaults filled in
    expect(a.provenance!.cl.version).to.equal(a.clVersion);
    expect(a.provenance!.node).to.equal(process.version);
    expect(a.provenance!.packages['@tensorflow/tfjs']).to.match(/^\d+\.\d+\.\d+/);
    expect(Date.parse(a.provenance!.endedAt!)).to.be.at.least(Date.parse(a.provenance!.startedAt));
    // Every increment stores the scope metrics and the per-epoch losses.
    for (const inc of a.increments) {
      expect(inc.losses).to.have.property('replay').with.length(2);
      expect(inc.confusion!.matrix.flat().reduce((s, v) => s + v, 0)).to.equal(Object.values(inc.totalPerClass).reduce((s, v) => s + v, 0));
      expect(inc.taskIL!.accuracy).to.be.at.least(inc.accuracy);
    }
    const show = cl(['show', a.id, '--config', '--store', store]);
    expect(show.code, show.stderr).to.equal(0);
    const file = path.join(tmp, 'repro-config.json');
    fs.writeFileSync(file, show.stdout);
    const again = cl(['run', '--config', file, '--json', '-q', '--store', store]);
    expect(again.code, again.stderr).to.equal(0);
    const b = JSON.parse(again.stdout) as RunRecord;
    expect(b.id).to.not.equal(a.id);
    expect(b.config).to.deep.equal(a.config);
    expect(b.scenario.taskClasses).to.deep.equal(a.scenario.taskClasses);
    expect(b.increments.map((i) => i.correctPerClass)).to.deep.equal(a.increments.map((i) => i.correctPerClass));
    expect(b.increments.map((i) => i.losses)).to.deep.equal(a.increments.map((i) => i.losses));
    expect(b.summary!.finalAccuracy).to.equal(a.summary!.finalAccuracy);
    // Flags override the file: another seed is another run.
    const other = cl(['run', '--config', file, '--seed', '4', '--json', '-q', '--store', store]);
    expect(other.code, other.stderr).to.equal(0);
    expect((JSON.parse(other.stdout) as RunRecord).trainSeed).to.equal(4);
  });

  it('a run on an image folder: its configuration keeps the dataset spec and --resize, and repeats it from another folder', async () => {
    // 2 classes of 6x5 one-colour PNGs, given relative to the working directory.
    for (const [split, n] of [['train', 3], ['test', 2]] as const) {
      for (const [c, name] of ['red', 'green'].entries()) {
        fs.mkdirSync(path.join(tmp, 'colours', split, name), { recursive: true });
        for (let i = 0; i < n; i++) {
          const px = Buffer.from(Array.from({ length: 6 * 5 * 3 }, (_, k) => (k % 3 === c ? 200 : 20) + i));
          await sharp(px, { raw: { width: 6, height: 5, channels: 3 } }).png().toFile(path.join(tmp, 'colours', split, name, `${i}.png`));
        }
      }
    }
    const store = path.join(tmp, 'folder.json');
    const first = cl(['run', 'imagefolder:colours', '--increment', '1', '--method', 'nmc', '--backbone', 'pixels', '--resize', 'none', '--json', '-q', '--store', store]);
    expect(first.code, first.stderr).to.equal(0);
    const a = JSON.parse(first.stdout) as RunRecord;
    expect(a.config).to.include({ scenario: `imagefolder:${path.join(tmp, 'colours')}`, resize: 'none', backbone: 'pixels' });
    const show = cl(['show', a.id, '--config', '--store', store]);
    fs.mkdirSync(path.join(tmp, 'elsewhere'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'elsewhere', 'folder-config.json'), show.stdout);
    const again = cl(['run', '--config', path.join('elsewhere', 'folder-config.json'), '--json', '-q', '--store', store]);
    expect(again.code, again.stderr).to.equal(0);
    const b = JSON.parse(again.stdout) as RunRecord;
    expect(b.config).to.deep.equal(a.config);
    expect(b.increments.map((i) => i.correctPerClass)).to.deep.equal(a.increments.map((i) => i.correctPerClass));
  });

  it('experiment files: a grid for cl sweep, one cell for cl run --config, errors with file and pointer (exit 2)', () => {
    const file = path.join(tmp, 'study.json');
    fs.writeFileSync(file, JSON.stringify({ scenario: 'split-mnist-mini', methods: ['nmc', { method: 'replay', options: { epochs: 1 } }], orders: ['natural', 'seed:1'], seeds: [1, 2] }));
    const dry = cl(['sweep', file, '--dry-run', '--store', path.join(tmp, 'dry.json')]);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout.trim().split('\n')).to.have.length(2 + 4);
    expect(dry.stdout).to.include('replay order=seed:1 seed=2\tcl run split-mnist-mini --method replay --seed 2 --order seed:1 --epochs 1');
    const many = cl(['run', '--config', file, '--store', path.join(tmp, 'x.json')]);
    expect(many.code).to.equal(2);
    expect(many.stderr).to.match(/describes 6 runs \(2 methods, 2 orders, 2 seeds\); cl run --config runs one/);
    const bad = path.join(tmp, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ scenario: 'split-mnist-mini', methods: [{ method: 'wa', options: { epochs: 0 } }] }));
    for (const args of [['sweep', bad], ['run', '--config', bad]]) {
      const r = cl([...args, '--store', path.join(tmp, 'x.json')]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.include(`cl: error: ${bad}: /methods/0/options/epochs must be an integer ≥ 1, got 0`);
      expect(r.stderr).to.not.match(/\n\s+at /);
    }
    const noMethod = cl(['run', 'split-mnist-mini', '--store', path.join(tmp, 'x.json')]);
    expect(noMethod.code).to.equal(2);
    expect(noMethod.stderr).to.match(/^cl: error: cl run needs --method/m);
  });

  it('cl rm removes the named records under the lock while other runs write; cl ls filters', async () => {
    const store = path.join(tmp, 'rm.json');
    const base = ['--json', '-q', '--store', store];
    const made: RunRecord[] = [];
    for (const order of ['natural', 'seed:1', 'seed:2']) {
      const r = cl(['run', 'split-mnist-mini', '--method', 'nmc', '--order', order, ...base]);
      expect(r.code, r.stderr).to.equal(0);
      made.push(JSON.parse(r.stdout) as RunRecord);
    }
    const before = records(store);
    // Three runs write increments while two records are removed, one of them by a prefix.
    const writers = ['seed:3', 'seed:4', 'seed:5'].map((order) => clAsync(['run', 'split-mnist-mini', '--method', 'nmc', '--order', order, ...base]));
    await new Promise((r) => setTimeout(r, 300));
    const rm = await clAsync(['rm', made[0].id, made[2].id.slice(0, 10), '--store', store]);
    const done = await Promise.all(writers);
    expect(rm.code, rm.stderr).to.equal(0);
    expect(rm.stdout).to.include(`removed ${made[0].id}`);
    for (const w of done) expect(w.code, w.stderr).to.equal(0);
    const after = records(store);
    const ids = after.map((r) => r.id);
    expect(ids).to.not.include(made[0].id);
    expect(ids).to.not.include(made[2].id);
    // The untouched record is exactly as it was; the writers' records are complete.
    expect(after.find((r) => r.id === made[1].id)).to.deep.equal(before.find((r) => r.id === made[1].id));
    for (const w of done) {
      const rec = JSON.parse(w.stdout) as RunRecord;
      const stored = after.find((r) => r.id === rec.id)!;
      expect(stored.status).to.equal('finished');
      // cl ls --json prints index entries: the increments stored are counted there.
      expect((stored as unknown as { tasksDone: number }).tasksDone).to.equal(5);
    }
    // Unknown ids delete nothing.
    const bad = cl(['rm', made[1].id, 'zzzz', '--store', store]);
    expect(bad.code).to.equal(2);
    expect(records(store).map((r) => r.id)).to.include(made[1].id);
    // cl ls filters.
    const ls = (args: string[]) => (JSON.parse(cl(['ls', '--json', '--store', store, ...args]).stdout) as RunRecord[]).map((r) => r.id);
    expect(ls(['--method', 'nmc'])).to.have.length(4);
    expect(ls(['--method', 'wa'])).to.deep.equal([]);
    expect(ls(['--scenario', 'split-mnist-mini', '--status', 'finished', '--last', '2'])).to.deep.equal(after.slice(-2).map((r) => r.id));
    expect(ls(['--status', 'running'])).to.deep.equal([]);
    const badStatus = cl(['ls', '--status', 'done', '--store', store]);
    expect(badStatus.code).to.not.equal(0);
  });
});
