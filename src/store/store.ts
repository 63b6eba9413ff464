/**
 * The results store (docs/architecture.md "Results are precious"): one JSON file (default results/db.json)
 * read and written through lowdb's JSONFile adapter, whose steno writer replaces the file
 * atomically (write `.db.json.tmp`, then rename). Every read-modify-write holds an exclusive
 * inter-process lock (proper-lockfile: a `<store>.lock` directory, refreshed while held, taken
 * over when stale) and re-reads the file inside the lock, so concurrent `cl` processes never
 * lose each other's updates. A file that is not a valid store is reported and never overwritten.
 */
import { randomInt } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { JSONFile } from 'lowdb/node';
import lockfile from 'proper-lockfile';
import { UserError } from '../errors.js';

export const STORE_VERSION = 1;

/** Fields every stored record has, whatever its kind ('run', 'compat', ...). */
export interface RecordBase {
  id: string;
  kind: string;
  createdAt: string;
  updatedAt: string;
  status: string;
  pid: number;
  host: string;
  error?: string;
}

export interface StoreData {
  version: number;
  records: RecordBase[];
}

export interface StoreOptions {
  /** A lock not refreshed for this long is taken over (its holder crashed). proper-lockfile's minimum is 2,000 ms. */
  staleMs?: number;
  /** Give up waiting for the lock after about this long (ms). */
  lockTimeoutMs?: number;
}

export interface ListFilter {
  kind?: string;
  /** Compared with effectiveStatus(record). */
  status?: string;
}

const recordSchema = {
  type: 'object',
  required: ['id', 'kind', 'createdAt', 'updatedAt', 'status', 'pid', 'host'],
  properties: {
    id: { type: 'string', minLength: 1 },
    kind: { type: 'string' },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
    status: { type: 'string' },
    pid: { type: 'integer' },
    host: { type: 'string' },
  },
};
const storeSchema = {
  type: 'object',
  required: ['version', 'records'],
  properties: { version: { type: 'integer' }, records: { type: 'array', items: recordSchema } },
};
const validateStore = new Ajv({ allErrors: false }).compile<StoreData>(storeSchema);

/** Is process `pid` alive on this host? (signal 0 probes without sending anything) */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The status to show: a 'running' record whose process is gone from this host is 'interrupted'
 * (it crashed or was killed). Records from other hosts are taken at their word.
 */
export function effectiveStatus(record: RecordBase): string {
  if (record.status !== 'running' || record.host !== os.hostname()) return record.status;
  return pidAlive(record.pid) ? 'running' : 'interrupted';
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

function describe(r: RecordBase): string {
  return `${r.id} (${r.kind}, ${effectiveStatus(r)}, ${r.createdAt})`;
}

export class Store {
  private readonly file: JSONFile<StoreData>;
  private readonly staleMs: number;
  private readonly lockTimeoutMs: number;

  constructor(
    readonly path: string,
    opts: StoreOptions = {},
  ) {
    this.file = new JSONFile<StoreData>(path);
    this.staleMs = Math.max(2000, opts.staleMs ?? 10000);
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 60000;
  }

  /** Read and validate the file; null when it does not exist. Never writes. */
  private async load(): Promise<StoreData | null> {
    let data: unknown;
    try {
      data = await this.file.read(); // null when missing
    } catch (e) {
      if (e instanceof SyntaxError) {
        throw new UserError(
          `results store ${this.path} is not valid JSON (${e.message}); it was left untouched`,
          `repair it by hand, or move it away (e.g. mv ${this.path} ${this.path}.bad) to start a new store, or pass another --store`,
        );
      }
      const err = e as NodeJS.ErrnoException;
      throw new UserError(
        `cannot read results store ${this.path}: ${err.code ?? err.message}`,
        'check that the path is a readable file, or pass another --store',
      );
    }
    if (data === null) return null;
    if (!validateStore(data)) {
      const err = validateStore.errors?.[0];
      const where = err ? `${err.instancePath || '/'} ${err.message}` : 'unknown problem';
      throw new UserError(
        `${this.path} is not a cl results store (${where}); it was left untouched`,
        `a store is {"version": 1, "records": [...]}; move the file away or pass another --store`,
      );
    }
    if (data.version !== STORE_VERSION) {
      throw new UserError(
        `results store ${this.path} has schema version ${data.version}; this cl reads version ${STORE_VERSION}; it was left untouched`,
        'use the cl version that wrote it, or pass another --store',
      );
    }
    const seen = new Set<string>();
    for (const r of data.records) {
      if (seen.has(r.id)) {
        throw new UserError(`results store ${this.path} holds two records with id ${r.id}`, 'remove one of them by hand');
      }
      seen.add(r.id);
    }
    return data;
  }

  /** Run `fn` on the freshly read data while holding the inter-process lock; write back if it returns true. */
  private async transact<T>(fn: (data: StoreData) => { write: boolean; value: T }): Promise<T> {
    let compromised: Error | null = null;
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(this.path, {
        realpath: false, // the store file may not exist yet
        stale: this.staleMs,
        retries: { retries: Math.ceil(this.lockTimeoutMs / 100), factor: 1.2, minTimeout: 5, maxTimeout: 100, randomize: true },
        onCompromised: (err) => {
          compromised = err;
        },
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ELOCKED') {
        throw new UserError(
          `results store ${this.path} stayed locked for ${Math.round(this.lockTimeoutMs / 1000)} s`,
          `another cl process is writing it; if none is running, remove the directory ${this.path}.lock`,
        );
      }
      throw e;
    }
    let result: T;
    try {
      const data = (await this.load()) ?? { version: STORE_VERSION, records: [] };
      const { write, value } = fn(data);
      if (write) await this.file.write(data);
      result = value;
    } finally {
      await release().catch(() => undefined);
    }
    if (compromised) throw new Error(`lock on ${this.path} was lost while writing: ${(compromised as Error).message}`);
    return result;
  }

  /** Create the store file (and its folder) when missing; validate it otherwise. */
  async init(): Promise<void> {
    await mkdir(path.dirname(this.path), { recursive: true });
    const st = await stat(this.path).catch(() => null);
    if (st?.isDirectory()) {
      throw new UserError(`results store ${this.path} is a directory`, 'pass a file path, e.g. --store results/db.json');
    }
    if (st) {
      await this.load();
      return;
    }
    await this.transact(() => ({ write: true, value: undefined }));
  }

  /** Resolve an exact id or a unique prefix of one. */
  private resolve(records: RecordBase[], idOrPrefix: string): RecordBase {
    const exact = records.find((r) => r.id === idOrPrefix);
    if (exact) return exact;
    const matches = idOrPrefix ? records.filter((r) => r.id.startsWith(idOrPrefix)) : [];
    if (matches.length === 1) return matches[0];
    if (matches.length === 0) {
      throw new UserError(`no record "${idOrPrefix}" in results store ${this.path}`, 'run `cl ls` to see the stored ids');
    }
    const shown = matches.slice(0, 10).map(describe).join('; ');
    const more = matches.length > 10 ? `; and ${matches.length - 10} more` : '';
    throw new UserError(
      `"${idOrPrefix}" matches ${matches.length} records in ${this.path}: ${shown}${more}`,
      'give more characters of the id',
    );
  }

  /** Add a new record (its id must be new). Sets updatedAt. */
  async insert<R extends RecordBase>(record: R): Promise<R> {
    return this.transact((data) => {
      if (data.records.some((r) => r.id === record.id)) throw new Error(`record ${record.id} already exists in ${this.path}`);
      const stored = { ...record, updatedAt: new Date().toISOString() };
      data.records.push(stored);
      return { write: true, value: structuredClone(stored) };
    });
  }

  /**
   * Change one record (exact id or unique prefix) under the lock; `mutate` edits it in place.
   * Nothing is written when `mutate` throws. Returns the updated record.
   */
  async update<R extends RecordBase = RecordBase>(idOrPrefix: string, mutate: (record: R) => void): Promise<R> {
    return this.transact((data) => {
      const record = this.resolve(data.records, idOrPrefix) as R;
      const id = record.id;
      mutate(record);
      if (record.id !== id) throw new Error(`update of ${id} tried to change its id`);
      record.updatedAt = new Date().toISOString();
      return { write: true, value: structuredClone(record) };
    });
  }

  /** One record by exact id or unique prefix (UserError when unknown or ambiguous). */
  async get<R extends RecordBase = RecordBase>(idOrPrefix: string): Promise<R> {
    const data = (await this.load()) ?? { version: STORE_VERSION, records: [] };
    return this.resolve(data.records, idOrPrefix) as R;
  }

  /** Records in creation order (oldest first), optionally filtered by kind and effective status. */
  async list(filter: ListFilter | ((r: RecordBase) => boolean) = {}): Promise<RecordBase[]> {
    const data = (await this.load()) ?? { version: STORE_VERSION, records: [] };
    const keep =
      typeof filter === 'function'
        ? filter
        : (r: RecordBase) =>
            (filter.kind === undefined || r.kind === filter.kind) &&
            (filter.status === undefined || effectiveStatus(r) === filter.status);
    return data.records
      .filter(keep)
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
  }

  /** Delete one record (exact id or unique prefix); returns it. */
  async remove(idOrPrefix: string): Promise<RecordBase> {
    return this.transact((data) => {
      const record = this.resolve(data.records, idOrPrefix);
      data.records = data.records.filter((r) => r !== record);
      return { write: true, value: record };
    });
  }
}

/** Open (creating when missing) the store at `file`. */
export async function openStore(file: string, opts: StoreOptions = {}): Promise<Store> {
  const store = new Store(path.resolve(file), opts);
  await store.init();
  return store;
}

export { appendIncrement, finishRun, getRun, markFailed } from './runs.js';
