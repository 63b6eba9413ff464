import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../src/errors.js';
import {
  appendIncrement,
  effectiveStatus,
  finishRun,
  getRun,
  markFailed,
  newRecordBase,
  newRunId,
  openStore,
  type RecordBase,
} from '../../src/store/store.js';
import type { IncrementResult, RunRecord, RunSummary } from '../../src/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');

function child(script: string, args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', script), ...args], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function exited(p: ChildProcess): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  let stderr = '';
  p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal, stderr })));
}

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

describe('store', function () {
  this.timeout(60000);
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cl-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a missing store (and its folder) with the version-1 schema', async () => {
    const file = path.join(dir, 'nested', 'results', 'db.json');
    await openStore(file);
    expect(JSON.parse(readFileSync(file, 'utf8'))).to.deep.equal({ version: 1, records: [] });
    expect(existsSync(`${file}.lock`)).to.equal(false);
  });

  it('insert, update, get, list, remove; writes replace the file atomically (temp + rename)', async () => {
    const file = path.join(dir, 'db.json');
    const store = await openStore(file);
    const a = await store.insert({ ...newRecordBase('run'), id: 'abc123', note: 'x' });
    expect(a.id).to.equal('abc123');
    const inode = statSync(file).ino;
    const b = await store.update<RecordBase & { note: string }>('abc', (r) => {
      r.note = 'y';
    });
    expect(b.note).to.equal('y');
    // rename puts a new inode in place; no temp file is left behind
    expect(statSync(file).ino).to.not.equal(inode);
    expect(readdirSync(dir).sort()).to.deep.equal(['db.json']);
    expect((await store.get<RecordBase & { note: string }>('abc123')).note).to.equal('y');
    await store.insert({ ...newRecordBase('compat'), id: 'abd999' });
    expect((await store.list()).map((r) => r.id)).to.deep.equal(['abc123', 'abd999']);
    expect((await store.list({ kind: 'compat' })).map((r) => r.id)).to.deep.equal(['abd999']);
    expect((await store.list({ status: 'running' })).length).to.equal(2); // this process is alive
    const dup = await rejection(store.insert({ ...newRecordBase('run'), id: 'abc123' }));
    expect(String(dup)).to.match(/already exists/);
    // a throwing mutation writes nothing
    const before = readFileSync(file, 'utf8');
    await rejection(
      store.update('abc123', () => {
        throw new Error('boom');
      }),
    );
    expect(readFileSync(file, 'utf8')).to.equal(before);
    await store.remove('abd');
    expect((await store.list()).map((r) => r.id)).to.deep.equal(['abc123']);
  });

  it('prefix lookup: unique prefix resolves, ambiguous and unknown give UserErrors listing candidates', async () => {
    const store = await openStore(path.join(dir, 'db.json'));
    for (const id of ['lz1aaa', 'lz1aab', 'lz2ccc']) await store.insert({ ...newRecordBase('run'), id });
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
  });

  it('a corrupt store gives a UserError naming the file and is never overwritten', async () => {
    const file = path.join(dir, 'db.json');
    for (const bytes of ['{"version": 1, "records": [', '', '[1, 2, 3]', '{"version": 1, "records": [{"id": 5}]}', '{"version": 2, "records": []}']) {
      writeFileSync(file, bytes);
      const e = await rejection(openStore(file));
      expect(e, bytes).to.be.instanceOf(UserError);
      expect((e as UserError).message).to.include(file);
      expect((e as UserError).hint).to.be.a('string');
      expect(readFileSync(file, 'utf8')).to.equal(bytes);
    }
    // corrupted after opening: writes refuse too
    writeFileSync(file, '{"version": 1, "records": []}');
    const store = await openStore(file);
    writeFileSync(file, 'garbage');
    expect(await rejection(store.insert({ ...newRecordBase('run'), id: 'x1' }))).to.be.instanceOf(UserError);
    expect(await rejection(store.list())).to.be.instanceOf(UserError);
    expect(readFileSync(file, 'utf8')).to.equal('garbage');
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
    await new Promise((r) => setTimeout(r, 5));
    const b = newRunId();
    expect(a < b).to.equal(true);
    expect(a).to.match(/^[0-9a-z]{14}$/);
    const many = new Set(Array.from({ length: 5000 }, newRunId));
    expect(many.size).to.equal(5000);
  });

  it('run helpers: appendIncrement, finishRun, markFailed', async () => {
    const store = await openStore(path.join(dir, 'db.json'));
    const record = { ...newRecordBase('run'), increments: [] as IncrementResult[] } as unknown as RunRecord;
    await store.insert(record);
    const inc = (task: number, accuracy: number): IncrementResult => ({
      task,
      classes: [task],
      seenClasses: task + 1,
      accuracyRow: [accuracy],
      accuracy,
      oldAccuracy: null,
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
    await markFailed(store, record.id, 'failed', 'out of memory');
    run = await getRun(store, record.id);
    expect(run.status).to.equal('failed');
    expect(run.error).to.equal('out of memory');
    const summary = { tasks: 2, finalAccuracy: 45 } as RunSummary;
    await finishRun(store, record.id, summary);
    run = await getRun(store, record.id);
    expect(run.status).to.equal('finished');
    expect(run.error).to.equal(undefined);
    expect(run.summary).to.deep.equal(summary);
    await store.insert({ ...newRecordBase('compat'), id: 'c1' });
    expect(await rejection(getRun(store, 'c1'))).to.be.instanceOf(UserError);
  });

  it('two concurrent writer processes never lose an update (80 records, 2 updates each)', async () => {
    const file = path.join(dir, 'db.json');
    const startAt = String(Date.now() + 2500);
    const procs = ['p', 'q'].map((tag) => child('writer.ts', [file, tag, '40', startAt]));
    const results = await Promise.all(procs.map(exited));
    results.forEach((r) => expect(r.code, r.stderr).to.equal(0));
    const data = JSON.parse(readFileSync(file, 'utf8')) as { version: number; records: (RecordBase & { log: string[] })[] };
    expect(data.version).to.equal(1);
    expect(data.records).to.have.length(80);
    for (const tag of ['p', 'q']) {
      for (let i = 0; i < 40; i++) {
        const id = `${tag}-${String(i).padStart(3, '0')}`;
        const r = data.records.find((x) => x.id === id);
        expect(r, id).to.not.equal(undefined);
        expect(r!.log).to.deep.equal([`a${i}`, `b${i}`]);
      }
    }
    // the two processes really interleaved: neither wrote all its records first
    const order = data.records.map((r) => r.id[0]).join('');
    expect(order).to.not.match(/^p+q+$|^q+p+$/);
  });

  it('a process killed while running leaves a readable store and an interrupted run; its lock goes stale', async () => {
    const file = path.join(dir, 'db.json');
    await openStore(file);
    const p = child('crasher.ts', [file, 'crash1']);
    const done = exited(p);
    await new Promise<void>((resolve, reject) => {
      p.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve();
      });
      p.on('exit', () => reject(new Error('crasher exited early')));
    });
    await new Promise((r) => setTimeout(r, 300)); // let it loop through a few locked writes
    p.kill('SIGKILL');
    const { signal } = await done;
    expect(signal).to.equal('SIGKILL');

    const store = await openStore(file, { staleMs: 2000 });
    const rec = await store.get<RecordBase & { beats: number }>('crash1');
    expect(rec.status).to.equal('running');
    expect(rec.pid).to.equal(p.pid);
    expect(rec.beats).to.be.greaterThan(0);
    expect(effectiveStatus(rec)).to.equal('interrupted');
    expect((await store.list({ status: 'interrupted' })).map((r) => r.id)).to.deep.equal(['crash1']);
    // a lock left by the killed process is taken over once stale; the write goes through
    const t0 = Date.now();
    await markFailed(store, 'crash1', 'interrupted', 'killed');
    expect(Date.now() - t0).to.be.below(15000);
    expect((await store.get('crash1')).status).to.equal('interrupted');
  });
});
