/**
 * The submitter's store writes: one record per job (id = job id), fenced by attempt, so a job that
 * ran again never leaves a second record nor a record mixing two executions.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { recordFailed, recordFinished, recordIncrement, recordStarted, storedRun, type LocalFacts } from '../../src/queue/records.js';
import { openStore, type Store } from '../../src/store/store.js';
import type { RunRecord } from '../../src/types.js';
import { makeRun } from '../report/fixtures.js';

const R = [[90], [80, 85], [70, 75, 88]];
const JOB = 'r0123456789abcdef0123';
const local: LocalFacts = { sweep: 's0123456789ab', command: ['run', 'split-mnist-mini', '--method', 'nmc'], cwd: '/home/me/study' };

/** What a worker's attempt reports: its started record (no increments) and its finished record. */
function attemptRun(worker: string, shift: number): { started: RunRecord; finished: RunRecord } {
  const finished = makeRun({ id: `scratch-${worker}`, R: R.map((row) => row.map((v) => v + shift)) });
  finished.host = worker;
  finished.command = ['run', 'split-mnist-mini', '--method', 'nmc', '--store', '/worker/scratch.json'];
  const started: RunRecord = { ...structuredClone(finished), status: 'running', increments: [], summary: undefined };
  return { started, finished };
}

describe('queue/records', () => {
  let dir = '';
  let store: Store;

  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-queue-records-'));
    store = await openStore(path.join(dir, 'db.json'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a newer attempt takes the record over; entries of the older one are ignored; one finished record remains', async () => {
    const a1 = attemptRun('host-a', 0);
    const a2 = attemptRun('host-b', 1);
    expect(await recordStarted(store, JOB, 1, 'host-a:1', a1.started, local)).to.equal('created');
    expect(await recordIncrement(store, JOB, 1, a1.finished.increments[0])).to.equal(true);
    expect(await recordIncrement(store, JOB, 1, a1.finished.increments[1])).to.equal(true);
    let rec = (await storedRun(store, JOB)) as RunRecord;
    expect(rec.id).to.equal(JOB);
    expect(rec.command).to.deep.equal(local.command);
    expect(rec.cwd).to.equal(local.cwd);
    expect(rec.queue).to.deep.equal({ sweep: local.sweep, job: JOB, attempt: 1, worker: 'host-a:1' });
    expect(rec.increments.map((i) => i.accuracy)).to.deep.equal([90, 82.5]);

    // Attempt 2 starts elsewhere: the record is reset to it.
    expect(await recordStarted(store, JOB, 2, 'host-b:7', a2.started, local)).to.equal('taken-over');
    rec = (await storedRun(store, JOB)) as RunRecord;
    expect(rec.increments).to.have.length(0);
    expect(rec.host).to.equal('host-b');
    expect(rec.queue?.attempt).to.equal(2);
    // The old attempt is still reporting (it lost its lock but not its process): ignored.
    expect(await recordIncrement(store, JOB, 1, a1.finished.increments[2])).to.equal(false);
    expect(await recordStarted(store, JOB, 1, 'host-a:1', a1.started, local)).to.equal('stale');
    expect(await recordIncrement(store, JOB, 2, a2.finished.increments[0])).to.equal(true);
    // The same entry twice (a second submitter, or --attach reading the log again) changes nothing.
    expect(await recordStarted(store, JOB, 2, 'host-b:7', a2.started, local)).to.equal('current');
    expect(await recordIncrement(store, JOB, 2, a2.finished.increments[0])).to.equal(true);
    rec = (await storedRun(store, JOB)) as RunRecord;
    expect(rec.increments.map((i) => i.accuracy)).to.deep.equal([91]);

    const done = await recordFinished(store, JOB, 2, 'host-b:7', a2.finished, local);
    expect(done.status).to.equal('finished');
    expect(done.increments.map((i) => i.accuracy)).to.deep.equal([91, 83.5, 78.66666666666667]);
    expect(done.summary?.finalAccuracy).to.be.closeTo((71 + 76 + 89) / 3, 1e-9);
    // Nothing afterwards changes a finished record.
    expect(await recordIncrement(store, JOB, 2, a1.finished.increments[0])).to.equal(false);
    expect(await recordStarted(store, JOB, 3, 'host-c:1', a1.started, local)).to.equal('finished');
    await recordFailed(store, JOB, 'cl: error: late failure');
    const all = await store.list({ kind: 'run' });
    expect(all).to.have.length(1);
    expect((all[0] as unknown as RunRecord).status).to.equal('finished');
    expect((all[0] as unknown as RunRecord).increments.map((i) => i.accuracy)).to.deep.equal([91, 83.5, 78.66666666666667]);
  });

  it('a finished result creates the record when its log entries were never seen', async () => {
    const a3 = attemptRun('host-c', 2);
    const done = await recordFinished(store, JOB, 3, 'host-c:9', a3.finished, local);
    expect(done.id).to.equal(JOB);
    expect(done.status).to.equal('finished');
    expect(done.queue).to.deep.equal({ sweep: local.sweep, job: JOB, attempt: 3, worker: 'host-c:9' });
    expect(done.increments).to.have.length(3);
    expect(done.command).to.deep.equal(local.command);
  });

  it('a failed job marks its unfinished record failed with the error line', async () => {
    const a1 = attemptRun('host-a', 0);
    await recordStarted(store, JOB, 1, 'host-a:1', a1.started, local);
    await recordIncrement(store, JOB, 1, a1.finished.increments[0]);
    await recordFailed(store, JOB, 'cl: error: training diverged');
    const rec = (await storedRun(store, JOB)) as RunRecord;
    expect(rec.status).to.equal('failed');
    expect(rec.error).to.equal('cl: error: training diverged');
    expect(rec.increments).to.have.length(1);
  });
});
