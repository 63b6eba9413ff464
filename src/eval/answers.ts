/**
 * A learner's answers on the seen-class test block, computed block of rows by block of rows with
 * event-loop turns in between (src/interrupt.ts), so that SIGINT/SIGTERM is handled within about
 * TARGET_MS of evaluation work even when scoring the whole block takes half a minute (FeCAM's
 * Mahalanobis distances at 100 classes). Learners score every row on its own (tested in
 * test/eval/row-order.test.ts), so the answers are the same values as one call on the whole block.
 */
import { yieldPoint } from '../interrupt.js';
import type { ClassScores, Features, Learner } from '../types.js';

/** Work per block the block size aims at; the first block is FIRST_ROWS rows. */
const TARGET_MS = 200;
const FIRST_ROWS = 1024;
const MIN_ROWS = 128;
const MAX_ROWS = 65536;

/** What the evaluation asks of a learner, answered for one block of rows (`rows`) only. */
export type Answers = Pick<Learner, 'predict' | 'scores' | 'extraPredictions'>;

function rowsOf(x: Features, start: number, n: number): Features {
  return { x: x.x.subarray(start * x.dim, (start + n) * x.dim), y: x.y.subarray(start, start + n), count: n, dim: x.dim };
}

/**
 * Calls `visit` on consecutive row blocks of `x` (sized so that each takes about TARGET_MS) and
 * lets the event loop run between them.
 */
export async function forRowBlocks(x: Features, visit: (block: Features, start: number) => void): Promise<void> {
  let size = FIRST_ROWS;
  for (let start = 0; start < x.count; ) {
    const n = Math.min(size, x.count - start);
    const t0 = performance.now();
    visit(rowsOf(x, start, n), start);
    const ms = performance.now() - t0;
    start += n;
    size = Math.min(MAX_ROWS, Math.max(MIN_ROWS, Math.round((n * TARGET_MS) / Math.max(ms, 1e-3))));
    await yieldPoint();
  }
}

/** learner.predict on `rows`, computed block by block. */
export async function predictInBlocks(learner: Pick<Learner, 'predict'>, rows: Features): Promise<Int32Array> {
  const out = new Int32Array(rows.count);
  await forRowBlocks(rows, (block, start) => out.set(learner.predict(block), start));
  return out;
}

/**
 * predict (given: `predictions`, from predictInBlocks), scores and extraPredictions of `learner`
 * on `rows`, computed block by block; the returned object answers them for exactly that block
 * (any other argument is a programming error).
 */
export async function answerInBlocks(learner: Learner, rows: Features, predictions: Int32Array): Promise<Answers> {
  const got: { scores?: ClassScores; extra?: Record<string, Int32Array> } = {};
  if (learner.scores || learner.extraPredictions) {
    await forRowBlocks(rows, (block, start) => {
      if (learner.scores) {
        const s = learner.scores(block);
        const size = rows.count * s.labels.length;
        got.scores ??= { labels: s.labels, values: s.values instanceof Float64Array ? new Float64Array(size) : new Float32Array(size) };
        got.scores.values.set(s.values, start * s.labels.length);
      }
      if (learner.extraPredictions) {
        const e = learner.extraPredictions(block);
        got.extra ??= Object.fromEntries(Object.keys(e).map((k) => [k, new Int32Array(rows.count)]));
        for (const [k, v] of Object.entries(e)) got.extra[k].set(v, start);
      }
    });
  }
  const only = (x: Features): void => {
    if (x.x !== rows.x && (x.count !== rows.count || x.x.buffer !== rows.x.buffer || x.x.byteOffset !== rows.x.byteOffset)) {
      throw new Error('answerInBlocks: answers were computed for another block of rows');
    }
  };
  return {
    predict: (x) => (only(x), predictions),
    ...(got.scores ? { scores: (x: Features) => (only(x), got.scores!) } : {}),
    ...(learner.extraPredictions ? { extraPredictions: (x: Features) => (only(x), got.extra ?? {}) } : {}),
  };
}
