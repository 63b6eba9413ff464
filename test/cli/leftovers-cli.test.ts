/**
 * Temp folders of a real dataset extraction (the CIFAR-100 archive, ~180 MB extracted): a run
 * stopped by SIGTERM removes its own on the way out; one killed with SIGKILL leaves it behind, and
 * the next run removes it at once (it used to stay for an hour). Needs CL_SHARED_DIR.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { entry, requireBuild, root } from './child.js';

const shared = process.env.CL_SHARED_DIR ? path.resolve(root, process.env.CL_SHARED_DIR) : null;

/** Temp folders of dataset extractions under `datasets` (any cl version's names). */
const extractTemps = (datasets: string): string[] => (fs.existsSync(datasets) ? fs.readdirSync(datasets).filter((n) => n.startsWith('.extract')) : []);

function duBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) total += fs.statSync(path.join(e.parentPath, e.name)).size;
  }
  return total;
}

/**
 * Start `cl args`, and once `ready(stderr)` holds (polled every 50 ms) send `signal`; resolves
 * with the exit code, stderr, and what `ready` saw when it fired.
 */
function stopWhen(args: string[], env: Record<string, string>, ready: (stderr: string) => boolean, signal: NodeJS.Signals): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1', ...env } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    const poll = setInterval(() => {
      if (ready(stderr)) {
        clearInterval(poll);
        child.kill(signal);
      }
    }, 50);
    const killer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('error', reject);
    child.on('close', (code, sig) => {
      clearInterval(poll);
      clearTimeout(killer);
      resolve({ code, signal: sig, stderr });
    });
  });
}

describe('leftover temp folders of dataset extraction (child process, real CIFAR-100)', function () {
  this.timeout(600_000);
  let tmp: string;

  before(function () {
    if (!shared) this.skip();
    requireBuild();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-leftovers-cli-'));
  });

  after(function () {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const args = (cache: string): string[] => [
    'run', 'split-cifar100', '-m', 'nmc', '--backbone', 'pixels', '--data-dir', path.join(shared!, 'datasets'), '--cache-dir', cache, '--store', path.join(cache, 'db.json'),
  ];

  it('SIGTERM during the extraction removes its temp folder on the way out', async function () {
    const cache = path.join(tmp, 'term');
    const datasets = path.join(cache, 'datasets');
    let seen = 0;
    const r = await stopWhen(args(cache), {}, () => {
      const t = extractTemps(datasets);
      if (t.length === 1) seen = Math.max(seen, duBytes(path.join(datasets, t[0])));
      return seen > 20e6; // well into the archive
    }, 'SIGTERM');
    expect(r.code, r.stderr).to.equal(143);
    expect(seen).to.be.greaterThan(20e6);
    expect(extractTemps(datasets)).to.deep.equal([]);
  });

  it('after a SIGKILL mid-extraction, the next run removes the dead run\'s temp folder at once', async function () {
    const cache = path.join(tmp, 'kill');
    const datasets = path.join(cache, 'datasets');
    const killed = await stopWhen(args(cache), {}, () => {
      const t = extractTemps(datasets);
      return t.length === 1 && duBytes(path.join(datasets, t[0])) > 20e6;
    }, 'SIGKILL');
    expect(killed.signal).to.equal('SIGKILL');
    const left = extractTemps(datasets);
    expect(left).to.have.length(1);
    // The next run: stop it once the dataset is loaded (the extraction committed, features next).
    const next = await stopWhen(args(cache), {}, (s) => /• backbone pixels/.test(s), 'SIGTERM');
    expect(next.code, next.stderr).to.equal(143);
    expect(extractTemps(datasets)).to.deep.equal([]);
    expect(fs.existsSync(path.join(datasets, 'cifar-100-binary', 'train.bin'))).to.equal(true);
  });
});
