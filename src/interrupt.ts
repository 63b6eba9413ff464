/**
 * Stopping promptly on SIGINT/SIGTERM. Node runs a signal handler only when the event loop gets a
 * turn, and the handler's own work (marking the run interrupted in the store: open, lock, write,
 * unlock) needs a turn per step. Long synchronous work (training epochs, herding, hashing a
 * feature cache entry) used to give one turn per epoch, so under load a run took 24-45 s to stop.
 *
 * Long loops call `yieldPoint()` between units of work (a mini-batch, a class, a chunk): it lets
 * the event loop run whenever SLICE_MS of work has passed since the last turn (cheap otherwise),
 * and once `stopWork()` was called (by the signal handler) it never resolves, so the work stops
 * where it is and the CPU goes to the handler, which marks the run and exits the process.
 */

/** Longest stretch of synchronous work between two event-loop turns. */
export const SLICE_MS = 25;

let stopping: string | null = null;
let lastTurn = performance.now();

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const never = (): Promise<void> => new Promise<void>(() => undefined);

/**
 * Called by the signal handler: from now on every `yieldPoint()` parks its caller for good (the
 * handler ends the process once the run is marked).
 */
export function stopWork(why: string): void {
  stopping ??= why;
}

/** Why work was stopped, or null while it runs. */
export function stopRequested(): string | null {
  return stopping;
}

/**
 * Let the event loop run (signals, store I/O, progress) when SLICE_MS have passed since it last
 * ran; never resolves after `stopWork()`. Call it between units of long synchronous work.
 */
export async function yieldPoint(): Promise<void> {
  if (stopping !== null) return never();
  const now = performance.now();
  if (now - lastTurn < SLICE_MS) return;
  await nextTurn();
  lastTurn = performance.now();
  if (stopping !== null) return never();
}
