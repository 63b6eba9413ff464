import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../src/errors.js';
import { hostTag } from '../../src/leftovers.js';
import { shardOf } from '../../src/store/records.js';
import {
  appendIncrement,
  effectiveStatus,
  finishRun,
  getRun,
  isRunEntry,
  MalformedRecordError,
  markFailed,
  newRecordBase,
  newRunId,
  openStore,
  type RecordBase,
  type StoreOptions,
} from '../../src/store/store.js';
import type { IncrementResult, RunSummary } from '../../src/types.js';
import { makeRun } from '../report/fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');

function child(script: string, args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', script), ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function exited(p: ChildProcess): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  let stderr = '';
  let stdout = '';
  p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  p.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/** Resolves with the line once the child prints a line starting with `prefix`. */
function printed(p: ChildProcess, prefix: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let buf = '';
    p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.startsWith(prefix));
      if (line) resolve(line);
    });
    p.on('exit', () => reject(new Error(`child exited before printing "${prefix}"`)));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

/** A dead pid: a child that has already exited. */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => p.on('exit', r));
  return p.pid!;
}

/** Every file under `dir`, relative, sorted. */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name), path.join(rel, e.name));
      else out.push(path.join(rel, e.name));
    }
  };
  walk(dir, '');
  return out.sort();
}

interface Logged extends RecordBase {
  log: string[];
}

const quiet: StoreOptions = { warn: () => undefined };

describe('store', function () {
  this.timeout(60000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cl-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a missing store (and its folder): a manifest and its data folder, no lock left', async () => {
    const file = path.join(dir, 'nested', 'results', 'db.json');
    const store = await openStore(file);
    expect(JSON.parse(readFileSync(file, 'utf8'))).to.include({ format: 'cl-store', version: 2, data: 'db.json.d' });
    expect(store.dataDir).to.equal(`${file}.d`);
    expect(readdirSync(store.dataDir).sort()).to.deep.equal(['index', 'records', 'tmp']);
    expect(existsSync(`${file}.lock`)).to.equal(false);
    expect(await store.entries()).to.deep.equal([]);
    // opening again finds the same store
    expect((await openStore(file)).dataDir).to.equal(store.dataDir);
  });

  it('insert, update, get, list, remove: every change is a new revision file, published whole', async () => {
    const file = path.join(dir, 'db.json');
    const store = await openStore(file);
    const a = await store.insert({ ...newRecordBase('test'), id: 'abc123', note: 'x' });
    expect(a.id).to.equal('abc123');
    const shard = path.join(store.dataDir, 'records', shardOf('abc123'));
    expect(readdirSync(shard)).to.deep.equal(['abc123.1.json']);
    const b = await store.update<RecordBase & { note: string }>('abc', (r) => {
      r.note = 'y';
    });
    expect(b.note).to.equal('y');
    // revision 2 replaced revision 1; no temp file is left behind
    expect(readdirSync(shard)).to.deep.equal(['abc123.2.json']);
    expect(readdirSync(path.join(store.dataDir, 'tmp'))).to.deep.equal([]);
    const [meta, body] = readFileSync(path.join(shard, 'abc123.2.json'), 'utf8').split('\n');
    expect(JSON.parse(meta)).to.include({ rev: 2 });
    expect(JSON.parse(body)).to.include({ id: 'abc123', note: 'y' });
    expect((await store.get<RecordBase & { note: string }>('abc123')).note).to.equal('y');
    await store.insert({ ...newRecordBase('compat-test'), id: 'abd999' });
    expect((await store.list()).map((r) => r.id)).to.deep.equal(['abc123', 'abd999']);
    expect((await store.entries({ kind: 'compat-test' })).map((r) => r.id)).to.deep.equal(['abd999']);
    expect((await store.entries({ status: 'running' })).length).to.equal(2); // this process is alive
    const dup = await rejection(store.insert({ ...newRecordBase('test'), id: 'abc123' }));
    expect(String(dup)).to.match(/already exists/);
    // a throwing mutation writes nothing
    await rejection(
      store.update('abc123', () => {
        throw new Error('boom');
      }),
    );
    expect(readdirSync(shard)).to.deep.equal(['abc123.2.json']);
    await store.remove('abd');
    expect((await store.list()).map((r) => r.id)).to.deep.equal(['abc123']);
    expect(await rejection(store.get('abd999'))).to.be.instanceOf(UserError);
    // a removed id stays taken: nothing stale can bring it back
    expect(String(await rejection(store.insert({ ...newRecordBase('test'), id: 'abd999' })))).to.match(/already exists/);
    // a second process's view agrees
    expect((await (await openStore(file)).entries()).map((e) => e.id)).to.deep.equal(['abc123']);
  });

  it('prefix lookup: unique prefix resolves, ambiguous and unknown give UserErrors listing candidates', async () => {
    const store = await openStore(path.join(dir, 'db.json'));
    for (const id of ['lz1aaa', 'lz1aab', 'lz2ccc']) await store.insert({ ...newRecordBase('test'), id });
    expect((await store.get('lz2')).id).to.equal('lz2ccc');
    expect((await store.get('lz1aab')).id).to.equal('lz1aab');
    const amb = await rejection(store.get('lz1'));
    expect(amb).to.be.instanceOf(UserError);
    expect((amb as UserError).message).to.include('lz1aaa').and.include('lz1aab').and.not.include('lz2ccc');
    expect((amb as UserError).hint).to.match(/more characters/);
    const unknown = await rejection(store.get('zz'));
    expect(unknown).to.be.instanceOf(UserError);
    expect((unknown as UserError).message).to.include('zz');
    await rejection(store.update('lz1', () => undefined)); // ambiguous updates are refused too
    expect(String(await rejection(store.insert({ ...newRecordBase('test'), id: 'Bad/Id' })))).to.match(/not a valid id/);
  });

  it('refuses anything that is not a store — corrupt JSON, null, arrays, other JSON — and never overwrites it', async () => {
    const file = path.join(dir, 'db.json');
    const cases = [
      '{"version": 1, "records": [',
      '',
      'null',
      '[1, 2, 3]',
      '{}',
      '"a string"',
      '42',
      'true',
      '{"version": 1, "records": [{"id": 5}]}',
      '{"version": 1, "records": [{"id": "Not A Valid/Id"}]}',
      '{"version": 2, "records": []}',
      '{"format": "cl-store", "version": 3, "data": "db.json.d"}',
      '{"format": "cl-store", "version": 2, "data": "../elsewhere"}',
    ];
    for (const bytes of cases) {
      writeFileSync(file, bytes);
      const e = await rejection(openStore(file));
      expect(e, bytes).to.be.instanceOf(UserError);
      expect((e as UserError).message, bytes).to.include(file);
      expect((e as UserError).hint, bytes).to.be.a('string');
      expect(readFileSync(file, 'utf8')).to.equal(bytes);
      expect(readdirSync(dir), bytes).to.deep.equal(['db.json']); // no data folder, no backup, no lock
    }
    // a manifest whose data folder is gone is not silently replaced by an empty store
    writeFileSync(file, JSON.stringify({ format: 'cl-store', version: 2, data: 'db.json.d' }));
    expect(String(await rejection(openStore(file)))).to.match(/db\.json\.d, which is missing/);
  });

  it("opening sweeps the temps of dead writers (owner in the name) and old unowned ones, and keeps a live writer's", async () => {
    const file = path.join(dir, 'db.json');
    const store = await openStore(file);
    const tmp = path.join(store.dataDir, 'tmp');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its pid runs no more
    const host = hostTag();
    const names = {
      dead: `store~${host}~${dead}~0badc0de.tmp`,
      live: `store~${host}~${process.ppid}~0badc0de.tmp`,
      freshUnowned: 'abc123-4242-0123456789ab.tmp', // the first file-per-record store's names
      oldUnowned: 'abc123-4343-0123456789ab.tmp',
    };
    for (const n of Object.values(names)) writeFileSync(path.join(tmp, n), 'partial');
    const old = (Date.now() - 25 * 3600 * 1000) / 1000;
    utimesSync(path.join(tmp, names.oldUnowned), old, old);
    await openStore(file);
    expect(readdirSync(tmp).sort()).to.deep.equal([names.freshUnowned, names.live].sort());
    // and a store write leaves no temp of its own behind
    await store.insert({ ...newRecordBase('test'), id: 'after-sweep' });
    expect(readdirSync(tmp).sort()).to.deep.equal([names.freshUnowned, names.live].sort());
  });

  it('effectiveStatus: running with a dead pid on this host is interrupted', async () => {
    const base = newRecordBase('run');
    expect(effectiveStatus(base)).to.equal('running');
    expect(effectiveStatus({ ...base, pid: await deadPid() })).to.equal('interrupted');
    expect(effectiveStatus({ ...base, pid: await deadPid(), host: 'some-other-host' })).to.equal('running');
    expect(effectiveStatus({ ...base, status: 'finished', pid: await deadPid() })).to.equal('finished');
  });

  it('newRunId is time-sortable and unique', async () => {
    const a = newRunId();
    await sleep(5);
    const b = newRunId();
    expect(a < b).to.equal(true);
    expect(a).to.match(/^[0-9a-z]{14}$/);
    const many = new Set(Array.from({ length: 5000 }, newRunId));
    expect(many.size).to.equal(5000);
  });

  it('run helpers: appendIncrement, finishRun, markFailed; the index entry follows the record', async () => {
    const store = await openStore(path.join(dir, 'db.json'));
    const record = { ...makeRun({ id: newRunId(), R: [[50]], tasks: 2, noSummary: true, status: 'running' }), pid: process.pid, host: os.hostname(), increments: [] };
    await store.insert(record);
    const inc = (task: number, accuracy: number): IncrementResult => ({
      task,
      classes: [task],
      seenClasses: task + 1,
      accuracyRow: Array.from({ length: task + 1 }, () => accuracy),
      accuracy,
      oldAccuracy: task === 0 ? null : accuracy,
      newAccuracy: accuracy,
      correctPerClass: {},
      totalPerClass: {},
      learnMs: 1,
      evalMs: 1,
    });
    await appendIncrement(store, record.id, inc(0, 50));
    await appendIncrement(store, record.id, inc(1, 40));
    await appendIncrement(store, record.id, inc(1, 45)); // resumed task 1 replaces the first attempt
    let run = await getRun(store, record.id);
    expect(run.increments.map((i) => i.accuracy)).to.deep.equal([50, 45]);
    let [entry] = await store.entries();
    expect(isRunEntry(entry)).to.equal(true);
    if (!isRunEntry(entry)) return;
    expect(entry).to.include({ rev: 4, tasksDone: 2, finalAccuracy: 45, averageIncrementalAccuracy: 47.5, status: 'running' });
    expect(entry.scenario).to.deep.equal({ name: 'split-mnist', dataset: 'mnist-embedded', split: 'B0-Inc2', tasks: 2 });
    await markFailed(store, record.id, 'failed', 'out of memory');
    run = await getRun(store, record.id);
    expect(run.status).to.equal('failed');
    expect(run.error).to.equal('out of memory');
    const summary: RunSummary = {
      tasks: 2,
      finalAccuracy: 45,
      averageIncrementalAccuracy: 47.5,
      forgetting: { 'max-prev': 5, 'max-all': 5, first: 5 },
      forgettingCurve: { 'max-prev': [5], 'max-all': [5], first: [5] },
      bwt: -5,
      totalMs: 4,
    };
    await finishRun(store, record.id, summary);
    run = await getRun(store, record.id);
    expect(run.status).to.equal('finished');
    expect(run.error).to.equal(undefined);
    expect(run.summary).to.deep.equal(summary);
    [entry] = await store.entries();
    expect(entry).to.include({ rev: 6, status: 'finished' });
    expect(entry).to.not.have.property('error');
    await store.insert({ ...newRecordBase('compat'), id: 'c1' });
    expect(await rejection(getRun(store, 'c1'))).to.be.instanceOf(UserError);
  });

  it('two concurrent writer processes never lose an update (80 records, 2 updates each)', async () => {
    const file = path.join(dir, 'db.json');
    await openStore(file);
    // the writers meet at barriers (fixtures/writer.ts): both start together and each creates its
    // records 0..19 before either creates record 20, however loaded the machine is
    const barriers = mkdtempSync(path.join(dir, 'barrier-'));
    const procs = ['p', 'q'].map((tag) => child('writer.ts', [file, tag, '40', barriers, '2']));
    const results = await Promise.all(procs.map(exited));
    results.forEach((r) => expect(r.code, r.stderr).to.equal(0));
    const store = await openStore(file);
    const entries = await store.entries();
    const records: Logged[] = [];
    for (const e of entries) records.push(await store.get<Logged>(e.id));
    expect(records).to.have.length(80);
    for (const tag of ['p', 'q']) {
      for (let i = 0; i < 40; i++) {
        const id = `${tag}-${String(i).padStart(3, '0')}`;
        const r = records.find((x) => x.id === id);
        expect(r, id).to.not.equal(undefined);
        expect(r!.log).to.deep.equal([`a${i}`, `b${i}`]);
      }
    }
    // the index agrees with the records, and the two processes really interleaved
    expect(entries.every((e) => e.rev === 3 && e.status === 'running')).to.equal(true);
    const order = entries.map((r) => r.id[0]).join('');
    expect(order).to.not.match(/^p+q+$|^q+p+$/);
    // entries come in creation order: both writers' records 0..19 (created before the half-way
    // barrier) precede all records 20..39
    expect(entries.slice(0, 40).every((e) => Number(e.id.slice(2)) < 20)).to.equal(true);
  });

  it('a process killed while writing leaves a readable store and an interrupted run, and blocks nobody', async () => {
    const file = path.join(dir, 'db.json');
    await openStore(file);
    const p = child('crasher.ts', [file, 'crash1']);
    const done = exited(p);
    await printed(p, 'ready');
    await sleep(300); // let it loop through a few writes
    p.kill('SIGKILL');
    const { signal } = await done;
    expect(signal).to.equal('SIGKILL');

    const store = await openStore(file);
    const rec = await store.get<RecordBase & { beats: number }>('crash1');
    expect(rec.status).to.equal('running');
    expect(rec.pid).to.equal(p.pid);
    expect(rec.beats).to.be.greaterThan(0);
    expect(effectiveStatus(rec)).to.equal('interrupted');
    expect((await store.entries({ status: 'interrupted' })).map((r) => r.id)).to.deep.equal(['crash1']);
    const t0 = Date.now();
    await markFailed(store, 'crash1', 'interrupted', 'killed');
    expect(Date.now() - t0).to.be.below(2000);
    expect((await store.get('crash1')).status).to.equal('interrupted');
    // its temp file (if the kill hit a write) is swept by the next open
    await openStore(file);
    expect(readdirSync(path.join(store.dataDir, 'tmp'))).to.deep.equal([]);
  });

  it('an update that lost the race is applied again on the newer record, even into a freed revision slot', async () => {
    const file = path.join(dir, 'db.json');
    const other = await openStore(file);
    await other.insert<Logged>({ ...newRecordBase('test'), id: 'shared', log: [] });
    let release!: () => void;
    const paused = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    let calls = 0;
    const slow = await openStore(file, {
      beforePublish: async () => {
        if (calls++ > 0) return;
        entered();
        await paused;
      },
    });
    let runs = 0;
    const pending = slow.update<Logged>('shared', (r) => {
      runs++;
      r.log.push('slow');
    });
    await inside; // slow read revision 1 and is about to publish revision 2
    await other.update<Logged>('shared', (r) => void r.log.push('fast-1')); // revision 2
    await other.update<Logged>('shared', (r) => void r.log.push('fast-2')); // revision 3; revision 2 is deleted
    const shard = path.join(other.dataDir, 'records', shardOf('shared'));
    expect(readdirSync(shard)).to.deep.equal(['shared.3.json']); // slot 2 is free again
    release();
    const result = await pending;
    expect(runs).to.equal(2); // its first attempt was stale and did not count
    expect(result.log).to.deep.equal(['fast-1', 'fast-2', 'slow']);
    expect((await other.get<Logged>('shared')).log).to.deep.equal(['fast-1', 'fast-2', 'slow']);
    expect(readdirSync(shard)).to.deep.equal(['shared.4.json']);
    expect((await other.entries())[0].rev).to.equal(4);
  });

  it('SIGSTOP inside a write, past the stale time, while others write the same and other records: no update is lost', async function () {
    this.timeout(90000);
    const file = path.join(dir, 'db.json');
    const store = await openStore(file, { staleMs: 2000 });
    await store.insert<Logged>({ ...newRecordBase('test'), id: 'shared', log: [] });
    const p = child('pauser.ts', [file, 'update', 'shared', '1500']);
    const done = exited(p);
    await printed(p, 'publishing record');
    p.kill('SIGSTOP');
    try {
      // While it is stopped: the same record changes twice (its revision slot is freed), another
      // record is created, written and finished, and the index is compacted — nobody waits for it.
      const t0 = Date.now();
      await store.update<Logged>('shared', (r) => void r.log.push('other-1'));
      await store.update<Logged>('shared', (r) => void r.log.push('other-2'));
      await store.insert<Logged>({ ...newRecordBase('test'), id: 'second', log: [] });
      for (let i = 0; i < 5; i++) await store.update<Logged>('second', (r) => void r.log.push(`inc-${i}`));
      await store.update<Logged>('second', (r) => void (r.status = 'finished'));
      expect(await store.compact()).to.equal(true);
      expect(Date.now() - t0).to.be.below(2000);
      await sleep(Math.max(0, 3000 - (Date.now() - t0))); // stopped for more than the stale time
    } finally {
      p.kill('SIGCONT');
    }
    const r = await done;
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).to.deep.equal({ log: ['other-1', 'other-2', 'paused-writer'] });
    const fresh = await openStore(file);
    expect((await fresh.get<Logged>('shared')).log).to.deep.equal(['other-1', 'other-2', 'paused-writer']);
    const second = await fresh.get<Logged>('second');
    expect(second.log).to.deep.equal(['inc-0', 'inc-1', 'inc-2', 'inc-3', 'inc-4']);
    expect(second.status).to.equal('finished');
    const entries = await fresh.entries();
    expect(entries.map((e) => [e.id, e.rev, e.status])).to.deep.equal([
      ['shared', 4, 'running'],
      ['second', 7, 'finished'],
    ]);
    expect(files(path.join(fresh.dataDir, 'records'))).to.have.length(2);
    expect(readdirSync(path.join(fresh.dataDir, 'tmp'))).to.deep.equal([]);
  });

  it('SIGSTOP of a compaction about to publish, past the stale time: it does not publish, and no index line is lost', async function () {
    this.timeout(90000);
    const file = path.join(dir, 'db.json');
    const store = await openStore(file, { staleMs: 2000 });
    for (const id of ['a1', 'a2', 'a3']) await store.insert<Logged>({ ...newRecordBase('test'), id, log: [] });
    const p = child('pauser.ts', [file, 'compact', '-', '1500']);
    const done = exited(p);
    await printed(p, 'publishing snapshot');
    p.kill('SIGSTOP');
    try {
      await sleep(2500); // its lock goes stale
      await store.update<Logged>('a1', (r) => void r.log.push('x'));
      await store.insert<Logged>({ ...newRecordBase('test'), id: 'a4', log: [] });
      expect(await store.compact()).to.equal(true); // generation 1 (the one it was about to publish)
      await store.update<Logged>('a2', (r) => void r.log.push('y'));
      expect(await store.compact()).to.equal(true); // generation 2; generation 1 is deleted, its name free
      await store.update<Logged>('a3', (r) => void r.log.push('z'));
    } finally {
      p.kill('SIGCONT');
    }
    const r = await done;
    expect(r.code, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).to.deep.equal({ compacted: false });
    const entries = await (await openStore(file)).entries();
    expect(entries.map((e) => [e.id, e.rev])).to.deep.equal([
      ['a1', 2],
      ['a2', 2],
      ['a3', 2],
      ['a4', 1],
    ]);
    const index = readdirSync(path.join(store.dataDir, 'index'));
    expect(index.filter((n) => n.startsWith('snap.'))).to.deep.equal(['snap.2.jsonl']);
  });

  it('the index is a cache: a record published but never indexed (crash in between) is found; a damaged snapshot is rebuilt', async () => {
    const file = path.join(dir, 'db.json');
    const warnings: string[] = [];
    const store = await openStore(file, { warn: (m) => warnings.push(m) });
    await store.insert<Logged>({ ...newRecordBase('test'), id: 'r1', log: [] });
    await store.insert<Logged>({ ...newRecordBase('test'), id: 'r2', log: [] });
    expect(await store.compact()).to.equal(true);
    // What a process killed between publishing revision 2 and appending its index line leaves:
    const shard = path.join(store.dataDir, 'records', shardOf('r1'));
    const [meta, body] = readFileSync(path.join(shard, 'r1.1.json'), 'utf8').split('\n');
    const next = { ...(JSON.parse(body) as Logged), status: 'finished', log: ['done'] };
    writeFileSync(path.join(shard, 'r1.2.json'), `${JSON.stringify({ ...JSON.parse(meta), rev: 2 })}\n${JSON.stringify(next)}`);
    rmSync(path.join(shard, 'r1.1.json'));
    let entries = await store.entries();
    expect(entries.map((e) => [e.id, e.rev, e.status])).to.deep.equal([
      ['r1', 2, 'finished'],
      ['r2', 1, 'running'],
    ]);
    // ... and the repair was compacted into the index
    const snaps = readdirSync(path.join(store.dataDir, 'index')).filter((n) => n.startsWith('snap.'));
    expect(snaps).to.deep.equal(['snap.2.jsonl']);
    // a damaged snapshot: rebuilt from the record files, with one warning
    writeFileSync(path.join(store.dataDir, 'index', snaps[0]), '{"format": "cl-store-index", "generation": 2, "entries": 5}\n{"id"');
    entries = await store.entries();
    expect(entries.map((e) => [e.id, e.rev])).to.deep.equal([
      ['r1', 2],
      ['r2', 1],
    ]);
    expect(warnings.join('\n')).to.match(/index of .*db\.json was damaged .*rebuilt from the record files/);
  });

  it('a malformed record is indexed as such: entries() marks it, list() skips it with one warning, get() names it', async () => {
    const warnings: string[] = [];
    const store = await openStore(path.join(dir, 'db.json'), { warn: (m) => warnings.push(m) });
    await store.insert(makeRun({ id: 'good0001', R: [[90]] }));
    await store.insert(makeRun({ id: 'bad00001', R: [[90]] }));
    await store.update<RecordBase & { scenario?: unknown }>('bad00001', (r) => void delete r.scenario);
    const entries = await store.entries();
    expect(entries.map((e) => [e.id, e.problem])).to.deep.equal([
      ['bad00001', 'missing scenario'],
      ['good0001', undefined],
    ]);
    expect((await store.list()).map((r) => r.id)).to.deep.equal(['good0001']);
    await store.list();
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/bad00001 .*malformed \(missing scenario\)/);
    const e = await rejection(store.get('bad00001'));
    expect(e).to.be.instanceOf(MalformedRecordError);
    expect((e as UserError).message).to.match(/record bad00001 .* is malformed \(missing scenario\)/);
    const raw = await store.inspect('bad00001');
    expect(raw.problem).to.equal('missing scenario');
    expect(raw.record).to.include({ id: 'bad00001', kind: 'run' });
    // repaired: the index follows
    await store.update<RecordBase & { scenario?: unknown }>('bad00001', (r) => void (r.scenario = makeRun({ id: 'x', R: [[1]] }).scenario));
    expect((await store.entries()).every((x) => x.problem === undefined)).to.equal(true);
  });

  describe('migration of a single-file (version 1) store', () => {
    const fixture = path.join(here, 'fixtures', 'v1-store.json');
    const v1 = JSON.parse(readFileSync(fixture, 'utf8')) as { version: number; records: RecordBase[] };

    it('a store written by the previous cl (runs, a failed and an interrupted run, a compat job) moves over intact, with a backup', async () => {
      const file = path.join(dir, 'db.json');
      copyFileSync(fixture, file);
      writeFileSync(path.join(dir, '.db.json.tmp'), '{"version": 1, "rec'); // a killed version-1 writer's leftover
      const notices: string[] = [];
      const store = await openStore(file, { warn: (m) => notices.push(m) });
      expect(notices).to.have.length(1);
      expect(notices[0]).to.match(/migrated results store .*db\.json \(5 records\) .*kept as .*db\.json\.v1\.bak/);
      expect(readFileSync(`${file}.v1.bak`).equals(readFileSync(fixture))).to.equal(true);
      expect(JSON.parse(readFileSync(file, 'utf8'))).to.include({ format: 'cl-store', version: 2 });
      expect(existsSync(path.join(dir, '.db.json.tmp'))).to.equal(false);
      expect(existsSync(`${file}.lock`)).to.equal(false);
      // every record, byte for byte as JSON (updatedAt included)
      for (const r of v1.records) expect(await store.get(r.id)).to.deep.equal(r);
      const entries = await store.entries();
      expect(entries.map((e) => [e.id, e.kind, e.status])).to.deep.equal(v1.records.map((r) => [r.id, r.kind, r.status]));
      const finished = entries.find((e) => e.id === 'mx3lqkady9nzqj');
      const first = await getRun(store, 'mx3lqkady9nzqj');
      expect(finished && isRunEntry(finished)).to.equal(true);
      if (finished && isRunEntry(finished)) {
        expect(finished).to.include({ method: 'nmc', tasksDone: 5, finalAccuracy: first.summary?.finalAccuracy });
        expect(finished.finalAccuracy).to.be.within(80, 100);
      }
      // opened again: nothing more happens
      await openStore(file, { warn: (m) => notices.push(m) });
      expect(notices).to.have.length(1);
      // and it takes writes
      await store.update('mx3lsgvuen15p5', (r) => void (r.error = 'seen'));
      expect((await store.get('mx3lsgvuen15p5')).error).to.equal('seen');
    });

    it('a migration that stopped half-way (records copied, manifest not yet written) completes on the next open', async () => {
      const file = path.join(dir, 'db.json');
      copyFileSync(fixture, file);
      // Copy two of the records the way the migration does, then "crash": the file is still version 1.
      const partial = await openStore(path.join(dir, 'scratch.json'), quiet);
      for (const r of v1.records.slice(0, 2)) await partial.importRecord(r);
      const { cpSync } = await import('node:fs');
      cpSync(partial.dataDir, `${file}.d`, { recursive: true });
      const notices: string[] = [];
      const store = await openStore(file, { warn: (m) => notices.push(m) });
      expect(notices[0]).to.match(/5 records, 3 copied now/);
      for (const r of v1.records) expect(await store.get(r.id)).to.deep.equal(r);
      expect((await store.entries()).map((e) => e.rev)).to.deep.equal([1, 1, 1, 1, 1]);
    });

    it('two processes opening the same version-1 store at once: one migrates, both see every record', async function () {
      this.timeout(60000);
      const file = path.join(dir, 'db.json');
      copyFileSync(fixture, file);
      const barriers = mkdtempSync(path.join(dir, 'barrier-'));
      const procs = ['m', 'n'].map((tag) => child('writer.ts', [file, tag, '3', barriers, '2']));
      const results = await Promise.all(procs.map(exited));
      results.forEach((r) => expect(r.code, r.stderr).to.equal(0));
      expect(results.map((r) => r.stderr).join('').match(/migrated results store/g)).to.have.length(1);
      const store = await openStore(file, quiet);
      expect((await store.entries()).length).to.equal(5 + 6);
      for (const r of v1.records) expect(await store.get(r.id)).to.deep.equal(r);
      expect(readdirSync(dir).filter((n) => n.includes('v1.bak'))).to.deep.equal(['db.json.v1.bak']);
    });
  });
});
