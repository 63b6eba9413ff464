/**
 * Learner checkpoints of unfinished runs, so `cl resume` can restore the learner instead of
 * relearning every stored task. One file per run beside the results store
 * (`<store>.checkpoints/<run id>.json`), replaced atomically after every stored increment and
 * removed when the run finishes. A checkpoint is only a shortcut: resume checks that the restored
 * learner reproduces the last stored increment exactly, and replays the tasks when it does not.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { naming, storeIoError } from './fsio.js';

export interface Checkpoint {
  format: 'cl-checkpoint';
  version: 1;
  run: string;
  /** 0-based task after which the state was taken. */
  task: number;
  method: string;
  state: unknown;
}

export function checkpointPath(storePath: string, runId: string): string {
  return path.join(`${path.resolve(storePath)}.checkpoints`, `${runId}.json`);
}

/**
 * Write (replace) the checkpoint of a run: temp file, fsync, rename. A failed write (a full disk)
 * leaves no temp file; environment errors name the file and the cause (docs/store.md).
 */
export async function writeCheckpoint(storePath: string, ck: Omit<Checkpoint, 'format' | 'version'>): Promise<void> {
  const file = checkpointPath(storePath, ck.run);
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify({ format: 'cl-checkpoint', version: 1, ...ck }));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw storeIoError(naming(file, e), 'write', path.resolve(storePath), file);
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
    if (ck.format !== 'cl-checkpoint' || ck.version !== 1 || ck.run !== runId || !Number.isInteger(ck.task)) {
      return { checkpoint: null, why: `${file} is not a checkpoint of this run` };
    }
    return { checkpoint: ck as Checkpoint, why: null };
  } catch {
    return { checkpoint: null, why: `${file} is not valid JSON` };
  }
}

/** Remove a run's checkpoint, and the checkpoint folder once no unfinished run has one. */
export async function removeCheckpoint(storePath: string, runId: string): Promise<void> {
  const file = checkpointPath(storePath, runId);
  await fsp.rm(file, { force: true });
  await fsp.rmdir(path.dirname(file)).catch(() => undefined); // fails while other checkpoints remain
}
