/**
 * The store's maintenance lock (docs/store.md "Concurrency: no lost update, no waiting"):
 * `<store>.lock`, the directory proper-lockfile makes (the same lock cl versions with the
 * single-file store take, so they wait while a store is migrated). It is held only for migration
 * and index compaction; ordinary record writes take no lock. Safety never depends on it: every
 * publish is a link(2) that fails when the name exists. The lock only keeps two processes from
 * doing the same maintenance at once, and its holder checks that it still holds it right before
 * publishing (a holder paused past the stale time has been presumed dead and must not act).
 */
import lockfile from 'proper-lockfile';
import { errCode } from './fsio.js';

export interface HeldLock {
  /** False once the lock was lost (not refreshed in time, taken over) — do not publish then. */
  held(): boolean;
  release(): Promise<void>;
}

/**
 * Take the lock of `file` (the store path). Waits up to `timeoutMs` while another process holds it
 * (0: do not wait, resolve null when held). Any other failure (read-only folder, permissions,
 * full disk) is thrown at once, never retried.
 */
export async function takeLock(file: string, staleMs: number, timeoutMs: number): Promise<HeldLock | null> {
  const deadline = Date.now() + timeoutMs;
  for (let wait = 5; ; wait = Math.min(200, wait * 1.5)) {
    let lost = false;
    let lastRefresh = Date.now();
    try {
      const release = await lockfile.lock(file, {
        realpath: false, // the store file may not exist yet
        stale: staleMs,
        update: Math.max(1000, Math.floor(staleMs / 4)),
        retries: 0,
        onCompromised: () => {
          lost = true;
        },
      });
      const refresh = setInterval(() => {
        // proper-lockfile refreshes the lock in the background; we note that we are alive.
        if (!lost) lastRefresh = Date.now();
      }, 250);
      refresh.unref();
      return {
        // Lost when proper-lockfile says so, or when our own timer could not run for the stale time
        // (the process was paused or starved; the refresh cannot have happened either).
        held: () => !lost && Date.now() - lastRefresh < staleMs - 500,
        release: async () => {
          clearInterval(refresh);
          // A lock we may have lost is not ours to remove (it may be another holder's by now); if
          // it is still ours after all, it goes stale and is taken over.
          if (!lost && Date.now() - lastRefresh < staleMs - 500) await release().catch(() => undefined);
        },
      };
    } catch (e) {
      if (errCode(e) !== 'ELOCKED') throw e;
      if (Date.now() + wait > deadline) return null;
      await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random())));
    }
  }
}
