/**
 * Learner checkpoints of unfinished runs, so `cl resume` can restore the learner instead of
 * relearning every stored task. One file per run beside the results store
 * (`<store>.checkpoints/<run id>.json`), replaced atomically after every stored increment and
 * removed when the run finishes. Each carries a SHA-256 of its content, so a file changed after it
 * was written (by hand, by a bad disk) is refused. Temp files of writers that died are removed by
 * the next writer (leftovers.ts). A checkpoint is only a shortcut: resume (src/resume.ts) checks
 * that the restored learner reproduces the last stored increment and its learner state exactly,
 * and replays the tasks when it does not.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ownedTempName, sweepLeftovers, trackTemp } from '../leftovers.js';
import { naming, storeIoError } from './fsio.js';

export interface Checkpoint {
  format: 'cl-checkpoint';
  version: 2;
  /** SHA-256 (hex) of JSON.stringify({ run, task, method, state }). */
  sha256: string;
  run: string;
  /** 0-based task after which the state was taken. */
  task: number;
  method: string;
  state: unknown;
}

export function checkpointPath(storePath: string, runId: string): string {
  return path.join(`${path.resolve(storePath)}.checkpoints`, `${runId}.json`);
}

type Content = Pick<Checkpoint, 'run' | 'task' | 'method' | 'state'>;

/** The checksum of a checkpoint's content (what it claims about the run, and the learner state). */
export function checkpointDigest(c: Content): string {
  return createHash('sha256').update(JSON.stringify({ run: c.run, task: c.task, method: c.method, state: c.state })).digest('hex');
}

/** A temp file older than this without a live owner on this host is a leftover (writes take milliseconds). */
const STALE_TMP_MS = 60 * 60 * 1000;
const swept = new Set<string>();

/** Once per process and folder: remove temp files of writers that died (see leftovers.ts). */
async function sweepOnce(dir: string): Promise<void> {
  if (swept.has(dir)) return;
  swept.add(dir);
  await sweepLeftovers(dir, { prefix: '', suffix: '.tmp', staleMs: STALE_TMP_MS });
}

/**
 * Write (replace) the checkpoint of a run: temp file (named after its owner), fsync, rename. A
 * failed write (a full disk) leaves no temp file; environment errors name the file and the cause
 * (docs/store.md).
 */
export async function writeCheckpoint(storePath: string, content: Content): Promise<void> {
  const ck: Checkpoint = { format: 'cl-checkpoint', version: 2, sha256: checkpointDigest(content), ...content };
  const file = checkpointPath(storePath, ck.run);
  const tmp = ownedTempName(file, '.tmp');
  const release = trackTemp(tmp);
  try {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await sweepOnce(path.dirname(file));
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify(ck));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw storeIoError(naming(file, e), 'write', path.resolve(storePath), file);
  } finally {
    release();
  }
}

/** The run's checkpoint, or null with the reason when there is none or it cannot be read. */
export async function readCheckpoint(storePath: string, runId: string): Promise<{ checkpoint: Checkpoint | null; why: string | null }> {
  const file = checkpointPath(storePath, runId);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    return { checkpoint: null, why: 'no checkpoint was saved' };
  }
  try {
    const ck = JSON.parse(text) as Partial<Checkpoint>;
    if (ck.format !== 'cl-checkpoint' || ck.version !== 2 || ck.run !== runId || !Number.isInteger(ck.task) || typeof ck.method !== 'string') {
      return { checkpoint: null, why: `${file} is not a checkpoint of this run (format cl-checkpoint, version 2)` };
    }
    if (ck.sha256 !== checkpointDigest(ck as Checkpoint)) return { checkpoint: null, why: `${file} does not match its checksum (changed after it was written)` };
    return { checkpoint: ck as Checkpoint, why: null };
  } catch {
    return { checkpoint: null, why: `${file} is not valid JSON` };
  }
}

/** Remove a run's checkpoint, and the checkpoint folder once no unfinished run has one. */
export async function removeCheckpoint(storePath: string, runId: string): Promise<void> {
  const file = checkpointPath(storePath, runId);
  await fsp.rm(file, { force: true });
  await sweepOnce(path.dirname(file));
  await fsp.rmdir(path.dirname(file)).catch(() => undefined); // fails while other checkpoints remain
}
