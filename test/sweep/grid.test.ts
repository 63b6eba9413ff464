import { expect } from 'chai';
import { UserError } from '../../src/errors.js';
import { defineOptions } from '../../src/options.js';
import type { Study } from '../../src/study/study.js';
import { applyOverrides, cellArgs, expandGrid, expandStudy, parseOrders, parseSeeds, parseSet, type MethodInfo } from '../../src/sweep/grid.js';

const METHODS: Record<string, MethodInfo> = {
  nmc: {
    name: 'nmc',
    seeded: false,
    options: defineOptions({ variant: { type: 'choice', choices: ['janson', 'simplecil'], default: 'janson', help: 'v' }, accumulator: { type: 'string', default: 'f64', help: 'a' } }),
  },
  wa: {
    name: 'wa',
    seeded: true,
    options: defineOptions({ lr: { type: 'number', gt: 0, default: 0.1, help: 'lr' }, batchSize: { type: 'integer', min: 1, default: 128, help: 'b' }, kd: { type: 'boolean', default: true, help: 'kd' } }),
  },
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
    expect(grid.jobs[0].args).to.deep.equal(['split-mnist', '--method', 'nmc', '--backbone', 'pixels', '--variant', 'janson', '--json', '--quiet', '--store', '/tmp/db.json']);
    expect(grid.jobs[3].runArgs).to.deep.equal(['split-mnist', '--method', 'wa', '--seed', '2', '--backbone', 'pixels', '--lr', '0.1']);
    // Values are typed by the option's spec, so a file and the flags give the same configuration.
    expect(grid.jobs[3].config).to.deep.equal({ scenario: 'split-mnist', method: 'wa', options: { lr: 0.1 }, seed: 2, backbone: 'pixels' });
    expect(grid.jobs.map((j) => j.index)).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(grid.notes.join('\n')).to.include('nmc is unseeded');
    expect(grid.notes.join('\n')).to.include('nmc has no option lr');
    expect(grid.notes.join('\n')).to.include('wa has no option variant');
  });

  it('class orders are an axis: methods → options → orders → seeds; unseeded methods once per order', () => {
    const grid = expandGrid({ scenario: 's', methods: ['nmc', 'wa'], seeds: [1, 2, 3], orders: parseOrders('icarl-1993,seed:1,seed:2'), set: {} }, lookup, 'db');
    expect(grid.jobs.map((j) => j.label)).to.deep.equal([
      'nmc order=icarl-1993',
      'nmc order=seed:1',
      'nmc order=seed:2',
      ...['icarl-1993', 'seed:1', 'seed:2'].flatMap((o) => [1, 2, 3].map((s) => `wa order=${o} seed=${s}`)),
    ]);
    expect(grid.jobs).to.have.length(3 + 9);
    expect(grid.jobs[4].runArgs).to.deep.equal(['s', '--method', 'wa', '--seed', '2', '--order', 'icarl-1993']);
    expect(grid.jobs[4].order).to.equal('icarl-1993');
    expect(grid.jobs[0].seed).to.equal(null);
  });

  it('a study with literal orders, option grids and overrides; flags win over the file', () => {
    const order = Array.from({ length: 10 }, (_, i) => 9 - i);
    const study: Study = {
      scenarios: ['split-mnist'],
      methods: [
        { method: 'nmc', options: {}, grid: {} },
        { method: 'wa', options: { lr: 0.05 }, grid: { batchSize: [16, 32] } },
      ],
      seeds: [1, 2],
      orders: [order, 'natural'],
      common: { backbone: 'pixels', offline: true },
    };
    const grid = expandStudy(study, lookup);
    expect(grid.jobs).to.have.length(2 + 2 * 2 * 2);
    expect(grid.jobs[0].runArgs).to.deep.equal(['split-mnist', '--method', 'nmc', '--order', order.join(','), '--backbone', 'pixels', '--offline']);
    expect(grid.jobs[2].config.options).to.deep.equal({ lr: 0.05, batchSize: 16 });
    const { study: over, notes } = applyOverrides(study, { methods: ['wa'], seeds: [7], orders: ['seed:3'], options: { batchSize: 64, kd: false }, common: { backend: 'cpu' } }, lookup);
    const one = expandStudy(over, lookup);
    expect(notes).to.deep.equal([]);
    expect(one.jobs).to.have.length(1);
    expect(one.jobs[0].config).to.deep.equal({ scenario: 'split-mnist', method: 'wa', options: { lr: 0.05, batchSize: 64, kd: false }, seed: 7, order: 'seed:3', backbone: 'pixels', offline: true, backend: 'cpu' });
    expect(cellArgs(one.jobs[0].config)).to.deep.equal(['split-mnist', '--method', 'wa', '--seed', '7', '--order', 'seed:3', '--backbone', 'pixels', '--offline', '--backend', 'cpu', '--lr', '0.05', '--batch-size', '64', '--kd', 'false']);
    // A method the file does not name starts with no options of its own.
    expect(expandStudy(applyOverrides(study, { methods: ['nmc'] }, lookup).study, lookup).jobs.map((j) => j.label)).to.deep.equal(['nmc order=[9,8,7,…]', 'nmc order=natural']);
  });

  it('rejects options no method has, reserved flags, bad values, unknown methods and malformed lists', () => {
    expect(() => expandGrid({ scenario: 's', methods: ['nmc'], seeds: [1], set: parseSet(['lr=0.1']) }, lookup, 'db')).to.throw(UserError, /--set lr: none of the methods nmc has an option "lr"/);
    expect(() => expandGrid({ scenario: 's', methods: ['wa'], seeds: [1], set: {}, passthrough: ['--seed', '4'] }, lookup, 'db')).to.throw(UserError, /--seed/);
    expect(() => expandGrid({ scenario: 's', methods: ['wa'], seeds: [1], set: {}, passthrough: ['--lr', 'fast'] }, lookup, 'db')).to.throw(UserError, /--lr must be a number > 0, got "fast"/);
    expect(() => expandGrid({ scenario: 's', methods: ['wa'], seeds: [1], set: {}, passthrough: ['--bogus', '1'] }, lookup, 'db')).to.throw(UserError, /--bogus is not an option/);
    expect(() => expandGrid({ scenario: 's', methods: ['wa'], seeds: [1], set: parseSet(['lr=0,1']) }, lookup, 'db')).to.throw(UserError, /--lr must be a number > 0, got "0"/);
    expect(() => expandGrid({ scenario: 's', methods: ['oca'], seeds: [1], set: {} }, lookup, 'db')).to.throw(UserError, /unknown method "oca"/);
    expect(() => parseSet(['lr'])).to.throw(UserError, /name=value/);
    expect(() => parseSet(['lr=0.1,,0.2'])).to.throw(UserError, /empty item/);
    expect(() => parseSet(['lr=1', 'lr=2'])).to.throw(UserError, /twice/);
    expect(() => parseSeeds('1,x')).to.throw(UserError, /cl sweep --seeds must be an integer in 0\.\.4294967295, got "x"/);
    expect(() => parseSeeds('4294967297')).to.throw(UserError, /--seeds must be an integer in 0\.\.4294967295/);
    expect(() => parseOrders('icarl-1993,3')).to.throw(UserError, /not a class order/);
    expect(parseSeeds('1, 2,3')).to.deep.equal([1, 2, 3]);
  });
});
