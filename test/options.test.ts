/**
 * The one option system (src/options.ts): one resolver for CLI strings, JSON values and values in
 * code, typed results, defaults from the declaration only, and every declared group valid.
 */
import { expect } from 'chai';
import { COMPAT_OPTIONS } from '../src/compat/options.js';
import { COMPAT_RUN_OPTIONS, MAX_SEED, RUN_OPTIONS } from '../src/experiment-options.js';
import { METHODS, resolveMethodOptions } from '../src/learners/index.js';
import { defaultsOf, defineOptions, optionFlag, optionName, optionsSchema, resolveOptions, withDefaults, type OptionSpecs } from '../src/options.js';
import { Rng } from '../src/rng.js';
import { userError } from './user-error.js';


const FAKE = defineOptions({
  epochs: { type: 'integer', default: 10, min: 1, max: 1000, help: 'epochs' },
  lr: { type: 'number', default: 0.1, gt: 0, help: 'learning rate' },
  balanced: { type: 'boolean', default: false, help: 'balance' },
  clip: { type: 'choice', default: 'auto', choices: ['auto', 'true', 'false'], help: 'clip' },
  lambda: { type: 'keyword-or-number', keyword: 'ratio', default: 'ratio', min: 0, max: 1, help: 'weight' },
  split: { type: 'integers', min: 1, help: 'split' },
  name: { type: 'string', help: 'a name' },
});

describe('options: one declaration, one resolver', () => {
  it('fills defaults in declaration order and leaves optional options without a default out', () => {
    const o = resolveOptions(FAKE, {}, 'fake');
    expect(Object.keys(o)).to.deep.equal(['epochs', 'lr', 'balanced', 'clip', 'lambda']);
    expect(o).to.deep.equal(defaultsOf(FAKE));
  });

  it('the same value gives the same answer as a CLI string, a JSON value or a typed value', () => {
    const cli = resolveOptions(FAKE, { epochs: '25', lr: '1e-3', balanced: 'true', clip: 'false', lambda: '0.5', split: '17,17,16' }, 'fake');
    const json = resolveOptions(FAKE, { epochs: 25, lr: 0.001, balanced: true, clip: false, lambda: 0.5, split: [17, 17, 16] }, 'fake');
    expect(cli).to.deep.equal(json);
    expect(cli).to.deep.include({ epochs: 25, lr: 0.001, balanced: true, clip: 'false', lambda: 0.5, split: [17, 17, 16] });
    expect(resolveOptions(FAKE, { split: '10' }, 'fake').split).to.equal(10);
    expect(resolveOptions(FAKE, { lambda: 'ratio' }, 'fake').lambda).to.equal('ratio');
    // keys as camelCase, kebab-case or flags
    expect(resolveOptions(FAKE, { '--epochs': '3' }, 'fake').epochs).to.equal(3);
  });

  it('rejects bad values with one line naming the flag, what it must be and what it got, and the help as hint', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ epochs: '2.5' }, 'fake --epochs must be an integer in 1..1000, got "2.5"'],
      [{ epochs: 0 }, 'fake --epochs must be an integer in 1..1000, got 0'],
      [{ epochs: '' }, 'fake --epochs must be an integer in 1..1000, got ""'],
      [{ lr: '0' }, 'fake --lr must be a number > 0, got "0"'],
      [{ lr: 'fast' }, 'fake --lr must be a number > 0, got "fast"'],
      // booleans are true or false, nothing else, whatever the source
      [{ balanced: 'yes' }, 'fake --balanced must be true or false, got "yes"'],
      [{ balanced: 1 }, 'fake --balanced must be true or false, got 1'],
      [{ clip: 'on' }, 'fake --clip must be one of auto, true, false, got "on"'],
      [{ lambda: '1.5' }, 'fake --lambda must be ratio or a number in 0..1, got "1.5"'],
      [{ lambda: 'half' }, 'fake --lambda must be ratio or a number in 0..1, got "half"'],
      [{ split: '17,x' }, 'fake --split must be an integer ≥ 1 or a comma-separated list of them, got "17,x"'],
      [{ split: '0' }, 'fake --split must be an integer ≥ 1 or a comma-separated list of them, got "0"'],
    ];
    for (const [given, message] of cases) {
      const e = userError(() => resolveOptions(FAKE, given, 'fake'));
      expect(e.message).to.equal(message);
      expect(e.hint).to.match(new RegExp(`^${optionFlag(Object.keys(given)[0])} `));
    }
  });

  it('unknown and doubly given options are errors listing the options', () => {
    const e = userError(() => resolveOptions(FAKE, { Epochs: 1 }, 'fake'));
    expect(e.message).to.equal('fake has no option --Epochs');
    expect(e.hint).to.equal('the options of fake: --epochs, --lr, --balanced, --clip, --lambda, --split, --name');
    expect(userError(() => resolveOptions(FAKE, { lr: 1, '--lr': 2 }, 'fake')).message).to.match(/--lr is given twice/);
    expect(userError(() => resolveOptions(COMPAT_RUN_OPTIONS, {}, 'cl compat')).message).to.equal('cl compat needs --steps');
  });

  it('names: camelCase option ↔ kebab-case flag', () => {
    expect(optionFlag('weightDecayFirst')).to.equal('--weight-decay-first');
    expect(optionName('--weight-decay-first')).to.equal('weightDecayFirst');
    expect(optionName('kd-t')).to.equal('kdT');
    expect(() => defineOptions({ 'bad-name': { type: 'boolean', default: true, help: 'x' } })).to.throw(/camelCase/);
  });

  it('withDefaults replaces defaults and keeps the order', () => {
    const g = withDefaults(FAKE, { clip: 'false', epochs: 3 });
    expect(Object.keys(g)).to.deep.equal(Object.keys(FAKE));
    expect(defaultsOf(g)).to.deep.include({ clip: 'false', epochs: 3, lr: 0.1 });
    expect(FAKE.clip.default).to.equal('auto');
  });

  it('the JSON Schema of a group is what an experiment file may hold', () => {
    const s = optionsSchema(FAKE) as { properties: Record<string, Record<string, unknown>>; additionalProperties: boolean };
    expect(s.additionalProperties).to.equal(false);
    expect(s.properties.epochs).to.include({ type: 'integer', minimum: 1, maximum: 1000, default: 10 });
    expect(s.properties.lr).to.include({ type: 'number', exclusiveMinimum: 0 });
    expect(s.properties.clip.enum).to.deep.equal(['auto', 'true', 'false']);
  });

  describe('every declared group', () => {
    const groups: [string, OptionSpecs][] = [
      ...METHODS.map((m): [string, OptionSpecs] => [m.name, m.options]),
      ['cl compat', COMPAT_OPTIONS],
      ['cl run', RUN_OPTIONS],
      ['cl compat (run)', { ...COMPAT_RUN_OPTIONS, steps: { ...COMPAT_RUN_OPTIONS.steps, required: false } }],
    ];
    for (const [owner, specs] of groups) {
      it(`${owner}: its defaults satisfy its own rules, every option has help, and stored values resolve to themselves`, () => {
        const d = defaultsOf(specs);
        expect(resolveOptions(specs, { ...d }, owner)).to.deep.equal(d);
        for (const [name, spec] of Object.entries(specs)) expect(spec.help.length, `${owner} ${name}`).to.be.greaterThan(8);
        for (const [name, spec] of Object.entries(specs)) expect(spec.help, `${owner} ${name}: no spec section numbers in help`).not.to.match(/§|\.md/);
      });
    }

    it('each method resolves its own defaults (and its cross-option rules accept them)', () => {
      for (const m of METHODS) expect(() => resolveMethodOptions(m, {}), m.name).not.to.throw();
    });
  });

  describe('seeds', () => {
    it('seeds 1 and 2^32 + 1 would give the same random numbers (the RNG keeps 32 bits)', () => {
      // Why the range below exists: the generator seeds from seed >>> 0.
      const a = new Rng(1);
      const b = new Rng(1 + 2 ** 32);
      expect([a.next(), a.next()]).to.deep.equal([b.next(), b.next()]);
    });

    it('cl run and cl compat take trainSeeds 0..2^32−1 only', () => {
      expect(resolveOptions(RUN_OPTIONS, { seed: String(MAX_SEED) }, 'cl run').seed).to.equal(4294967295);
      expect(resolveOptions(RUN_OPTIONS, { seed: '0' }, 'cl run').seed).to.equal(0);
      expect(userError(() => resolveOptions(RUN_OPTIONS, { seed: '4294967297' }, 'cl run')).message).to.equal(
        'cl run --seed must be an integer in 0..4294967295, got "4294967297"',
      );
      expect(userError(() => resolveOptions(RUN_OPTIONS, { seed: -1 }, 'cl run')).message).to.match(/--seed must be an integer in 0\.\.4294967295, got -1/);
      expect(userError(() => resolveOptions(COMPAT_RUN_OPTIONS, { steps: 2, seed: 2 ** 32 }, 'cl compat')).message).to.match(/--seed/);
    });
  });
});
