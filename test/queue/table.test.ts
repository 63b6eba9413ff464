/** The live table of a queued sweep: counts, ETA, rows, and the in-place redraw on a terminal. */
import { expect } from 'chai';
import { counts, estimateSeconds, LiveBlock, renderTable, statusLine, type CellView } from '../../src/queue/table.js';

const cells: CellView[] = [
  { label: 'nmc', phase: 'done', done: 10, tasks: 10, attempt: 1 },
  { label: 'wa seed=1', phase: 'running', done: 4, tasks: 10, worker: 'w1', attempt: 1, since: 1_000_000 },
  { label: 'wa seed=2', phase: 'running', done: 2, tasks: 10, worker: 'w2', attempt: 2, since: 1_030_000 },
  { label: 'replay seed=1', phase: 'queued', done: 0, tasks: 10, attempt: 0 },
  { label: 'replay seed=2', phase: 'retry', done: 0, tasks: 10, attempt: 1 },
  { label: 'joint', phase: 'failed', done: 3, tasks: 10, attempt: 3 },
];

describe('queue/table', () => {
  it('counts queued (incl. waiting for a retry), running, done, failed', () => {
    expect(counts(cells)).to.deep.equal({ queued: 2, running: 2, done: 1, failed: 1 });
  });

  it('ETA = increments left / increments per second so far', () => {
    // Left: 6 + 8 + 10 + 10 = 34 increments; 17 seen in 85 s = 0.2 per second → 170 s.
    expect(estimateSeconds(cells, 17, 85)).to.be.closeTo(170, 1e-9);
    expect(estimateSeconds(cells, 0, 85)).to.equal(null);
  });

  it('the status line and one row per running job', () => {
    const v = { id: 's0123456789ab', cells, etaSeconds: 170, redisDownSince: null };
    expect(statusLine(v, 0)).to.equal('sweep s0123456789ab: 6 runs · 2 queued · 2 running · 1 done · 1 failed · ETA 2 min 50 s');
    expect(statusLine({ ...v, redisDownSince: 1_000 }, 13_000)).to.match(/ · redis unreachable for 12 s, reconnecting$/);
    const lines = renderTable(v, 1_090_000, 10);
    expect(lines).to.deep.equal([
      statusLine(v, 1_090_000),
      '  wa seed=1  task  4/10  w1  1 min 30 s',
      '  wa seed=2  task  2/10  w2  1 min 00 s  attempt 2',
    ]);
    expect(renderTable(v, 1_090_000, 1)).to.have.length(3).and.include('  … and 1 more running');
  });

  it('LiveBlock redraws in place: log lines go above the block', () => {
    let out = '';
    const stream = { columns: 20, write: (s: string) => (out += s) } as unknown as NodeJS.WriteStream;
    const block = new LiveBlock(stream);
    block.draw(['a', 'a line longer than twenty columns']);
    expect(out).to.equal('a\na line longer than…\n');
    out = '';
    block.log('event');
    expect(out).to.equal('\u001b[2A\u001b[0Jevent\na\na line longer than…\n');
    out = '';
    block.done();
    expect(out).to.equal('\u001b[2A\u001b[0J');
  });
});
