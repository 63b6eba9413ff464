/** cl export's content: CSV rows (RFC 4180, pandas-readable), the LaTeX table, a figure panel. */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compareRuns } from '../../src/report/compare.js';
import { comparisonLatex, csvField, incrementRows, latexEscape, lossRows, runRows, toCsv } from '../../src/report/export.js';
import { figureSpec, parseLength, subscriptText, writeFigure } from '../../src/report/figure.js';
import { UserError } from '../../src/errors.js';
import { makeRun } from './fixtures.js';

const a = makeRun({ id: 'run-a', method: 'wa', seed: 1, order: 'seed-1', R: [[90], [60, 80]], methodOptions: { lr: 0.1, tag: 'x,"y"' } });
const b = makeRun({ id: 'run-b', method: 'wa', seed: 2, order: 'seed-2', R: [[92], [62, 84]], methodOptions: { lr: 0.1, tag: 'x,"y"' } });
const c = makeRun({ id: 'run-c', method: 'nmc', R: [[80], [70, 60]] });
a.increments[1].taskIL = { accuracyRow: [95, 85], accuracy: 90, correctPerClass: {} };
a.increments[1].top5 = { accuracyRow: [99, 97], accuracy: 98, correctPerClass: {} };
a.increments[0].losses = { wa: [2.5, 1.25] };
a.increments[1].losses = { wa: [3, 2, 1] };

function parseCsv(text: string): string[][] {
  // A small RFC 4180 reader, independent of the writer.
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  return rows;
}

describe('report/export', () => {
  it('CSV per increment: one row per run × increment with every metric, R_j columns, option columns', () => {
    const text = toCsv(incrementRows([a, b, c]));
    const [head, ...rows] = parseCsv(text);
    expect(rows).to.have.length(6);
    const col = (name: string) => head.indexOf(name);
    for (const name of ['run_id', 'order', 'seed', 'task', 'seen_classes', 'accuracy', 'old_accuracy', 'new_accuracy', 'task_il_accuracy', 'top5_accuracy', 'forgetting_max_prev', 'forgetting_max_all', 'forgetting_first', 'R_1', 'R_2', 'final_loss', 'opt_lr', 'opt_tag']) {
      expect(col(name), name).to.be.at.least(0);
    }
    const a2 = rows.find((r) => r[col('run_id')] === 'run-a' && r[col('task')] === '2')!;
    expect(a2[col('accuracy')]).to.equal('70');
    expect(a2[col('old_accuracy')]).to.equal('60');
    expect(a2[col('R_1')]).to.equal('60');
    expect(a2[col('R_2')]).to.equal('80');
    expect(a2[col('forgetting_max_prev')]).to.equal('30'); // 90 − 60
    expect(a2[col('task_il_accuracy')]).to.equal('90');
    expect(a2[col('top5_accuracy')]).to.equal('98');
    expect(a2[col('final_loss')]).to.equal('1');
    expect(a2[col('opt_tag')]).to.equal('x,"y"'); // quoted and read back intact
    const a1 = rows.find((r) => r[col('run_id')] === 'run-a' && r[col('task')] === '1')!;
    expect(a1[col('R_2')]).to.equal(''); // above the diagonal: empty
    expect(a1[col('forgetting_max_prev')]).to.equal('');
    expect(rows.find((r) => r[col('run_id')] === 'run-c')![col('opt_lr')]).to.equal('');
    expect(csvField('a\nb')).to.equal('"a\nb"');
  });

  it('CSV per run and per epoch', () => {
    const [head, ...rows] = parseCsv(toCsv(runRows([a, c])));
    const col = (name: string) => head.indexOf(name);
    expect(rows.map((r) => r[col('final_accuracy')])).to.deep.equal(['70', '65']);
    expect(rows.map((r) => r[col('average_incremental_accuracy')])).to.deep.equal(['80', '72.5']);
    expect(rows[0][col('bwt')]).to.equal('-30');
    const losses = lossRows([a, c]);
    expect(losses.map((r) => [r.task, r.epoch, r.loss])).to.deep.equal([
      [1, 1, 2.5],
      [1, 2, 1.25],
      [2, 1, 3],
      [2, 2, 2],
      [2, 3, 1],
    ]);
  });

  it('pandas reads both CSVs (when python3 with pandas is installed)', function () {
    // Debian's python3-pandas lives under /usr/bin/python3, which a pyenv python3 may shadow.
    const python = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import pandas'], { encoding: 'utf8' }).status === 0);
    if (!python) this.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-export-'));
    try {
      fs.writeFileSync(path.join(dir, 'inc.csv'), toCsv(incrementRows([a, b, c])));
      fs.writeFileSync(path.join(dir, 'runs.csv'), toCsv(runRows([a, b, c])));
      const script = `
import pandas as pd, sys
inc = pd.read_csv(sys.argv[1] + '/inc.csv')
runs = pd.read_csv(sys.argv[1] + '/runs.csv')
a2 = inc[(inc.run_id == 'run-a') & (inc.task == 2)].iloc[0]
print(len(inc), len(runs), a2.accuracy, a2.R_2, a2.opt_tag, inc.groupby('method').accuracy.mean()['wa'], runs.final_accuracy.dtype)
`;
      const r = spawnSync(python!, ['-c', script, dir], { encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      // wa accuracy per increment: 90, 70, 92, 73 → 81.25; whole-number columns read as int64.
      expect(r.stdout.trim()).to.equal('6 3 70 80.0 x,"y" 81.25 int64');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('LaTeX: booktabs, mean ± std per group, the best of each column in bold, text escaped', () => {
    const tex = comparisonLatex(compareRuns([a, b, c]), { digits: 1 });
    expect(tex).to.include('\\toprule');
    expect(tex).to.include('\\midrule');
    expect(tex).to.include('\\bottomrule');
    const row = (label: string) => tex.split('\n').find((l) => l.startsWith(label))!;
    // wa: A_T 70, 73 → 71.5 ± 2.1; Ā 80, 82.5 → 81.3 ± 1.8; nmc: A_T 65, Ā 72.5.
    expect(row('wa')).to.include('$\\mathbf{71.5 \\pm 2.1}$');
    expect(row('wa')).to.include('$\\mathbf{81.3 \\pm 1.8}$');
    expect(row('nmc')).to.include('$65.0$');
    // Forgetting: lower is better (wa 30 and 30 → 30.0; nmc 10.0 bold).
    expect(row('nmc')).to.include('$\\mathbf{10.0}$');
    expect(row('wa & 2 &')).to.match(/^wa & 2 & /);
    expect(latexEscape('wa · lr=0.1_x & 50%')).to.equal('wa $\\cdot$ lr=0.1\\_x \\& 50\\%');
    expect(tex).to.match(/over class orders and seeds/);
  });

  it('figures: lengths in physical units, subscripts as tspans, one panel as PDF, SVG in pt and PNG', async () => {
    expect(parseLength('--width', '3.3in')).to.be.closeTo(237.6, 1e-9);
    expect(parseLength('--width', '85mm')).to.be.closeTo((85 / 25.4) * 72, 1e-9);
    expect(() => parseLength('--width', '3.3')).to.throw(UserError, /not a length/);
    expect(subscriptText('<text x="1">Accuracy A_t (%)</text><g aria-label="A_t"></g>')).to.equal(
      '<text x="1">Accuracy A<tspan baseline-shift="sub" font-size="70%">t</tspan> (%)</text><g aria-label="A_t"></g>',
    );
    const cmp = compareRuns([a, b, c]);
    const spec = figureSpec(cmp, { panel: 'accuracy', widthPt: 240 }) as unknown as { width: number; autosize: unknown; config: { axis: { labelFontSize: number } } };
    expect(spec.width).to.equal(240);
    expect(spec.config.axis.labelFontSize).to.equal(8);
    expect(() => figureSpec(compareRuns([c]), { panel: 'loss', widthPt: 240 })).to.throw(UserError, /no training losses/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-fig-'));
    try {
      await writeFigure(cmp, path.join(dir, 'f.pdf'), { panel: 'accuracy', widthPt: 240 });
      const pdf = fs.readFileSync(path.join(dir, 'f.pdf'));
      expect(pdf.subarray(0, 5).toString()).to.equal('%PDF-');
      const box = /\/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]/.exec(pdf.toString('latin1'));
      expect(Number(box![1])).to.be.closeTo(240, 1);
      await writeFigure(cmp, path.join(dir, 'f.svg'), { panel: 'loss', widthPt: 240 });
      const svg = fs.readFileSync(path.join(dir, 'f.svg'), 'utf8');
      expect(svg).to.match(/<svg[^>]*width="240pt"/);
      expect(svg).to.not.include('>series<');
      await writeFigure(cmp, path.join(dir, 'f.png'), { panel: 'forgetting', widthPt: 240, dpi: 144 });
      const png = fs.readFileSync(path.join(dir, 'f.png'));
      expect(png.readUInt32BE(16)).to.equal(480); // 240 pt at 144 dpi
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
