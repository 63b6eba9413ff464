/**
 * Record files of the results store (docs/store.md "Records and revisions"): every revision of a
 * record is its own immutable file `records/<shard>/<id>.<rev>.json` (compact JSON), created by
 * link(2) from a fsynced temp file. Creating revision N+1 succeeds only if nobody created it
 * before, so two writers that both read revision N cannot both win: the loser re-reads and retries
 * (optimistic concurrency, docs/store.md "Concurrency: no lost update, no waiting"). The newest
 * revision is the record; older ones are deleted once a newer one is published. A reader never sees
 * a torn record: a name appears only after its bytes are on disk.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { createExclusive, errCode } from './fsio.js';

/** Record ids are file-name safe: lowercase letters, digits, '-' and '_' (generated ids are base36). */
export const ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const FILE_PATTERN = /^([a-z0-9][a-z0-9_-]{0,63})\.([1-9][0-9]{0,15})\.json$/;

/** A deleted record: the last revision of its id, so that no stale writer can bring it back. */
export interface Tombstone {
  id: string;
  deleted: true;
  deletedAt: string;
}

/** The shard folder of an id: two hex digits of its FNV-1a hash (256 shards, ~400 ids each at 100,000). */
export function shardOf(id: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return (h & 0xff).toString(16).padStart(2, '0');
}

/** A record file name parsed: its id and revision, or null for anything else. */
export function parseRecordName(name: string): { id: string; rev: number } | null {
  const m = FILE_PATTERN.exec(name);
  return m ? { id: m[1], rev: Number(m[2]) } : null;
}

export class RecordFiles {
  readonly root: string;

  constructor(
    dataDir: string,
    private readonly tmpDir: string,
    private readonly durable = true,
  ) {
    this.root = path.join(dataDir, 'records');
  }

  dirOf(id: string): string {
    return path.join(this.root, shardOf(id));
  }

  fileOf(id: string, rev: number): string {
    return path.join(this.dirOf(id), `${id}.${rev}.json`);
  }

  /** Revisions of `id` present on disk, ascending. */
  async revisions(id: string): Promise<number[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.dirOf(id));
    } catch (e) {
      if (errCode(e) === 'ENOENT') return [];
      throw e;
    }
    const revs: number[] = [];
    for (const n of names) {
      const p = parseRecordName(n);
      if (p && p.id === id) revs.push(p.rev);
    }
    return revs.sort((a, b) => a - b);
  }

  /** The newest revision of `id` and its text, or null when there is none. */
  async read(id: string): Promise<{ rev: number; text: string; file: string } | null> {
    for (let attempt = 0; ; attempt++) {
      const revs = await this.revisions(id);
      if (revs.length === 0) return null;
      const rev = revs[revs.length - 1];
      const file = this.fileOf(id, rev);
      try {
        return { rev, text: await fsp.readFile(file, 'utf8'), file };
      } catch (e) {
        // Deleted between listing and reading: a newer revision replaced it. List again.
        if (errCode(e) !== 'ENOENT' || attempt >= 20) throw e;
      }
    }
  }

  /**
   * Publish revision `rev` of `id` with `text`: 'ok' when it counts, 'conflict' when another writer
   * published `rev` first — then nothing of ours stays on disk.
   *
   * link(2) refuses a name that exists, but superseded revisions are deleted, so a writer paused
   * long enough could publish into the freed slot of a revision that was superseded meanwhile. That
   * is only possible when a newer revision already exists, so when one exists after our link,
   * `builtOnOurs` decides (each revision lists the nonces of all its ancestors): either the newer
   * revision descends from ours, or ours is stale and is removed.
   */
  async create(id: string, rev: number, text: string, builtOnOurs: () => Promise<boolean>): Promise<'ok' | 'conflict'> {
    const dir = this.dirOf(id);
    const target = this.fileOf(id, rev);
    for (let attempt = 0; ; attempt++) {
      try {
        if (!(await createExclusive(this.tmpDir, target, text, this.durable))) return 'conflict';
        break;
      } catch (e) {
        // The shard folder does not exist yet (first record of its shard), or our temp file was
        // swept while this process was paused for a day: make the folder and write again.
        if (errCode(e) !== 'ENOENT' || attempt >= 3) throw e;
        await fsp.mkdir(dir, { recursive: true });
      }
    }
    const revs = await this.revisions(id);
    // The newest revision can only grow: if ours is the newest now, nothing newer existed before.
    if (revs[revs.length - 1] === rev || (await builtOnOurs())) {
      // The revisions before ours are superseded.
      for (const r of revs) if (r < rev) await fsp.rm(this.fileOf(id, r), { force: true }).catch(() => undefined);
      return 'ok';
    }
    await fsp.rm(target, { force: true });
    return 'conflict';
  }

  /** Every id on disk with its newest revision (one directory listing per shard; no file is read). */
  async all(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    let shards: string[];
    try {
      shards = await fsp.readdir(this.root);
    } catch (e) {
      if (errCode(e) === 'ENOENT') return out;
      throw e;
    }
    const lists = await Promise.all(
      shards.map((s) => fsp.readdir(path.join(this.root, s)).catch((e: unknown) => (errCode(e) === 'ENOENT' || errCode(e) === 'ENOTDIR' ? [] : Promise.reject(e)))),
    );
    for (const names of lists) {
      for (const n of names) {
        const p = parseRecordName(n);
        if (p && (out.get(p.id) ?? 0) < p.rev) out.set(p.id, p.rev);
      }
    }
    return out;
  }
}
