import { expect } from 'chai';
import { stripVTControlCharacters as strip } from 'node:util';
import { renderChart } from '../../src/report/chart.js';
import { renderTable } from '../../src/report/table.js';
import { renderRun, renderRunList } from '../../src/report/terminal.js';
import { entryOf, isRunEntry } from '../../src/store/entries.js';
import { makeRun, WORKED_R } from './fixtures.js';

/** The value printed after a label on its own line of the summary block. */
function valueAfter(text: string, label: string): string {
  const line = text.split('\n').find((l) => l.trim().startsWith(label));
  expect(line, `line "${label}"`).to.be.a('string');
  return (line as string).slice((line as string).indexOf(label) + label.length).trim();
}

describe('report/terminal', () => {
  const run = makeRun({ id: 'abcdef1234567890', R: WORKED_R, seed: 7, method: 'wa', methodOptions: { lr: 0.1, epochs: 3 } });

  it('renderRun labels every metric unambiguously with the worked-matrix values (docs/protocols.md "Accuracy aggregates" to "Transfer")', () => {
    const out = strip(renderRun(run));
    expect(valueAfter(out, 'A_T (final accuracy)')).to.equal('75.00 %');
    expect(valueAfter(out, 'Ā (average incremental accuracy, first task included)')).to.equal('77.08 %');
    expect(valueAfter(out, 'F (max-prev, Chaudhry)')).to.equal('10.00');
    expect(valueAfter(out, 'F (max-all, Mammoth/PyCIL)')).to.equal('11.67');
    expect(valueAfter(out, 'F (first, Avalanche)')).to.equal('1.67');
    expect(valueAfter(out, 'BWT (GEM)')).to.equal('-1.67');
  });

  it('renderRun shows the header, the matrix (blank above the diagonal) and the per-increment table', () => {
    const out = strip(renderRun(run));
    expect(out).to.include('Run abcdef1234567890');
    expect(out).to.match(/method\s+wa epochs=3 lr=0\.1/);
    expect(out).to.match(/seed\s+7 \(trainSeed\)/);
    expect(out).to.include('split B0-Inc2');
    expect(out).to.match(/version\s+cl 0\.1\.0/);
    const matrixRow = out.split('\n').find((l) => l.startsWith('task 2 '));
    expect(matrixRow?.trim().split(/\s+/)).to.deep.equal(['task', '2', '90.0', '70.0']);
    const incRow = out.split('\n').find((l) => /^\s+3\s+4,5\s/.test(l));
    expect(incRow?.trim().split(/\s+/)).to.deep.equal(['3', '4,5', '6', '73.33', '80.00', '60.00', '1.0', 's', '250', 'ms']);
    expect(out).to.include('A_t (accuracy on all seen classes, %) per increment');
    expect(out).to.match(/[\u2801-\u28ff]/); // braille curve
  });

  it('renderRun of an unfinished run recomputes the summary and says it is partial', () => {
    const partial = makeRun({ id: 'p1', R: WORKED_R.slice(0, 3), tasks: 4, status: 'running', noSummary: true });
    const out = strip(renderRun(partial));
    expect(out).to.include('after 3 of 4 tasks');
    expect(valueAfter(out, 'A_T (final accuracy)')).to.equal('73.33 %');
    expect(valueAfter(out, 'F (max-prev, Chaudhry)')).to.equal('0.00');
  });

  it('renderRunList has one line per run with A_T, Ā and tasks done/total', () => {
    const other = makeRun({ id: '99998888aaaa', R: WORKED_R.slice(0, 2), tasks: 4, status: 'running', method: 'nmc' });
    const entries = [run, other].map((r) => entryOf(r, 1)).filter(isRunEntry);
    const out = strip(renderRunList(entries, { statusOf: (r) => (r.id === other.id ? 'interrupted' : r.status) }));
    const lines = out.split('\n');
    const l1 = lines.find((l) => l.startsWith('abcdef12'));
    const l2 = lines.find((l) => l.startsWith('99998888'));
    expect(l1).to.match(/finished\s+split-mnist B0-Inc2\s+wa\s+pixels\s+75\.00\s+77\.08\s+4\/4$/);
    expect(l2).to.match(/interrupted\s+split-mnist B0-Inc2\s+nmc\s+pixels\s+80\.00\s+80\.00\s+2\/4$/);
    expect(out).to.include('Ā = average incremental accuracy (first task included)');
    expect(strip(renderRunList([]))).to.include('no runs');
  });

  it('renderTable aligns columns by visible width, ignoring colour codes', () => {
    const out = renderTable(['a', 'bb'], [['\u001b[31mxx\u001b[39m', '1'], ['y', '22']]);
    const lines = strip(out).split('\n');
    expect(lines).to.deep.equal(['a   bb', '──────', 'xx   1', 'y   22']);
  });

  it('renderChart draws several series with a legend and axis ticks', () => {
    const out = strip(
      renderChart(
        [
          { name: 'alpha', points: [{ x: 1, y: 10 }, { x: 2, y: 20 }] },
          { name: 'beta (published)', dashed: true, points: [{ x: 1, y: 20 }, { x: 2, y: 10 }] },
        ],
        { yUnit: '%', width: 20, height: 5 },
      ),
    );
    expect(out).to.include('━━ alpha');
    expect(out).to.include('┄┄ beta (published)');
    expect(out).to.match(/^20%/m);
    expect(out).to.match(/^10%/m);
    expect(out.split('\n').filter((l) => l.includes('┤'))).to.have.length(5);
  });
});
