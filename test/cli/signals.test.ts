/**
 * SIGTERM / SIGINT during training of a real run: the process marks the stored run interrupted and
 * exits within a bound, instead of finishing the epoch (or ten) first. The epochs here are made
 * long on purpose (tiny mini-batches: ~400 steps per epoch), so a loop that only yields between
 * epochs misses the bound by far. The bound (5 s) is generous for a loaded CI machine; the time
 * measured is printed.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { entry, requireBuild, root } from './child.js';
import type { RunRecord } from '../../src/types.js';

const BOUND_MS = 5000;

interface Stopped {
  code: number | null;
  /** From the signal to the process's exit. */
  ms: number;
  stderr: string;
}

/** Start `cl run`, send `signal` once `trigger` shows on stderr, and time the exit. */
function stopDuring(args: string[], env: Record<string, string>, trigger: RegExp, signal: NodeJS.Signals): Promise<Stopped> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1', ...env } });
    let stderr = '';
    let sentAt = 0;
    const killer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!sentAt && trigger.test(stderr)) {
        sentAt = performance.now();
        child.kill(signal);
      }
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, ms: sentAt ? performance.now() - sentAt : NaN, stderr });
    });
  });
}

describe('signals during training (child process)', function () {
  this.timeout(300_000);
  let tmp: string;
  let env: Record<string, string>;

  before(function () {
    requireBuild();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-signals-'));
    env = { CL_CACHE_DIR: path.join(tmp, 'cache') };
  });

  after(function () {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`${signal} in the middle of an epoch: exit ${code} within ${BOUND_MS / 1000} s, stored status interrupted`, async function () {
      const store = path.join(tmp, `${signal}.json`);
      const args = ['run', 'split-mnist-mini', '-m', 'wa', '--epochs', '30', '--batch-size', '4', '--store', store];
      // The first training progress line (on a non-TTY stderr: at 10 %, 3 of 30 epochs): training
      // runs and the record exists; the next epoch is under way.
      const r = await stopDuring(args, env, /task 1 wa: \d+% \d+ epochs\/30 epochs/, signal);
      console.log(`      ${signal} -> exit in ${(r.ms / 1000).toFixed(2)} s (load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')})`);
      expect(r.code, r.stderr).to.equal(code);
      expect(r.ms, r.stderr).to.be.below(BOUND_MS);
      const id = new RegExp(`run (\\w+) stopped \\(interrupted by ${signal}\\)`).exec(r.stderr)?.[1];
      expect(id, r.stderr).to.be.a('string');
      // The stored record, as `cl show` reads it (the dead pid is not what makes it interrupted:
      // `--json` prints the effective status, so check the stored error text too).
      const show = spawnSync(process.execPath, [entry, 'show', id!, '--json', '--store', store], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env } });
      expect(show.status, show.stderr).to.equal(0);
      const rec = JSON.parse(show.stdout) as RunRecord;
      expect(rec.status).to.equal('interrupted');
      expect(rec.error).to.equal(`interrupted by ${signal}`);
      expect(rec.increments).to.deep.equal([]);
    });
  }
});
