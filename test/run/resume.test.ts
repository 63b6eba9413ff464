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
import { checkpointPath, writeCheckpoint, type Checkpoint } from '../../src/store/checkpoints.js';
import type { NmcState } from '../../src/learners/nmc.js';
import type { RunRecord } from '../../src/types.js';

describe('run/resume from learner checkpoints (split-mnist-mini, embedded digits)', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-resume-'));
  });
  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const options = (store: string, method: string, methodOptions: Record<string, unknown>): RunOptions => ({
    scenario: 'split-mnist-mini',
    method,
    methodOptions,
    seed: 3,
    storePath: path.join(tmp, store),
    cacheRoot: path.join(tmp, 'cache'),
    command: ['run', 'split-mnist-mini', '--method', method],
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
    ['finetune-adapter', { epochsBase: 2, epochs: 1, hidden: 32, embedDim: 16, standardize: false, cvLr: 0.5 }],
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

  /**
   * An nmc run cut after `k` tasks whose checkpoint is replaced by `edit(state)`, written the way
   * cl writes checkpoints (so a checksum, when there is one, matches the edited content).
   */
  const tamperedResume = async (name: string, k: number, edit: (st: NmcState) => void): Promise<{ full: RunRecord; resumed: { record: RunRecord; events: RunEvent[] } }> => {
    const full = await complete(options(`${name}-full.json`, 'nmc', {}));
    const opts = options(`${name}-cut.json`, 'nmc', {});
    const id = await cut(opts, k);
    await markInterrupted(opts.storePath, id, 'cut by the test');
    const ck = JSON.parse(fs.readFileSync(checkpointPath(opts.storePath, id), 'utf8')) as Checkpoint;
    const state = ck.state as NmcState;
    edit(state);
    await writeCheckpoint(opts.storePath, { run: id, task: ck.task, method: ck.method, state });
    return { full: full.record, resumed: await complete({ ...opts, resume: id }) };
  };
  const checkpointNote = (events: RunEvent[]) => events.find((e) => e.type === 'checkpoint') as Extract<RunEvent, { type: 'checkpoint' }>;

  it('a checkpoint that parses but does not reproduce the stored counts falls back to relearning the tasks', async () => {
    // Class 0 of the first task gets the mean of another class: task 3 no longer scores as stored.
    const { full, resumed } = await tamperedResume('wrong-mean', 3, (st) => {
      st.classes[0].sum = st.classes[1].sum.map((v) => (v / st.classes[1].count) * st.classes[0].count);
    });
    const note = checkpointNote(resumed.events);
    expect(note.restored).to.equal(false);
    expect(note.why).to.match(/does not reproduce task 3's stored counts/);
    expect(resumed.events.filter((e) => e.type === 'replayed')).to.have.length(3);
    expect(counts(resumed.record)).to.deep.equal(counts(full));
  });

  it('a checkpoint with an extra class is refused even when the last stored task scores as stored', async () => {
    // A class of task 5 slipped in with one far-away sample: it never wins on tasks 1..2, but it
    // would corrupt that class's mean when task 5 arrives.
    const { full, resumed } = await tamperedResume('extra-class', 2, (st) => {
      const future = full5.scenario.taskClasses[4][0];
      st.classes.push({ label: future, count: 1, sum: new Array<number>(st.dim).fill(-1000) });
    });
    const note = checkpointNote(resumed.events);
    expect(note.restored).to.equal(false);
    expect(note.why).to.match(/state .* differs from the one stored after task 2/);
    expect(counts(resumed.record)).to.deep.equal(counts(full));
  });

  it('a checkpoint with changed per-class sample counts is refused', async () => {
    // Twice the count and twice the sum: the same means and predictions, not the same state.
    const { full, resumed } = await tamperedResume('counts', 2, (st) => {
      st.classes[0].count *= 2;
      st.classes[0].sum = st.classes[0].sum.map((v) => 2 * v);
    });
    const note = checkpointNote(resumed.events);
    expect(note.restored).to.equal(false);
    expect(note.why).to.match(/state \(.*countsPerClass.*\) differs from the one stored after task 2/);
    expect(counts(resumed.record)).to.deep.equal(counts(full));
  });

  it('a checkpoint edited after it was written fails its checksum and is not used', async () => {
    const full = await complete(options('checksum-full.json', 'nmc', {}));
    const opts = options('checksum-cut.json', 'nmc', {});
    const id = await cut(opts, 2);
    await markInterrupted(opts.storePath, id, 'cut by the test');
    const file = checkpointPath(opts.storePath, id);
    const ck = JSON.parse(fs.readFileSync(file, 'utf8')) as Checkpoint;
    (ck.state as NmcState).classes[0].sum[0] += 1e-3;
    fs.writeFileSync(file, JSON.stringify(ck));
    const resumed = await complete({ ...opts, resume: id });
    const note = checkpointNote(resumed.events);
    expect(note.restored).to.equal(false);
    expect(note.why).to.match(/checksum/);
    expect(counts(resumed.record)).to.deep.equal(counts(full.record));
  });

  let full5: RunRecord;
  before(async () => {
    full5 = (await complete(options('classes.json', 'nmc', {}))).record;
  });
});
