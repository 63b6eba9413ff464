/**
 * The experiment driver that `cl run` and `cl compat` share (docs/architecture.md "The flow"): an
 * experiment is prepared (cheap checks, features, learner, the stored record), then its steps run
 * one after the other (increments, model versions; each stores its own result), then it
 * finishes. Subscribing starts it; every event goes out on one stream that ends with 'finished'.
 * When anything fails, what prepare made is released and the stored record is marked failed with
 * the message; a signal (Ctrl-C) is marked 'interrupted' by the CLI through markInterrupted.
 */
import { Observable, concatMap, defer, reduce, switchMap } from 'rxjs';
import type { BackboneOptions } from './backbones/backbone.js';
import { markFailed, openStore, type Store } from './store/store.js';
import type { ResizeRule } from './types.js';

/** What every experiment is given besides its own options: where its data, model and store are. */
export interface ExperimentSetup {
  /** Method or compat method name. */
  method: string;
  /** trainSeed: seeds everything random in the learner (0..2^32−1). */
  seed: number;
  /** Backbone spec; default: the scenario's. */
  backbone?: string;
  backboneOptions?: BackboneOptions;
  dataDir?: string;
  cacheRoot?: string;
  offline?: boolean;
  /** Image folders: resize rule and --skip-bad-images (see FeatureRequest). */
  resize?: ResizeRule;
  skipBadImages?: boolean;
  storePath: string;
  /** tfjs backend (default auto). */
  backend?: string;
  /** argv as typed, for the record. */
  command: string[];
  /** No download or archive-extraction progress (-q). */
  quiet?: boolean;
}

/** What every prepared experiment has: the store and the record it writes. */
export interface Prepared {
  store: Store;
  record: { id: string };
}

export interface Experiment<E, P extends Prepared, S, R> {
  /** Everything before the first step; validates cheaply first, so that a typo fails in milliseconds. */
  prepare(emit: (e: E) => void): Promise<P>;
  /** The steps in order, each emitted once it is stored. */
  steps(p: P, emit: (e: E) => void): Observable<S>;
  /** After the last step: the summary and the finished record. */
  finish(p: P, steps: S[]): Promise<R>;
  /** Frees what prepare made (learner tensors), after success and after failure. */
  release?(p: P): void;
}

/** Runs an experiment as an event stream ending with `{ type: 'finished', record }`. */
export function drive<E, P extends Prepared, S, R>(exp: Experiment<E, P, S, R>): Observable<E | { type: 'finished'; record: R }> {
  return new Observable<E | { type: 'finished'; record: R }>((out) => {
    const emit = (e: E): void => out.next(e);
    let prepared: P | null = null;
    const release = (): P | null => {
      const p = prepared;
      prepared = null;
      if (p) exp.release?.(p);
      return p;
    };
    const sub = defer(() => exp.prepare(emit))
      .pipe(
        switchMap((p) => {
          prepared = p;
          return exp.steps(p, emit).pipe(
            reduce((all, s) => [...all, s], [] as S[]),
            concatMap((all) => defer(() => exp.finish(p, all))),
          );
        }),
      )
      .subscribe({
        next: (record) => out.next({ type: 'finished', record }),
        error: (err: unknown) => {
          const p = release();
          const message = err instanceof Error ? err.message : String(err);
          const done = p ? markFailed(p.store, p.record.id, 'failed', message) : Promise.resolve();
          done.then(
            () => out.error(err),
            () => out.error(err),
          );
        },
        complete: () => {
          release();
          out.complete();
        },
      });
    return () => sub.unsubscribe();
  });
}

/** Mark a record whose process is being torn down by a signal (Ctrl-C) as interrupted. */
export async function markInterrupted(storePath: string, id: string, why: string): Promise<void> {
  await markFailed(await openStore(storePath), id, 'interrupted', why);
}
