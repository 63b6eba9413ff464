/**
 * The store through the CLI, where users meet its failures: malformed records, files that are not
 * stores, and the machine saying no (read-only file systems, permissions, a full disk). Each case
 * must end in one `cl: error:` line naming the file and the cause (exit 2, at once), or — for a
 * malformed record — one warning naming it while everything else still works.
 *
 * The full-disk and read-only cases mount a small tmpfs in a private mount namespace (`unshare`,
 * as root or in a user namespace); they are skipped, saying why, where the machine allows neither.
 */
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { newRecordBase, openStore, type RecordBase } from '../../src/store/store.js';
import type { RunRecord } from '../../src/types.js';
import { makeRun, WORKED_R } from '../report/fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const entry = path.join(root, 'dist', 'src', 'cli', 'main.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function cl(args: string[], env: Record<string, string>): Result {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [entry, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

function expectUserError(r: Result, pattern: RegExp): void {
  expect(r.code, r.stderr).to.equal(2);
  expect(r.stderr).to.match(pattern);
  expect(r.stderr.match(/^cl: error: /gm), r.stderr).to.have.length(1);
  expect(r.stderr, 'no stack trace').not.to.match(/\n\s+at |internal error/);
}

/** How to run a shell script in a private mount namespace here, or null with the reason it cannot. */
function namespaceRunner(): { argv: string[] } | { skip: string } {
  const argv = process.getuid?.() === 0 ? ['unshare', '--mount', '--propagation', 'private'] : ['unshare', '--user', '--map-root-user', '--mount'];
  const probe = spawnSync(argv[0], [...argv.slice(1), 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs "$d" && umount "$d" && rmdir "$d"'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { skip: `cannot mount a tmpfs in a private namespace here (${probe.error?.message ?? probe.stderr.trim()})` };
  return { argv };
}

describe('store through the CLI: malformed records, non-stores, environment errors', function () {
  this.timeout(300_000);
  let tmp: string;
  let env: Record<string, string>;

  before(function () {
    if (!fs.existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-store-cli-'));
    fs.chmodSync(tmp, 0o755);
    env = { CL_CACHE_DIR: path.join(tmp, 'cache') };
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  describe('one malformed record', function () {
    const good = [
      makeRun({ id: 'good0001aaaaaa', R: WORKED_R, method: 'wa', createdAt: '2026-01-01T00:00:01.000Z' }),
      makeRun({ id: 'good0002aaaaaa', R: WORKED_R, method: 'wa', seed: 2, createdAt: '2026-01-01T00:00:02.000Z' }),
    ];
    for (const field of ['scenario', 'increments', 'backbone'] as const) {
      it(`missing ${field}: ls, show and compare skip it with one warning naming it; show of it says what is wrong`, function () {
        const bad: Partial<RunRecord> = makeRun({ id: `bad${field}`.slice(0, 12).padEnd(14, '0'), R: WORKED_R, createdAt: '2026-01-01T00:00:03.000Z' });
        delete bad[field];
        // A store as the previous cl wrote it (one JSON file): the same input breaks the old code.
        const file = path.join(tmp, `malformed-${field}.json`);
        fs.writeFileSync(file, JSON.stringify({ version: 1, records: [...good, bad] }));
        const warning = new RegExp(`^cl: warning: skipped record ${bad.id} in .*: malformed \\(missing ${field}\\)$`, 'm');

        const ls = cl(['ls', '--store', file], env);
        expect(ls.code, ls.stderr).to.equal(0);
        expect(ls.stderr).to.match(warning);
        expect(ls.stderr.match(/warning/g)).to.have.length(1);
        expect(ls.stdout).to.include('good0001').and.include('good0002').and.not.include(bad.id!.slice(0, 8));

        const show = cl(['show', 'good0001', '--store', file], env);
        expect(show.code, show.stderr).to.equal(0);
        expect(show.stdout).to.include('Accuracy matrix');
        expectUserError(cl(['show', bad.id!, '--store', file], env), new RegExp(`record ${bad.id} .* is malformed \\(missing ${field}\\)`));
        const raw = cl(['show', bad.id!, '--json', '--store', file], env);
        expect(raw.code, raw.stderr).to.equal(0);
        expect(JSON.parse(raw.stdout)).to.include({ id: bad.id });

        const cmp = cl(['compare', '--json', '--no-baselines', '--store', file], env);
        expect(cmp.code, cmp.stderr).to.equal(0);
        expect(cmp.stderr).to.match(warning);
        expect(cmp.stderr.match(/warning/g)).to.have.length(1);
        expect(cmp.stdout).to.include('good0001').and.include('good0002').and.not.include(bad.id!);
      });
    }
  });

  it('a writer SIGSTOPped inside its write past the stale time: a real `cl run` finishes meanwhile, ls works, and both records are intact', async function () {
    const file = path.join(tmp, 'paused.json');
    const store = await openStore(file);
    await store.insert({ ...newRecordBase('test'), id: 'paused0001', log: [] });
    const p = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'test', 'store', 'fixtures', 'pauser.ts'), file, 'update', 'paused0001', '1500'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let errText = '';
    p.stderr.on('data', (d: Buffer) => (errText += d.toString()));
    const done = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('publishing record')) resolve();
      });
      p.on('exit', () => reject(new Error(`pauser exited early: ${errText}`)));
    });
    p.kill('SIGSTOP');
    const t0 = Date.now();
    let run: Result;
    let ls: Result;
    try {
      run = cl(['run', 'split-mnist-mini', '--method', 'nmc', '--json', '--quiet', '--store', file], env);
      ls = cl(['ls', '--json', '--store', file], env);
      await new Promise((r) => setTimeout(r, Math.max(0, 3000 - (Date.now() - t0)))); // past the 2 s stale time
    } finally {
      p.kill('SIGCONT');
    }
    expect(await done, errText).to.equal(0);
    expect(run.code, run.stderr).to.equal(0);
    expect(ls.code, ls.stderr).to.equal(0);
    const finished = JSON.parse(run.stdout) as RunRecord;
    expect((JSON.parse(ls.stdout) as { id: string; status: string }[]).map((e) => [e.id, e.status])).to.deep.include([finished.id, 'finished']);
    const shown = cl(['show', finished.id, '--json', '--store', file], env);
    expect(JSON.parse(shown.stdout)).to.deep.equal(finished);
    expect(finished.increments).to.have.length(5);
    const after = await openStore(file);
    expect((await after.get<RecordBase & { log: string[] }>('paused0001')).log).to.deep.equal(['paused-writer']);
    expect((await after.entries()).map((e) => e.id).sort()).to.deep.equal([finished.id, 'paused0001'].sort());
  });

  it('a store file holding null (or other JSON that is not a store) is refused and never overwritten', function () {
    for (const [name, bytes] of [
      ['null', 'null'],
      ['object', '{"runs": []}'],
      ['array', '[]'],
      ['string', '"results"'],
    ]) {
      const file = path.join(tmp, `not-a-store-${name}.json`);
      fs.writeFileSync(file, bytes);
      expectUserError(cl(['run', 'split-mnist-mini', '--method', 'nmc', '--quiet', '--store', file], env), new RegExp(`${path.basename(file)} is not a cl results store`));
      expectUserError(cl(['ls', '--store', file], env), /is not a cl results store/);
      expect(fs.readFileSync(file, 'utf8'), name).to.equal(bytes);
      expect(fs.readdirSync(tmp).filter((n) => n.startsWith(path.basename(file))), name).to.deep.equal([path.basename(file)]);
    }
  });

  it('a folder this user may not write: named with the cause at once (exit 2); reading still works', function () {
    // Root ignores permission bits, so as root the cl processes run as nobody.
    const asOther = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
    if (asOther.length) {
      // nobody must reach the built cl (a checkout below a 0700 folder such as mktemp -d is out of its reach).
      const probe = spawnSync(asOther[0], [...asOther.slice(1), process.execPath, '-e', `require('fs').accessSync(${JSON.stringify(entry)}, require('fs').constants.R_OK)`], { encoding: 'utf8' });
      if (probe.status !== 0) {
        console.log(`      (skipped: running as root, and user nobody cannot read ${entry}; a checkout nobody can read runs this test)`);
        this.skip();
      }
    }
    const dir = path.join(tmp, 'locked');
    fs.mkdirSync(dir);
    const file = path.join(dir, 'db.json');
    const made = cl(['run', 'split-mnist-mini', '--method', 'nmc', '--quiet', '--json', '--store', file], env);
    expect(made.code, made.stderr).to.equal(0);
    const rec = JSON.parse(made.stdout) as RunRecord;
    fs.chmodSync(dir, 0o555);
    const parts = ['', '.d', '.d/records', '.d/index', '.d/tmp'].filter((sub) => fs.existsSync(`${file}${sub}`));
    for (const sub of parts) fs.chmodSync(`${file}${sub}`, sub === '' ? 0o444 : 0o555);
    const cache = path.join(tmp, 'cache-other');
    fs.mkdirSync(cache, { mode: 0o777 });
    fs.chmodSync(cache, 0o777);
    const run = (args: string[]): Result => {
      const t0 = Date.now();
      const r = asOther.length
        ? spawnSync(asOther[0], [...asOther.slice(1), process.execPath, entry, ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', CL_CACHE_DIR: cache } })
        : spawnSync(process.execPath, [entry, ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', CL_CACHE_DIR: cache } });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
    };
    try {
      const r = run(['run', 'split-mnist-mini', '--method', 'nmc', '--quiet', '--store', file]);
      expectUserError(r, new RegExp(`cannot write results store ${file} \\(${file}\\.d/\\w+\\): permission denied \\(EACCES\\)`));
      expect(r.ms).to.be.below(20_000);
      const ls = run(['ls', '--json', '--store', file]);
      expect(ls.code, ls.stderr).to.equal(0);
      expect((JSON.parse(ls.stdout) as { id: string }[]).map((e) => e.id)).to.deep.equal([rec.id]);
      // a new store in that folder
      expectUserError(run(['run', 'split-mnist-mini', '--method', 'nmc', '--quiet', '--store', path.join(dir, 'new.json')]), /cannot write results store .*new\.json.*: permission denied \(EACCES\)/);
    } finally {
      fs.chmodSync(dir, 0o755);
      for (const sub of parts) fs.chmodSync(`${file}${sub}`, sub === '' ? 0o644 : 0o755);
    }
  });

  describe('in a private mount namespace (tmpfs)', function () {
    let ns: { argv: string[] } | { skip: string };
    before(function () {
      ns = namespaceRunner();
      if ('skip' in ns) {
        console.log(`      (skipped: ${ns.skip})`);
        this.skip();
      }
    });

    /** Run `script` (sh) in the namespace with $CL = the cl command line; returns its stdout lines. */
    const inNamespace = (script: string): { code: number | null; out: string; err: string } => {
      const { argv } = ns as { argv: string[] };
      const r = spawnSync(argv[0], [...argv.slice(1), 'sh', '-c', `set -u\nCL="${process.execPath} ${entry}"\n${script}`], {
        cwd: tmp,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1', ...env },
        timeout: 240_000,
      });
      return { code: r.status, out: r.stdout, err: r.stderr };
    };

    it('a read-only file system: a write is refused at once naming EROFS; ls/show read the store (also a version-1 file, in place)', function () {
      const v1 = path.join(root, 'test', 'store', 'fixtures', 'v1-store.json');
      const mnt = path.join(tmp, 'ro');
      fs.mkdirSync(mnt);
      const r = inNamespace(`
mount -t tmpfs -o size=4m tmpfs ${mnt}
$CL run split-mnist-mini --method nmc --quiet --store ${mnt}/db.json > /dev/null 2>&1 || echo "setup failed"
cp ${v1} ${mnt}/old.json
mount -o remount,ro ${mnt}
t0=$(date +%s%N); $CL run split-mnist-mini --method nmc --quiet --store ${mnt}/db.json 2> ${tmp}/ro-run.err; echo "run rc=$? ms=$(( ($(date +%s%N) - t0) / 1000000 ))"
t0=$(date +%s%N); $CL run split-mnist-mini --method nmc --quiet --store ${mnt}/fresh.json 2> ${tmp}/ro-new.err; echo "new rc=$? ms=$(( ($(date +%s%N) - t0) / 1000000 ))"
$CL ls --json --store ${mnt}/db.json > ${tmp}/ro-ls.json 2> ${tmp}/ro-ls.err; echo "ls rc=$?"
$CL ls --json --store ${mnt}/old.json > ${tmp}/ro-ls-v1.json 2> ${tmp}/ro-ls-v1.err; echo "ls-v1 rc=$?"
$CL show mx3lqkady9 --store ${mnt}/old.json > /dev/null 2>&1; echo "show-v1 rc=$?"
$CL compare --no-baselines --store ${mnt}/old.json > /dev/null 2>&1; echo "compare-v1 rc=$?"
$CL run split-mnist-mini --method nmc --quiet --store ${mnt}/old.json 2> ${tmp}/ro-run-v1.err; echo "run-v1 rc=$?"
ls -A ${mnt}
`);
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.not.include('setup failed');
      const field = (name: string, key: string): number => Number(new RegExp(`^${name} .*${key}=(\\d+)`, 'm').exec(r.out)?.[1]);
      const err = (f: string): string => fs.readFileSync(path.join(tmp, f), 'utf8');
      expect(field('run', 'rc'), err('ro-run.err')).to.equal(2);
      expect(err('ro-run.err')).to.match(new RegExp(`^cl: error: cannot write results store ${mnt}/db\\.json \\(.*\\): read-only file system \\(EROFS\\)$`, 'm'));
      expect(field('run', 'ms')).to.be.below(15_000); // (the previous cl retried for 60 s first)
      expect(field('new', 'rc'), err('ro-new.err')).to.equal(2);
      expect(err('ro-new.err')).to.match(/cannot write results store .*fresh\.json.*read-only file system \(EROFS\)/);
      expect(field('ls', 'rc'), err('ro-ls.err')).to.equal(0);
      expect(JSON.parse(fs.readFileSync(path.join(tmp, 'ro-ls.json'), 'utf8'))).to.have.length(1);
      expect(field('ls-v1', 'rc'), err('ro-ls-v1.err')).to.equal(0);
      expect(err('ro-ls-v1.err')).to.match(/single-file \(version 1\) store that cannot be migrated here \(EROFS/);
      expect(JSON.parse(fs.readFileSync(path.join(tmp, 'ro-ls-v1.json'), 'utf8'))).to.have.length(5);
      expect(field('show-v1', 'rc')).to.equal(0);
      expect(field('compare-v1', 'rc')).to.equal(0);
      expect(field('run-v1', 'rc'), err('ro-run-v1.err')).to.equal(2);
      expect(err('ro-run-v1.err')).to.match(/cannot write results store .*old\.json.*read-only file system \(EROFS\)/);
      for (const f of ['ro-run.err', 'ro-new.err', 'ro-run-v1.err']) expect(err(f), f).to.not.match(/internal error|\n\s+at /);
    });

    it('a full disk (ENOSPC) at any point of a run: named with the cause, no temp file left, stored runs intact', function () {
      const mnt = path.join(tmp, 'full');
      fs.mkdirSync(mnt);
      // Fill the disk to leave 0, 4, 8, ... KiB, run again, and look for leftovers each time.
      const r = inNamespace(`
mount -t tmpfs -o size=1m tmpfs ${mnt}
$CL run split-mnist-mini --method nmc --quiet --json --store ${mnt}/db.json > ${tmp}/full-first.json 2>&1 || echo "setup failed"
for free in 0 4 8 12 16 20 24 32 48 64; do
  avail=$(df -B1 --output=avail ${mnt} | tail -1)
  head -c $(( avail - free * 1024 )) /dev/zero > ${mnt}/filler 2>/dev/null
  $CL run split-mnist-mini --method nmc --quiet --store ${mnt}/db.json 2> ${tmp}/full-$free.err > /dev/null
  echo "free=$free rc=$? temps=$(find ${mnt} -name '*.tmp' | wc -l) runs=$($CL ls --json --store ${mnt}/db.json 2>/dev/null | grep -c '"kind": "run"')"
  rm -f ${mnt}/filler
done
`);
      expect(r.code, r.err).to.equal(0);
      expect(r.out).to.not.include('setup failed');
      const first = JSON.parse(fs.readFileSync(path.join(tmp, 'full-first.json'), 'utf8')) as RunRecord;
      expect(first.status).to.equal('finished');
      const rows = [...r.out.matchAll(/^free=(\d+) rc=(\d+) temps=(\d+) runs=(\d+)$/gm)].map((m) => m.slice(1).map(Number));
      expect(rows, r.out).to.have.length(10);
      let failures = 0;
      let previousRuns = 1;
      for (const [free, rc, temps, runs] of rows) {
        const err = fs.readFileSync(path.join(tmp, `full-${free}.err`), 'utf8');
        expect(temps, `free ${free} KiB: temp files left`).to.equal(0);
        expect(runs, `free ${free} KiB: the store still lists its runs`).to.be.at.least(previousRuns);
        previousRuns = runs;
        if (rc === 0) continue;
        failures++;
        expect(rc, err).to.equal(2);
        expect(err).to.match(/^cl: error: cannot write results store .*db\.json.*: no space left on device \(ENOSPC\)$/m);
        expect(err).to.not.match(/internal error|\n\s+at /);
      }
      expect(failures, r.out).to.be.at.least(3); // the small gaps really failed
    });
  });
});
