import { expect } from 'chai';
import { UserError } from '../../src/errors.js';
import { ICARL_1993 } from '../../src/scenario/orders.js';
import { formatSplit, numTasks, parseSplit, taskClasses, taskSizes } from '../../src/scenario/split.js';

describe('scenario/split', () => {
  it('number of tasks on CIFAR-100 (docs/protocols.md "Scenario names")', () => {
    expect(numTasks('B0-Inc10', 100)).to.equal(10);
    expect(numTasks('B0-Inc5', 100)).to.equal(20);
    expect(numTasks('B50-Inc10', 100)).to.equal(6);
    expect(numTasks('B50-Inc5', 100)).to.equal(11);
    expect(numTasks('B40-Inc3', 100)).to.equal(21);
    expect(numTasks('B50-Inc50', 100)).to.equal(2);
    expect(numTasks('B100-Inc10', 100)).to.equal(1);
  });

  it('task sizes, uniform and uneven', () => {
    expect(taskSizes('B40-Inc3', 100)).to.deep.equal([40, ...Array<number>(20).fill(3)]);
    expect(taskSizes('B50-Inc[17,17,16]', 100)).to.deep.equal([50, 17, 17, 16]);
    expect(taskSizes('B0-Inc[30, 30, 40]', 100)).to.deep.equal([30, 30, 40]);
  });

  it('parses and formats names', () => {
    expect(parseSplit('B50-Inc[17, 17,16]')).to.deep.equal({ base: 50, increment: [17, 17, 16] });
    expect(parseSplit('b0-inc10')).to.deep.equal({ base: 0, increment: 10 });
    expect(formatSplit(parseSplit('b0-inc10'))).to.equal('B0-Inc10');
    expect(formatSplit({ base: 50, increment: [17, 17, 16] })).to.equal('B50-Inc[17,17,16]');
  });

  it('taskClasses follows the class order', () => {
    const tasks = taskClasses(ICARL_1993, 'B50-Inc10');
    expect(tasks).to.have.length(6);
    expect(tasks[0]).to.deep.equal(ICARL_1993.slice(0, 50));
    expect(tasks[1]).to.deep.equal(ICARL_1993.slice(50, 60));
    expect(tasks[5]).to.deep.equal(ICARL_1993.slice(90, 100));
    expect(tasks.flat()).to.deep.equal([...ICARL_1993]);
    expect(taskClasses([4, 3, 2, 1, 0], 'B0-Inc[2,3]')).to.deep.equal([[4, 3], [2, 1, 0]]);
  });

  it('rejects impossible splits with a UserError that says how to fix them', () => {
    const expectUserError = (f: () => unknown, re: RegExp, hintRe?: RegExp): void => {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(UserError);
      expect((err as UserError).message).to.match(re);
      if (hintRe) expect((err as UserError).hint).to.match(hintRe);
    };
    expectUserError(() => taskSizes('B0-Inc7', 100), /increment 7 does not divide the 100 classes/, /1, 2, 4, 5, 10, 20, 25, 50, 100.*B0-Inc\[7,7,7,7,7,7,7,7,7,7,7,7,7,7,2\]/);
    expectUserError(() => taskSizes('B50-Inc3', 100), /does not divide the 50 classes after the base of 50/);
    expectUserError(() => taskSizes('B50-Inc[17,17,17]', 100), /add up to 51 but 50 classes remain/);
    expectUserError(() => taskSizes('B120-Inc10', 100), /base 120 is outside 0..100/);
    expectUserError(() => taskSizes('B0-Inc0', 100), /positive integer/);
    expectUserError(() => taskSizes('B0-Inc[10,0,90]', 100), /positive integer/);
    expectUserError(() => parseSplit('B10Inc5'), /cannot read split "B10Inc5"/, /B\{base\}-Inc\{increment\}/);
    expectUserError(() => parseSplit('B10-Inc5.5'), /cannot read split/);
  });
});
