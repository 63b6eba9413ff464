/** `cl compare` in-process (its commander registration, action and error reporting) against a store of hand-made runs. */
import { expect } from 'chai';
import { Command } from 'commander';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stripVTControlCharacters as strip } from 'node:util';
import { register } from '../../src/cli/compare.js';
import { openStore } from '../../src/store/store.js';
import { makeRun } from './fixtures.js';

/** Run `cl <args>` with only the compare command registered, capturing stdout, stderr and the exit code. */
async function runCl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const program = new Command().name('cl').exitOverride();
  register(program);
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  const before = process.exitCode;
  process.exitCode = 0;
  try {
    await program.parseAsync(['node', 'cl', ...args]);
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return { code, stdout: strip(stdout), stderr: strip(stderr) };
}

/** 10-task CIFAR-100 B0-Inc10 fixture (icarl-1993, vit-b16-in21k) whose A_T is `aT`. */
function cifarRun(id: string, seed: number, method: string, aT: number, createdAt: string) {
  const R = Array.from({ length: 10 }, (_, t) => Array.from({ length: t + 1 }, () => (t === 9 ? aT : 95 - t)));
  return makeRun({ id, R, seed, method, createdAt, scenario: 'split-cifar100', dataset: 'cifar100', split: 'B0-Inc10', order: 'icarl-1993', backbone: 'vit-b16-in21k', classesPerTask: 10 });
}

describe('cl compare (command)', function () {
  this.timeout(30_000);
  let dir = '';
  let store = '';

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-compare-'));
    store = path.join(dir, 'db.json');
    const s = await openStore(store);
    await s.insert(cifarRun('wa000001', 1, 'wa', 70, '2026-01-01T00:00:01Z'));
    await s.insert(cifarRun('wa000002', 2, 'wa', 74, '2026-01-01T00:00:02Z'));
    await s.insert(cifarRun('nmc00001', 1, 'nmc', 80, '2026-01-01T00:00:03Z'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('prints the grouped table with the matching published baseline and writes the PNG plot and the HTML report', async () => {
    const png = path.join(dir, 'out', 'fig.png');
    const html = path.join(dir, 'report.html');
    const res = await runCl(['compare', '--store', store, '--plot', png, '--html', html]);
    expect(res.code, res.stderr).to.equal(0);
    const row = (label: string) => res.stdout.split('\n').find((l) => l.startsWith(label)) ?? '';
    expect(row('wa')).to.match(/\s2\s+icarl-1993\s+1,2\s+10\s+72\.00 ± 2\.83\s/);
    expect(row('nmc')).to.match(/\s1\s+icarl-1993\s+1\s+10\s+80\.00\s/);
    expect(row('SimpleCIL (APER) (published)')).to.match(/81\.28†\s+87\.13†/);
    expect(res.stdout).to.include(`plot written to ${png}`);
    expect([...fs.readFileSync(png).subarray(0, 4)]).to.deep.equal([0x89, 0x50, 0x4e, 0x47]);
    expect(fs.readFileSync(html, 'utf8')).to.include('<table id="summary">');
  });

  it('--json with filters and another forgetting definition', async () => {
    const res = await runCl(['compare', '--store', store, '--method', 'wa', '--forgetting', 'first', '--no-baselines', '--json']);
    expect(res.code, res.stderr).to.equal(0);
    const j = JSON.parse(res.stdout) as { forgettingDefinition: string; groups: { runs: string[]; finalAccuracy: { mean: number; std: number } }[]; published: unknown[] };
    expect(j.forgettingDefinition).to.equal('first');
    expect(j.groups).to.have.length(1);
    expect(j.groups[0].runs).to.deep.equal(['wa000001', 'wa000002']);
    expect(j.groups[0].finalAccuracy.std).to.be.closeTo(2.828427, 1e-6);
    expect(j.published).to.deep.equal([]);
  });

  it('an unknown id or a bad option is one clear error line and a non-zero exit', async () => {
    const res = await runCl(['compare', 'zzzz', '--store', store]);
    expect(res.code).to.not.equal(0);
    expect(res.stderr).to.match(/^cl: error: no run with id "zzzz"/m);
    const res2 = await runCl(['compare', '--store', store, '--plot', path.join(dir, 'x.pdf')]);
    expect(res2.code).to.not.equal(0);
    expect(res2.stderr).to.match(/^cl: error: --plot .*x\.pdf: unknown plot format/m);
  });
});
