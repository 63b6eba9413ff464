/**
 * The existing methods keep their numbers: per-class correct counts of every task (headline and
 * secondary rules) and per-task training losses of wa, replay, finetune, joint, nmc, napa-vq,
 * finetune-adapter and the compat methods, on seeded synthetic streams, equal the values pinned in
 * same-numbers.json (computed by the code before the method refactoring; see same-numbers.ts).
 */
import { expect } from 'chai';
import fs from 'node:fs';
import { FIXTURE, measureAll, type Pinned, type TaskNumbers } from './same-numbers.js';

const pinned = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Pinned;

/** Float32 training may round differently if an operation is reordered; anything more is a change. */
function closeLoss(actual: number | null | undefined, expected: number | null | undefined, what: string): void {
  if (expected === null || expected === undefined) {
    expect(actual ?? null, what).to.equal(null);
    return;
  }
  expect(actual, what).to.be.a('number');
  expect(actual!, what).to.be.closeTo(expected, 1e-5 * Math.abs(expected) + 1e-7);
}

describe('the existing methods keep their numbers (pinned on synthetic streams)', function () {
  this.timeout(300_000);
  let now: Pinned;
  before(async () => {
    now = await measureAll();
  });

  for (const [name, expected] of Object.entries(pinned)) {
    it(name, () => {
      const got = now[name];
      expect(got, `${name} was measured`).to.not.equal(undefined);
      if (Array.isArray(expected)) {
        const tasks = got as TaskNumbers[];
        expect(tasks.length).to.equal(expected.length);
        expected.forEach((e, t) => {
          expect(tasks[t].correct, `${name} task ${t + 1} per-class counts`).to.deep.equal(e.correct);
          expect(tasks[t].extra, `${name} task ${t + 1} secondary rules`).to.deep.equal(e.extra);
          closeLoss(tasks[t].loss, e.loss, `${name} task ${t + 1} final loss`);
        });
      } else {
        const g = got as Record<string, unknown>;
        // Compat matrices are counts over the test split (top-1, top-5) and an exact mean of them (mAP).
        expect(g.matrices, `${name} matrices`).to.deep.equal(expected.matrices);
        expect(g.backfill, `${name} backfill row`).to.deep.equal(expected.backfill);
        (expected.losses as number[]).forEach((l, i) => closeLoss((g.losses as number[])[i], l, `${name} version ${i + 1} final loss`));
      }
    });
  }
});
