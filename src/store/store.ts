/**
 * The results store (docs/architecture.md "Results are precious"; the layout and its guarantees are in
 * docs/store.md). `--store results/db.json` names it:
 *
 *   results/db.json              a small manifest: {"format": "cl-store", "version": 2, "data": "db.json.d"}
 *   results/db.json.d/records/   one file per record revision, <shard>/<id>.<rev>.json (records.ts)
 *   results/db.json.d/index/     the index: compacted snapshot + per-process logs (index-files.ts)
 *   results/db.json.d/tmp/       temp files, published with link(2), removed when a write fails
 *   results/db.json.lock/        maintenance lock (migration, compaction; lock.ts)
 *   results/db.json.checkpoints/ learner checkpoints of unfinished runs (checkpoints.ts)
 *
 * A process writes only the records it changes, so a run costs the same in a store of 10 or
 * 100,000 records. Updates are optimistic: read revision N, change it, publish revision N+1 —
 * which fails if anyone published N+1 first; then the change is applied again to the newer
 * record. No lock is held while writing, so a paused process cannot hold anyone up, and a paused
 * process cannot overwrite anything newer when it resumes. A single-file store (version 1, the
 * layout of earlier cl versions) is migrated automatically, its file kept as `<store>.v1.bak`.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { constants, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { JSONFile } from 'lowdb/node';
import { UserError } from '../errors.js';
import type { RecordBase, StoredRecord } from '../types.js';
import { entryOf, malformedEntry, recordProblem, type IndexEntry } from './entries.js';
import { pidAlive } from '../leftovers.js';
import { createExclusive, errCode, fsyncDir, isEnvironmentError, makeDirs, replaceFile, storeIoError, sweepTemps } from './fsio.js';
import { IndexFiles, type IndexLine, type LoadedIndex } from './index-files.js';
import { takeLock } from './lock.js';
import { ID_PATTERN, RecordFiles } from './records.js';

export type { RecordBase, StoredRecord } from '../types.js';
export type { CompatEntry, EntryBase, IndexEntry, RunEntry } from './entries.js';
export { isCompatEntry, isRunEntry, isRunRecord } from './entries.js';

/** Version of the store layout (1: one JSON file holding every record; 2: docs/store.md). */
export const STORE_VERSION = 2;
const MANIFEST_FORMAT = 'cl-store';

export interface StoreOptions {
  /** The maintenance lock is taken over when not refreshed for this long (ms; default 10,000, at least 2,000). */
  staleMs?: number;
  /** Give up waiting for the maintenance lock (migration) after about this long (ms; default 60,000). */
  lockTimeoutMs?: number;
  /** Where warnings (a malformed record skipped) and notices (a store migrated) go; default stderr. */
  warn?: (message: string) => void;
  /** fsync every write (default true). Only bulk generators (benchmarks) turn it off, then sync once. */
  durable?: boolean;
  /**
   * The caller only reads (`cl ls`, `show`, `compare`): a store in a folder cl cannot write is
   * read as it is (a version-1 file is then read in place instead of migrated). Otherwise a store
   * that cannot be written is reported when it is opened, before any work is done.
   */
  readOnly?: boolean;
  /** Test hook: called right before a revision or snapshot is published. */
  beforePublish?: (what: 'record' | 'snapshot', file: string) => void | Promise<void>;
}

export interface ListFilter {
  kind?: string;
  /** Compared with effectiveStatus(record). */
  status?: string;
}

/** A record that does not have the shape of its kind (missing fields, not JSON): named, never rendered. */
export class MalformedRecordError extends UserError {
  constructor(
    readonly id: string,
    readonly problem: string,
    store: string,
  ) {
    super(`record ${id} in results store ${store} is malformed (${problem})`, `\`cl show ${id} --json\` prints it as stored; repair the record file, or remove it from the store folder`);
    this.name = 'MalformedRecordError';
  }
}

/**
 * The status to show: a 'running' record whose process is gone from this host is 'interrupted'
 * (it crashed or was killed). Records from other hosts are taken at their word.
 */
export function effectiveStatus(record: Pick<RecordBase, 'status' | 'pid' | 'host'>): string {
  if (record.status !== 'running' || record.host !== os.hostname()) return record.status;
  return pidAlive(record.pid) ? 'running' : 'interrupted';
}

/** The record with its effective status (what `cl show` and `cl ls` display). */
export function withEffectiveStatus<R extends Pick<RecordBase, 'status' | 'pid' | 'host'>>(record: R): R {
  // 'running' may become 'interrupted', a status every record kind has.
  return { ...record, status: effectiveStatus(record) as R['status'] };
}

/** A new record id: milliseconds since the epoch in base36 (sortable by time) + 6 random base36 chars. */
export function newRunId(): string {
  let rand = '';
  for (let k = 0; k < 6; k++) rand += randomInt(36).toString(36);
  return Date.now().toString(36).padStart(8, '0') + rand;
}

/** The base fields of a new record created by this process now. */
export function newRecordBase(kind: string, status = 'running'): RecordBase {
  const now = new Date().toISOString();
  return { id: newRunId(), kind, createdAt: now, updatedAt: now, status, pid: process.pid, host: os.hostname() };
}

/** One revision of a record as stored: a metadata line, then the record (or a deletion mark). */
interface Revision {
  id: string;
  rev: number;
  file: string;
  /** Nonce of every revision of this record so far (chain[k] = revision k+1). */
  chain: string[];
  deleted: boolean;
  /** The parsed record, or null when the file cannot be parsed (then `problem` says why). */
  value: unknown;
  problem: string | null;
}

function parseRevision(id: string, rev: number, file: string, text: string): Revision {
  const nl = text.indexOf('\n');
  const r: Revision = { id, rev, file, chain: [], deleted: false, value: null, problem: null };
  try {
    const meta = JSON.parse(nl < 0 ? text : text.slice(0, nl)) as { rev?: unknown; chain?: unknown; deleted?: unknown };
    if (typeof meta.chain === 'string') r.chain = meta.chain.split('.');
    r.deleted = meta.deleted === true;
    if (meta.rev !== rev) r.problem = `the file says revision ${String(meta.rev)}`;
  } catch {
    r.problem = 'its first line is not valid JSON';
  }
  if (!r.deleted && r.problem === null) {
    try {
      r.value = JSON.parse(text.slice(nl + 1));
      r.problem = recordProblem(r.value, id);
    } catch {
      r.problem = 'it is not valid JSON';
    }
  }
  return r;
}

/** The index entry of a record this process wrote (malformed ones are indexed as such, not refused). */
function entryFor(record: RecordBase, rev: number): IndexEntry {
  const problem = recordProblem(record, record.id);
  return problem === null ? entryOf(record, rev) : malformedEntry(record, record.id, rev, problem);
}

function lineOf(r: Revision): IndexLine {
  if (r.deleted) return { id: r.id, rev: r.rev, deleted: true };
  if (r.problem !== null) return malformedEntry(r.value, r.id, r.rev, r.problem);
  return entryOf(r.value as RecordBase, r.rev);
}

/** Oldest first (deleted records, which have no creation time, first), then by id. */
const byCreation = (a: { createdAt?: string; id: string }, b: { createdAt?: string; id: string }): number => {
  const x = a.createdAt ?? '';
  const y = b.createdAt ?? '';
  return x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
};

function describe(e: IndexEntry): string {
  return `${e.id} (${e.kind}, ${effectiveStatus(e)}, ${e.createdAt})`;
}

export class Store {
  private readonly records: RecordFiles;
  private readonly index: IndexFiles;
  private readonly tmpDir: string;
  private readonly staleMs: number;
  private readonly lockTimeoutMs: number;
  private readonly durable: boolean;
  private readonly warned = new Set<string>();

  /** The path the user passed (the manifest file). */
  readonly path: string;

  constructor(
    file: string,
    /** The folder holding records and index. */
    readonly dataDir: string,
    private readonly opts: StoreOptions = {},
  ) {
    this.path = file;
    this.staleMs = Math.max(2000, opts.staleMs ?? 10000);
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 60000;
    this.durable = opts.durable ?? true;
    this.tmpDir = path.join(dataDir, 'tmp');
    this.records = new RecordFiles(dataDir, this.tmpDir, this.durable);
    this.index = new IndexFiles(path.join(dataDir, 'index'), this.tmpDir, this.durable);
  }

  /** Warn once per message (stderr unless StoreOptions.warn). */
  warn(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    if (this.opts.warn) this.opts.warn(message);
    else process.stderr.write(`cl: warning: ${message}\n`);
  }

  /** Run a file-system step; environment errors become a UserError naming the file and cause. */
  private async io<T>(what: 'read' | 'write', fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw storeIoError(e, what, this.path, (e as NodeJS.ErrnoException | null)?.path ?? this.path);
    }
  }

  /** The newest revision of `id` (null when there is none). */
  private async revision(id: string): Promise<Revision | null> {
    const got = await this.records.read(id);
    return got ? parseRevision(id, got.rev, got.file, got.text) : null;
  }

  /**
   * Publish `body` as the revision after `parent` (the first one when null). Returns the new
   * revision number, or null when another writer got there first (re-read and try again).
   */
  private async publish(id: string, parent: Revision | null, body: string, deleted = false): Promise<number | null> {
    const rev = parent ? parent.rev + 1 : 1;
    const nonce = randomBytes(5).toString('hex');
    // chain[k] is the nonce of revision k+1 (a file edited by hand may have lost it: '-').
    const chain = [...Array.from({ length: rev - 1 }, (_, k) => parent?.chain[k] ?? '-'), nonce];
    const meta = JSON.stringify({ rev, chain: chain.join('.'), ...(deleted ? { deleted: true } : {}) });
    await this.opts.beforePublish?.('record', this.records.fileOf(id, rev));
    const res = await this.records.create(id, rev, `${meta}\n${body}`, async () => {
      // A newer revision exists right after ours: was it built on ours (then ours counted), or did
      // we publish into the freed slot of a revision that had been superseded (then ours is stale)?
      const newest = await this.revision(id);
      return newest !== null && newest.chain[rev - 1] === nonce;
    });
    return res === 'ok' ? rev : null;
  }

  /** The newest revision of an exact id or a unique prefix (UserError when unknown or ambiguous). */
  private async resolve(idOrPrefix: string): Promise<Revision> {
    if (ID_PATTERN.test(idOrPrefix)) {
      const r = await this.revision(idOrPrefix);
      if (r && !r.deleted) return r;
    }
    const candidates = idOrPrefix ? [...(await this.records.all()).keys()].filter((id) => id.startsWith(idOrPrefix)) : [];
    const live: Revision[] = [];
    for (const id of candidates.sort()) {
      const r = await this.revision(id);
      if (r && !r.deleted) live.push(r);
    }
    if (live.length === 1) return live[0];
    if (live.length === 0) {
      throw new UserError(`no record "${idOrPrefix}" in results store ${this.path}`, 'run `cl ls` to see the stored ids');
    }
    const shown = live.slice(0, 10).map((r) => describe(lineOf(r) as IndexEntry)).join('; ');
    const more = live.length > 10 ? `; and ${live.length - 10} more` : '';
    throw new UserError(`"${idOrPrefix}" matches ${live.length} records in ${this.path}: ${shown}${more}`, 'give more characters of the id');
  }

  /** Add a new record (its id must be new). Sets updatedAt. */
  async insert<R extends RecordBase>(record: R): Promise<R> {
    if (!ID_PATTERN.test(record.id)) throw new Error(`record id ${JSON.stringify(record.id)} is not a valid id (lowercase letters, digits, - and _)`);
    const stored = { ...record, updatedAt: new Date().toISOString() };
    return this.io('write', async () => {
      if ((await this.records.revisions(record.id)).length > 0) throw new Error(`record ${record.id} already exists in ${this.path}`);
      const rev = await this.publish(record.id, null, JSON.stringify(stored));
      if (rev === null) throw new Error(`record ${record.id} already exists in ${this.path}`);
      await this.index.append([entryFor(stored, rev)]);
      return structuredClone(stored);
    });
  }

  /**
   * Migration: store a version-1 record exactly as it is (updatedAt included). When the id is
   * already stored (a migration that stopped half-way, run again) the stored record stays, unless
   * the version-1 copy is newer (an earlier cl kept writing the old file meanwhile).
   */
  async importRecord(record: RecordBase): Promise<'copied' | 'present' | 'updated'> {
    const body = JSON.stringify(record);
    return this.io('write', async () => {
      for (let attempt = 0; attempt < 200; attempt++) {
        const cur = await this.revision(record.id);
        const have = cur && !cur.deleted ? (cur.value as Partial<RecordBase> | null) : null;
        if (cur && have && (JSON.stringify(have) === body || String(have.updatedAt ?? '') >= String(record.updatedAt ?? ''))) return 'present';
        const rev = await this.publish(record.id, cur, body);
        if (rev !== null) {
          await this.index.append([entryFor(record, rev)]);
          return cur ? 'updated' : 'copied';
        }
      }
      throw new Error(`record ${record.id} in ${this.path} keeps changing under the migration`);
    });
  }

  /**
   * Change one record (exact id or unique prefix); `mutate` edits it in place and may throw to
   * cancel (nothing is written then). When another process changed the record meanwhile, `mutate`
   * runs again on the newer record — so it must only edit the record it is given. Returns the
   * updated record.
   */
  async update<R extends RecordBase = StoredRecord>(idOrPrefix: string, mutate: (record: R) => void): Promise<R> {
    return this.io('write', async () => {
      const first = await this.resolve(idOrPrefix);
      const id = first.id;
      for (let attempt = 0; ; attempt++) {
        const cur = attempt === 0 ? first : await this.revision(id);
        if (!cur || cur.deleted) throw new UserError(`no record "${id}" in results store ${this.path}`, 'run `cl ls` to see the stored ids');
        if (cur.value === null) throw new MalformedRecordError(id, cur.problem ?? 'unreadable', this.path);
        const record = cur.value as R;
        mutate(record);
        if (record.id !== id) throw new Error(`update of ${id} tried to change its id`);
        record.updatedAt = new Date().toISOString();
        const rev = await this.publish(id, cur, JSON.stringify(record));
        if (rev !== null) {
          await this.index.append([entryFor(record, rev)]);
          return structuredClone(record);
        }
        if (attempt >= 200) throw new Error(`record ${id} in ${this.path} keeps changing under this update`);
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 + attempt * 2)));
      }
    });
  }

  /** One record by exact id or unique prefix (UserError when unknown, ambiguous or malformed). */
  async get<R extends RecordBase = StoredRecord>(idOrPrefix: string): Promise<R> {
    const r = await this.inspect(idOrPrefix);
    if (r.problem !== null) throw new MalformedRecordError(r.id, r.problem, this.path);
    return r.record as R;
  }

  /** One record as stored, whether or not it is well formed (for `cl show --json` of a damaged record). */
  async inspect(idOrPrefix: string): Promise<{ id: string; file: string; record: unknown; problem: string | null }> {
    return this.io('read', async () => {
      const r = await this.resolve(idOrPrefix);
      return { id: r.id, file: r.file, record: r.value, problem: r.problem };
    });
  }

  /**
   * The index entries (oldest first; deleted records left out), optionally filtered by kind and
   * effective status. Reads the index only (plus one directory listing per shard to catch what a
   * crash left unindexed); entries of malformed records carry `problem`.
   */
  async entries(filter: ListFilter = {}): Promise<IndexEntry[]> {
    const lines = await this.io('read', () => this.loadIndex());
    const out: IndexEntry[] = [];
    for (const l of lines.values()) {
      if ('deleted' in l) continue;
      if (filter.kind !== undefined && l.kind !== filter.kind) continue;
      if (filter.status !== undefined && effectiveStatus(l) !== filter.status) continue;
      out.push(l);
    }
    return out.sort(byCreation);
  }

  /**
   * Full records in creation order, optionally filtered. Reads every matching record file: for a
   * few records (tests, small stores); `cl ls` and `cl compare` select on entries() instead.
   * Malformed records are skipped with a warning naming them.
   */
  async list(filter: ListFilter | ((r: IndexEntry) => boolean) = {}): Promise<StoredRecord[]> {
    const entries = typeof filter === 'function' ? (await this.entries()).filter(filter) : await this.entries(filter);
    const out: StoredRecord[] = [];
    for (const e of entries) {
      try {
        out.push(await this.get(e.id));
      } catch (err) {
        if (!(err instanceof MalformedRecordError)) throw err;
        this.warn(`skipped record ${err.id} in ${this.path}: malformed (${err.problem})`);
      }
    }
    return out;
  }

  /** Delete one record (exact id or unique prefix); returns it. */
  async remove(idOrPrefix: string): Promise<RecordBase> {
    return this.io('write', async () => {
      const first = await this.resolve(idOrPrefix);
      const id = first.id;
      for (let attempt = 0; ; attempt++) {
        const cur = attempt === 0 ? first : await this.revision(id);
        if (!cur || cur.deleted) throw new UserError(`no record "${id}" in results store ${this.path}`);
        const rev = await this.publish(id, cur, JSON.stringify({ id, deletedAt: new Date().toISOString() }), true);
        if (rev !== null) {
          await this.index.append([{ id, rev, deleted: true }]);
          return cur.value as RecordBase;
        }
        if (attempt >= 200) throw new Error(`record ${id} in ${this.path} keeps changing under this removal`);
      }
    });
  }

  /**
   * Read the index and check it against the record files: an id whose newest revision differs from
   * its entry (a process died between publishing a record and indexing it, or a file was edited)
   * is read and re-indexed; ids whose files are gone are dropped. Compacts when worth it.
   */
  private async loadIndex(): Promise<Map<string, IndexLine>> {
    const loaded = await this.index.load();
    const { lines, stale } = await this.reconcile(loaded);
    if (loaded.damaged) this.warn(`the index of ${this.path} was damaged (${loaded.damaged}); rebuilt from the record files`);
    const worth = loaded.damaged !== null || stale > 0 || loaded.logFiles > 500 || (loaded.logLines > 1000 && loaded.logLines > lines.size / 2);
    if (worth) await this.compactWith(loaded, lines, 0);
    return lines;
  }

  private async reconcile(loaded: LoadedIndex): Promise<{ lines: Map<string, IndexLine>; stale: number }> {
    const lines = loaded.lines;
    const onDisk = await this.records.all();
    const recheck: string[] = [];
    for (const [id, rev] of onDisk) {
      const l = lines.get(id);
      if (!l || l.rev !== rev || ('problem' in l && l.problem !== undefined)) recheck.push(id);
    }
    let stale = 0;
    for (const id of [...lines.keys()]) {
      if (!onDisk.has(id)) {
        lines.delete(id);
        stale++;
      }
    }
    for (const id of recheck) {
      const r = await this.revision(id);
      if (!r) {
        lines.delete(id);
        continue;
      }
      const before = lines.get(id);
      const now = lineOf(r);
      if (!before || before.rev !== now.rev || JSON.stringify(before) !== JSON.stringify(now)) stale++;
      lines.set(id, now);
    }
    return { lines, stale };
  }

  /**
   * Compact the index (snapshot of every entry, logs folded in) under the maintenance lock.
   * Waits up to `waitMs` for the lock; returns false when it was busy or the store is read-only.
   */
  async compact(waitMs = this.lockTimeoutMs): Promise<boolean> {
    return this.io('write', async () => {
      const loaded = await this.index.load();
      const { lines } = await this.reconcile(loaded);
      return this.compactWith(loaded, lines, waitMs);
    });
  }

  private async compactWith(loaded: LoadedIndex, lines: Map<string, IndexLine>, waitMs: number): Promise<boolean> {
    let lock;
    try {
      lock = await takeLock(this.path, this.staleMs, waitMs);
    } catch (e) {
      if (isEnvironmentError(e)) return false; // a read-only store is read as it is
      throw e;
    }
    if (!lock) return false;
    try {
      return await this.index.compact(loaded, [...lines.values()].sort(byCreation), () => lock.held(), (f) => this.opts.beforePublish?.('snapshot', f));
    } catch (e) {
      if (isEnvironmentError(e)) return false;
      throw e;
    } finally {
      await lock.release();
    }
  }

  /** Close this process's index log (optional: exiting closes it too). */
  async close(): Promise<void> {
    await this.index.closeLog();
  }

  /**
   * Housekeeping when the store is opened: remove temp files of processes that died mid-write, and
   * compact the index when thousands of processes wrote since the last compaction (readers compact
   * far earlier; this bounds what a reader must read when no reader ran for a long time).
   */
  async maintain(): Promise<void> {
    await sweepTemps(this.tmpDir);
    if ((await this.index.logCount()) > 4096) await this.compact(0).catch(() => false);
  }
}

/**
 * A version-1 store in a folder cl cannot write (a read-only disk, someone else's results): read in
 * place, for `cl ls`, `show` and `compare`. Every write is refused with the reason.
 */
class VersionOneView extends Store {
  private readonly byId: Map<string, RecordBase>;

  constructor(
    file: string,
    data: StoreV1,
    private readonly why: string,
    opts: StoreOptions,
  ) {
    super(file, `${file}.d`, opts);
    this.byId = new Map(data.records.map((r) => [r.id, r]));
  }

  private refuse(): never {
    throw new UserError(`cannot write results store ${this.path}: it is a single-file (version 1) store that cannot be migrated here (${this.why})`, 'copy it to a folder you can write and pass that --store (env CL_STORE)');
  }

  override async entries(filter: ListFilter = {}): Promise<IndexEntry[]> {
    return [...this.byId.values()]
      .map((r) => entryFor(r, 1))
      .filter((e) => (filter.kind === undefined || e.kind === filter.kind) && (filter.status === undefined || effectiveStatus(e) === filter.status))
      .sort(byCreation);
  }

  override async inspect(idOrPrefix: string): Promise<{ id: string; file: string; record: unknown; problem: string | null }> {
    const exact = this.byId.get(idOrPrefix);
    const hits = exact ? [exact] : [...this.byId.values()].filter((r) => idOrPrefix && r.id.startsWith(idOrPrefix));
    if (hits.length === 0) throw new UserError(`no record "${idOrPrefix}" in results store ${this.path}`, 'run `cl ls` to see the stored ids');
    if (hits.length > 1) {
      throw new UserError(`"${idOrPrefix}" matches ${hits.length} records in ${this.path}: ${hits.slice(0, 10).map((r) => r.id).join(', ')}`, 'give more characters of the id');
    }
    const r = structuredClone(hits[0]);
    return { id: r.id, file: this.path, record: r, problem: recordProblem(r, r.id) };
  }

  override insert<R extends RecordBase>(): Promise<R> {
    this.refuse();
  }

  override update<R extends RecordBase = StoredRecord>(): Promise<R> {
    this.refuse();
  }

  override remove(): Promise<RecordBase> {
    this.refuse();
  }

  override importRecord(): Promise<'copied' | 'present' | 'updated'> {
    this.refuse();
  }

  override async compact(): Promise<boolean> {
    return false;
  }

  override async maintain(): Promise<void> {}
}

// ---------------------------------------------------------------------------------------------
// Opening, creating and migrating

interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: number;
  /** Name of the data folder, beside the manifest. */
  data: string;
  about?: string;
}

/** The version-1 layout: one JSON file holding every record. */
interface StoreV1 {
  version: 1;
  records: RecordBase[];
}

const ajv = new Ajv({ allErrors: false, strict: false });
const validateV1 = ajv.compile<StoreV1>({
  type: 'object',
  required: ['version', 'records'],
  properties: { version: { type: 'integer' }, records: { type: 'array', items: { type: 'object' } } },
});

type Probe = { kind: 'missing' } | { kind: 'v2'; manifest: Manifest } | { kind: 'v1'; data: StoreV1 };

/** Read and classify the store file; anything that is neither layout is refused and left untouched. */
async function probe(file: string): Promise<Probe> {
  let data: unknown;
  try {
    data = await new JSONFile<unknown>(file).read(); // null when missing
    if (data === null && (await fsp.stat(file).catch(() => null))) data = 'null'; // the file says null
    else if (data === null) return { kind: 'missing' };
  } catch (e) {
    if (e instanceof SyntaxError) {
      throw new UserError(
        `results store ${file} is not valid JSON (${e.message}); it was left untouched`,
        `repair it by hand, or move it away (e.g. mv ${file} ${file}.bad) to start a new store, or pass another --store`,
      );
    }
    if (errCode(e) === 'EISDIR') throw new UserError(`results store ${file} is a directory`, 'pass the store file, e.g. --store results/db.json');
    throw storeIoError(e, 'read', file, file);
  }
  const refuse = (why: string): UserError =>
    new UserError(
      `${file} is not a cl results store (${why}); it was left untouched`,
      'a store file is the manifest {"format": "cl-store", "version": 2, ...} (or a version-1 {"version": 1, "records": [...]}); move the file away or pass another --store',
    );
  if (data === 'null' || data === null || typeof data !== 'object' || Array.isArray(data)) {
    return Promise.reject(refuse(`it holds ${data === 'null' || data === null ? 'null' : Array.isArray(data) ? 'an array' : `a ${typeof data}`}`));
  }
  const obj = data as Record<string, unknown>;
  if (obj.format === MANIFEST_FORMAT) {
    if (obj.version !== STORE_VERSION) {
      throw new UserError(
        `results store ${file} has layout version ${String(obj.version)}; this cl reads version ${STORE_VERSION}; it was left untouched`,
        'use the cl version that wrote it, or pass another --store',
      );
    }
    const name = obj.data;
    if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\\')) {
      throw refuse('its "data" field is not a folder name');
    }
    return { kind: 'v2', manifest: { format: MANIFEST_FORMAT, version: STORE_VERSION, data: name } };
  }
  if (!validateV1(data)) {
    const err = validateV1.errors?.[0];
    throw refuse(err ? `${err.instancePath || '/'} ${err.message ?? ''}`.trim() : 'unknown problem');
  }
  if (data.version !== 1) {
    throw new UserError(
      `results store ${file} has schema version ${data.version}; this cl reads version 1 (and the layout version ${STORE_VERSION}); it was left untouched`,
      'use the cl version that wrote it, or pass another --store',
    );
  }
  return { kind: 'v1', data };
}

function manifestFor(file: string): Manifest {
  const data = `${path.basename(file)}.d`;
  return { format: MANIFEST_FORMAT, version: STORE_VERSION, data, about: `cl results store: records in ${data}/records, index in ${data}/index (docs/store.md)` };
}

async function makeDataDir(dataDir: string, durable: boolean): Promise<void> {
  for (const sub of ['records', 'index', 'tmp']) await makeDirs(path.join(dataDir, sub));
  if (durable) {
    await fsyncDir(dataDir);
    await fsyncDir(path.dirname(dataDir));
  }
}

/** Create a new store at `file`; false when another process created the file first. */
async function create(file: string, opts: StoreOptions): Promise<boolean> {
  await makeDirs(path.dirname(file));
  const manifest = manifestFor(file);
  const dataDir = path.join(path.dirname(file), manifest.data);
  await makeDataDir(dataDir, opts.durable ?? true);
  return createExclusive(path.join(dataDir, 'tmp'), file, `${JSON.stringify(manifest, null, 2)}\n`, opts.durable ?? true);
}

/** A free backup name for the version-1 file: <store>.v1.bak, else .v1.bak.2, ... */
async function backupName(file: string): Promise<string> {
  for (let n = 1; ; n++) {
    const name = n === 1 ? `${file}.v1.bak` : `${file}.v1.bak.${n}`;
    if (!(await fsp.stat(name).catch(() => null))) return name;
  }
}

/**
 * Move a version-1 store into the layout of docs/store.md, under the maintenance lock (which the
 * earlier cl versions take too, so none of them writes the file meanwhile). Records are copied
 * first, the old file is kept as <store>.v1.bak, and only then does the manifest replace it: a
 * crash at any point leaves a store that opens (and finishes the migration) next time.
 */
async function migrate(file: string, opts: StoreOptions): Promise<void> {
  const staleMs = Math.max(2000, opts.staleMs ?? 10000);
  const lock = await takeLock(file, staleMs, opts.lockTimeoutMs ?? 60000);
  if (!lock) {
    throw new UserError(
      `results store ${file} stayed locked for ${Math.round((opts.lockTimeoutMs ?? 60000) / 1000)} s`,
      `another cl process is writing it; if none is running, remove the directory ${file}.lock`,
    );
  }
  try {
    const p = await probe(file);
    if (p.kind !== 'v1') return; // migrated by another process meanwhile
    const seen = new Set<string>();
    for (const r of p.data.records) {
      if (typeof r.id !== 'string' || !ID_PATTERN.test(r.id)) {
        throw new UserError(
          `record id ${JSON.stringify(r.id)} in ${file} cannot become a file name (ids are lowercase letters, digits, - and _); the store was left untouched`,
          'rename that record id by hand in the file, then run the command again',
        );
      }
      if (seen.has(r.id)) throw new UserError(`results store ${file} holds two records with id ${r.id}; it was left untouched`, 'remove one of them by hand');
      seen.add(r.id);
    }
    const manifest = manifestFor(file);
    const dataDir = path.join(path.dirname(file), manifest.data);
    await makeDataDir(dataDir, true);
    const store = new Store(file, dataDir, { ...opts, warn: () => undefined });
    let copied = 0;
    for (const r of p.data.records) if ((await store.importRecord(r)) !== 'present') copied++;
    const backup = await backupName(file);
    await fsp.copyFile(file, backup);
    const fh = await fsp.open(backup, 'r');
    await fh.sync();
    await fh.close();
    await store.compact(0).catch(() => false); // the index is rebuilt from the records by any reader otherwise
    if (!lock.held()) throw new Error(`lost the lock on ${file} while migrating it; the version-1 file is unchanged, run the command again`);
    await replaceFile(file, `${JSON.stringify(manifest, null, 2)}\n`);
    await fsp.rm(path.join(path.dirname(file), `.${path.basename(file)}.tmp`), { force: true }); // a version-1 writer's leftover
    const msg = `migrated results store ${file} (${p.data.records.length} records${copied < p.data.records.length ? `, ${copied} copied now` : ''}) to one file per record in ${dataDir}; the old file is kept as ${backup} (docs/store.md)`;
    if (opts.warn) opts.warn(msg);
    else process.stderr.write(`cl: ${msg}\n`);
  } finally {
    await lock.release();
  }
}

/**
 * Open (creating when missing, migrating a version-1 file) the store named by `file`. Everything
 * that is not a store is refused and left untouched; environment errors name the file and cause.
 */
export async function openStore(file: string, opts: StoreOptions = {}): Promise<Store> {
  const p = path.resolve(file);
  for (let attempt = 0; ; attempt++) {
    const st = await fsp.stat(p).catch((e: unknown) => {
      if (errCode(e) === 'ENOENT') return null;
      throw storeIoError(e, 'read', p, p);
    });
    if (st?.isDirectory()) throw new UserError(`results store ${p} is a directory`, 'pass the store file, e.g. --store results/db.json (its records live in results/db.json.d/)');
    let found = await probe(p);
    if (found.kind === 'missing') {
      const created = await create(p, opts).catch((e: unknown) => Promise.reject(storeIoError(e, 'write', p, (e as NodeJS.ErrnoException).path ?? p)));
      if (!created && attempt < 3) continue; // someone else created it: open theirs
      found = await probe(p);
    }
    if (found.kind === 'v1') {
      try {
        await migrate(p, opts);
      } catch (e) {
        if (!opts.readOnly || !isEnvironmentError(e)) throw storeIoError(e, 'write', p, (e as NodeJS.ErrnoException).path ?? p);
        const why = `${errCode(e)} on ${(e as NodeJS.ErrnoException).path ?? p}`;
        const view = new VersionOneView(p, found.data, why, opts);
        view.warn(`results store ${p} is a single-file (version 1) store that cannot be migrated here (${why}); reading it as it is`);
        return view;
      }
      found = await probe(p);
    }
    if (found.kind !== 'v2') throw new Error(`results store ${p} could not be opened (${found.kind})`);
    const dataDir = path.join(path.dirname(p), found.manifest.data);
    const dst = await fsp.stat(dataDir).catch(() => null);
    if (!dst?.isDirectory()) {
      throw new UserError(
        `results store ${p} keeps its records in ${dataDir}, which is missing`,
        `restore that folder, or move ${p} away to start a new store`,
      );
    }
    const store = new Store(p, dataDir, opts);
    if (!opts.readOnly) {
      // Report a store cl cannot write now, not after the run's first hour.
      for (const sub of ['tmp', 'records', 'index']) {
        const d = path.join(dataDir, sub);
        await fsp.access(d, constants.W_OK).catch((e: unknown) => Promise.reject(storeIoError(e, 'write', p, d)));
      }
      await store.maintain();
    }
    return store;
  }
}

export { appendIncrement, finishRun, getRun, markFailed } from './runs.js';
