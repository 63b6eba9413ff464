import { expect } from 'chai';
import { UserError } from '../../src/errors.js';
import { expandGrid, parseSeeds, parseSet, type MethodInfo } from '../../src/sweep/grid.js';

const METHODS: Record<string, MethodInfo> = {
  nmc: { name: 'nmc', seeded: false, options: [{ name: 'variant' }, { name: 'accumulator' }] },
  wa: { name: 'wa', seeded: true, options: [{ name: 'lr' }, { name: 'batchSize' }] },
};
const lookup = (name: string): MethodInfo => {
  const m = METHODS[name];
  if (!m) throw new UserError(`unknown method "${name}"`);
  return m;
};

describe('sweep/grid', () => {
  it('expands methods × option values × seeds, skipping seeds for unseeded methods and options a method lacks', () => {
    const grid = expandGrid(
      { scenario: 'split-mnist', methods: ['nmc', 'wa'], seeds: [1, 2], set: parseSet(['lr=0.1,0.01', 'variant=janson,simplecil']), passthrough: ['--backbone', 'pixels'] },
      lookup,
      '/tmp/db.json',
    );
    expect(grid.jobs.map((j) => j.label)).to.deep.equal([
      'nmc variant=janson',
      'nmc variant=simplecil',
      'wa seed=1 lr=0.1',
      'wa seed=2 lr=0.1',
      'wa seed=1 lr=0.01',
      'wa seed=2 lr=0.01',
    ]);
    expect(grid.jobs[0].args).to.deep.equal(['split-mnist', '--method', 'nmc', '--variant', 'janson', '--backbone', 'pixels', '--json', '--quiet', '--store', '/tmp/db.json']);
    expect(grid.jobs[3].args).to.deep.equal(['split-mnist', '--method', 'wa', '--seed', '2', '--lr', '0.1', '--backbone', 'pixels', '--json', '--quiet', '--store', '/tmp/db.json']);
    expect(grid.jobs.map((j) => j.index)).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(grid.notes.join('\n')).to.include('nmc is unseeded');
    expect(grid.notes.join('\n')).to.include('nmc has no option lr');
    expect(grid.notes.join('\n')).to.include('wa has no option variant');
  });

  it('kebab-case option names map to camelCase options and back to flags', () => {
    const grid = expandGrid({ scenario: 's', methods: ['wa'], seeds: [3], set: parseSet(['batch-size=16,32']) }, lookup, 'db.json');
    expect(grid.jobs.map((j) => j.args.slice(3, 7))).to.deep.equal([
      ['--seed', '3', '--batch-size', '16'],
      ['--seed', '3', '--batch-size', '32'],
    ]);
    expect(grid.jobs[0].options).to.deep.equal({ batchSize: '16' });
  });

  it('rejects options no method has, reserved flags, unknown methods and malformed lists', () => {
    expect(() => expandGrid({ scenario: 's', methods: ['nmc'], seeds: [1], set: parseSet(['lr=0.1']) }, lookup, 'db')).to.throw(UserError, /--set lr: none of the methods nmc has an option "lr"/);
    expect(() => expandGrid({ scenario: 's', methods: ['wa'], seeds: [1], set: {}, passthrough: ['--seed', '4'] }, lookup, 'db')).to.throw(UserError, /--seed/);
    expect(() => expandGrid({ scenario: 's', methods: ['oca'], seeds: [1], set: {} }, lookup, 'db')).to.throw(UserError, /unknown method "oca"/);
    expect(() => parseSet(['lr'])).to.throw(UserError, /name=value/);
    expect(() => parseSet(['lr=0.1,,0.2'])).to.throw(UserError, /empty item/);
    expect(() => parseSet(['lr=1', 'lr=2'])).to.throw(UserError, /twice/);
    expect(() => parseSeeds('1,x')).to.throw(UserError, /cl sweep --seeds must be an integer in 0\.\.4294967295, got "x"/);
    expect(() => parseSeeds('4294967297')).to.throw(UserError, /--seeds must be an integer in 0\.\.4294967295/);
    expect(parseSeeds('1, 2,3')).to.deep.equal([1, 2, 3]);
  });
});
