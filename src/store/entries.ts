/**
 * What the store knows about a record without reading it (docs/store.md "Index"): one small index
 * entry per record, enough for `cl ls` and for selecting runs in `cl compare`, and the checks that
 * a record read from disk has the shape its kind promises (a malformed record is reported by id and
 * skipped instead of crashing the renderers).
 */
import { Ajv, type ErrorObject } from 'ajv';
import { isCompatRecord, type CompatRecord } from '../compat/record.js';
import { runSummary } from '../report/run-summary.js';
import type { RecordBase, RunRecord, StoredRecord } from '../types.js';

/** Fields of every index entry. `rev` is the record revision the entry was computed from. */
export interface EntryBase {
  id: string;
  rev: number;
  kind: string;
  status: string;
  pid: number;
  host: string;
  createdAt: string;
  updatedAt: string;
  error?: string;
  /** Set when the record does not have the shape of its kind (why, e.g. "missing scenario"). */
  problem?: string;
}

export interface RunEntry extends EntryBase {
  kind: 'run';
  scenario: { name: string; dataset: string; split: string; tasks: number };
  method: string;
  backbone: { id: string };
  trainSeed: number;
  /** Increments stored so far. */
  tasksDone: number;
  /** A_T and Ā: the stored summary's, or recomputed from the stored increments of an unfinished run. */
  finalAccuracy: number | null;
  averageIncrementalAccuracy: number | null;
}

export interface CompatEntry extends EntryBase {
  kind: 'compat';
  scenario: { name: string; dataset: string };
  steps: number;
  method: string;
  /** OCA's orthogonal layer option (shown in `cl ls` when not the default), else null. */
  ortho: string | null;
  backbone: { id: string };
  versionsDone: number;
  acTop1: number | null;
  amMap: number | null;
}

/** An index entry of any kind (records of other kinds, e.g. in tests, carry the base fields only). */
export type IndexEntry = RunEntry | CompatEntry | EntryBase;

/** A record deleted by `Store.remove`: its index line keeps the newest revision so nothing stale revives it. */
export interface DeletedEntry {
  id: string;
  rev: number;
  deleted: true;
}

export const isRunEntry = (e: IndexEntry): e is RunEntry => e.kind === 'run' && e.problem === undefined;
export const isCompatEntry = (e: IndexEntry): e is CompatEntry => e.kind === 'compat' && e.problem === undefined;

const base = {
  id: { type: 'string', minLength: 1 },
  kind: { type: 'string' },
  createdAt: { type: 'string' },
  updatedAt: { type: 'string' },
  status: { type: 'string' },
  pid: { type: 'integer' },
  host: { type: 'string' },
  error: { type: 'string' },
};
const baseRequired = ['id', 'kind', 'createdAt', 'updatedAt', 'status', 'pid', 'host'];
const num = { type: 'number' };
const numOrNull = { type: ['number', 'null'] };
const intArray = { type: 'array', items: { type: 'integer' } };
const object = { type: 'object' };
const strings = { type: 'array', items: { type: 'string' } };

const increment = {
  type: 'object',
  required: ['task', 'classes', 'seenClasses', 'accuracyRow', 'accuracy', 'oldAccuracy', 'newAccuracy', 'correctPerClass', 'totalPerClass', 'learnMs', 'evalMs'],
  properties: {
    task: { type: 'integer', minimum: 0 },
    classes: intArray,
    seenClasses: { type: 'integer' },
    accuracyRow: { type: 'array', items: num },
    accuracy: num,
    oldAccuracy: numOrNull,
    newAccuracy: num,
    correctPerClass: object,
    totalPerClass: object,
    learnMs: num,
    evalMs: num,
    extra: object,
    learnerState: object,
  },
};

/** The fields of a run record the renderers, `compare` and `resume` rely on (types.ts RunRecord). */
const runSchema = {
  type: 'object',
  required: [...baseRequired, 'scenario', 'method', 'methodOptions', 'trainSeed', 'backbone', 'backend', 'clVersion', 'command', 'increments'],
  properties: {
    ...base,
    scenario: {
      type: 'object',
      required: ['name', 'dataset', 'split', 'taskClasses', 'order'],
      properties: {
        name: { type: 'string' },
        dataset: { type: 'string' },
        split: { type: 'string' },
        taskClasses: { type: 'array', items: intArray },
        order: { type: 'object', required: ['id', 'classes'], properties: { id: { type: 'string' }, seed: { type: ['integer', 'null'] }, classes: intArray } },
      },
    },
    method: { type: 'string' },
    methodOptions: object,
    trainSeed: num,
    backbone: { type: 'object', required: ['id'], properties: { id: { type: 'string' }, dim: num } },
    backend: { type: 'string' },
    clVersion: { type: 'string' },
    command: strings,
    resumes: { type: 'array', items: { type: 'object', required: ['at', 'pid', 'fromTask'] } },
    increments: { type: 'array', items: increment },
    summary: {
      type: 'object',
      required: ['tasks', 'finalAccuracy', 'averageIncrementalAccuracy', 'forgetting', 'forgettingCurve', 'bwt', 'totalMs'],
      properties: { tasks: { type: 'integer' }, finalAccuracy: num, averageIncrementalAccuracy: num, forgetting: object, forgettingCurve: object, bwt: numOrNull, totalMs: num },
    },
  },
};

const perMetric = (items: object) => ({ type: 'object', required: ['top1', 'top5', 'mAP'], properties: { top1: items, top5: items, mAP: items } });

/** The fields of a compat record the renderers rely on (compat/record.ts CompatRecord). */
const compatSchema = {
  type: 'object',
  required: [
    ...baseRequired,
    'scenario',
    'method',
    'methodOptions',
    'trainSeed',
    'steps',
    'backbone',
    'retrieval',
    'versions',
    'matrices',
    'criterion',
    'backfill',
    'ac',
    'am',
    'acPerStep',
    'timings',
    'backend',
    'clVersion',
    'command',
  ],
  properties: {
    ...base,
    scenario: {
      type: 'object',
      required: ['name', 'dataset', 'order', 'blocks'],
      properties: { name: { type: 'string' }, dataset: { type: 'string' }, order: { type: 'object', required: ['id'] }, blocks: { type: 'array', items: intArray } },
    },
    method: { type: 'string' },
    methodOptions: object,
    trainSeed: num,
    steps: { type: 'integer', minimum: 1 },
    backbone: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
    retrieval: { type: 'object', required: ['queries', 'gallery'] },
    versions: { type: 'array', items: { type: 'object', required: ['version', 'dim', 'trainClasses', 'epochLosses'] } },
    matrices: perMetric({ type: 'array', items: { type: 'array' } }),
    criterion: perMetric({ type: 'array', items: { type: 'array' } }),
    backfill: { type: ['object', 'null'] },
    ac: perMetric(numOrNull),
    am: perMetric(numOrNull),
    acPerStep: perMetric({ type: 'array' }),
    timings: { type: 'object', required: ['totalMs'] },
    backend: { type: 'string' },
    clVersion: { type: 'string' },
    command: strings,
  },
};

const ajv = new Ajv({ allErrors: false, strict: false });
const validateBase = ajv.compile<RecordBase>({ type: 'object', required: baseRequired, properties: base });
const validateRun = ajv.compile<RunRecord>(runSchema);
const validateCompat = ajv.compile<CompatRecord>(compatSchema);

/** An ajv error in words: "missing scenario", "increments/3/accuracy must be number". */
function describeError(err: ErrorObject | undefined): string {
  if (!err) return 'unknown problem';
  const where = err.instancePath.replace(/^\//, '');
  if (err.keyword === 'required') {
    const missing = (err.params as { missingProperty: string }).missingProperty;
    return `missing ${where ? `${where}/` : ''}${missing}`;
  }
  return `${where || 'the record'} ${err.message ?? 'is invalid'}`;
}

/** Check a parsed record: null when it has the shape of its kind, else what is wrong. */
export function recordProblem(value: unknown, id: string): string | null {
  if (!validateBase(value)) return describeError(validateBase.errors?.[0]);
  if (value.id !== id) return `its id is ${JSON.stringify(value.id)}, its file name says ${id}`;
  if (value.kind === 'run' && !validateRun(value)) return describeError(validateRun.errors?.[0]);
  if (value.kind === 'compat' && !validateCompat(value)) return describeError(validateCompat.errors?.[0]);
  return null;
}

/** Narrowing helpers for the record union (no casts in consumers). */
export const isRunRecord = (r: RecordBase): r is RunRecord => r.kind === 'run';

function baseEntry(r: RecordBase, rev: number): EntryBase {
  const e: EntryBase = { id: r.id, rev, kind: r.kind, status: r.status, pid: r.pid, host: r.host, createdAt: r.createdAt, updatedAt: r.updatedAt };
  if (r.error !== undefined) e.error = r.error.length > 500 ? `${r.error.slice(0, 497)}...` : r.error;
  return e;
}

/** The index entry of a record at revision `rev` (the record must have passed recordProblem). */
export function entryOf(record: RecordBase | StoredRecord, rev: number): IndexEntry {
  const e = baseEntry(record, rev);
  if (isRunRecord(record)) {
    const s = runSummary(record);
    const run: RunEntry = {
      ...e,
      kind: 'run',
      scenario: { name: record.scenario.name, dataset: record.scenario.dataset, split: record.scenario.split, tasks: record.scenario.taskClasses.length },
      method: record.method,
      backbone: { id: record.backbone.id },
      trainSeed: record.trainSeed,
      tasksDone: record.increments.length,
      finalAccuracy: s?.finalAccuracy ?? null,
      averageIncrementalAccuracy: s?.averageIncrementalAccuracy ?? null,
    };
    return run;
  }
  if (isCompatRecord(record)) {
    const ortho = record.methodOptions.ortho;
    const compat: CompatEntry = {
      ...e,
      kind: 'compat',
      scenario: { name: record.scenario.name, dataset: record.scenario.dataset },
      steps: record.steps,
      method: record.method,
      ortho: typeof ortho === 'string' ? ortho : null,
      backbone: { id: record.backbone.id },
      versionsDone: record.versions.length,
      acTop1: record.ac.top1,
      amMap: record.am.mAP,
    };
    return compat;
  }
  return e;
}

/** The index entry of a record that failed its checks: whatever base fields it has, and the problem. */
export function malformedEntry(value: unknown, id: string, rev: number, problem: string): EntryBase {
  const v = (value !== null && typeof value === 'object' ? value : {}) as Partial<Record<keyof RecordBase, unknown>>;
  const str = (x: unknown, d: string): string => (typeof x === 'string' ? x : d);
  return {
    id,
    rev,
    kind: str(v.kind, 'unknown'),
    status: str(v.status, 'unknown'),
    pid: typeof v.pid === 'number' ? v.pid : 0,
    host: str(v.host, ''),
    createdAt: str(v.createdAt, ''),
    updatedAt: str(v.updatedAt, ''),
    problem,
  };
}
