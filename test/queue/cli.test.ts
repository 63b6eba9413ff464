/**
 * `cl sweep --queue` and `cl worker` refuse bad input with one `cl: error:` line before they touch
 * Redis (no server is running here: the queue URL points at a closed loopback port).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClProcess, clEnv, requireBuild } from './procs.js';
import { freePort } from './redis-server.js';

describe('cl sweep --queue / cl worker: input errors (no Redis needed)', function () {
  this.timeout(60_000);
  let dir = '';
  let url = '';

  before(async () => {
    requireBuild();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-queue-cli-'));
    url = `redis://:hunter2@127.0.0.1:${await freePort()}`;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function fails(args: string[], pattern: RegExp, env: NodeJS.ProcessEnv = {}): Promise<void> {
    const p = new ClProcess(args, clEnv({ CL_CACHE_DIR: path.join(dir, 'cache'), ...env }));
    const r = await p.done(30_000);
    expect(r.code, p.stderr).to.equal(2);
    expect(p.stderr).to.match(pattern);
    expect(p.stderr.match(/^cl: error: /gm), p.stderr).to.have.length(1);
    expect(p.stderr, 'no stack trace').not.to.match(/\n\s+at /);
    expect(p.stderr + p.stdout, 'the password is never shown').not.to.include('hunter2');
  }

  const store = () => path.join(dir, 'db.json');

  it('a queued run names its backbone; paths and URLs are for the workers to register', async () => {
    await fails(['sweep', 'split-mnist-mini', '--methods', 'nmc', '--backbone', 'onnx:/models/m.onnx#features', '--queue', url, '--store', store()], /^cl: error: run "nmc": cl sweep --queue: the backbone "onnx:\/models\/m\.onnx#features" is a path or URL/m);
  });

  it('image folders and features: files are paths on this machine: not for the queue', async () => {
    const folder = path.join(dir, 'images');
    for (const split of ['train', 'test']) for (const c of ['a', 'b']) fs.mkdirSync(path.join(folder, split, c), { recursive: true });
    await fails(['sweep', `imagefolder:${folder}`, '--increment', '1', '--methods', 'nmc', '--queue', url, '--store', store()], /^cl: error: run "nmc": cl sweep --queue: the dataset "imagefolder:.*images" is a path on this machine/m);
  });

  it('--data-dir, --cache-dir and --offline belong to the workers', async () => {
    await fails(['sweep', 'split-mnist-mini', '--methods', 'nmc', '--data-dir', '/data', '--queue', url, '--store', store()], /^cl: error: run "nmc": cl sweep --queue: --data-dir is a worker's own setting/m);
  });

  it('a bad method option stops the submission before anything is queued', async () => {
    await fails(['sweep', 'split-mnist-mini', '--methods', 'nmc', '--set', 'accumulator=float64,bogus', '--queue', url, '--store', store()], /^cl: error: (run nmc accumulator=bogus of the sweep: )?nmc --accumulator must be one of float64, kahan32, got "bogus"$/m);
  });

  it('--workers, --attach without a queue, a bad sweep id, a bad duration', async () => {
    await fails(['sweep', 'split-mnist-mini', '--methods', 'nmc', '--workers', '2', '--queue', url], /^cl: error: --workers is for sweeps on this machine/m);
    await fails(['sweep', '--attach', 's0123456789ab'], /^cl: error: --attach needs the queue/m);
    await fails(['sweep', 'split-mnist-mini', '--methods', 'nmc', '--queue', url, '--keep', 'forever'], /^cl: error: --keep "forever" is not a duration/m);
    await fails(['sweep', 'split-mnist-mini', '--attach', 's0123456789ab', '--queue', url], /^cl: error: cl sweep --attach takes no scenario or grid/m);
    await fails(['sweep', '--methods', 'nmc', '--queue', url], /^cl: error: cl sweep: no scenario or experiment file given/m);
  });

  it('an unreachable Redis: one error line naming the URL without its password', async () => {
    await fails(['sweep', 'split-mnist-mini', '--methods', 'nmc', '--queue', url, '--store', store()], /^cl: error: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ within 15 s \(connect ECONNREFUSED/m);
    expect(fs.existsSync(store()) ? fs.readFileSync(store(), 'utf8') : '').not.to.include('hunter2');
  });

  it('cl worker: a bad --backbone, no queue, a queue URL of another kind', async () => {
    await fails(['worker', '--queue', url, '--backbone', 'onnx:/m.onnx'], /^cl: error: --backbone "onnx:\/m\.onnx" is not NAME=SPEC/m);
    await fails(['worker', '--queue', url, '--backbone', 'mnv2=bogus:/m.onnx'], /^cl: error: backbone "bogus:\/m\.onnx": unknown backbone kind "bogus"/m);
    await fails(['worker'], /^cl: error: no queue given/m);
    await fails(['worker', '--queue', 'http://:hunter2@127.0.0.1:1'], /^cl: error: the queue URL has the scheme "http:"/m);
  });
});
