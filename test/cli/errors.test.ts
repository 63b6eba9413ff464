/**
 * User errors through the built CLI: every one is ONE `cl: error:` line (plus a `hint:` line),
 * exit code 2, at once, whatever the command, including the parse errors commander itself raises
 * (unknown option, invalid choice, missing argument), and inputs that used to hang, crash or write
 * into the current folder. Also: every `cl ...` command a hint or message names exists.
 */
import { expect } from 'chai';
import type { Command } from 'commander';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildProgram } from '../../src/cli/program.js';
import { cl, requireBuild, root, type ClResult } from './child.js';

type Result = ClResult;

/** Exit 2; stderr is exactly `cl: error: ...` and `hint: ...` (no commander `error:`, no stack). */
function expectOneLineError(r: Result, pattern: RegExp, what: string): void {
  expect(r.code, `${what}: exit code (stderr: ${r.stderr})`).to.equal(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines[0], what).to.match(/^cl: error: /);
  expect(lines[0], what).to.match(pattern);
  expect(lines.length, `${what}: ${r.stderr}`).to.equal(2);
  expect(lines[1], what).to.match(/^hint: \S/);
}

describe('cl user errors (child process)', function () {
  this.timeout(300_000);
  let tmp: string;
  let store: string;
  let env: Record<string, string>;

  before(function () {
    requireBuild();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-errors-'));
    store = path.join(tmp, 'db.json');
    env = { CL_CACHE_DIR: path.join(tmp, 'cache') };
  });

  after(function () {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('reports an unknown option as one `cl: error:` line with exit 2, for every command', async function () {
    const commands: string[][] = [
      ['run', 'split-mnist-mini', '-m', 'nmc'],
      ['resume', 'abc'],
      ['compat', 'split-mnist-mini', '--method', 'oca', '--steps', '2'],
      ['ls'],
      ['show', 'abc'],
      ['compare'],
      ['cache', 'ls'],
      ['cache', 'rm', 'x'],
      ['rm', 'abc'],
      ['export', 'csv'],
      ['export', 'latex'],
      ['export', 'figure', '-o', 'x.svg'],
      ['backbones'],
      ['scenarios'],
      ['methods'],
      ['datasets'],
    ];
    const results = await Promise.all(commands.map((c) => cl([...c, '--no-such-option', '--store', store], { env })));
    for (const [k, c] of commands.entries()) {
      const r = results[k];
      expectOneLineError(r, /unknown option '--no-such-option'/, c.join(' '));
      const name = c[0] === 'cache' || c[0] === 'export' ? `${c[0]} ${c[1]}` : c[0];
      expect(r.stderr, c.join(' ')).to.include(`hint: see \`cl ${name} --help\``);
    }
  });

  it('reports invalid choices, unknown commands and missing arguments the same way', async function () {
    const cases: [string[], RegExp][] = [
      [['run', 'split-mnist-mini', '-m', 'nmc', '--backend', 'bogus', '--store', store], /--backend.*'bogus' is invalid.*auto, tensorflow, wasm, wasm-mlas, cpu/],
      [['compare', '--forgetting', 'bogus', '--store', store], /--forgetting.*'bogus' is invalid.*max-prev/],
      [['bogus'], /unknown command 'bogus'/],
      [['run', 'split-mnist-mini', '-m', 'nmc', '--backbone', 'resnet:x', '--store', store], /backbone "resnet:x": unknown backbone kind "resnet"/],
      [['run', 'split-mnist-mini'], /cl run needs --method/],
      [['show'], /missing required argument 'id'/],
      [['ls', 'extra'], /too many arguments/],
      [['cache'], /`cl cache` needs a command: ls, rm/],
      [[], /`cl` needs a command: .*run.*scenarios/],
    ];
    const results = await Promise.all(cases.map(([args]) => cl(args, { env })));
    cases.forEach(([args, pattern], k) => expectOneLineError(results[k], pattern, args.join(' ') || '(none)'));
    // cl sweep passes further options on to its runs: they are checked before any run starts.
    const sweepStore = path.join(tmp, 'sweep-db.json');
    const sweep = await cl(['sweep', 'split-mnist-mini', '--methods', 'nmc,wa', '--set', 'lr=abc', '--store', sweepStore, '--workers', '1'], { env });
    expectOneLineError(sweep, /^cl: error: wa --lr must be a number > 0, got "abc"/, 'sweep --set lr=abc');
    const sweepOpt = await cl(['sweep', 'split-mnist-mini', '--methods', 'nmc', '--no-such-option', '1', '--store', sweepStore], { env });
    expectOneLineError(sweepOpt, /cl sweep: --no-such-option is not an option of cl run or of the methods nmc/, 'sweep --no-such-option');
    expect(fs.existsSync(sweepStore), 'no run started').to.equal(false);
    // Help and version are not errors.
    expect((await cl(['run', '--help'])).code).to.equal(0);
    expect((await cl(['--version'])).code).to.equal(0);
  });

  it('refuses an empty --cache-dir (and --store, --data-dir) instead of writing into the current folder', async function () {
    const cwd = fs.mkdtempSync(path.join(tmp, 'cwd-'));
    for (const flag of ['--cache-dir', '--store', '--data-dir']) {
      const args = ['run', 'split-mnist-mini', '-m', 'nmc', '--quiet', ...(flag === '--store' ? [] : ['--store', store]), flag, ''];
      expectOneLineError(await cl(args, { cwd, env }), new RegExp(`${flag} is empty`), flag);
    }
    expect(fs.readdirSync(cwd), 'nothing written into the current folder').to.deep.equal([]);
  });

  it('refuses a cache root that is not a folder before extracting anything', async function () {
    const r = await cl(['run', 'split-mnist-mini', '-m', 'nmc', '--store', store, '--cache-dir', '/dev/null']);
    expectOneLineError(r, /--cache-dir \/dev\/null is not a folder/, '--cache-dir /dev/null');
    const e = await cl(['run', 'split-mnist-mini', '-m', 'nmc', '--store', store], { env: { CL_CACHE_DIR: '/dev/null' } });
    expectOneLineError(e, /cache root \/dev\/null \(CL_CACHE_DIR\) is not a folder/, 'CL_CACHE_DIR=/dev/null');
    expect(e.stderr).not.to.match(/features/);
    expect((await cl(['cache', 'ls', '--cache-dir', '/dev/null'])).code).to.equal(2);
  });

  it('names the file and the cause of an environment error (a file where a folder should be) instead of an internal error', async function () {
    const file = path.join(tmp, 'a-file');
    fs.writeFileSync(file, 'x');
    const r = await cl(['run', 'split-mnist-mini', '-m', 'nmc', '--quiet', '--store', store], { env: { CL_CACHE_DIR: path.join(file, 'sub') } });
    expectOneLineError(r, /a-file/, 'cache root below a file');
    expect(r.stderr).not.to.match(/internal error/);
    const s = await cl(['run', 'split-mnist-mini', '-m', 'nmc', '--quiet', '--store', path.join(file, 'db.json')], { env });
    expect(s.code, s.stderr).to.equal(2);
    expect(s.stderr).to.match(/^cl: error: .*a-file/m);
    expect(s.stderr).not.to.match(/internal error/);
  });

  it('rejects /dev/zero and a deeply nested JSON file as a scenario at once', async function () {
    const fresh = path.join(tmp, 'fresh-db.json');
    const z = await cl(['run', '/dev/zero', '-m', 'nmc', '--store', fresh], { env, timeout: 30_000 });
    expectOneLineError(z, /scenario \/dev\/zero is not a regular file/, '/dev/zero');
    const deep = path.join(tmp, 'deep.json');
    fs.writeFileSync(deep, `{"name": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    const d = await cl(['run', deep, '-m', 'nmc', '--store', fresh], { env, timeout: 30_000 });
    expectOneLineError(d, /nests 100001 levels deep/, 'deep JSON');
    expect(fs.existsSync(fresh), 'no store written').to.equal(false);
  });

  it("validates a scenario's class count against the dataset before any work", async function () {
    const fresh = path.join(tmp, 'classes-db.json');
    const cache = path.join(tmp, 'classes-cache');
    const scenario = (numClasses: number, extra: Record<string, unknown> = {}): string => {
      const f = path.join(tmp, `classes-${numClasses}-${Object.keys(extra).join('')}.json`);
      fs.writeFileSync(f, JSON.stringify({ name: 't', description: 'd', dataset: 'mnist-embedded', numClasses, split: 'B0-Inc2', order: 'natural', backbone: 'pixels', ...extra }));
      return f;
    };
    const [more, fewer, subset] = await Promise.all([
      cl(['run', scenario(12), '-m', 'nmc', '--store', fresh, '--cache-dir', cache]),
      cl(['run', scenario(6), '-m', 'nmc', '--store', fresh, '--cache-dir', cache]),
      cl(['run', scenario(6, { subset: true }), '-m', 'nmc', '--quiet', '--json', '--store', fresh, '--cache-dir', cache]),
    ]);
    expectOneLineError(more, /numClasses is 12 but dataset mnist-embedded has 10 classes/, 'more');
    expectOneLineError(fewer, /numClasses is 6 but dataset mnist-embedded has 10 classes, so 4 classes would be left out/, 'fewer');
    expect(subset.code, subset.stderr).to.equal(0);
    const rec = JSON.parse(subset.stdout) as { scenario: { taskClasses: number[][] } };
    expect(rec.scenario.taskClasses).to.deep.equal([[0, 1], [2, 3], [4, 5]]);
  });

  it('names only commands that exist in its hints and messages (`cl <command> [--option]`)', async function () {
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(d, e.name));
        else if (e.name.endsWith('.ts')) files.push(path.join(d, e.name));
      }
    };
    walk(path.join(root, 'src'));
    const mentions = new Map<string, string>();
    for (const f of files) {
      const text = fs.readFileSync(f, 'utf8');
      for (const m of text.matchAll(/\\?`cl((?: [^`\\$]*)?)\\?`/g)) {
        const words = m[1].trim().split(/\s+/).filter(Boolean);
        if (words.length === 0 || !/^[a-z]+$/.test(words[0])) continue;
        mentions.set(words.join(' '), path.relative(root, f));
      }
    }
    expect(mentions.size).to.be.greaterThan(10);
    const program = await buildProgram();
    const find = (parent: Command, name: string): Command | undefined => parent.commands.find((c) => c.name() === name);
    for (const [mention, file] of mentions) {
      const words = mention.split(' ');
      let cmd = find(program, words[0]);
      expect(cmd, `\`cl ${mention}\` in ${file}: no command "${words[0]}"`).to.not.equal(undefined);
      let rest = words.slice(1);
      if (cmd!.commands.length > 0 && rest.length > 0 && !rest[0].startsWith('-')) {
        const subs = rest[0].split('|');
        for (const sub of subs) expect(find(cmd!, sub), `\`cl ${mention}\` in ${file}: no command "${words[0]} ${sub}"`).to.not.equal(undefined);
        cmd = find(cmd!, subs[0]);
        rest = rest.slice(1);
      }
      const c = cmd!;
      const longs = [...c.options.map((o) => o.long), '--help'];
      const args = c.registeredArguments;
      const variadic = args.some((a) => a.variadic);
      const positional: string[] = [];
      for (let i = 0; i < rest.length; i++) {
        const w = rest[i];
        if (w.startsWith('--')) {
          expect(longs, `\`cl ${mention}\` in ${file}: \`cl ${c.name()}\` has no option ${w}`).to.include(w.split('=')[0]);
          if (i + 1 < rest.length && !rest[i + 1].startsWith('-')) i++; // its value
        } else if (!w.startsWith('-') && w !== '...' && w !== '|' && w !== 'head') positional.push(w);
      }
      if (!variadic) expect(positional.length, `\`cl ${mention}\` in ${file}: \`cl ${c.name()}\` takes ${args.length} argument(s)`).to.be.at.most(args.length);
    }
  });
});
