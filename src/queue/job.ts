/**
 * What travels through the queue: one grid cell's complete configuration (RunConfig) as a job
 * payload, its id derived from that configuration, and the strict check a worker applies to every
 * payload before it runs anything.
 *
 * A payload names things; it never carries a path, a URL or a command. The scenario travels as its
 * definition (a scenario file's JSON), the backbone as a name the worker resolves from its own
 * configuration (a named backbone, `pixels`, or one the worker registered with --backbone
 * name=spec), and the dataset is whatever the scenario names, read from the worker's own --data-dir
 * and cache. Method options are checked against the method's option declarations by the worker.
 */
import { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import { BACKEND_CHOICES, type BackendName as Backend } from '../backends.js';
import { BACKBONE_OPTIONS, RUN_OPTIONS } from '../experiment-options.js';
import { optionsSchema } from '../options.js';
import { scenarioSchemaErrors, type ScenarioFile } from '../scenario/schema.js';
import type { IncrementResult, RunRecord } from '../types.js';

export const JOB_FORMAT = 'cl-run-job';
export const JOB_VERSION = 1;

/** A resolved method option value (src/options.ts: integers options may be lists). */
export type OptionValue = string | number | boolean | number[];

export type BackendName = 'auto' | Backend;

/** One run, fully specified: what `cl run` would do, minus where the worker keeps its data. */
export interface RunConfig {
  /** The scenario's definition (a scenario file's content). */
  scenario: ScenarioFile;
  overrides: { base?: number; increment?: number | number[]; order?: string };
  method: string;
  /** Method options with every default filled in, so equal runs get equal ids. */
  options: Record<string, OptionValue>;
  seed: number;
  /** A backbone name the worker resolves (never a path or URL). */
  backbone: string;
  backboneOptions: {
    normalize?: 'imagenet' | 'none';
    imageSize?: number;
    layout?: 'NCHW' | 'NHWC';
    pool?: 'cls' | 'mean' | 'gap' | 'none';
    preprocess?: 'auto' | 'js';
    batchSize?: number;
  };
  backend: BackendName;
}

export interface JobPayload {
  format: typeof JOB_FORMAT;
  version: typeof JOB_VERSION;
  /** Short human name, e.g. "wa seed=2 lr=0.01". */
  label: string;
  config: RunConfig;
}

/** A name a worker resolves: letters, digits, ".", "_", "-" (no ":" or "/", so never a path or URL). */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

/** The split overrides of `cl run` (--base, --increment, --order), as declared there. */
const SPLIT_OPTIONS = { base: RUN_OPTIONS.base, increment: RUN_OPTIONS.increment, order: RUN_OPTIONS.order };

const optionValue = { anyOf: [{ type: 'string', maxLength: 200 }, { type: 'number' }, { type: 'boolean' }, { type: 'array', maxItems: 100000, items: { type: 'number' } }] };

export const jobPayloadSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['format', 'version', 'label', 'config'],
  properties: {
    format: { const: JOB_FORMAT },
    version: { const: JOB_VERSION },
    label: { type: 'string', maxLength: 500, pattern: '^[^\\u0000-\\u001f\\u007f-\\u009f]*$' },
    config: {
      type: 'object',
      additionalProperties: false,
      required: ['scenario', 'overrides', 'method', 'options', 'seed', 'backbone', 'backboneOptions', 'backend'],
      properties: {
        // A dataset id only: image folders and features: files are paths on the submitter's machine.
        scenario: { type: 'object', required: ['dataset'], properties: { dataset: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]*$' } } },
        // Seed and split overrides: the schema of `cl run`'s own option declarations (src/experiment-options.ts).
        overrides: optionsSchema(SPLIT_OPTIONS),
        method: { type: 'string', pattern: NAME_PATTERN },
        options: {
          type: 'object',
          maxProperties: 100,
          propertyNames: { pattern: '^[A-Za-z][A-Za-z0-9]{0,63}$' },
          additionalProperties: optionValue,
        },
        seed: (optionsSchema(RUN_OPTIONS).properties as Record<string, unknown>).seed,
        backbone: { type: 'string', pattern: NAME_PATTERN },
        backboneOptions: {
          type: 'object',
          additionalProperties: false,
          properties: {
            // The choices of `cl run`'s own backbone options (src/experiment-options.ts).
            normalize: { enum: [...BACKBONE_OPTIONS.inputNorm.choices] },
            imageSize: { type: 'integer', minimum: 1, maximum: 4096 },
            layout: { enum: [...BACKBONE_OPTIONS.inputLayout.choices] },
            pool: { enum: [...BACKBONE_OPTIONS.featurePool.choices] },
            preprocess: { enum: [...BACKBONE_OPTIONS.preprocess.choices] },
            batchSize: { type: 'integer', minimum: 1, maximum: 4096 },
          },
        },
        backend: { enum: [...BACKEND_CHOICES] },
      },
    },
  },
};

const validatePayload = new Ajv({ allErrors: false }).compile<JobPayload>(jobPayloadSchema);

/** JSON with object keys sorted at every level: equal values, equal text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The job id of a configuration: "r" + 20 hex digits of its sha256. Submitting the same run again
 * names the same job, which BullMQ does not add twice; it is also the id of the run's record in the
 * submitter's store, so a retried job never leaves a second record.
 */
export function jobIdOf(config: RunConfig): string {
  return `r${createHash('sha256').update(canonicalJson({ format: JOB_FORMAT, version: JOB_VERSION, config })).digest('hex').slice(0, 20)}`;
}

/** The sweep id of a set of jobs on one queue: "s" + 12 hex digits (the same grid, the same sweep). */
export function sweepIdOf(queueName: string, jobIds: string[]): string {
  return `s${createHash('sha256').update(canonicalJson({ queue: queueName, jobs: [...jobIds].sort() })).digest('hex').slice(0, 12)}`;
}

export function makePayload(label: string, config: RunConfig): JobPayload {
  return { format: JOB_FORMAT, version: JOB_VERSION, label, config };
}

/** A payload that fails the structural check (never retried: it is wrong on every worker). */
export class InvalidPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidPayloadError';
  }
}

/**
 * Check a job's payload and that `jobId` is the id its configuration derives. Throws
 * InvalidPayloadError naming the first problem. Method options are checked later, against the
 * method's declarations (see experiment.ts).
 */
export function checkPayload(data: unknown, jobId: string | undefined): JobPayload {
  if (!validatePayload(data)) {
    const e = validatePayload.errors?.[0];
    throw new InvalidPayloadError(`job ${jobId ?? '?'} is not a cl run job: ${e ? `${e.instancePath || '/'} ${e.message}` : 'invalid'}`);
  }
  const problems = scenarioSchemaErrors(data.config.scenario);
  if (problems.length > 0) throw new InvalidPayloadError(`job ${jobId ?? '?'}: its scenario is invalid: ${problems[0]}`);
  const expected = jobIdOf(data.config);
  if (jobId !== expected) throw new InvalidPayloadError(`job ${jobId ?? '?'} does not carry the configuration its id names (expected id ${expected})`);
  return data;
}

/**
 * What a worker reports while a job runs, one job-log entry each (BullMQ keeps a job's log with the
 * job, across retries): the record when the run starts, then every increment. `attempt` is BullMQ's
 * attemptsStarted, which grows with every start, including restarts after a stalled (dead) worker:
 * the submitter keeps only the newest attempt's entries.
 */
export type JobLogEntry =
  | { cl: 'started'; attempt: number; worker: string; record: RunRecord }
  | { cl: 'increment'; attempt: number; result: IncrementResult; tasks: number };

/** The return value of a finished job (kept in Redis for --keep). */
export interface JobResult {
  cl: 'finished';
  attempt: number;
  worker: string;
  record: RunRecord;
}

/** Live progress of a job (BullMQ job progress). */
export interface JobProgress {
  attempt: number;
  worker: string;
  /** Increments done. */
  done: number;
  tasks: number;
}
