import { expect } from 'chai';
import { PassThrough } from 'node:stream';
import { formatAmount, progressReporter } from '../../src/data/progress.js';

function capture(isTTY: boolean): { stream: PassThrough & { isTTY?: boolean }; text: () => string } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
  stream.isTTY = isTTY;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('data/progress', () => {
  it('formats byte amounts', () => {
    expect(formatAmount(999, 'B')).to.equal('999 B');
    expect(formatAmount(168_531_955, 'B')).to.equal('168.5 MB');
    expect(formatAmount(2_500_000_000, 'B')).to.equal('2.50 GB');
    expect(formatAmount(12, 'images')).to.equal('12 images');
  });

  it('without a TTY prints one plain line per 10 % plus a final line', () => {
    const out = capture(false);
    const p = progressReporter('Loading', 1000, { stream: out.stream, unit: 'images' });
    for (let i = 1; i <= 1000; i++) p.update(i);
    p.stop();
    const lines = out.text().trim().split('\n');
    expect(lines).to.have.length(10); // 10 %, ..., 90 %, then the final "100 % ... done" line
    expect(lines[0]).to.equal('Loading: 10% 100 images/1000 images');
    expect(lines[9]).to.match(/^Loading: 100% 1000 images\/1000 images done in \d+\.\d s$/);
  });

  it('without a TTY and without a total prints only the final line for quick work', () => {
    const out = capture(false);
    const p = progressReporter('Scan', undefined, { stream: out.stream, unit: 'B' });
    p.update(5000, 'x');
    p.stop();
    expect(out.text()).to.match(/^Scan: 5.00 kB x done in \d+\.\d s\n$/);
  });

  it('quiet prints nothing', () => {
    const out = capture(false);
    const p = progressReporter('Q', 10, { stream: out.stream, quiet: true });
    p.update(10);
    p.stop();
    expect(out.text()).to.equal('');
  });

  it('on a TTY draws a cli-progress bar', () => {
    const out = capture(true);
    const p = progressReporter('Bar', 100, { stream: out.stream });
    p.update(50, 'half');
    p.update(100);
    p.stop();
    p.stop(); // idempotent
    const text = out.text();
    expect(text).to.contain('Bar [').and.contain('100%');
  });
});
