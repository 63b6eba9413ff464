/**
 * The index of the results store (docs/store.md "Index"): one small entry per record, so `cl ls`
 * and `cl compare` never read the records themselves. It is a cache of the record files, made of
 *
 * - `index/snap.<G>.jsonl`: a compacted snapshot of generation G (a header line, then one entry per
 *   line), immutable, published with link(2) so that two compactions cannot both create G;
 * - `index/log.<G>.<writer>.jsonl`: entries appended since snapshot G, one file per writing process
 *   (no two processes ever append to the same file, so lines never interleave, even on NFS).
 *
 * Every line carries the record revision it describes; readers keep the line with the highest
 * revision per id, so a line appended late or twice can never hide a newer one. Compaction writes
 * snapshot G+1, copies the lines appended to generation-G logs after it read them into its own
 * generation-G+1 log, then deletes generation G. A writer that appended to a generation-G log
 * checks afterwards whether snapshot G+1 exists and, if so, appends the line again to generation
 * G+1: no line is lost whichever order the steps interleave in.
 */
import { randomBytes } from 'node:crypto';
import fsp, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { DeletedEntry, IndexEntry } from './entries.js';
import { createExclusive, errCode, naming } from './fsio.js';

export type IndexLine = IndexEntry | DeletedEntry;

const SNAP = /^snap\.(\d{1,15})\.jsonl$/;
const LOG = /^log\.(\d{1,15})\.([a-z0-9-]+)\.jsonl$/;
const SNAPSHOT_FORMAT = 'cl-store-index';

export interface LoadedIndex {
  /** Generation of the snapshot read (0 = none yet). */
  generation: number;
  /** Newest line per id (deleted records included, as DeletedEntry). */
  lines: Map<string, IndexLine>;
  /** Lines read from logs (compaction is worth it when this grows large against lines.size). */
  logLines: number;
  logFiles: number;
  /** Per log file: the byte offset up to which complete lines were read. */
  offsets: Map<string, number>;
  /** Why the snapshot could not be used (entries then come from the record files), or null. */
  damaged: string | null;
}

const isLine = (v: unknown): v is IndexLine =>
  v !== null && typeof v === 'object' && typeof (v as IndexLine).id === 'string' && Number.isInteger((v as IndexLine).rev);

/** Keep the line with the higher revision (the later one on a tie: same revision, same record). */
function merge(into: Map<string, IndexLine>, line: IndexLine): void {
  const have = into.get(line.id);
  if (!have || have.rev <= line.rev) into.set(line.id, line);
}

/** Complete lines of `text` (a final line without its newline is still being written, or torn). */
function completeLines(text: string): { lines: string[]; bytes: number } {
  const end = text.lastIndexOf('\n');
  if (end < 0) return { lines: [], bytes: 0 };
  const body = text.slice(0, end);
  return { lines: body.split('\n'), bytes: Buffer.byteLength(body) + 1 };
}

export class IndexFiles {
  /** This process's writer tag in log file names. */
  readonly writer = `${Date.now().toString(36)}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private log: { gen: number } | null = null;

  constructor(
    readonly dir: string,
    private readonly tmpDir: string,
    private readonly durable = true,
  ) {}

  private snapName = (g: number): string => path.join(this.dir, `snap.${g}.jsonl`);
  private logName = (g: number): string => path.join(this.dir, `log.${g}.${this.writer}.jsonl`);

  private async names(): Promise<{ gen: number; snaps: number[]; logs: { name: string; gen: number }[] }> {
    const names = await fsp.readdir(this.dir);
    const snaps: number[] = [];
    const logs: { name: string; gen: number }[] = [];
    for (const n of names) {
      const s = SNAP.exec(n);
      if (s) snaps.push(Number(s[1]));
      const l = LOG.exec(n);
      if (l) logs.push({ name: n, gen: Number(l[1]) });
    }
    return { gen: snaps.length ? Math.max(...snaps) : 0, snaps, logs };
  }

  /** Number of log files (one per process that wrote since the last compaction). */
  async logCount(): Promise<number> {
    return (await this.names()).logs.length;
  }

  /** Generation of the newest snapshot (0 when there is none). */
  async generation(): Promise<number> {
    return (await this.names()).gen;
  }

  /** Our log file of generation `gen` from now on (created on the first write). */
  private async openLog(gen: number): Promise<void> {
    this.log = { gen };
  }

  /** Forget our log file (the next append looks up the generation again). */
  async closeLog(): Promise<void> {
    this.log = null;
  }

  /**
   * Append to our own log of the current generation (opened per write: no handle stays open). On
   * failure (a full disk) the file is cut back to where it was, so no partial line stays behind.
   * Not fsynced: the index is a cache of the record files (which are), and a line lost to a power
   * cut shows as an entry older than its record, which every read repairs (Store.reconcile).
   */
  private async write(text: string): Promise<void> {
    const file = this.logName(this.log!.gen);
    const fh = await fsp.open(file, 'a');
    let size = -1;
    try {
      size = (await fh.stat()).size;
      await fh.write(text);
    } catch (e) {
      if (size >= 0) await fh.truncate(size).catch(() => undefined);
      throw naming(file, e);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /** Append index lines (durably). See the file comment for how this survives a concurrent compaction. */
  async append(lines: IndexLine[]): Promise<void> {
    if (lines.length === 0) return;
    const text = `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`;
    if (!this.log) await this.openLog(await this.generation());
    await this.write(text);
    // A compaction published a newer snapshot meanwhile: it may have read (or deleted) our log
    // before this write. Write the lines again where the next reader will look.
    for (let gen = await this.generation(); gen > this.log!.gen; gen = await this.generation()) {
      await this.openLog(gen);
      await this.write(text);
    }
  }

  /** Read the newest snapshot and every log, keeping the newest line per id. */
  async load(): Promise<LoadedIndex> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.loadOnce();
      } catch (e) {
        // A compaction replaced the files while we listed them: read again.
        if (!(e instanceof Retry) || attempt >= 50) throw e instanceof Retry ? new Error(`index of ${this.dir} keeps changing while read`) : e;
      }
    }
  }

  private async loadOnce(): Promise<LoadedIndex> {
    const { gen, logs } = await this.names();
    const lines = new Map<string, IndexLine>();
    let damaged: string | null = null;
    if (gen > 0) {
      const file = this.snapName(gen);
      const text = await readOrRetry(file, true);
      damaged = parseSnapshot(text ?? '', gen, lines);
      if (damaged) lines.clear();
    }
    let logLines = 0;
    const offsets = new Map<string, number>();
    for (const log of logs) {
      const text = await readOrRetry(path.join(this.dir, log.name), log.gen >= gen);
      if (text === null) continue;
      const { lines: raw, bytes } = completeLines(text);
      offsets.set(log.name, bytes);
      for (const l of raw) {
        const v = parseLine(l);
        if (v) {
          merge(lines, v);
          logLines++;
        }
      }
    }
    return { generation: gen, lines, logLines, logFiles: logs.length, offsets, damaged };
  }

  /**
   * Publish snapshot generation+1 holding `lines`, then carry over what was appended after `loaded`
   * was read, then delete the older generations. Returns false (and changes nothing) when another
   * compaction published that generation first, or `mayPublish` says no (our lock was lost).
   */
  async compact(loaded: LoadedIndex, lines: Iterable<IndexLine>, mayPublish: () => boolean, beforePublish?: (file: string) => void | Promise<void>): Promise<boolean> {
    const next = loaded.generation + 1;
    const body: string[] = [];
    for (const l of lines) body.push(JSON.stringify(l));
    const header = JSON.stringify({ format: SNAPSHOT_FORMAT, generation: next, entries: body.length });
    const target = this.snapName(next);
    await beforePublish?.(target);
    if (!mayPublish()) return false;
    if (!(await createExclusive(this.tmpDir, target, `${header}\n${body.join('\n')}${body.length ? '\n' : ''}`, this.durable))) return false;

    // Lines appended to generation <= G logs after we read them: copy them to our generation G+1 log.
    const { logs, snaps } = await this.names();
    const tail: string[] = [];
    for (const log of logs) {
      if (log.gen > loaded.generation) continue;
      const file = path.join(this.dir, log.name);
      const from = loaded.offsets.get(log.name) ?? 0;
      const text = await readFrom(file, from);
      if (text === null) continue;
      // Up to the end of the file, torn last line excluded (its writer is dead or still writing; a
      // writer still writing sees snapshot G+1 afterwards and writes the line again itself).
      tail.push(...completeLines(text).lines.filter((l) => parseLine(l) !== null));
    }
    await this.openLog(next);
    if (tail.length > 0) await this.write(`${tail.join('\n')}\n`);
    for (const g of snaps) if (g <= loaded.generation) await fsp.rm(this.snapName(g), { force: true });
    for (const log of logs) if (log.gen <= loaded.generation) await fsp.rm(path.join(this.dir, log.name), { force: true });
    return true;
  }
}

class Retry extends Error {}

/** Read a file; when it is gone, either signal a retry (it mattered) or return null (it did not). */
async function readOrRetry(file: string, retryWhenGone: boolean): Promise<string | null> {
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (e) {
    if (errCode(e) !== 'ENOENT') throw e;
    if (retryWhenGone) throw new Retry();
    return null;
  }
}

async function readFrom(file: string, offset: number): Promise<string | null> {
  let fh: FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (e) {
    if (errCode(e) === 'ENOENT') return null;
    throw e;
  }
  try {
    const size = (await fh.stat()).size;
    if (size <= offset) return '';
    const buf = Buffer.alloc(size - offset);
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}

function parseLine(l: string): IndexLine | null {
  if (l.length === 0) return null;
  try {
    const v: unknown = JSON.parse(l);
    return isLine(v) ? v : null;
  } catch {
    return null; // a torn line of a writer that died mid-append
  }
}

/** Parse a snapshot into `into`; returns why it is unusable, or null. */
function parseSnapshot(text: string, gen: number, into: Map<string, IndexLine>): string | null {
  const { lines } = completeLines(text);
  let header: { format?: unknown; generation?: unknown; entries?: unknown };
  try {
    header = JSON.parse(lines[0] ?? '') as typeof header;
  } catch {
    return `snapshot ${gen} has no valid header`;
  }
  if (header.format !== SNAPSHOT_FORMAT || header.generation !== gen) return `snapshot ${gen} has a wrong header`;
  let n = 0;
  for (let i = 1; i < lines.length; i++) {
    const v = parseLine(lines[i]);
    if (!v) return `snapshot ${gen} line ${i + 1} is not an index entry`;
    merge(into, v);
    n++;
  }
  return n === header.entries ? null : `snapshot ${gen} holds ${n} entries, its header says ${String(header.entries)}`;
}
