/**
 * Learner checkpoints of unfinished runs, so `cl resume` can restore the learner instead of
 * relearning every stored task. One file per run beside the results store
 * (`<store>.checkpoints/<run id>.json`), replaced atomically after every stored increment and
 * removed when the run finishes. Each carries a SHA-256 of its content, so a file changed after it
 * was written (by hand, by a bad disk) is refused. Temp files of writers that died are removed by
 * the next writer (leftovers.ts). A checkpoint is only a shortcut: resume (src/resume.ts) checks
 * that the restored learner reproduces the last stored increment and its learner state exactly,
 * and replays the tasks when it does not.
 *
 * Typed arrays in a learner state (Float64Array, …: the closed-form learners' covariance and Gram
 * matrices, up to hundreds of MB) are not written as JSON numbers: their bytes go to a sidecar
 * `<run id>.<nonce>.bin`, written, synced and renamed into place before the JSON that names it, so
 * the JSON never points at a partial file; the JSON holds `{"$typed": dtype, "offset", "length"}`
 * in their place, and its `binary` entry (covered by the checksum) holds the sidecar's SHA-256.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ownedTempName, sweepLeftovers, trackTemp } from '../leftovers.js';
import { naming, storeIoError } from './fsio.js';

export interface Checkpoint {
  format: 'cl-checkpoint';
  version: 2;
  /** SHA-256 (hex) of JSON.stringify({ run, task, method, state, binary }), typed arrays as references. */
  sha256: string;
  run: string;
  /** 0-based task after which the state was taken. */
  task: number;
  method: string;
  state: unknown;
  /** Sidecar holding the state's typed arrays (absent when it has none). */
  binary?: Sidecar;
}

interface Sidecar {
  file: string;
  bytes: number;
  /** SHA-256 (hex) of the sidecar's bytes. */
  sha256: string;
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

type Content = Pick<Checkpoint, 'run' | 'task' | 'method' | 'state'>;

/**
 * The checksum of a checkpoint's content (what it claims about the run, the learner state with its
 * typed arrays as references, and the sidecar's own checksum).
 */
export function checkpointDigest(c: Content & Pick<Checkpoint, 'binary'>): string {
  const body: Record<string, unknown> = { run: c.run, task: c.task, method: c.method, state: c.state };
  if (c.binary) body.binary = c.binary;
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
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
 * Write `parts` to `file` through an owned temp file: write, fsync, rename. A failed write (a full
 * disk) leaves no temp file; environment errors name the file and the cause (docs/store.md).
 */
async function writeAtomic(storePath: string, file: string, parts: Uint8Array[]): Promise<void> {
  const tmp = ownedTempName(file, '.tmp');
  const release = trackTemp(tmp);
  try {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await sweepOnce(path.dirname(file));
    const fh = await fsp.open(tmp, 'w');
    try {
      for (const p of parts) {
        for (let done = 0; done < p.byteLength; ) done += (await fh.write(p, done, p.byteLength - done)).bytesWritten;
      }
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

/** The state with every typed array replaced by a reference into `blobs` (8-byte aligned). */
function externalize(state: unknown): { state: unknown; blobs: Uint8Array[]; bytes: number } {
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const walk = (v: unknown): unknown => {
    const dtype = dtypeOf(v);
    if (dtype) {
      const arr = v as Typed;
      const ref: TypedRef = { $typed: dtype, offset, length: arr.length };
      blobs.push(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
      const pad = (8 - (arr.byteLength % 8)) % 8;
      if (pad) blobs.push(new Uint8Array(pad));
      offset += arr.byteLength + pad;
      return ref;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (!v || typeof v !== 'object') return v;
    const toJSON = (v as { toJSON?: () => unknown }).toJSON;
    if (typeof toJSON === 'function') return walk(toJSON.call(v));
    const out: Record<string, unknown> = {};
    for (const [k, e] of Object.entries(v)) if (e !== undefined && typeof e !== 'function') out[k] = walk(e);
    return out;
  };
  return { state: walk(state), blobs, bytes: offset };
}

/** Write (replace) the checkpoint of a run: sidecar (if any) first, then the JSON; each atomically. */
export async function writeCheckpoint(storePath: string, content: Content): Promise<void> {
  const file = checkpointPath(storePath, content.run);
  const dir = path.dirname(file);
  const ext = externalize(content.state);
  let binary: Sidecar | undefined;
  if (ext.blobs.length > 0) {
    const hash = createHash('sha256');
    for (const b of ext.blobs) hash.update(b);
    binary = { file: `${content.run}.${randomBytes(6).toString('hex')}.bin`, bytes: ext.bytes, sha256: hash.digest('hex') };
    await writeAtomic(storePath, path.join(dir, binary.file), ext.blobs);
  }
  const body = { run: content.run, task: content.task, method: content.method, state: ext.state, ...(binary ? { binary } : {}) };
  const ck: Checkpoint = { format: 'cl-checkpoint', version: 2, sha256: checkpointDigest(body), ...body };
  await writeAtomic(storePath, file, [Buffer.from(JSON.stringify(ck), 'utf8')]);
  // Older sidecars of this run are no longer referenced.
  const pattern = sidecarPattern(content.run);
  for (const name of await fsp.readdir(dir)) {
    if (pattern.test(name) && name !== binary?.file) await fsp.rm(path.join(dir, name), { force: true });
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
  if (!ck || ck.format !== 'cl-checkpoint' || ck.version !== 2 || ck.run !== runId || !Number.isInteger(ck.task) || typeof ck.method !== 'string') {
    return { checkpoint: null, why: `${file} is not a checkpoint of this run (format cl-checkpoint, version 2)` };
  }
  if (ck.sha256 !== checkpointDigest(ck as Checkpoint)) return { checkpoint: null, why: `${file} does not match its checksum (changed after it was written)` };
  if (ck.binary) {
    const { file: name, bytes, sha256 } = ck.binary;
    if (typeof name !== 'string' || !sidecarPattern(runId).test(name)) return { checkpoint: null, why: `${file} names no valid sidecar file` };
    const bin = path.join(path.dirname(file), name);
    let buf: Buffer;
    try {
      buf = await fsp.readFile(bin);
    } catch {
      return { checkpoint: null, why: `the checkpoint's array file ${bin} is missing` };
    }
    if (buf.length !== bytes) return { checkpoint: null, why: `${bin} has ${buf.length} bytes, the checkpoint expects ${bytes}` };
    if (createHash('sha256').update(buf).digest('hex') !== sha256) return { checkpoint: null, why: `${bin} does not match its checksum (changed after it was written)` };
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
  await sweepOnce(dir);
  await fsp.rmdir(dir).catch(() => undefined); // fails while other checkpoints remain
}
