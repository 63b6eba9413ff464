/**
 * `cl worker` and `cl sweep --queue` against a real redis-server (loopback, a free port, append-only
 * file in a temp dir), through the faults a study meets on several machines: a worker killed with
 * SIGKILL mid-job, Redis restarted mid-sweep, a job that fails every time, Ctrl-C on the submitter.
 * The runs are split-mnist-mini (offline, seconds each); every wait is bounded.
 */
import { expect } from 'chai';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStore } from '../../src/store/store.js';
import type { RunRecord } from '../../src/types.js';
import { alive, childPids, ClProcess, clEnv, requireBuild, sleep, until } from './procs.js';
import { RedisServer, requireRedis } from './redis-server.js';

/** The records of a store file (read directly, as any reader of the store would). */
async function runsIn(file: string): Promise<RunRecord[]> {
  if (!fs.existsSync(file)) return [];
  return (await (await openStore(file)).list({ kind: 'run' })) as unknown as RunRecord[];
}

/** Everything a run measured, without what differs between two executions (ids, times, hosts). */
function measured(r: RunRecord): unknown {
  return {
    scenario: r.scenario,
    method: r.method,
    methodOptions: r.methodOptions,
    trainSeed: r.trainSeed,
    backbone: r.backbone,
    backend: r.backend,
    increments: r.increments.map((i) => ({ task: i.task, accuracyRow: i.accuracyRow, correctPerClass: i.correctPerClass, totalPerClass: i.totalPerClass, extra: i.extra })),
    final: r.summary?.finalAccuracy,
  };
}

describe('cl worker + cl sweep --queue: faults (real redis-server on loopback)', function () {
  this.timeout(240_000);
  let redis: RedisServer;
  let dir = '';
  let procs: ClProcess[] = [];

  const start = (args: string[], env: NodeJS.ProcessEnv = {}): ClProcess => {
    const p = new ClProcess(args, clEnv({ CL_CACHE_DIR: path.join(dir, 'cache-submitter'), ...env }));
    procs.push(p);
    return p;
  };
  const worker = (queue: string, name: string, extra: string[] = []): ClProcess =>
    start(['worker', '--queue', redis.url(), '--queue-name', queue, '--cache-dir', path.join(dir, `cache-${name}`), '--lock-duration', '2s', '--name', name, ...extra]);
  const sweep = (queue: string, store: string, grid: string[], extra: string[] = []): ClProcess =>
    start(['sweep', ...grid, '--queue', redis.url(), '--queue-name', queue, '--store', store, '--poll', '1s', '--retry-delay', '1s', ...extra]);

  before(async function () {
    requireRedis(this);
    requireBuild();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-queue-faults-'));
    redis = await RedisServer.start();
  });
  afterEach(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    procs = [];
  });
  after(async () => {
    await redis?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a worker SIGKILLed mid-job: the job restarts on the other worker; one finished record, the numbers of a local cl run', async () => {
    const store = path.join(dir, 'kill.json');
    // The reference: the same run with plain `cl run`, in parallel.
    const local = start(['run', 'split-mnist-mini', '--method', 'replay', '--seed', '1', '--epochs', '1', '--json', '-q', '--store', path.join(dir, 'kill-local.json')]);
    const a = worker('kill', 'wa');
    const b = worker('kill', 'wb');
    await a.waitFor(/taking jobs/, 30_000);
    await b.waitFor(/taking jobs/, 30_000);
    const s = sweep('kill', store, ['split-mnist-mini', '--methods', 'replay', '--seeds', '1', '--set', 'epochs=1']);
    // Kill the worker that reports the first increment, while the run has 4 more to go.
    const victim = await until('a worker reports task 1/5', 120_000, () => [a, b].find((w) => /task 1\/5/.test(w.stderr)));
    const survivor = victim === a ? b : a;
    const jobProcesses = childPids(victim.pid);
    expect(jobProcesses, 'the job runs in a child process of the worker').to.have.length.greaterThan(0);
    victim.child.kill('SIGKILL');
    await victim.exited;
    expect(/task 5\/5/.test(victim.stderr), 'killed before the run finished').to.equal(false);
    // Its job process notices the lost worker and ends instead of computing for nobody.
    await until('the killed worker\'s job process exits', 60_000, () => jobProcesses.every((pid) => !alive(pid)));

    const res = await s.done(180_000);
    expect(res.code, s.stderr).to.equal(0);
    await survivor.waitFor(/stalled job r[0-9a-f]{20}/, 5_000);
    expect(s.stderr).to.match(/again {2}replay seed=1 epochs=1 on w[ab] \(attempt 2; the previous attempt on w[ab] did not finish\)/);
    expect(s.stderr).to.match(/\[1\/1\] done {3}replay seed=1 epochs=1 \(.*started 2×\)/);
    expect(s.stderr).to.match(/1 ran more than once .*replay seed=1 epochs=1 ×2/);

    const runs = await runsIn(store);
    expect(runs, 'exactly one record for the one grid cell').to.have.length(1);
    const run = runs[0];
    expect(run.status).to.equal('finished');
    expect(run.queue?.attempt).to.equal(2);
    expect(run.queue?.worker).to.equal(survivor === a ? 'wa' : 'wb');
    expect(run.id).to.equal(run.queue?.job);
    expect(run.increments.map((i) => i.task)).to.deep.equal([0, 1, 2, 3, 4]);
    expect(run.command).to.deep.equal(['run', 'split-mnist-mini', '--method', 'replay', '--seed', '1', '--epochs', '1']);

    const lr = await local.done(180_000);
    expect(lr.code, local.stderr).to.equal(0);
    const reference = JSON.parse(local.stdout) as RunRecord;
    expect(measured(run)).to.deep.equal(measured(reference));
  });

  it('Redis restarted mid-sweep: workers and submitter reconnect and every run finishes', async () => {
    const store = path.join(dir, 'restart.json');
    // Locks outlive the short outage, so no job needs to start again.
    const a = worker('restart', 'ra', ['--lock-duration', '20s']);
    const b = worker('restart', 'rb', ['--lock-duration', '20s']);
    await a.waitFor(/taking jobs/, 30_000);
    await b.waitFor(/taking jobs/, 30_000);
    const s = sweep('restart', store, ['split-mnist-mini', '--methods', 'nmc,replay', '--seeds', '1,2', '--set', 'epochs=1']);
    await until('a replay run reports an increment', 120_000, () => [a, b].some((w) => /replay seed=\d epochs=1 .* task 1\/5/.test(w.stderr)));
    await redis.restart(2000);
    const res = await s.done(180_000);
    expect(res.code, s.stderr).to.equal(0);
    expect(s.stderr).to.match(/all 3 runs finished/);
    for (const w of [a, b]) await w.waitFor(/redis: connected again to redis:\/\/127\.0\.0\.1:\d+/, 30_000);
    // The outage is reported in lines of its own, never as stack traces.
    for (const p of [s, a, b]) expect(p.stderr, p.stderr).not.to.match(/\n\s+at /);
    const runs = await runsIn(store);
    expect(runs).to.have.length(3);
    expect(runs.every((r) => r.status === 'finished' && r.increments.length === 5)).to.equal(true);
    expect(runs.map((r) => `${r.method}:${r.trainSeed}`).sort()).to.deep.equal(['nmc:1', 'replay:1', 'replay:2']);
  });

  it('a job that fails the same way every time: retried --attempts times, then reported with its cl: error: line', async () => {
    const store = path.join(dir, 'fail.json');
    const a = worker('fail', 'fa');
    await a.waitFor(/taking jobs/, 30_000);
    // No worker knows the backbone "mystery": each attempt fails before any work.
    const s = sweep('fail', store, ['split-mnist-mini', '--methods', 'nmc', '--backbone', 'mystery'], ['--attempts', '2']);
    const res = await s.done(120_000);
    expect(res.code, s.stderr).to.equal(1);
    expect(s.stderr).to.match(/\[1\/1\] failed nmc \(.*started 2×\): cl: error: worker fa has no backbone "mystery"\n {4}hint: start the worker with --backbone mystery=<spec>/);
    expect(s.stderr).to.match(/sweep s[0-9a-f]{12}: 1 of 1 runs failed:/);
    const failures = [...a.stderr.matchAll(/failed nmc \[r[0-9a-f]{20}\] \(attempt (\d) of 2(, will be retried)?\)/g)].map((m) => `${m[1]}${m[2] ?? ''}`);
    expect(failures, a.stderr).to.deep.equal(['1, will be retried', '2']);
    expect(await runsIn(store), 'no record: the run never started').to.have.length(0);
  });

  it('Ctrl-C on the submitter: the workers finish; --attach collects; submitting again runs nothing twice', async () => {
    const store = path.join(dir, 'attach.json');
    const a = worker('attach', 'aa', ['--concurrency', '2']);
    const b = worker('attach', 'ab');
    await a.waitFor(/taking jobs/, 30_000);
    await b.waitFor(/taking jobs/, 30_000);
    const grid = ['split-mnist-mini', '--methods', 'nmc,replay', '--seeds', '1', '--set', 'accumulator=float64,kahan32', '--set', 'epochs=1'];
    const s = sweep('attach', store, grid);
    const [, id] = await s.waitFor(/sweep (s[0-9a-f]{12}): 3 runs on /, 60_000);
    await until('a run is running', 120_000, () => [a, b].some((w) => /task 1\/5/.test(w.stderr)));
    s.child.kill('SIGINT');
    const stopped = await s.done(30_000);
    expect(stopped.code).to.equal(130);
    expect(s.stderr).to.include(`cl sweep --attach ${id} --queue ${redis.url()} --queue-name attach --store ${store}`);

    const att = start(['sweep', '--attach', id, '--queue', redis.url(), '--queue-name', 'attach', '--store', store, '--poll', '1s']);
    const res = await att.done(180_000);
    expect(res.code, att.stderr).to.equal(0);
    expect(att.stderr).to.match(/all 3 runs finished/);
    const runs = await runsIn(store);
    expect(runs).to.have.length(3);
    expect(runs.every((r) => r.status === 'finished' && r.increments.length === 5 && r.queue?.sweep === id)).to.equal(true);
    expect(att.stdout).to.match(/^replay\b.*$/m);
    expect(att.stdout).to.include('A_T (final accuracy)');

    // The same grid again into a new store: nothing runs again, the results come from Redis.
    const started = (a.stderr + b.stderr).match(/^\S+ start /gm)?.length ?? 0;
    const again = sweep('attach', path.join(dir, 'attach-2.json'), grid);
    const res2 = await again.done(120_000);
    expect(res2.code, again.stderr).to.equal(0);
    expect(again.stderr).to.match(new RegExp(`sweep ${id}: 3 runs on .*: 0 queued, 3 already in the queue`));
    expect((a.stderr + b.stderr).match(/^\S+ start /gm)?.length ?? 0).to.equal(started);
    const copies = await runsIn(path.join(dir, 'attach-2.json'));
    expect(copies.map((r) => JSON.stringify(measured(r))).sort()).to.deep.equal(runs.map((r) => JSON.stringify(measured(r))).sort());
    // And into the first store: already finished there.
    const third = sweep('attach', store, grid);
    expect((await third.done(60_000)).code, third.stderr).to.equal(0);
    expect(third.stderr).to.match(/0 queued, 3 already finished in the store/);
  });

  it('--keep: jobs carry the retention; a sweep is forgotten that long after a submitter last looked', async () => {
    const store = path.join(dir, 'keep.json');
    const s = sweep('keep', store, ['split-mnist-mini', '--methods', 'nmc'], ['--keep', '2s', '--detach', '--attempts', '4']);
    expect((await s.done(60_000)).code, s.stderr).to.equal(0);
    const [, id] = s.stderr.match(/sweep (s[0-9a-f]{12}): 1 runs on .*: 1 queued/) ?? [];
    expect(s.stderr).to.include(`collect the results with: cl sweep --attach ${id} --queue ${redis.url()} --queue-name keep --store ${store}`);
    const client = new Redis(redis.url(), { maxRetriesPerRequest: null });
    const queue = new Queue('keep', { connection: client, prefix: 'cl' });
    try {
      const [job] = await queue.getWaiting();
      expect(job.opts).to.deep.include({ attempts: 4, removeOnComplete: { age: 2 }, removeOnFail: { age: 2 }, backoff: { type: 'exponential', delay: 1000 } });
      expect(job.id).to.match(/^r[0-9a-f]{20}$/);
    } finally {
      await queue.close();
      client.disconnect();
    }
    await sleep(3000);
    const att = start(['sweep', '--attach', id, '--queue', redis.url(), '--queue-name', 'keep', '--store', store]);
    expect((await att.done(60_000)).code).to.equal(2);
    expect(att.stderr).to.match(new RegExp(`^cl: error: no sweep ${id} on queue "keep" at redis://127\\.0\\.0\\.1:\\d+$`, 'm'));
  });

  it('jobs running at once on one worker extract their features once', async () => {
    const store = path.join(dir, 'extract.json');
    const a = worker('extract', 'xa', ['--concurrency', '2']);
    await a.waitFor(/taking jobs/, 30_000);
    const s = sweep('extract', store, ['split-mnist-mini', '--methods', 'nmc', '--set', 'accumulator=float64,kahan32']);
    expect((await s.done(120_000)).code, s.stderr).to.equal(0);
    expect(a.stderr.match(/ start /g), 'both jobs started').to.have.length(2);
    expect(a.stderr.match(/features train: extracted 8000 × 784/g), a.stderr).to.have.length(1);
    expect(a.stderr.match(/features train: cache hit/g), a.stderr).to.have.length(1);
  });
});
