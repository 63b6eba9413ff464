/**
 * Temp files of writers that died: named after their owner (host, pid), removed by the next writer
 * at once when the owner is gone from this host, else only once stale; own temps removed on exit.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { extractFeatures } from '../src/backbones/feature-cache.js';
import type { Backbone } from '../src/backbones/backbone.js';
import { hostTag, isOrphan, ownedTempName, pidAlive, sweepLeftovers, tempOwner } from '../src/leftovers.js';
import { featureCacheDir } from '../src/paths.js';
import { checkpointPath, removeCheckpoint, writeCheckpoint } from '../src/store/checkpoints.js';
import type { ImageDataset } from '../src/types.js';

/** The pid of a process that has exited (a child that ran to its end). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  expect(pidAlive(r.pid as number)).to.equal(false);
  return r.pid as number;
}

const HOUR = 3600 * 1000;

describe('leftovers: temp files of dead writers', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cl-leftovers-'));
  });
  afterEach(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('names a temp after its owner and reads the owner back', () => {
    const name = ownedTempName('.tmp-cifar100-train-0123456789abcdef');
    expect(name).to.match(new RegExp(`^\\.tmp-cifar100-train-0123456789abcdef~${hostTag().replace(/\./g, '\\.')}~${process.pid}~[0-9a-f]{8}$`));
    expect(tempOwner(name)).to.deep.equal({ host: hostTag(), pid: process.pid });
    const file = ownedTempName('/s/db.json.checkpoints/run1.json', '.tmp');
    expect(tempOwner(path.basename(file), '.tmp')).to.deep.equal({ host: hostTag(), pid: process.pid });
    expect(tempOwner('run1.json.deadbeef.tmp', '.tmp')).to.equal(null); // an older cl's name
    expect(tempOwner('.extract-AbC123')).to.equal(null);
  });

  it('isOrphan: a dead owner on this host at once; live owners never; other hosts and old names only when stale', () => {
    const now = Date.now();
    const dead = deadPid();
    const fresh = now - 1000;
    const old = now - 2 * HOUR;
    expect(isOrphan(`.tmp-x~${hostTag()}~${dead}~deadbeef`, fresh, HOUR, { now })).to.equal(true);
    expect(isOrphan(`.tmp-x~${hostTag()}~${process.pid}~deadbeef`, old, HOUR, { now })).to.equal(false);
    expect(isOrphan(`.tmp-x~${hostTag()}~${process.ppid}~deadbeef`, old, HOUR, { now })).to.equal(false);
    expect(isOrphan(`.tmp-x~another-host~${dead}~deadbeef`, fresh, HOUR, { now })).to.equal(false);
    expect(isOrphan(`.tmp-x~another-host~${dead}~deadbeef`, old, HOUR, { now })).to.equal(true);
    expect(isOrphan('.tmp-x-123-deadbeef', fresh, HOUR, { now })).to.equal(false);
    expect(isOrphan('.tmp-x-123-deadbeef', old, HOUR, { now })).to.equal(true);
  });

  it('sweepLeftovers removes exactly the orphans among the matching names', async () => {
    const dead = deadPid();
    const make = (name: string, ageMs = 0): void => {
      const p = path.join(tmp, name);
      fs.mkdirSync(p);
      fs.writeFileSync(path.join(p, 'features.npy'), Buffer.alloc(1000));
      if (ageMs) fs.utimesSync(p, new Date(Date.now() - ageMs), new Date(Date.now() - ageMs));
    };
    make(`.tmp-a~${hostTag()}~${dead}~00000001`);
    make(`.tmp-b~${hostTag()}~${process.pid}~00000002`);
    make(`.tmp-c~far-away~${dead}~00000003`);
    make(`.tmp-d~far-away~${dead}~00000004`, 2 * HOUR);
    make('.tmp-e-1-legacy');
    make('.tmp-f-1-legacy', 2 * HOUR);
    make(`entry~${hostTag()}~${dead}~00000005`); // not a temp name: never touched
    const removed = await sweepLeftovers(tmp, { prefix: '.tmp-', staleMs: HOUR });
    expect(removed.sort()).to.deep.equal([`.tmp-a~${hostTag()}~${dead}~00000001`, `.tmp-d~far-away~${dead}~00000004`, '.tmp-f-1-legacy']);
    expect(fs.readdirSync(tmp).sort()).to.deep.equal([
      `.tmp-b~${hostTag()}~${process.pid}~00000002`,
      `.tmp-c~far-away~${dead}~00000003`,
      '.tmp-e-1-legacy',
      `entry~${hostTag()}~${dead}~00000005`,
    ]);
  });

  it('checkpoints: the next writer removes temp files of dead writers, and the folder goes with the last checkpoint', async () => {
    const store = path.join(tmp, 'db.json');
    const dir = path.dirname(checkpointPath(store, 'r1'));
    fs.mkdirSync(dir, { recursive: true });
    const dead = deadPid();
    const orphan = path.join(dir, `r0.json~${hostTag()}~${dead}~0badc0de.tmp`);
    const legacy = path.join(dir, 'r0.json.0badc0de.tmp');
    fs.writeFileSync(orphan, '{"partial');
    fs.writeFileSync(legacy, '{"partial');
    fs.utimesSync(legacy, new Date(Date.now() - 2 * HOUR), new Date(Date.now() - 2 * HOUR));
    await writeCheckpoint(store, { run: 'r1', task: 0, method: 'nmc', state: { x: 1 } });
    expect(fs.readdirSync(dir)).to.deep.equal(['r1.json']);
    await removeCheckpoint(store, 'r1');
    expect(fs.existsSync(dir)).to.equal(false);
  });

  it('feature cache: a dead extraction\'s temp dir is removed at the next extraction, not an hour later', async () => {
    const split = { images: new Uint8Array(4 * 3), labels: Int32Array.from([0, 1, 0, 1]), count: 4, height: 1, width: 1, channels: 3 };
    const ds: ImageDataset = { name: 'toy', numClasses: 2, train: split, test: split, source: { location: '/nowhere', verified: 'structure' } };
    const bb: Backbone = {
      id: 'toy@1',
      kind: 'toy',
      preprocessing: null,
      preprocessingId: 'none',
      describe: () => ({}),
      extract: async (s) => Float32Array.from({ length: s.count * 2 }, (_, i) => i),
      dim: () => 2,
      dispose: async () => undefined,
    };
    const dir = featureCacheDir(tmp);
    fs.mkdirSync(dir, { recursive: true });
    const dead = path.join(dir, `.tmp-toy-train-0000000000000000~${hostTag()}~${deadPid()}~0badc0de`);
    fs.mkdirSync(dead);
    fs.writeFileSync(path.join(dead, 'features.npy'), Buffer.alloc(1 << 20));
    await extractFeatures(ds, 'train', bb, { cacheRoot: tmp, quiet: true });
    expect(fs.readdirSync(dir).filter((n) => n.startsWith('.'))).to.deep.equal([]);
  });
});
