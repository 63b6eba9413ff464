import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../../src/errors.js';
import { ICARL_1993, PODNET_FIXED } from '../../src/scenario/orders.js';
import { scenarioFeatures } from '../../src/features.js';
import { checkScenarioClasses, jsonNestingDepth, listScenarios, loadScenario, packageRoot, scenariosDir } from '../../src/scenario/scenario.js';
import { userError } from '../user-error.js';


const valid = {
  name: 'tiny',
  description: 'a small test scenario',
  dataset: 'mnist-embedded',
  numClasses: 10,
  split: 'B0-Inc2',
  order: 'natural',
  backbone: 'pixels',
};

describe('scenario/scenario', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-scenario-'));
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  const write = (name: string, text: string): string => {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, text);
    return file;
  };

  it('finds the package root and its scenarios folder', () => {
    expect(fs.existsSync(path.join(packageRoot(), 'package.json'))).to.equal(true);
    expect(scenariosDir()).to.equal(path.join(packageRoot(), 'scenarios'));
  });

  it('ships the four scenarios, all valid, named after their files', () => {
    const list = listScenarios();
    const names = list.map((s) => s.name);
    for (const n of ['split-cifar100', 'split-cifar100-b50', 'split-fashion-mnist', 'split-mnist', 'split-mnist-mini', 'split-imagenet-r', 'split-vtab', 'split-tinyimagenet']) expect(names).to.include(n);
    for (const s of list) {
      expect(s.error, s.file).to.equal(undefined);
      expect(path.basename(s.file)).to.equal(`${s.name}.json`);
    }
  });

  it('split-cifar100: B0-Inc10 over icarl-1993, 10 tasks', () => {
    const s = loadScenario('split-cifar100');
    expect(s.dataset).to.equal('cifar100');
    expect(s.numClasses).to.equal(100);
    expect(s.split).to.equal('B0-Inc10');
    expect(s.order.id).to.equal('icarl-1993');
    expect(s.taskClasses).to.have.length(10);
    expect(s.taskClasses[0]).to.deep.equal([68, 56, 78, 8, 23, 84, 90, 65, 74, 76]);
    expect(s.backbone).to.equal('vit-b16-in21k');
    expect(s.file).to.equal(path.join(scenariosDir(), 'split-cifar100.json'));
  });

  it('split-cifar100-b50 has 6 tasks; split-mnist and split-fashion-mnist are 5 pairs in natural order', () => {
    const b50 = loadScenario('split-cifar100-b50');
    expect(b50.taskClasses.map((t) => t.length)).to.deep.equal([50, 10, 10, 10, 10, 10]);
    for (const name of ['split-mnist', 'split-mnist-mini', 'split-fashion-mnist']) {
      const s = loadScenario(name);
      expect(s.backbone).to.equal('pixels');
      expect(s.taskClasses).to.deep.equal([[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]);
    }
    expect(loadScenario('split-mnist').dataset).to.equal('mnist');
    expect(loadScenario('split-mnist-mini').dataset).to.equal('mnist-embedded');
  });

  it('applies overrides: base, increment, order', () => {
    const s = loadScenario('split-cifar100', { base: 50, increment: 5, order: 'podnet-fixed' });
    expect(s.split).to.equal('B50-Inc5');
    expect(s.taskClasses).to.have.length(11);
    expect(s.order.id).to.equal('podnet-fixed');
    expect(s.taskClasses[0]).to.deep.equal(PODNET_FIXED.slice(0, 50));
    const u = loadScenario('split-cifar100', { base: 50, increment: [17, 17, 16] });
    expect(u.split).to.equal('B50-Inc[17,17,16]');
    expect(u.taskClasses.map((t) => t.length)).to.deep.equal([50, 17, 17, 16]);
    expect(u.order.classes).to.deep.equal([...ICARL_1993]);
    const seeded = loadScenario('split-mnist', { order: 'seed:3' });
    expect(seeded.order.id).to.equal('seed-3');
    expect(seeded.order.seed).to.equal(3);
  });

  it('rejects impossible overrides naming the option', () => {
    const e = userError(() => loadScenario('split-cifar100', { increment: 7 }));
    expect(e.message).to.match(/--increment 7/).and.match(/split-cifar100/).and.match(/does not divide/);
    expect(e.hint).to.match(/divides 100/);
    expect(userError(() => loadScenario('split-cifar100', { base: -1 })).message).to.match(/--base -1/);
    expect(userError(() => loadScenario('split-mnist', { order: 'icarl-1993' })).message).to.match(/--order.*100 classes but the dataset has 10/);
    expect(userError(() => loadScenario('split-mnist', { base: 4, increment: [3, 2] })).message).to.match(/add up to 5 but 6 classes remain/);
  });

  it('loads a .json file from anywhere, with literal and seeded orders', () => {
    const f1 = write('lit.json', JSON.stringify({ ...valid, order: [9, 8, 7, 6, 5, 4, 3, 2, 1, 0], notes: 'hello' }));
    const s1 = loadScenario(f1);
    expect(s1.file).to.equal(f1);
    expect(s1.taskClasses[0]).to.deep.equal([9, 8]);
    expect(s1.order.id).to.match(/^custom-/);
    expect(s1.notes).to.deep.equal(['hello']);
    const f2 = write('seeded.json', JSON.stringify({ ...valid, order: { seed: 11 } }));
    expect(loadScenario(f2).order.id).to.equal('seed-11');
  });

  it('unknown scenario: lists the available names', () => {
    const e = userError(() => loadScenario('split-cifar1000'));
    expect(e.message).to.match(/unknown scenario "split-cifar1000"/);
    for (const name of ['split-cifar100', 'split-cifar100-b50', 'split-fashion-mnist', 'split-mnist']) {
      expect(e.hint).to.contain(name);
    }
    expect(userError(() => loadScenario(path.join(tmp, 'missing.json'))).message).to.match(/does not exist/);
  });

  it('malformed JSON: names the file and the line', () => {
    const f = write('bad.json', '{\n  "name": "x",\n  "split": "B0-Inc2",,\n}\n');
    const e = userError(() => loadScenario(f));
    expect(e.message).to.include(f).and.match(/not valid JSON at line 3, column \d+/);
  });

  it('schema violations: file + JSON pointer + what is expected', () => {
    const cases: [Record<string, unknown>, RegExp[]][] = [
      [{ ...valid, numClasses: 'ten' }, [/\/numClasses: is "ten", must be integer/]],
      [{ ...valid, split: 'B0Inc2' }, [/\/split: is "B0Inc2".*B\{base\}-Inc\{increment\}/]],
      [{ ...valid, order: { seed: 'x' } }, [/\/order: is \{"seed":"x"\}, expected a named order/]],
      [{ ...valid, extra: 1 }, [/\/: unknown field "extra"/]],
      [(({ backbone: _b, ...rest }) => rest)(valid), [/\/: missing required field "backbone"/]],
      [{ ...valid, dataset: 'CIFAR 100', numClasses: 1 }, [/\/dataset: is "CIFAR 100"/, /\/numClasses: is 1: must be >= 2/]],
    ];
    cases.forEach(([data, res], i) => {
      const f = write(`schema${i}.json`, JSON.stringify(data, null, 2));
      const e = userError(() => loadScenario(f));
      expect(e.message).to.include(f).and.include('is invalid');
      for (const re of res) expect(e.message).to.match(re);
      expect(e.hint).to.match(/required fields/);
    });
  });

  it('semantic problems name the file and the field', () => {
    const f1 = write('perm.json', JSON.stringify({ ...valid, order: [0, 1, 2, 3, 4, 5, 6, 7, 8, 8] }));
    expect(userError(() => loadScenario(f1)).message).to.include(f1).and.match(/\/order: .*class 8 appears more than once/);
    const f2 = write('split.json', JSON.stringify({ ...valid, split: 'B0-Inc3' }));
    expect(userError(() => loadScenario(f2)).message).to.include(f2).and.match(/\/split: .*increment 3 does not divide/);
  });

  it('listScenarios flags broken files instead of failing', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'list-'));
    fs.writeFileSync(path.join(dir, 'good.json'), JSON.stringify({ ...valid, name: 'good' }));
    fs.writeFileSync(path.join(dir, 'broken.json'), '{');
    const list = listScenarios(dir);
    expect(list.map((s) => s.name)).to.deep.equal(['broken', 'good']);
    expect(list[0].error).to.match(/not valid JSON/);
    expect(list[1].error).to.equal(undefined);
    expect(list[1]).to.deep.include({ dataset: 'mnist-embedded', split: 'B0-Inc2', order: 'natural', backbone: 'pixels' });
    expect(list[0]).to.deep.include({ dataset: '', split: '' });
    expect(loadScenario('good', {}, dir).taskClasses).to.have.length(5);
  });

  it("checks numClasses against the dataset's class count before building anything", () => {
    // 1e9 classes used to build a 1e9-entry order and abort Node out of memory.
    const huge = write('huge.json', JSON.stringify({ ...valid, numClasses: 1e9 }));
    const t0 = performance.now();
    expect(userError(() => loadScenario(huge)).message).to.match(/\/numClasses: is 1000000000: must be <= 1000000/);
    expect(performance.now() - t0).to.be.below(1000);
    // More classes than the dataset has: always an error (it used to fail only after tasks ran).
    const more = write('more.json', JSON.stringify({ ...valid, numClasses: 12, split: 'B0-Inc2' }));
    const m = userError(() => loadScenario(more));
    expect(m.message).to.include(more).and.match(/numClasses is 12 but dataset mnist-embedded has 10 classes/);
    expect(m.hint).to.match(/"numClasses": 10/);
    // Fewer: an error unless the scenario says "subset": true (it used to run silently on a subset).
    const fewer = write('fewer.json', JSON.stringify({ ...valid, numClasses: 6 }));
    const f = userError(() => loadScenario(fewer));
    expect(f.message).to.match(/numClasses is 6 but dataset mnist-embedded has 10 classes, so 4 classes would be left out/);
    expect(f.hint).to.match(/"subset": true/);
    const subset = write('subset.json', JSON.stringify({ ...valid, numClasses: 6, subset: true }));
    const s6 = loadScenario(subset);
    expect(s6.subset).to.equal(true);
    expect(s6.taskClasses).to.deep.equal([[0, 1], [2, 3], [4, 5]]);
    expect(loadScenario('split-mnist').subset).to.equal(false);
    // "subset" does not allow more classes than the dataset has, and must be a boolean.
    expect(userError(() => loadScenario(write('more-subset.json', JSON.stringify({ ...valid, numClasses: 12, subset: true })))).message).to.match(/has 10 classes/);
    expect(userError(() => loadScenario(write('subset-str.json', JSON.stringify({ ...valid, subset: 'yes' })))).message).to.match(/\/subset: is "yes", must be boolean/);
    // listScenarios flags such a file as broken.
    const dir = fs.mkdtempSync(path.join(tmp, 'classes-'));
    fs.writeFileSync(path.join(dir, 'fewer.json'), JSON.stringify({ ...valid, name: 'fewer', numClasses: 6 }));
    expect(listScenarios(dir)[0].error).to.match(/4 classes would be left out/);
  });

  it('checks any dataset by its declared class count (not only the registry): checkScenarioClasses and scenarioFeatures', async () => {
    const s = { name: 'x', dataset: 'some-folder-dataset', numClasses: 7 };
    expect(() => checkScenarioClasses(s, 7)).not.to.throw();
    expect(userError(() => checkScenarioClasses(s, 5)).message).to.match(/numClasses is 7 but dataset some-folder-dataset has 5 classes/);
    expect(userError(() => checkScenarioClasses(s, 9)).message).to.match(/2 classes would be left out/);
    expect(() => checkScenarioClasses({ ...s, subset: true }, 9)).not.to.throw();
    // scenarioFeatures checks against the loaded dataset before any backbone or extraction.
    const events: string[] = [];
    const cacheRoot = fs.mkdtempSync(path.join(tmp, 'cache-'));
    let err: unknown;
    try {
      await scenarioFeatures(
        { dataset: 'mnist-embedded', backbone: 'pixels', cacheRoot, scenario: { name: 'direct', dataset: 'mnist-embedded', numClasses: 12 } },
        (e) => events.push(e.type === 'stage' ? e.message : e.type),
      );
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(UserError);
    expect((err as UserError).message).to.match(/scenario direct: numClasses is 12 but dataset mnist-embedded has 10 classes/);
    expect(events).to.deep.equal(['dataset mnist-embedded']);
    expect(fs.readdirSync(cacheRoot)).to.deep.equal([]);
  });

  it('refuses files that are not scenarios before parsing them: devices, huge or deeply nested files', () => {
    expect(userError(() => loadScenario('/dev/zero')).message).to.match(/is not a regular file/);
    expect(userError(() => loadScenario(tmp)).message).to.match(/is not a regular file/);
    const deep = write('deep.json', `{"order": ${'['.repeat(50_000)}${']'.repeat(50_000)}}`);
    expect(userError(() => loadScenario(deep)).message).to.match(/nests 50001 levels deep/);
    expect(jsonNestingDepth('{"a": "[[[[", "b": [1, {"c": "\\"]"}]}')).to.equal(3);
    const big = write('big.json', ' '.repeat(4 * 1024 * 1024 + 1));
    expect(userError(() => loadScenario(big)).message).to.match(/bytes, more than a scenario can be/);
  });
});
