/**
 * Names from outside (here: an ONNX output name carrying a window-title OSC sequence, BEL and a
 * clear-screen CSI) never reach the terminal or an SVG/HTML report raw: every terminal renderer
 * shows control characters as visible escapes, and the plots stay valid XML (the PNG export parses
 * the SVG). Runs the built CLI on a real tiny ONNX model.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { cl, requireBuild, type ClResult } from './child.js';
import { flatFeaturesModel } from '../backbones/tiny-onnx.js';

/** C0 controls other than tab/newline, DEL and C1: what must never be printed raw (NO_COLOR is set, so cl prints no ESC of its own). */
// eslint-disable-next-line no-control-regex -- finding raw control characters is the point
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
const NAME = 'feat\u001b]0;pwned\u0007\u001b[2J';
const SHOWN = 'feat\\x1b]0;pwned\\x07\\x1b[2J';

function expectClean(r: ClResult, what: string): void {
  expect(RAW_CONTROL.test(r.stdout), `${what}: raw control character on stdout: ${JSON.stringify(r.stdout.slice(0, 400))}`).to.equal(false);
  expect(RAW_CONTROL.test(r.stderr), `${what}: raw control character on stderr: ${JSON.stringify(r.stderr.slice(0, 400))}`).to.equal(false);
}

describe('untrusted text on display (child process)', function () {
  this.timeout(300_000);
  let tmp: string;
  let env: Record<string, string>;
  let store: string;
  let backbone: string;

  before(function () {
    requireBuild();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-untrusted-'));
    env = { CL_CACHE_DIR: path.join(tmp, 'cache') };
    store = path.join(tmp, 'db.json');
    const model = path.join(tmp, 'flat.onnx');
    fs.writeFileSync(model, flatFeaturesModel('Identity', 28, 28, NAME));
    backbone = `onnx:${model}#${NAME}`;
  });

  after(function () {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('shows an escape-laden ONNX output name as visible escapes in run, show, ls, compare and cache ls, and keeps SVG/PNG/HTML valid', async function () {
    const run = await cl(['run', 'split-mnist-mini', '-m', 'nmc', '--backbone', backbone, '--store', store], { env });
    expect(run.code, run.stderr).to.equal(0);
    expectClean(run, 'cl run');
    expect(run.stderr).to.include(SHOWN); // the stage line naming the backbone
    expect(run.stdout).to.include(SHOWN); // the record's backbone id
    // A second run on another backbone, so that compare labels its groups by backbone.
    const pixels = await cl(['run', 'split-mnist-mini', '-m', 'nmc', '--quiet', '--store', store], { env });
    expect(pixels.code, pixels.stderr).to.equal(0);
    const listed = await cl(['ls', '--json', '--store', store], { env });
    const id = (JSON.parse(listed.stdout) as { id: string; backbone: { id: string } }[]).find((r) => r.backbone.id.includes('pwned'))!.id;

    const svg = path.join(tmp, 'plot.svg');
    const png = path.join(tmp, 'plot.png');
    const html = path.join(tmp, 'report.html');
    const [show, ls, cmp, cmpPng, cacheLs, json] = await Promise.all([
      cl(['show', id, '--store', store], { env }),
      cl(['ls', '--store', store], { env }),
      cl(['compare', '--store', store, '--plot', svg, '--html', html], { env }),
      cl(['compare', '--store', store, '--plot', png], { env }),
      cl(['cache', 'ls'], { env }),
      cl(['show', id, '--json', '--store', store], { env }),
    ]);
    for (const [what, r] of [['show', show], ['ls', ls], ['compare', cmp], ['compare --plot png', cmpPng], ['cache ls', cacheLs]] as const) {
      expect(r.code, `${what}: ${r.stderr}`).to.equal(0);
      expectClean(r, what);
    }
    expect(show.stdout).to.include(`#${SHOWN}`);
    expect(ls.stdout).to.include('pwned');
    expect(cmp.stdout).to.include(SHOWN);
    expect(cacheLs.stdout).to.include(SHOWN);
    // JSON keeps the stored value exactly (JSON escapes control characters itself).
    expect((JSON.parse(json.stdout) as { backbone: { id: string } }).backbone.id).to.include(NAME);
    // The SVG is XML 1.0 (no control characters) and names the backbone visibly; the PNG parsed it.
    const svgText = fs.readFileSync(svg, 'utf8');
    expect(RAW_CONTROL.test(svgText)).to.equal(false);
    expect(svgText).to.include('pwned');
    expect(fs.readFileSync(png).subarray(1, 4).toString()).to.equal('PNG');
    const htmlText = fs.readFileSync(html, 'utf8');
    expect(RAW_CONTROL.test(htmlText.replace(/<script>[\s\S]*?<\/script>/, ''))).to.equal(false);
    expect(htmlText).to.include('pwned');
  });

  it('shows escape-laden class folder and image file names of an image folder as visible escapes (run, error, show, compare --html)', async function () {
    const CLASS = 'ro\u001b]0;pwned\u0007se';
    const BAD = 'b\u001b[2Jad.png';
    const dir = path.join(tmp, 'folder');
    for (const [split, n] of [['train', 2], ['test', 1]] as const) {
      for (const [c, name] of ['daisy', CLASS].entries()) {
        fs.mkdirSync(path.join(dir, split, name), { recursive: true });
        for (let i = 0; i < n; i++) {
          const px = Buffer.alloc(4 * 4 * 3, c === 0 ? 30 + i : 220 - i);
          await sharp(px, { raw: { width: 4, height: 4, channels: 3 } }).png().toFile(path.join(dir, split, name, `${i}.png`));
        }
      }
    }
    fs.writeFileSync(path.join(dir, 'train', 'daisy', BAD), 'not an image');
    const st = path.join(tmp, 'folder-db.json');
    const args = ['run', `imagefolder:${dir}`, '--increment', '1', '-m', 'nmc', '--backbone', 'pixels', '--resize', 'none', '--store', st];
    const strict = await cl(args, { env });
    expect(strict.code, strict.stderr).to.equal(2);
    expectClean(strict, 'unreadable image error');
    expect(strict.stderr).to.match(/^cl: error: cannot decode image .*daisy\/b\\x1b\[2Jad\.png/m);
    const run = await cl([...args, '--skip-bad-images'], { env });
    expect(run.code, run.stderr).to.equal(0);
    expectClean(run, 'cl run imagefolder');
    expect(run.stderr).to.include('daisy/b\\x1b[2Jad.png'); // the stage line naming the image left out
    const id = (JSON.parse((await cl(['ls', '--json', '--store', st], { env })).stdout) as { id: string }[])[0].id;
    const html = path.join(tmp, 'folder.html');
    const [show, cmp] = await Promise.all([cl(['show', id, '--store', st], { env }), cl(['compare', '--store', st, '--html', html], { env })]);
    for (const [what, r] of [['show', show], ['compare --html', cmp]] as const) {
      expect(r.code, `${what}: ${r.stderr}`).to.equal(0);
      expectClean(r, what);
    }
    expect(show.stdout).to.include('1 ro\\x1b]0;pwned\\x07se'); // the class name in the per-increment table
    expect(show.stdout).to.include('train/daisy/b\\x1b[2Jad.png'); // the image left out
    const htmlText = fs.readFileSync(html, 'utf8');
    expect(RAW_CONTROL.test(htmlText.replace(/<script>[\s\S]*?<\/script>/, ''))).to.equal(false);
    expect(htmlText).to.include('pwned');
  });

  it('shows the name as visible escapes in an error message too', async function () {
    const r = await cl(['run', 'split-mnist-mini', '-m', 'nmc', '--store', store, '--backbone', `${backbone.split('#')[0]}#no\u001b[2Jsuch`], { env });
    expect(r.code, r.stderr).to.equal(2);
    expectClean(r, 'error');
    expect(r.stderr).to.match(/^cl: error: .*no output named "no\\x1b\[2Jsuch"/m);
    expect(r.stderr).to.include(SHOWN); // the hint lists the available outputs
  });
});
