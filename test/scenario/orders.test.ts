import { expect } from 'chai';
import { UserError } from '../../src/errors.js';
import { ICARL_1993, PODNET_FIXED, orderChecksum, resolveOrder } from '../../src/scenario/orders.js';

function isPermutation(a: readonly number[], n: number): boolean {
  return a.length === n && [...a].sort((x, y) => x - y).every((v, i) => v === i);
}

describe('scenario/orders', () => {
  it('icarl-1993 matches docs/protocols.md "Class orders" (permutation, first five, label 0 at 69, checksum)', () => {
    const o = resolveOrder('icarl-1993', 100);
    expect(o.id).to.equal('icarl-1993');
    expect(o.seed).to.equal(null);
    expect(isPermutation(o.classes, 100)).to.equal(true);
    expect(o.classes.slice(0, 5)).to.deep.equal([68, 56, 78, 8, 23]);
    expect(o.classes.indexOf(0)).to.equal(69);
    expect(orderChecksum(o.classes)).to.equal(236946);
    expect(o.classes).to.deep.equal([...ICARL_1993]);
  });

  it('podnet-fixed matches docs/protocols.md "Class orders" (permutation, checksum 235451)', () => {
    const o = resolveOrder('podnet-fixed', 100);
    expect(isPermutation(o.classes, 100)).to.equal(true);
    expect(o.classes.slice(0, 5)).to.deep.equal([87, 0, 52, 58, 44]);
    expect(orderChecksum(PODNET_FIXED)).to.equal(235451);
  });

  it('returned orders are copies (the constants cannot be changed through them)', () => {
    const o = resolveOrder('icarl-1993', 100);
    o.classes[0] = 999;
    expect(ICARL_1993[0]).to.equal(68);
    expect(() => (ICARL_1993 as number[]).push(1)).to.throw(TypeError);
  });

  it('natural is 0..C-1', () => {
    expect(resolveOrder('natural', 5)).to.deep.equal({ id: 'natural', seed: null, classes: [0, 1, 2, 3, 4] });
  });

  it('seeded orders: deterministic permutations labelled seed-<n>, string and object forms agree', () => {
    const a = resolveOrder('seed:1993', 100);
    const b = resolveOrder({ seed: 1993 }, 100);
    const c = resolveOrder('seed:7', 100);
    expect(a.id).to.equal('seed-1993');
    expect(a.seed).to.equal(1993);
    expect(isPermutation(a.classes, 100)).to.equal(true);
    expect(a.classes).to.deep.equal(b.classes);
    expect(c.classes).to.not.deep.equal(a.classes);
    // cl's own Rng, not NumPy: it must not claim to be the icarl-1993 list
    expect(a.classes).to.not.deep.equal([...ICARL_1993]);
  });

  it('literal lists: validated, named when equal to a known order', () => {
    const o = resolveOrder('2, 0, 1, 3', 4);
    expect(o.classes).to.deep.equal([2, 0, 1, 3]);
    expect(o.id).to.match(/^custom-[0-9a-f]{8}$/);
    expect(resolveOrder([2, 0, 1, 3], 4)).to.deep.equal(o);
    expect(resolveOrder([...ICARL_1993], 100).id).to.equal('icarl-1993');
    expect(resolveOrder('0,1,2', 3).id).to.equal('natural');
  });

  it('rejects bad lists and names with a UserError and a hint', () => {
    const cases: [Parameters<typeof resolveOrder>[0], number, RegExp][] = [
      ['0,1,1', 3, /class 1 appears more than once/],
      ['0,1,5', 3, /not a class id in 0..2/],
      ['0,1', 3, /2 entries but the dataset has 3/],
      ['icarl-1993', 10, /lists 100 classes but the dataset has 10/],
      ['random', 10, /unknown class order "random"/],
      [{ seed: -1 }, 10, /not an integer/],
    ];
    for (const [spec, n, re] of cases) {
      let err: unknown;
      try {
        resolveOrder(spec, n);
      } catch (e) {
        err = e;
      }
      expect(err, String(spec)).to.be.instanceOf(UserError);
      expect((err as UserError).message).to.match(re);
      expect((err as UserError).hint).to.be.a('string').and.not.equal('');
    }
  });
});
