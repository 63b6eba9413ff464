import { expect } from 'chai';
import { formatDuration, formatStat, stat } from '../../src/report/stats.js';

describe('report/stats', () => {
  it('mean ± sample std (n − 1): 70, 74 → 72 ± 2.828', () => {
    const s = stat([70, 74]);
    expect(s?.mean).to.equal(72);
    expect(s?.std).to.be.closeTo(2 * Math.SQRT2, 1e-12);
    expect(s?.n).to.equal(2);
    expect(formatStat(s)).to.equal('72.00 ± 2.83');
  });

  it('a single value has no ±, missing values are skipped, none gives null', () => {
    expect(stat([65, null, undefined])).to.deep.equal({ mean: 65, std: null, n: 1 });
    expect(formatStat(stat([65]))).to.equal('65.00');
    expect(stat([null])).to.equal(null);
    expect(formatStat(null)).to.equal('–');
  });

  it('three values: 1, 2, 6 → mean 3, std sqrt(7)', () => {
    const s = stat([1, 2, 6]);
    expect(s?.mean).to.equal(3);
    expect(s?.std).to.be.closeTo(Math.sqrt(7), 1e-12);
  });

  it('formats durations', () => {
    expect(formatDuration(850)).to.equal('850 ms');
    expect(formatDuration(12_300)).to.equal('12.3 s');
    expect(formatDuration(245_000)).to.equal('4m 05s');
  });
});
