import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { Command } from 'commander';
import { register } from '../../src/cli/compat.js';
import type { CompatRecord } from '../../src/compat/record.js';
import { openStore } from '../../src/store/store.js';

/** Run `cl compat ...` in-process; returns stdout, stderr and the exit code. */
async function cl(args: string[]): Promise<{ out: string; err: string; code: number }> {
  const program = new Command().name('cl').exitOverride();
  register(program);
  let out = '';
  let err = '';
  const w1 = process.stdout.write.bind(process.stdout);
  const w2 = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await program.parseAsync(['node', 'cl', ...args]);
  } catch (e) {
    err += String(e);
    process.exitCode = process.exitCode ?? 1;
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = before;
  return { out, err, code };
}

describe('cl compat (CLI end to end on the embedded MNIST digits)', function () {
  this.timeout(120000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cl-compat-cli-'));
  const store = path.join(dir, 'db.json');
  const base = ['--store', store, '--cache-dir', path.join(dir, 'cache'), '--offline', '--quiet', '--backend', 'auto'];

  it('split-mnist-mini --method oca --steps 2 --epochs 2: stores a finished compat record and prints it as JSON', async () => {
    const r = await cl(['compat', 'split-mnist-mini', '--method', 'oca', '--steps', '2', '--epochs', '2', '--hidden', '64', '--d', '16', '--k', '8', '--json', ...base]);
    expect(r.code, r.err).to.equal(0);
    const rec = JSON.parse(r.out) as CompatRecord;
    expect(rec.kind).to.equal('compat');
    expect(rec.status).to.equal('finished');
    expect(rec.scenario.blocks).to.deep.equal([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]);
    expect(rec.versions.map((v) => v.dim)).to.deep.equal([16, 24]);
    expect(rec.methodOptions.epochs).to.equal(2);
    expect(rec.backbone.id).to.equal('pixels');
    expect(rec.retrieval.queries).to.equal(2000);
    expect(rec.matrices.top1[1].every((v) => typeof v === 'number')).to.equal(true);
    expect(rec.command.length).to.be.greaterThan(0);
    const stored = await (await openStore(store)).get<CompatRecord>(rec.id);
    expect(stored.matrices).to.deep.equal(rec.matrices);
  });

  it('renders the matrix with ✓/✗ per cell, AC and AM', async () => {
    const r = await cl(['compat', 'split-mnist-mini', '--method', 'independent', '--steps', '2', '--epochs', '1', '--hidden', '32', '--d', '16', ...base]);
    expect(r.code, r.err).to.equal(0);
    const text = stripVTControlCharacters(r.out);
    expect(text).to.match(/Compat \w+\s+finished/);
    expect(text).to.match(/CMC top-1 \(%\)/);
    expect(text).to.match(/mAP \(%\)/);
    expect(text).to.match(/[✓✗]/);
    expect(text).to.match(/AC \d/);
    expect(text).to.match(/AM \d/);
  });

  it('clear errors for impossible steps and for bad option values', async () => {
    const a = await cl(['compat', 'split-mnist-mini', '--method', 'oca', '--steps', '11', ...base]);
    expect(a.code).to.equal(2);
    expect(a.err).to.match(/--steps 11 is more than the 10 classes/);
    expect(a.err).to.match(/hint: use at most --steps 10/);
    const b = await cl(['compat', 'split-mnist-mini', '--method', 'oca', '--steps', '2', '--ortho', 'project', ...base]);
    expect(b.code).to.equal(2);
    expect(b.err).to.match(/cl compat --ortho must be one of expm, identity, none, got "project"/);
    expect(b.err).to.match(/hint: .*householder and project are not implemented/);
  });
});
