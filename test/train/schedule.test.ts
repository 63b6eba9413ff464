import { expect } from 'chai';
import { cosineSchedule, defaultMilestones, makeSchedule, stepSchedule } from '../../src/train/schedule.js';
import { UserError } from '../../src/errors.js';

describe('train/schedule', () => {
  it('step: ×0.1 at 50 % and 75 % of 40 epochs', () => {
    expect(defaultMilestones(40)).to.deep.equal([20, 30]);
    const s = makeSchedule('step', 0.1, 40);
    expect(s(0)).to.equal(0.1);
    expect(s(19)).to.equal(0.1);
    expect(s(20)).to.be.closeTo(0.01, 1e-12);
    expect(s(29)).to.be.closeTo(0.01, 1e-12);
    expect(s(30)).to.be.closeTo(0.001, 1e-12);
    expect(s(39)).to.be.closeTo(0.001, 1e-12);
  });

  it('step with explicit milestones (PyCIL [60, 120, 170])', () => {
    const s = stepSchedule(0.1, [120, 60, 170]);
    expect([s(59), s(60), s(120), s(170)].map((v) => +v.toPrecision(6))).to.deep.equal([0.1, 0.01, 0.001, 0.0001]);
  });

  it('cosine: base at 0, half at E/2, min at E', () => {
    const s = cosineSchedule(0.2, 10, 0.02);
    expect(s(0)).to.be.closeTo(0.2, 1e-12);
    expect(s(5)).to.be.closeTo(0.11, 1e-12);
    expect(s(10)).to.be.closeTo(0.02, 1e-12);
  });

  it('an unknown schedule is a UserError naming --schedule', () => {
    expect(() => makeSchedule('linear', 0.1, 10)).to.throw(UserError, /schedule/);
  });
});
