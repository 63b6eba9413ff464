import { expect } from 'chai';
import { errorLineOf, runPool } from '../../src/sweep/pool.js';

interface Job {
  name: string;
  ms: number;
  fail?: boolean;
}

/** A child that sleeps, prints its start and end times, and fails on request with a cl-style error line. */
const script = (job: Job): string =>
  `const t0 = Date.now(); setTimeout(() => { console.log(JSON.stringify({ name: ${JSON.stringify(job.name)}, t0, t1: Date.now() }));` +
  (job.fail ? ` console.error('some noise'); console.error('cl: error: ${job.name} failed on purpose'); console.error('hint: none'); process.exit(2);` : '') +
  ` }, ${job.ms});`;

describe('sweep/pool', function () {
  this.timeout(30_000);

  it('runs at most N jobs at once, reports a failure with its error line, and finishes the others', async () => {
    const jobs: Job[] = [
      { name: 'a', ms: 400 },
      { name: 'b', ms: 250, fail: true },
      { name: 'c', ms: 300 },
      { name: 'd', ms: 200 },
      { name: 'e', ms: 150 },
    ];
    const seen: string[] = [];
    const outcomes = await runPool(jobs, {
      workers: 2,
      command: (job) => ({ file: process.execPath, args: ['-e', script(job)] }),
      onDone: (o, done, total) => seen.push(`${done}/${total} ${o.job.name}`),
    });
    expect(outcomes.map((o) => o.job.name)).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
    expect(outcomes.map((o) => o.ok)).to.deep.equal([true, false, true, true, true]);
    expect(outcomes[1].code).to.equal(2);
    expect(outcomes[1].errorLine).to.equal('cl: error: b failed on purpose');
    expect(seen).to.have.length(5);
    expect(seen[4]).to.match(/^5\/5 /);
    // concurrency from the children's own clocks: never more than 2 alive at once
    const spans = outcomes.map((o) => JSON.parse(o.stdout) as { t0: number; t1: number });
    const events = spans.flatMap((s) => [[s.t0, 1], [s.t1, -1]] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    let alive = 0;
    let peak = 0;
    for (const [, d] of events) peak = Math.max(peak, (alive += d));
    expect(peak).to.equal(2);
  });

  it('a command that cannot start is a failed job, not a crash', async () => {
    const [o] = await runPool([{ name: 'x', ms: 0 }], { workers: 4, command: () => ({ file: '/nonexistent/cl-binary', args: [] }) });
    expect(o.ok).to.equal(false);
    expect(o.errorLine).to.match(/ENOENT/);
  });

  it('errorLineOf prefers the "cl: ..." line and falls back to the exit status', () => {
    expect(errorLineOf('warn\n\u001b[31mcl: error:\u001b[39m bad\nhint: x\n', 2, null)).to.equal('cl: error: bad');
    expect(errorLineOf('x\nlast line\n\n', 1, null)).to.equal('last line');
    expect(errorLineOf('', null, 'SIGKILL')).to.equal('killed by SIGKILL');
    expect(errorLineOf('', 3, null)).to.equal('exited with code 3');
  });
});
