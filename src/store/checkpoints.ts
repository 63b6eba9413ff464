/**
 * Learner checkpoints of unfinished runs, so `cl resume` can restore the learner instead of
 * relearning every stored task. One file per run beside the results store
 * (`<store>.checkpoints/<run id>.json`), replaced atomically after every stored increment and
 * removed when the run finishes. A checkpoint is only a shortcut: resume checks that the restored
 * learner reproduces the last stored increment exactly, and replays the tasks when it does not.
 *
 * Typed arrays in a learner state (Float64Array, …: the closed-form learners' covariance and Gram
 * matrices, up to hundreds of MB) are not written as JSON numbers: their bytes go to a sidecar
 * `<run id>.<nonce>.bin`, written and synced before the JSON that names it, so the JSON never
 * points at a partial file; the JSON holds `{"$typed": dtype, "offset", "length"}` in their place.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export interface Checkpoint {
  format: 'cl-checkpoint';
  version: 1;
  run: string;
  /** 0-based task after which the state was taken. */
  task: number;
  method: string;
  state: unknown;
  /** Sidecar holding the state's typed arrays (absent when it has none). */
  binary?: { file: string; bytes: number };
}

const TYPED = {
  float64: Float64Array,
  float32: Float32Array,
  int32: Int32Array,
  uint32: Uint32Array,
  uint8: Uint8Array,
} as const;
type Dtype = keyof typeof TYPED;
type Typed = InstanceType<(typeof TYPED)[Dtype]>;

interface TypedRef {
  $typed: Dtype;
  offset: number;
  length: number;
}

function dtypeOf(v: unknown): Dtype | null {
  for (const [name, ctor] of Object.entries(TYPED) as [Dtype, (typeof TYPED)[Dtype]][]) if (v instanceof ctor) return name;
  return null;
}

export function checkpointPath(storePath: string, runId: string): string {
  return path.join(`${path.resolve(storePath)}.checkpoints`, `${runId}.json`);
}

/** Sidecar names of a run: `<run id>.<hex nonce>.bin`. */
const sidecarPattern = (runId: string): RegExp => new RegExp(`^${runId.replace(/[^\w-]/g, '')}\\.[0-9a-f]+\\.bin$`);

async function writeSynced(file: string, parts: Uint8Array[]): Promise<void> {
  const fh = await fsp.open(file, 'w');
  try {
    for (const p of parts) {
      for (let done = 0; done < p.byteLength; ) done += (await fh.write(p, done, p.byteLength - done)).bytesWritten;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Write (replace) the checkpoint of a run: sidecar (if any) first, then temp JSON, fsync, rename. */
export async function writeCheckpoint(storePath: string, ck: Omit<Checkpoint, 'format' | 'version' | 'binary'>): Promise<void> {
  const file = checkpointPath(storePath, ck.run);
  const dir = path.dirname(file);
  await fsp.mkdir(dir, { recursive: true });
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const json = JSON.stringify({ format: 'cl-checkpoint', version: 1, ...ck }, (_key, value: unknown) => {
    const dtype = dtypeOf(value);
    if (!dtype) return value;
    const arr = value as Typed;
    const ref: TypedRef = { $typed: dtype, offset, length: arr.length };
    blobs.push(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
    const pad = (8 - (arr.byteLength % 8)) % 8;
    if (pad) blobs.push(new Uint8Array(pad));
    offset += arr.byteLength + pad;
    return ref;
  });
  let text = json;
  let sidecar: string | null = null;
  if (blobs.length > 0) {
    sidecar = `${ck.run}.${randomBytes(6).toString('hex')}.bin`;
    await writeSynced(path.join(dir, sidecar), blobs);
    text = `${json.slice(0, -1)},"binary":${JSON.stringify({ file: sidecar, bytes: offset })}}`;
  }
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await writeSynced(tmp, [Buffer.from(text, 'utf8')]);
  await fsp.rename(tmp, file);
  // Older sidecars of this run are no longer referenced.
  const pattern = sidecarPattern(ck.run);
  for (const name of await fsp.readdir(dir)) {
    if (pattern.test(name) && name !== sidecar) await fsp.rm(path.join(dir, name), { force: true });
  }
}

/** Replace every {$typed, offset, length} in `v` by its array, copied out of `bytes`. */
function revive(v: unknown, bytes: Buffer): unknown {
  if (Array.isArray(v)) return v.map((e) => revive(e, bytes));
  if (!v || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  if (typeof o.$typed === 'string') {
    const ctor = TYPED[o.$typed as Dtype];
    const { offset, length } = o as unknown as TypedRef;
    if (!ctor || !Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0) throw new Error(`bad typed-array reference ${JSON.stringify(o)}`);
    const n = length * ctor.BYTES_PER_ELEMENT;
    if (offset + n > bytes.length) throw new Error(`typed array at ${offset} (+${n} bytes) runs past the ${bytes.length}-byte sidecar`);
    const copy = new Uint8Array(n);
    copy.set(bytes.subarray(offset, offset + n));
    return new ctor(copy.buffer);
  }
  const out: Record<string, unknown> = {};
  for (const [k, e] of Object.entries(o)) out[k] = revive(e, bytes);
  return out;
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
  let ck: Partial<Checkpoint>;
  try {
    ck = JSON.parse(text) as Partial<Checkpoint>;
  } catch {
    return { checkpoint: null, why: `${file} is not valid JSON` };
  }
  if (ck.format !== 'cl-checkpoint' || ck.version !== 1 || ck.run !== runId || !Number.isInteger(ck.task)) {
    return { checkpoint: null, why: `${file} is not a checkpoint of this run` };
  }
  if (ck.binary) {
    const { file: name, bytes } = ck.binary;
    if (typeof name !== 'string' || !sidecarPattern(runId).test(name)) return { checkpoint: null, why: `${file} names no valid sidecar file` };
    const bin = path.join(path.dirname(file), name);
    let buf: Buffer;
    try {
      buf = await fsp.readFile(bin);
    } catch {
      return { checkpoint: null, why: `the checkpoint's array file ${bin} is missing` };
    }
    if (buf.length !== bytes) return { checkpoint: null, why: `${bin} has ${buf.length} bytes, the checkpoint expects ${bytes}` };
    try {
      ck.state = revive(ck.state, buf);
    } catch (e) {
      return { checkpoint: null, why: `${file}: ${e instanceof Error ? e.message : String(e)}` };
    }
  }
  return { checkpoint: ck as Checkpoint, why: null };
}

/** Remove a run's checkpoint (and its sidecars), and the checkpoint folder once no unfinished run has one. */
export async function removeCheckpoint(storePath: string, runId: string): Promise<void> {
  const file = checkpointPath(storePath, runId);
  const dir = path.dirname(file);
  await fsp.rm(file, { force: true });
  const pattern = sidecarPattern(runId);
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  for (const name of names) if (pattern.test(name)) await fsp.rm(path.join(dir, name), { force: true });
  await fsp.rmdir(dir).catch(() => undefined); // fails while other checkpoints remain
}
