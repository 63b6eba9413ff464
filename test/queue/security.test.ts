/**
 * The queue's security promises against a real redis-server: a password in the URL (or in
 * CL_QUEUE_PASSWORD) works and shows up nowhere else; TLS (rediss://) works with a private CA given
 * the Node way; a worker refuses payloads that are not plain cl runs, without retrying them.
 */
import { expect } from 'chai';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jobIdOf, makePayload } from '../../src/queue/job.js';
import { openStore } from '../../src/store/store.js';
import type { RunRecord } from '../../src/types.js';
import { mnistNmcConfig } from './fixtures.js';
import { ClProcess, clEnv, requireBuild, until } from './procs.js';
import { RedisServer, requireRedis } from './redis-server.js';

const PASSWORD = 'pw-S3cret!x';

/** Every value Redis holds, as text (strings, hashes, lists, sorted sets, streams). */
async function dumpRedis(url: string): Promise<string> {
  const r = new Redis(url, { maxRetriesPerRequest: 1, tls: url.startsWith('rediss:') ? {} : undefined });
  try {
    const out: string[] = [];
    for (const key of await r.keys('*')) {
      const type = await r.type(key);
      if (type === 'string') out.push(String(await r.get(key)));
      else if (type === 'hash') out.push(JSON.stringify(await r.hgetall(key)));
      else if (type === 'list') out.push(JSON.stringify(await r.lrange(key, 0, -1)));
      else if (type === 'zset') out.push(JSON.stringify(await r.zrange(key, 0, -1)));
      else if (type === 'set') out.push(JSON.stringify(await r.smembers(key)));
      else if (type === 'stream') out.push(JSON.stringify(await r.xrange(key, '-', '+')));
      out.push(key);
    }
    return out.join('\n');
  } finally {
    r.disconnect();
  }
}

function expectOneErrorLine(p: ClProcess, pattern: RegExp): void {
  expect(p.stderr).to.match(pattern);
  expect(p.stderr.match(/^cl: error: /gm), p.stderr).to.have.length(1);
  expect(p.stderr, 'no stack trace').not.to.match(/\n\s+at /);
}

describe('cl worker + cl sweep --queue: security (real redis-server on loopback)', function () {
  this.timeout(180_000);
  let dir = '';
  let procs: ClProcess[] = [];
  const servers: RedisServer[] = [];

  const start = (args: string[], env: NodeJS.ProcessEnv = {}): ClProcess => {
    const p = new ClProcess(args, clEnv({ CL_CACHE_DIR: path.join(dir, 'cache'), ...env }));
    procs.push(p);
    return p;
  };

  before(function () {
    requireRedis(this);
    requireBuild();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-queue-security-'));
  });
  afterEach(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    procs = [];
  });
  after(async () => {
    for (const s of servers) await s.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a password works from the URL and from CL_QUEUE_PASSWORD, and appears in no output, record or Redis value', async () => {
    const redis = await RedisServer.start({ password: PASSWORD });
    servers.push(redis);
    const store = path.join(dir, 'pw.json');
    // The worker takes the password from the environment, the submitter from the URL.
    const w = start(['worker', '--queue', redis.url(false), '--cache-dir', path.join(dir, 'cache-w')], { CL_QUEUE_PASSWORD: PASSWORD });
    await w.waitFor(/taking jobs from redis:\/\/127\.0\.0\.1:\d+ /, 30_000);
    const s = start(['sweep', 'split-mnist-mini', '--methods', 'nmc', '--queue', redis.url(), '--store', store, '--poll', '1s']);
    const res = await s.done(120_000);
    expect(res.code, s.stderr).to.equal(0);
    expect(s.stderr).to.match(/sweep s[0-9a-f]{12}: 1 runs on redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ \(queue runs\)/);
    const runs = (await (await openStore(store)).list({ kind: 'run' })) as unknown as RunRecord[];
    expect(runs).to.have.length(1);
    expect(runs[0].status).to.equal('finished');

    const dump = await dumpRedis(redis.url());
    expect(dump).to.include(':***@127.0.0.1:');
    for (const secret of [PASSWORD, encodeURIComponent(PASSWORD)]) {
      for (const [what, text] of [
        ['worker output', w.stdout + w.stderr],
        ['sweep output', s.stdout + s.stderr],
        ['store', fs.readFileSync(store, 'utf8')],
        ['redis', dump],
      ]) {
        expect(text.includes(secret), `${what} holds the password`).to.equal(false);
      }
    }

    // A wrong password, or none: one error line, no password echoed, nothing queued.
    const wrong = start(['sweep', 'split-mnist-mini', '--methods', 'nmc', '--queue', redis.url().replace(encodeURIComponent(PASSWORD), 'wrong-guess'), '--store', store]);
    expect((await wrong.done(60_000)).code).to.equal(2);
    expectOneErrorLine(wrong, /^cl: error: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ refused the credentials \(WRONGPASS/m);
    expect(wrong.stderr).not.to.include('wrong-guess');
    const none = start(['worker', '--queue', redis.url(false)]);
    expect((await none.done(60_000)).code).to.equal(2);
    expectOneErrorLine(none, /^cl: error: Redis at redis:\/\/127\.0\.0\.1:\d+ refused the credentials \(NOAUTH/m);
  });

  it('rediss:// (TLS) with a private CA given by NODE_EXTRA_CA_CERTS; without it, one clear error', async () => {
    const redis = await RedisServer.start({ tls: true });
    servers.push(redis);
    const store = path.join(dir, 'tls.json');
    const env = { NODE_EXTRA_CA_CERTS: redis.caFile };
    const w = start(['worker', '--queue', redis.url(), '--cache-dir', path.join(dir, 'cache-tls')], env);
    await w.waitFor(/taking jobs from rediss:\/\/127\.0\.0\.1:\d+ /, 30_000);
    const s = start(['sweep', 'split-mnist-mini', '--methods', 'nmc', '--queue', redis.url(), '--store', store, '--poll', '1s'], env);
    expect((await s.done(120_000)).code, s.stderr).to.equal(0);
    const runs = (await (await openStore(store)).list({ kind: 'run' })) as unknown as RunRecord[];
    expect(runs.map((r) => r.status)).to.deep.equal(['finished']);

    const untrusted = start(['sweep', 'split-mnist-mini', '--methods', 'nmc', '--queue', redis.url(), '--store', store]);
    expect((await untrusted.done(60_000)).code, untrusted.stderr).to.equal(2);
    expectOneErrorLine(untrusted, /^cl: error: TLS with Redis at rediss:\/\/127\.0\.0\.1:\d+ failed \(self[- ]signed certificate/m);
    expect(untrusted.stderr).to.include('NODE_EXTRA_CA_CERTS');
  });

  it('a worker refuses payloads that are not plain cl runs, once each (no retries), and runs nothing', async () => {
    const redis = await RedisServer.start();
    servers.push(redis);
    const w = start(['worker', '--queue', redis.url(), '--queue-name', 'hostile', '--cache-dir', path.join(dir, 'cache-hostile')]);
    await w.waitFor(/taking jobs/, 30_000);
    const good = mnistNmcConfig();
    const path1 = { ...good, backbone: 'onnx:/etc/passwd' };
    const unknownOption = { ...good, options: { ...good.options, exec: 'sh -c id' } };
    // Checked by the method's own option declarations (src/options.ts), as `cl run --variant` is.
    const badValue = { ...good, options: { ...good.options, variant: '$(id)' } };
    const jobs: [string, unknown, RegExp][] = [
      [jobIdOf(path1), makePayload('path', path1), /^cl: error: job r[0-9a-f]{20} is not a cl run job: \/config\/backbone must match pattern/],
      [jobIdOf(unknownOption), makePayload('option', unknownOption), /^cl: error: nmc has no option --exec$/m],
      [jobIdOf(badValue), makePayload('value', badValue), /^cl: error: nmc --variant must be one of janson, simplecil, custom, got "\$\(id\)"$/m],
      ['rdeadbeefdeadbeefdead', makePayload('wrong id', good), /^cl: error: job rdeadbeefdeadbeefdead does not carry the configuration its id names/],
      [jobIdOf(good), { ...makePayload('extra', good), command: 'rm -rf ~' }, /^cl: error: job r[0-9a-f]{20} is not a cl run job: \/ must NOT have additional properties/],
    ];
    const client = new Redis(redis.url(), { maxRetriesPerRequest: null });
    const queue = new Queue('hostile', { connection: client, prefix: 'cl' });
    try {
      for (const [id, data] of jobs) await queue.add('run', data, { jobId: id, attempts: 3, backoff: { type: 'fixed', delay: 100 } });
      for (const [id, , reason] of jobs) {
        const job = await until(`job ${id} fails`, 60_000, async () => ((await queue.getJobState(id)) === 'failed' ? queue.getJob(id) : null));
        expect(job.failedReason).to.match(reason);
        expect(job.attemptsMade, `${id} is not retried`).to.equal(1);
      }
    } finally {
      await queue.close();
      client.disconnect();
    }
    expect(w.stderr, 'no run got as far as loading data').not.to.match(/dataset mnist-embedded/);
  });
});
