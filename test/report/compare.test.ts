import { expect } from 'chai';
import { stripVTControlCharacters as strip } from 'node:util';
import { UserError } from '../../src/errors.js';
import { comparisonJson, compareRuns, groupRuns, renderComparison, selectRuns } from '../../src/report/compare.js';
import { makeRun, WORKED_R } from './fixtures.js';

/** A 2-task matrix whose A_T (mean of the last row) is `aT`. */
const twoTasks = (aT: number, first = 90): number[][] => [[first], [aT + 5, aT - 5]];

describe('report/compare', () => {
  const a1 = makeRun({ id: 'aaaa0001', R: twoTasks(70), seed: 1, method: 'wa', methodOptions: { lr: 0.1 }, createdAt: '2026-01-01T00:00:01Z', learnMs: 1000 });
  const a2 = makeRun({ id: 'aaaa0002', R: twoTasks(74), seed: 2, method: 'wa', methodOptions: { lr: 0.1 }, createdAt: '2026-01-01T00:00:02Z', learnMs: 3000 });
  const b1 = makeRun({ id: 'bbbb0001', R: twoTasks(60), seed: 1, method: 'wa', methodOptions: { lr: 0.01 }, createdAt: '2026-01-01T00:00:03Z' });
  const n1 = makeRun({ id: 'cccc0001', R: twoTasks(80), seed: 1, method: 'nmc', createdAt: '2026-01-01T00:00:04Z' });
  const all = [a1, a2, b1, n1];

  it('aggregates A_T 70 and 74 into 72 ± 2.828 (sample std)', () => {
    const cmp = compareRuns([a1, a2]);
    expect(cmp.groups).to.have.length(1);
    const g = cmp.groups[0];
    expect(g.finalAccuracy?.mean).to.equal(72);
    expect(g.finalAccuracy?.std).to.be.closeTo(2.8284271, 1e-6);
    // Ā = (90 + 70) / 2 and (90 + 74) / 2
    expect(g.averageIncrementalAccuracy?.mean).to.equal(81);
    expect(g.averageIncrementalAccuracy?.std).to.be.closeTo(Math.SQRT2, 1e-12);
    // wall time: 2 × (learn + 250 ms eval) per run → 2500 and 6500 ms
    expect(g.wallMs?.mean).to.equal(4500);
    expect(g.seeds).to.deep.equal([1, 2]);
  });

  it('groups runs that share everything but the seed; options, method and backbone split groups', () => {
    const groups = groupRuns([...all, makeRun({ id: 'dddd0001', R: twoTasks(70), seed: 3, method: 'wa', methodOptions: { lr: 0.1 }, backbone: 'other' })]);
    expect(groups.map((g) => g.runs.map((r) => r.id))).to.deep.equal([['aaaa0001', 'aaaa0002'], ['bbbb0001'], ['cccc0001'], ['dddd0001']]);
    expect(groups.map((g) => g.label)).to.deep.equal(['wa · lr=0.1 · pixels', 'wa · lr=0.01 · pixels', 'nmc · pixels', 'wa · lr=0.1 · other']);
  });

  it('option order does not split a group, nor does a different class order (aggregated over orders and seeds)', () => {
    const x = makeRun({ id: 'x1', R: twoTasks(70), seed: 1, method: 'wa', methodOptions: { lr: 0.1, epochs: 2 } });
    const y = makeRun({ id: 'x2', R: twoTasks(72), seed: 2, method: 'wa', methodOptions: { epochs: 2, lr: 0.1 } });
    const z = makeRun({ id: 'x3', R: twoTasks(72), seed: 3, method: 'wa', methodOptions: { epochs: 2, lr: 0.1 }, order: 'seed:5' });
    expect(groupRuns([x, y, z]).map((g) => g.runs.length)).to.deep.equal([3]);
    expect(groupRuns([x, y, z], ['order']).map((g) => g.runs.length)).to.deep.equal([2, 1]);
  });

  it('forgetting uses the chosen definition; curves are per increment and per task', () => {
    const w = makeRun({ id: 'w1', R: WORKED_R, seed: 1 });
    const prev = compareRuns([w]).groups[0];
    expect(prev.forgetting?.mean).to.be.closeTo(10, 1e-9);
    expect(prev.forgetting?.std).to.equal(null);
    expect(prev.forgettingCurve.map((p) => [p.task, p.stat.mean])).to.deep.equal([[2, -10], [3, 0], [4, 10]]);
    const all2 = compareRuns([w], { forgetting: 'max-all' }).groups[0];
    expect(all2.forgetting?.mean).to.be.closeTo(11.6667, 1e-4);
    expect(compareRuns([w], { forgetting: 'first' }).groups[0].forgetting?.mean).to.be.closeTo(1.6667, 1e-4);
    expect(prev.bwt?.mean).to.be.closeTo(-1.6667, 1e-4);
    expect(prev.accuracyCurve.map((p) => [p.seenClasses, Number(p.stat.mean.toFixed(2))])).to.deep.equal([[2, 80], [4, 80], [6, 73.33], [8, 75]]);
    // per-task curve of task 1: R[t][1] for t = 1..4
    expect(prev.perTask[0].points.map((p) => p.stat.mean)).to.deep.equal([80, 90, 75, 60]);
    expect(prev.perTask[3].points.map((p) => [p.task, p.stat.mean])).to.deep.equal([[4, 95]]);
  });

  it('selects by id prefix, by filters, and the last N', () => {
    expect(selectRuns(all, { ids: ['bbbb', 'aaaa0002'] }).map((r) => r.id)).to.deep.equal(['aaaa0002', 'bbbb0001']);
    expect(selectRuns(all, { method: 'wa' }).map((r) => r.id)).to.deep.equal(['aaaa0001', 'aaaa0002', 'bbbb0001']);
    expect(selectRuns(all, { method: 'wa', last: 2 }).map((r) => r.id)).to.deep.equal(['aaaa0002', 'bbbb0001']);
    expect(selectRuns(all, { scenario: 'split-mnist', backbone: 'pixels' })).to.have.length(4);
  });

  it('without ids takes finished runs only; bad ids and empty selections are user errors', () => {
    const running = makeRun({ id: 'eeee0001', R: twoTasks(50), status: 'running', tasks: 3 });
    expect(selectRuns([...all, running], {}).map((r) => r.id)).to.not.include('eeee0001');
    expect(selectRuns([...all, running], { ids: ['eeee'] }).map((r) => r.id)).to.deep.equal(['eeee0001']);
    expect(() => selectRuns(all, { ids: ['zzzz'] })).to.throw(UserError, /no run with id "zzzz"/);
    expect(() => selectRuns(all, { ids: ['aaaa'] })).to.throw(UserError, /ambiguous/);
    expect(() => selectRuns(all, { method: 'oca' })).to.throw(UserError, /--method oca/);
  });

  it('renders a labelled table (mean ± std, single runs without ±) and a legend', () => {
    const out = strip(renderComparison(compareRuns(all)));
    const row = (label: string) => out.split('\n').find((l) => l.startsWith(label)) ?? '';
    expect(row('wa · lr=0.1')).to.match(/\s2\s+natural\s+1,2\s+2\s+72\.00 ± 2\.83\s+81\.00 ± 1\.41\s/);
    expect(row('nmc')).to.match(/\s1\s+natural\s+1\s+2\s+80\.00\s+85\.00\s/);
    expect(row('nmc')).to.not.include('±');
    expect(out).to.include('A_T (final accuracy)');
    expect(out).to.include('Ā (average incremental accuracy, first task included)');
    expect(out).to.include('F[max-prev] = F (max-prev, Chaudhry)');
    expect(out).to.include('━━ wa · lr=0.01');
  });

  it('--json form lists run ids and labelled metric names', () => {
    const j = comparisonJson(compareRuns([a1, a2])) as { groups: { runs: string[]; finalAccuracy: { mean: number } }[]; metrics: Record<string, string> };
    expect(j.groups[0].runs).to.deep.equal(['aaaa0001', 'aaaa0002']);
    expect(j.groups[0].finalAccuracy.mean).to.equal(72);
    expect(j.metrics.forgetting).to.equal('F (max-prev, Chaudhry)');
    expect(JSON.parse(JSON.stringify(j))).to.deep.equal(j);
  });
});
