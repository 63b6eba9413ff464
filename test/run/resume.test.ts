/**
 * Resume through learner checkpoints, driven through runExperiment as `cl run` / `cl resume` do:
 * a run is cut after 2 of 5 tasks (the stream is torn down, as a crash would), then resumed.
 * The independent expectation is an uninterrupted run with the same options.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { markInterrupted, runExperiment, type RunEvent, type RunOptions } from '../../src/run.js';
import { checkpointPath } from '../../src/store/checkpoints.js';
import type { RunRecord } from '../../src/types.js';

describe('run/resume from learner checkpoints (split-mnist, embedded digits)', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-resume-'));
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const options = (store: string, method: string, methodOptions: Record<string, unknown>): RunOptions => ({
    scenario: 'split-mnist',
    method,
    methodOptions,
    seed: 3,
    storePath: path.join(tmp, store),
    cacheRoot: path.join(tmp, 'cache'),
    command: ['run', 'split-mnist', '--method', method],
    backend: 'wasm',
  });

  /** Run to the end; all events. */
  const complete = (opts: RunOptions): Promise<{ record: RunRecord; events: RunEvent[] }> =>
    new Promise((resolve, reject) => {
      const events: RunEvent[] = [];
      runExperiment(opts).subscribe({
        next: (e) => {
          events.push(e);
          if (e.type === 'finished') resolve({ record: e.record, events });
        },
        error: reject,
      });
    });

  /** Run until `k` increments are stored, then tear the stream down; returns the run id. */
  const cut = (opts: RunOptions, k: number): Promise<string> =>
    new Promise((resolve, reject) => {
      let id = '';
      let seen = 0;
      const sub = runExperiment(opts).subscribe({
        next: (e) => {
          if (e.type === 'started') id = e.record.id;
          if (e.type === 'increment' && ++seen === k) {
            queueMicrotask(() => sub.unsubscribe());
            resolve(id);
          }
        },
        error: reject,
      });
    });

  const counts = (r: RunRecord) => r.increments.map((i) => i.correctPerClass);

  for (const [method, methodOptions] of [
    ['nmc', {}],
    // Raw pixels: NAPA-VQ's CIFAR-feature learning rates diverge on them; these train (A_T ~32 %).
    ['napa-vq', { epochsBase: 2, epochs: 1, hidden: 32, embedDim: 16, standardize: false, cvLr: 0.5 }],
    // The closed-form learners (docs/methods/): typed-array state through the checkpoint sidecar.
    ['slda', {}],
    ['fecam', {}],
    ['ranpac', { projection: 256 }],
  ] as const) {
    it(`${method}: restores tasks 1..2 from the checkpoint and finishes as the uninterrupted run`, async () => {
      const full = await complete(options(`${method}-full.json`, method, methodOptions));
      const opts = options(`${method}-cut.json`, method, methodOptions);
      const id = await cut(opts, 2);
      const ck = checkpointPath(opts.storePath, id);
      expect(JSON.parse(fs.readFileSync(ck, 'utf8'))).to.deep.include({ format: 'cl-checkpoint', run: id, task: 1, method });
      await markInterrupted(opts.storePath, id, 'cut by the test');

      const resumed = await complete({ ...opts, resume: id });
      const note = resumed.events.find((e) => e.type === 'checkpoint');
      expect(note).to.deep.equal({ type: 'checkpoint', restored: true, tasks: 2, why: null });
      expect(resumed.events.filter((e) => e.type === 'replayed')).to.have.length(0);
      expect(resumed.events.filter((e) => e.type === 'increment').map((e) => (e as { result: { task: number } }).result.task)).to.deep.equal([2, 3, 4]);
      expect(resumed.record.status).to.equal('finished');
      expect(counts(resumed.record)).to.deep.equal(counts(full.record));
      expect(resumed.record.summary!.finalAccuracy).to.equal(full.record.summary!.finalAccuracy);
      expect(fs.existsSync(ck), 'checkpoint removed once the run finished').to.equal(false);
      expect(fs.existsSync(path.dirname(ck)), 'and its empty folder').to.equal(false);
    });
  }

  it('an unusable checkpoint is reported and the stored tasks are relearned instead', async () => {
    const full = await complete(options('bad-full.json', 'nmc', {}));
    const opts = options('bad-cut.json', 'nmc', {});
    const id = await cut(opts, 3);
    await markInterrupted(opts.storePath, id, 'cut by the test');
    fs.writeFileSync(checkpointPath(opts.storePath, id), '{"format": "cl-checkpoint", "vers');
    const resumed = await complete({ ...opts, resume: id });
    const note = resumed.events.find((e) => e.type === 'checkpoint') as Extract<RunEvent, { type: 'checkpoint' }>;
    expect(note.restored).to.equal(false);
    expect(note.why).to.match(/not valid JSON/);
    expect(resumed.events.filter((e) => e.type === 'replayed')).to.have.length(3);
    expect(counts(resumed.record)).to.deep.equal(counts(full.record));
  });
});
