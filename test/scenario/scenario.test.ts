import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ICARL_1993, PODNET_FIXED } from '../../src/scenario/orders.js';
import { listScenarios, loadScenario, packageRoot, scenariosDir } from '../../src/scenario/scenario.js';
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
});
