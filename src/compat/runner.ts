/**
 * `cl compat`: backward-compatible embedding upgrades (docs/protocols.md "Compatibility (embedding upgrades)", docs/methods/compat.md).
 *
 *   scenario ─► class order cut into S near-equal blocks ─► feature cache (train, test)
 *      ─concatMap over versions t = 1..S─► train φ_t on blocks 1..t (joint data)
 *      ─► embed the test split ─► row t of C (φ_t queries vs every φ_j gallery, j ≤ t)
 *      ─► backfill bound ─► AC / AM ─► store (one version at a time)
 *
 * The record is written after every version, so a crash loses at most the version in flight and
 * leaves the record 'failed' with the message (or 'running' → shown 'interrupted' when killed).
 */
import { concatMap, defer, filter, lastValueFrom, range, tap, type Observable } from 'rxjs';
import { drive, type ExperimentSetup } from '../driver.js';
import { UserError } from '../errors.js';
import { ac as acOf, acPerStep, am as amOf, compatibilityCriterion } from '../eval/compatibility.js';
import { retrievalMetrics, type EmbeddingSet } from '../eval/retrieval.js';
import { COMPAT_RUN_OPTIONS } from '../experiment-options.js';
import { scenarioFeatures, type FeatureEvent } from '../features.js';
import { resolveOptions } from '../options.js';
import { Rng } from '../rng.js';
import { isDatasetSpec } from '../data/spec.js';
import { adhocScenario, loadScenario } from '../scenario/scenario.js';
import { selectClasses } from '../scenario/stream.js';
import type { ClassOrder } from '../scenario/orders.js';
import { newRecordBase, openStore, type Store } from '../store/store.js';
import { initBackend } from '../tf.js';
import type { Features, LearnerEvent } from '../types.js';
import { clVersion } from '../version.js';
import type { EmbeddingModel } from './model.js';
import { checkMethod, resolveCompatOptions, versionDim, type CompatMethod, type CompatOptions } from './options.js';
import {
  COMPAT_METRICS,
  doneTriangle,
  type CompatMetric,
  type CompatRecord,
  type CompatVersion,
} from './record.js';
import { trainVersion, type TrainRole } from './train.js';

export interface CompatScenario {
  name: string;
  dataset: string;
  numClasses: number;
  order: ClassOrder;
  /** Default backbone spec. */
  backbone: string;
}

export interface CompatRunOptions extends ExperimentSetup {
  /** Scenario name or .json path (loaded with loadScenario), or the scenario as data. */
  scenario: string | CompatScenario;
  /** Number of model versions S; the class order is cut into S near-equal blocks. */
  steps: number;
  /** Method options (strings from the CLI are coerced and checked). */
  methodOptions?: Record<string, unknown>;
  /** Class order override (CLI order string). */
  order?: string;
  /** Features given directly (tests, benchmarks): skips the dataset and the feature cache. */
  features?: { train: Features; test: Features; backbone: CompatRecord['backbone']; data?: CompatRecord['data'] };
}

export type CompatEvent =
  | FeatureEvent
  | { type: 'started'; record: CompatRecord }
  | { type: 'learner'; version: number; phase: 'model' | 'backfill'; event: LearnerEvent }
  | { type: 'version'; record: CompatRecord; version: CompatVersion }
  | { type: 'finished'; record: CompatRecord };

type Emit = (e: CompatEvent) => void;

const PROTOCOL =
  'Q = G = test split; cosine on L2-normalised embeddings, both sides truncated to the first min(d_q, d_g) coordinates then renormalised; ' +
  "the query's own id excluded from the gallery (also across models); CMC top-k; mAP over the full ranked gallery; ties by (−score, gallery index)";

/** Cut the class order into `steps` near-equal blocks (UserError for steps < 2 or > C). */
export function classBlocks(order: number[], steps: number): number[][] {
  if (!Number.isInteger(steps) || steps < 2) {
    throw new UserError(`--steps must be an integer ≥ 2 (one upgrade at least), got ${steps}`, 'use e.g. --steps 2 (50 → 100 classes on CIFAR-100)');
  }
  if (steps > order.length) {
    throw new UserError(`--steps ${steps} is more than the ${order.length} classes`, `use at most --steps ${order.length}`);
  }
  // Blocks as equal as possible; when steps does not divide C the first C mod steps blocks get
  // one class more (CIFAR-100 in 3 steps: 34, 33, 33 — docs/protocols.md's uneven B34-Inc[33,33]).
  const small = Math.floor(order.length / steps);
  const larger = order.length % steps;
  const blocks: number[][] = [];
  let at = 0;
  for (let t = 0; t < steps; t++) {
    const size = small + (t < larger ? 1 : 0);
    blocks.push(order.slice(at, at + size));
    at += size;
  }
  return blocks;
}


/** Seed of an independent random stream per (trainSeed, version, purpose). */
function streamSeed(seed: number, version: number, purpose: number): number {
  let h = Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(version, 0x85ebca6b) ^ Math.imul(purpose + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

const emptyMatrix = <T>(T: number): (T | null)[][] => Array.from({ length: T }, () => Array<T | null>(T).fill(null));
const perMetric = <T>(f: (m: CompatMetric) => T): Record<CompatMetric, T> =>
  ({ top1: f('top1'), top5: f('top5'), mAP: f('mAP') });

/** The three metric values (percent) of one query model against one gallery model, and the time it took. */
export function pairMetrics(query: EmbeddingSet, gallery: EmbeddingSet): { values: Record<CompatMetric, number>; skipped: number; ms: number } {
  const t0 = performance.now();
  const r = retrievalMetrics(query, gallery, { topK: [1, 5], excludeSameId: true });
  return { values: { top1: 100 * r.cmc[1], top5: 100 * r.cmc[5], mAP: 100 * r.mAP }, skipped: r.skippedQueries, ms: performance.now() - t0 };
}

/** Recompute criterion, AC, AM and AC per step from the matrices (rows done so far). */
export function refreshAggregates(record: CompatRecord): void {
  const T = record.steps;
  for (const m of COMPAT_METRICS) {
    const C = doneTriangle(record.matrices[m]);
    const crit = emptyMatrix<boolean>(T);
    if (C.length > 0) {
      compatibilityCriterion(C).forEach((row, i) => row.forEach((ok, j) => (crit[i][j] = ok)));
      record.am[m] = amOf(C);
      record.ac[m] = acOf(C);
      record.acPerStep[m] = acPerStep(C);
    }
    record.criterion[m] = crit;
  }
}

interface Prepared {
  method: CompatMethod;
  options: CompatOptions;
  blocks: number[][];
  train: Features;
  test: Features;
  store: Store;
  record: CompatRecord;
  startedAt: number;
}

async function prepare(opts: CompatRunOptions, emit: Emit): Promise<Prepared> {
  // Cheap validation first: a typo fails in milliseconds.
  const method = checkMethod(opts.method);
  const options = resolveCompatOptions(opts.methodOptions ?? {});
  resolveOptions(COMPAT_RUN_OPTIONS, { steps: opts.steps, seed: opts.seed, order: opts.order }, 'cl compat');
  const scenario: CompatScenario =
    typeof opts.scenario === 'string'
      ? isDatasetSpec(opts.scenario)
        ? adhocScenario(opts.scenario, opts.order !== undefined ? { order: opts.order } : {}, { requireSplit: false }) // --steps cuts the order
        : loadScenario(opts.scenario, opts.order !== undefined ? { order: opts.order } : {})
      : opts.scenario;
  const blocks = classBlocks(scenario.order.classes, opts.steps);
  const backboneSpec = opts.backbone ?? scenario.backbone;
  const store = await openStore(opts.storePath);
  const backend = await initBackend(opts.backend ?? 'auto');

  const f0 = performance.now();
  const features =
    opts.features ??
    (await scenarioFeatures({ ...opts, dataset: scenario.dataset, backbone: backboneSpec, scenario }, emit));
  const featuresMs = performance.now() - f0;
  const { train, test } = features;
  if (train.dim !== test.dim) throw new Error(`train features have dim ${train.dim}, test features ${test.dim}`);
  for (const c of blocks.flat()) {
    if (!train.y.includes(c)) {
      throw new UserError(`class ${c} of the class order has no training sample in ${scenario.dataset}`, 'check the scenario order and the dataset');
    }
  }

  const T = opts.steps;
  const record: CompatRecord = {
    ...newRecordBase('compat'),
    kind: 'compat',
    scenario: { name: scenario.name, dataset: scenario.dataset, numClasses: scenario.numClasses, order: scenario.order, blocks },
    method,
    methodOptions: { ...options, growth: 'every', data: 'joint' },
    trainSeed: opts.seed,
    steps: T,
    backbone: features.backbone,
    ...(features.data ? { data: features.data } : {}),
    retrieval: { queries: test.count, gallery: test.count, protocol: PROTOCOL, skippedQueries: 0 },
    versions: [],
    matrices: perMetric(() => emptyMatrix<number>(T)),
    criterion: perMetric(() => emptyMatrix<boolean>(T)),
    backfill: options.backfill
      ? {
          description: 'gallery re-embedded with the newest unconstrained model (label-smoothed CE only, width d_t): M(new*, new*), the upper bound',
          dims: [],
          row: perMetric(() => []),
          source: [],
        }
      : null,
    ac: perMetric(() => null),
    am: perMetric(() => null),
    acPerStep: perMetric(() => []),
    timings: { totalMs: 0, featuresMs },
    backend: backend.name,
    clVersion: clVersion(),
    command: opts.command,
  };
  await store.insert(record);
  emit({ type: 'started', record });
  return { method, options, blocks, train, test, store, record, startedAt: performance.now() - featuresMs };
}

/** State carried from one version to the next: models and their test-split embeddings. */
interface Carry {
  models: EmbeddingModel[];
  testEmbeddings: EmbeddingSet[];
}

async function upgrade(p: Prepared, carry: Carry, t: number, emit: Emit): Promise<CompatRecord> {
  const { method, options: o, test } = p;
  const classes = p.blocks.slice(0, t).flat();
  const train = selectClasses(p.train, classes);
  const dim = versionDim(method, o, t);
  const role: TrainRole = t === 1 || method === 'independent' ? 'plain' : method;
  const previous = t > 1 ? carry.models[t - 2] : null;

  const trained = await trainVersion({
    role,
    version: t,
    train,
    classes,
    previous,
    dim,
    options: o,
    rng: new Rng(streamSeed(p.record.trainSeed, t, 0)),
    ctx: { emit: (event) => emit({ type: 'learner', version: t, phase: 'model', event }) },
  });
  carry.models.push(trained.model);

  const e0 = performance.now();
  const ids = Int32Array.from({ length: test.count }, (_, i) => i);
  const embed = (m: EmbeddingModel): EmbeddingSet => ({ x: m.embed(test.x, test.count), dim: m.dim, labels: test.y, ids });
  const mine = embed(trained.model);
  carry.testEmbeddings.push(mine);

  // Row t of C: φ_t queries against every gallery φ_j, j ≤ t (docs/protocols.md "Compatibility (embedding upgrades)").
  const row: Record<CompatMetric, number>[] = [];
  let maxPairMs = 0;
  let skipped = 0;
  for (let j = 0; j < t; j++) {
    const r = pairMetrics(mine, carry.testEmbeddings[j]);
    row.push(r.values);
    maxPairMs = Math.max(maxPairMs, r.ms);
    skipped = Math.max(skipped, r.skipped);
  }
  const evalMs = performance.now() - e0;

  // Backfill bound: the unconstrained model of width d_t, gallery re-embedded with it.
  let backfillTrainMs = 0;
  let backfill: { values: Record<CompatMetric, number>; source: 'trained' | 'diagonal' } | null = null;
  if (o.backfill) {
    if (role === 'plain') backfill = { values: row[t - 1], source: 'diagonal' };
    else {
      const ref = await trainVersion({
        role: 'plain',
        version: t,
        train,
        classes,
        previous: null,
        dim,
        options: o,
        rng: new Rng(streamSeed(p.record.trainSeed, t, 1)),
        ctx: { emit: (event) => emit({ type: 'learner', version: t, phase: 'backfill', event }) },
      });
      backfillTrainMs = ref.trainMs;
      const refSet = embed(ref.model);
      backfill = { values: pairMetrics(refSet, refSet).values, source: 'trained' };
    }
  }

  const last = trained.orthoErrors.length > 0 ? trained.orthoErrors[trained.orthoErrors.length - 1] : null;
  const version: CompatVersion = {
    version: t,
    dim,
    trainClasses: classes,
    trainSamples: train.count,
    prototypeDim: trained.prototypes && previous ? previous.dim : null,
    loss:
      role === 'plain'
        ? `LS_${o.labelSmoothing}(W·h)`
        : role === 'bct'
          ? `LS(W·h) + ${o.alpha}·LS(h·Pᵀ)`
          : `${o.lossCe}·LS(W·T⊥(h)) + ${o.lossInfl}·LS(ĥ_bct·Pᵀ) + ${o.lossCos}·L_cos (T⊥ ${o.ortho}${o.orthoBias && o.ortho !== 'none' ? ' + bias' : ''})`,
    epochLosses: trained.epochLosses,
    orthoError: last,
    orthoErrorMax: last === null ? null : Math.max(...trained.orthoErrors),
    headParams: trained.headParams,
    orthoParams: trained.orthoParams,
    trainMs: trained.trainMs,
    backfillTrainMs,
    evalMs,
    maxPairMs,
  };

  const record = await p.store.update<CompatRecord>(p.record.id, (r) => {
    r.versions.push(version);
    for (const m of COMPAT_METRICS) {
      row.forEach((v, j) => (r.matrices[m][t - 1][j] = v[m]));
      if (r.backfill && backfill) r.backfill.row[m].push(backfill.values[m]);
    }
    if (r.backfill && backfill) {
      r.backfill.dims.push(dim);
      r.backfill.source.push(backfill.source);
    }
    r.retrieval.skippedQueries = Math.max(r.retrieval.skippedQueries, skipped);
    refreshAggregates(r);
    r.timings.totalMs = performance.now() - p.startedAt;
  });
  p.record = record;
  emit({ type: 'version', record, version });
  return record;
}

/** Run one compatibility experiment. Subscribing starts it; the stream ends with 'finished'. */
export function compatExperiment(opts: CompatRunOptions): Observable<CompatEvent> {
  return drive<CompatEvent, Prepared, CompatRecord, CompatRecord>({
    prepare: (emit) => prepare(opts, emit),
    steps: (p, emit) => {
      const carry: Carry = { models: [], testEmbeddings: [] };
      return range(1, p.record.steps).pipe(concatMap((t) => defer(() => upgrade(p, carry, t, emit))));
    },
    finish: (p) =>
      p.store.update<CompatRecord>(p.record.id, (rec) => {
        rec.status = 'finished';
        rec.timings.totalMs = performance.now() - p.startedAt;
      }),
  });
}

/** Run to the end; resolves with the finished record (every event also goes to `onEvent`). */
export async function runCompat(opts: CompatRunOptions, onEvent: Emit = () => {}): Promise<CompatRecord> {
  const last = await lastValueFrom(
    compatExperiment(opts).pipe(
      tap(onEvent),
      filter((e): e is Extract<CompatEvent, { type: 'finished' }> => e.type === 'finished'),
    ),
  );
  return last.record;
}
