/**
 * Temporary files and folders that a process writes before it commits them with a rename (feature
 * cache entries, dataset extractions, learner checkpoints). Their names carry the owner's host and
 * pid (`<base>~<host>~<pid>~<random>[<suffix>]`), so that:
 *
 *  - the owner removes its own on the way out (an exit after SIGINT/SIGTERM or an error), through
 *    `trackTemp`;
 *  - the next process that looks into the folder removes those of owners that died without
 *    cleaning up (`kill -9`, a crash, a power cut): an owner on this host whose pid no longer runs
 *    is dead, at once; a temp of another host (a shared folder) or without an owner in its name
 *    (written by an older cl) is removed only once it is older than `staleMs`, since its owner may
 *    still be writing it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** This host as it appears in temp names (no `~` or path separators). */
export const hostTag = (): string => os.hostname().replace(/[^A-Za-z0-9.-]/g, '_') || 'host';

/** `<base>~<host>~<pid>~<8 hex><suffix>`: a temp name that says who owns it. */
export function ownedTempName(base: string, suffix = ''): string {
  return `${base}~${hostTag()}~${process.pid}~${randomBytes(4).toString('hex')}${suffix}`;
}

/** The owner written into a temp name by ownedTempName, or null (no owner in the name). */
export function tempOwner(name: string, suffix = ''): { host: string; pid: number } | null {
  if (!name.endsWith(suffix)) return null;
  const m = /~([^~/\\]+)~(\d+)~[0-9a-f]{8}$/.exec(name.slice(0, name.length - suffix.length));
  return m ? { host: m[1], pid: Number(m[2]) } : null;
}

/** True when a process with this pid runs on this host (EPERM: it runs, as another user). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether a temp named `name` (last modified at `mtimeMs`) is a leftover to remove now: its owner
 * on this host is dead, or it has no owner we can check and is older than `staleMs`.
 */
export function isOrphan(name: string, mtimeMs: number, staleMs: number, opts: { suffix?: string; now?: number } = {}): boolean {
  const owner = tempOwner(name, opts.suffix);
  if (owner && owner.host === hostTag()) return owner.pid !== process.pid && !pidAlive(owner.pid);
  return (opts.now ?? Date.now()) - mtimeMs > staleMs;
}

/**
 * Remove the leftovers in `dir`: entries whose name starts with `prefix` and ends with `suffix`
 * (default '') that isOrphan says are orphans. Returns the removed names.
 */
export async function sweepLeftovers(dir: string, opts: { prefix: string; suffix?: string; staleMs: number }): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    return [];
  }
  const suffix = opts.suffix ?? '';
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(opts.prefix) || !name.endsWith(suffix)) continue;
    const p = path.join(dir, name);
    try {
      if (isOrphan(name, (await fs.promises.lstat(p)).mtimeMs, opts.staleMs, { suffix })) {
        await fs.promises.rm(p, { recursive: true, force: true });
        removed.push(name);
      }
    } catch {
      // removed or renamed by its owner meanwhile
    }
  }
  return removed;
}

const tracked = new Set<string>();
let hooked = false;

/** Remove every tracked temp, synchronously (runs on process exit, whatever the cause). */
function removeTracked(): void {
  for (const p of tracked) {
    try {
      fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // best effort on the way out
    }
  }
  tracked.clear();
}

/**
 * Remove `p` (a temp file or folder this process is writing) if the process exits before
 * `release()` is called, e.g. on SIGINT/SIGTERM (the signal handler exits with process.exit).
 */
export function trackTemp(p: string): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', removeTracked);
  }
  const abs = path.resolve(p);
  tracked.add(abs);
  return () => forgetTemp(abs);
}

/** Stop tracking `p` (it was committed or removed). */
export function forgetTemp(p: string): void {
  tracked.delete(path.resolve(p));
}
