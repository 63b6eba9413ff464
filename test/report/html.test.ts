import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { loadBaselines, matchingBaselines } from '../../src/report/baselines.js';
import { compareRuns } from '../../src/report/compare.js';
import { escapeHtml, renderHtml, writeHtml } from '../../src/report/html.js';
import { makeRun } from './fixtures.js';

const CHROMIUM = '/usr/bin/chromium';

function cifarRun(id: string, seed: number, method: string, offset: number, methodOptions: Record<string, unknown> = {}) {
  const R = Array.from({ length: 10 }, (_, t) => Array.from({ length: t + 1 }, (_, j) => 96 - 1.5 * t - 0.5 * j + offset));
  return makeRun({ id, R, seed, method, methodOptions, scenario: 'split-cifar100', dataset: 'cifar100', split: 'B0-Inc10', order: 'icarl-1993', backbone: 'vit-b16-in21k', classesPerTask: 10 });
}

describe('report/html', function () {
  this.timeout(90_000);
  // A_T: 96 − 13.5 − mean(0..4.5) = 80.25 + offset → 80.25 and 76.25 (seeds 1, 2) → 78.25 ± 2.83
  const runs = [cifarRun('run-a1', 1, 'wa', 0, { note: '<script>alert(1)</script>' }), cifarRun('run-a2', 2, 'wa', -4, { note: '<script>alert(1)</script>' }), cifarRun('run-n1', 1, 'nmc', 2)];
  const cmp = compareRuns(runs, { baselines: matchingBaselines(loadBaselines(), runs) });

  it('escapes every record text (no raw markup from a record reaches the page)', () => {
    const html = renderHtml(cmp, { title: 'A & B <test>' });
    expect(html).to.include('<title>A &amp; B &lt;test&gt;</title>');
    expect(html).to.not.include('<script>alert(1)</script>');
    expect(html).to.include('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(escapeHtml(`"'<>&`)).to.equal('&quot;&#39;&lt;&gt;&amp;');
    // self-contained: no external scripts or stylesheets
    expect(html).to.not.match(/<script[^>]+src=/);
    expect(html).to.not.match(/<link[^>]+stylesheet/);
  });

  describe('in a real headless browser', () => {
    let browser: Browser | undefined;
    let dir = '';

    before(async function () {
      if (!fs.existsSync(CHROMIUM)) {
        if (process.env.CI) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (CI requires the browser test)`);
        this.skip();
      }
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-html-'));
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      });
    });

    after(async () => {
      await browser?.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('opens from disk with no console errors, shows the table, one chart per curve kind and a heatmap per run', async () => {
      const file = path.join(dir, 'report.html');
      writeHtml(cmp, file);
      const page = await (browser as Browser).newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) requests.push(r.url());
      });
      await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
      // (string expressions: the test project compiles without the DOM lib)
      await page.waitForFunction(`document.querySelectorAll('.chart[data-curve] svg .role-mark').length >= 3`, undefined, { timeout: 20_000 });

      const rows = await page.$$eval('table#summary tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
      const wa = rows.find((r) => r[0].startsWith('wa'));
      // group, n, orders, seeds, tasks, A_T, Ā, …
      expect(wa?.slice(1, 7)).to.deep.equal(['2', 'icarl-1993', '1, 2', '10', '78.25 ± 2.83', '86.13 ± 2.83']);
      const nmc = rows.find((r) => r[0].startsWith('nmc'));
      expect(nmc?.[5]).to.equal('82.25');
      const pub = rows.find((r) => r[0] === 'SimpleCIL (APER) (published)');
      expect(pub?.slice(5, 7)).to.deep.equal(['81.28†', '87.13†']);

      const charts = await page.$$eval('.chart[data-curve]', (els) => els.map((el) => ({ kind: el.getAttribute('data-curve'), svgs: el.querySelectorAll('svg').length, text: el.textContent ?? '' })));
      expect(charts.map((c) => c.kind)).to.deep.equal(['accuracy', 'forgetting', 'per-task']);
      for (const c of charts) expect(c.svgs, c.kind ?? '').to.equal(1);
      expect(charts[0].text).to.include('SimpleCIL (APER) (published)');
      expect(charts[0].text).to.include('Accuracy A\u209c (%)'); // drawn with a Unicode subscript t
      expect(charts[1].text).to.include('Forgetting F\u209c (%)');
      expect(charts[2].text).to.include('Task j');

      expect(await page.$$eval('table.heatmap', (t) => t.map((x) => x.getAttribute('data-run')))).to.deep.equal(['run-a1', 'run-a2', 'run-n1']);
      const firstCell = (await page.evaluate(
        `(() => { const td = document.querySelector('table.heatmap[data-run="run-a1"] tbody tr td'); return [td.textContent, getComputedStyle(td).backgroundColor]; })()`,
      )) as string[];
      expect(firstCell[0]).to.equal('96.0');
      expect(firstCell[1]).to.match(/^rgb\(/);
      expect(await page.$$eval('details pre', (p) => p.length)).to.equal(3);

      const shot = path.join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(fs.statSync(shot).size).to.be.greaterThan(20_000);
      expect(errors).to.deep.equal([]);
      expect(requests).to.deep.equal([]);
      await page.close();
    });
  });
});
