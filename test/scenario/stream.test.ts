import { expect } from 'chai';
import { concatMap, defer, from, lastValueFrom, toArray } from 'rxjs';
import { selectClasses, experienceStream } from '../../src/scenario/stream.js';
import { Rng } from '../../src/rng.js';
import type { Features } from '../../src/types.js';

/** Rows in a shuffled label order; feature 0 of row i is i (the sample id), the rest noise. */
function makeTrain(perClass: number[], dim: number, seed: number): Features {
  const rng = new Rng(seed);
  const labels: number[] = [];
  perClass.forEach((n, c) => {
    for (let i = 0; i < n; i++) labels.push(c);
  });
  rng.shuffle(labels);
  const count = labels.length;
  const x = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) {
    x[i * dim] = i;
    for (let d = 1; d < dim; d++) x[i * dim + d] = rng.normal();
  }
  return { x, y: Int32Array.from(labels), count, dim };
}

const ids = (f: Features): number[] => Array.from({ length: f.count }, (_, i) => f.x[i * f.dim]);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('scenario/stream', () => {
  const train = makeTrain([5, 9, 3, 7, 4, 6], 4, 1);
  const tasks = [[3, 0], [5], [1, 4, 2]];

  it('selectClasses keeps the dataset order and copies rows intact', () => {
    const s = selectClasses(train, [4, 1]);
    expect(s.count).to.equal(9 + 4);
    const expected = Array.from(train.y).flatMap((y, i) => (y === 1 || y === 4 ? [i] : []));
    expect(ids(s)).to.deep.equal(expected);
    for (let r = 0; r < s.count; r++) {
      const i = expected[r];
      expect(s.y[r]).to.equal(train.y[i]);
      expect(Array.from(s.x.subarray(r * 4, r * 4 + 4))).to.deep.equal(Array.from(train.x.subarray(i * 4, i * 4 + 4)));
    }
    expect(selectClasses(train, []).count).to.equal(0);
  });

  it('every train sample appears exactly once; experiences follow the task classes', async () => {
    const exps = await lastValueFrom(experienceStream(train, tasks).pipe(toArray()));
    expect(exps.map((e) => e.index)).to.deep.equal([0, 1, 2]);
    expect(exps.map((e) => e.classes)).to.deep.equal(tasks);
    const all: number[] = [];
    exps.forEach((e, t) => {
      const got = ids(e.train);
      expect(got).to.deep.equal([...got].sort((a, b) => a - b)); // dataset order within the block
      for (const y of e.train.y) expect(tasks[t]).to.include(y);
      all.push(...got);
    });
    expect(all.sort((a, b) => a - b)).to.deep.equal(Array.from({ length: train.count }, (_, i) => i));
  });

  it('samples of classes outside every task are left out; overlapping tasks are refused', async () => {
    const exps = await lastValueFrom(experienceStream(train, [[0], [2]]).pipe(toArray()));
    expect(exps.map((e) => e.train.count)).to.deep.equal([5, 3]);
    expect(() => experienceStream(train, [[0, 1], [1]])).to.throw(/class 1 is listed in task 0 and again in task 1/);
  });

  it('is lazy: block k+1 is built only after experience k has been learned and evaluated', async () => {
    const log: string[] = [];
    const stream = experienceStream(train, tasks, { onMaterialise: (k) => log.push(`build ${k}`) });
    const results = await lastValueFrom(
      stream.pipe(
        concatMap((exp) =>
          defer(async () => {
            log.push(`learn ${exp.index}`);
            const n = exp.train.count; // the learner reads the block
            await sleep(5);
            log.push(`eval ${exp.index}`);
            await sleep(5);
            log.push(`done ${exp.index}`);
            return n;
          }),
        ),
        toArray(),
      ),
    );
    expect(results).to.deep.equal([5 + 7, 6, 9 + 4 + 3]);
    expect(log).to.deep.equal([
      'learn 0', 'build 0', 'eval 0', 'done 0',
      'learn 1', 'build 1', 'eval 1', 'done 1',
      'learn 2', 'build 2', 'eval 2', 'done 2',
    ]);
  });

  it('builds each block once, and again for a new subscription (cold stream)', async () => {
    let builds = 0;
    const stream = experienceStream(train, tasks, { onMaterialise: () => builds++ });
    const exps = await lastValueFrom(stream.pipe(toArray()));
    expect(builds).to.equal(0);
    expect(exps[1].train).to.equal(exps[1].train);
    expect(builds).to.equal(1);
    const again = await lastValueFrom(from(stream).pipe(toArray()));
    expect(again[1].train.count).to.equal(6);
    expect(builds).to.equal(2);
  });
});
