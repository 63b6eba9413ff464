/**
 * The queue's one link to the experiment pipeline (keep every use of run.ts, the `cl run` parser
 * and the method option schemas here, so that changes there meet the queue in one place):
 *
 * - submitter side: a grid cell's `cl run` arguments → a RunConfig (parsed by `cl run`'s own parser,
 *   method options resolved and checked against the method's declarations, the scenario's
 *   definition read once here);
 * - worker side: a checked RunConfig → RunOptions for the worker's own data, cache and backbones,
 *   and the run itself: `runExperiment`, the very code path of `cl run`, writing its record into a
 *   private scratch store while every event that matters is handed to the queue.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { lastValueFrom, tap } from 'rxjs';
import { findNamedBackbone } from '../backbones/named.js';
import { parseRunArgs } from '../cli/run.js';
import { isDatasetSpec } from '../data/spec.js';
import { UserError } from '../errors.js';
import { getMethod, resolveMethodOptions } from '../learners/index.js';
import { cacheRoot as defaultCacheRoot } from '../paths.js';
import { runExperiment, type RunOptions } from '../run.js';
import { loadScenario, readScenarioFile } from '../scenario/scenario.js';
import type { IncrementResult, RunRecord } from '../types.js';
import { canonicalJson, InvalidPayloadError, NAME_PATTERN, type BackendName, type RunConfig } from './job.js';

/** Flags of `cl run` that say where a machine keeps its data: each worker has its own. */
const LOCAL_FLAGS = ['--data-dir', '--cache-dir', '--offline', '--store'];

/** camelCase option name → its `cl run` flag. */
const flag = (name: string): string => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export interface SubmittedRun {
  config: RunConfig;
  /** Increments the run will have. */
  tasks: number;
}

/**
 * Turn one cell's `cl run` arguments (without "run") into the configuration a worker runs. Every
 * check a local `cl run` would make before heavy work happens here, so a bad cell stops the
 * submission before anything is queued.
 */
export async function configFromRunArgs(args: string[]): Promise<SubmittedRun> {
  const local = args.find((a) => LOCAL_FLAGS.includes(a.split('=')[0]));
  if (local) {
    throw new UserError(`cl sweep --queue: ${local.split('=')[0]} is a worker's own setting, not part of a queued run`, 'give it to each `cl worker` (its --data-dir, --cache-dir, --offline); the results go to this --store');
  }
  let o: RunOptions | null;
  try {
    o = await parseRunArgs(['run', ...args]);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`cl sweep --queue: the run arguments "${args.join(' ')}" do not parse: ${e instanceof Error ? e.message : String(e)}`, 'see `cl run --help`');
  }
  if (!o) throw new UserError(`cl sweep --queue: "${args.join(' ')}" is not a \`cl run\` command`, 'see `cl run --help`');
  if (isDatasetSpec(o.scenario)) throw pathDataset(o.scenario);
  const resolved = loadScenario(o.scenario, o.overrides ?? {});
  const scenario = readScenarioFile(resolved.file);
  if (isDatasetSpec(scenario.dataset)) throw pathDataset(scenario.dataset);
  const method = getMethod(o.method);
  const options: RunConfig['options'] = {};
  for (const [k, v] of Object.entries(resolveMethodOptions(method, o.methodOptions))) if (v !== undefined) options[k] = v;
  const backbone = o.backbone ?? scenario.backbone;
  if (!new RegExp(NAME_PATTERN).test(backbone)) {
    throw new UserError(
      `cl sweep --queue: the backbone "${backbone}" is a path or URL; a queued run names its backbone and each worker resolves the name`,
      `start each worker with --backbone NAME=${backbone} and pass --backbone NAME here (named backbones and pixels need no registration)`,
    );
  }
  const overrides: RunConfig['overrides'] = {};
  if (o.overrides?.base !== undefined) overrides.base = o.overrides.base;
  if (o.overrides?.increment !== undefined) overrides.increment = o.overrides.increment;
  if (o.overrides?.order !== undefined) overrides.order = o.overrides.order;
  const bo = o.backboneOptions ?? {};
  const backboneOptions: RunConfig['backboneOptions'] = {};
  if (bo.normalize !== undefined) backboneOptions.normalize = bo.normalize;
  if (bo.imageSize !== undefined) backboneOptions.imageSize = bo.imageSize;
  if (bo.layout !== undefined) backboneOptions.layout = bo.layout;
  if (bo.pool !== undefined) backboneOptions.pool = bo.pool;
  if (bo.preprocess !== undefined) backboneOptions.preprocess = bo.preprocess;
  if (bo.batchSize !== undefined) backboneOptions.batchSize = bo.batchSize;
  const config: RunConfig = {
    scenario,
    overrides,
    method: method.name,
    options,
    seed: o.seed,
    backbone,
    backboneOptions,
    backend: (o.backend ?? 'auto') as BackendName,
  };
  return { config, tasks: resolved.taskClasses.length };
}

/** The environment variable that hands a worker's setup to its job processes. */
export const SETUP_ENV = 'CL_WORKER_SETUP';

function pathDataset(spec: string): UserError {
  return new UserError(
    `cl sweep --queue: the dataset "${spec}" is a path on this machine; a queued run names a dataset each worker has (cifar100, mnist, ...)`,
    'run image folders and features: files with a local `cl sweep`, or put them in a scenario of a dataset the workers know',
  );
}

/** What a worker brings: its own data, cache and backbone names (never taken from a job). */
export interface WorkerSetup {
  /** Name shown in the submitter's table and stored with each record ("host:pid"). */
  name: string;
  dataDir?: string;
  cacheRoot?: string;
  offline: boolean;
  /** Worker-local backbone names → specs (--backbone name=spec). */
  backbones: Record<string, string>;
  /** The worker's scratch folder (scenario files, private stores). */
  scratch: string;
}

/** The spec a backbone name stands for on this worker (its own registrations, named backbones, pixels). */
export function resolveBackbone(name: string, setup: WorkerSetup): string {
  if (Object.hasOwn(setup.backbones, name)) return setup.backbones[name];
  if (name === 'pixels' || findNamedBackbone(name)) return name;
  const own = Object.keys(setup.backbones);
  throw new UserError(
    `worker ${setup.name} has no backbone "${name}"`,
    `start the worker with --backbone ${name}=<spec> (it knows: ${[...own, 'pixels', 'the named backbones of `cl backbones`'].join(', ')})`,
  );
}

/**
 * Check the method and its options against the method's declarations. Problems are the payload's
 * (the same on every worker), so they are InvalidPayloadErrors carrying the option's message.
 */
export function checkMethod(config: RunConfig): void {
  try {
    const method = getMethod(config.method);
    const resolved = resolveMethodOptions(method, config.options);
    const extra = Object.keys(resolved).filter((k) => !(k in config.options));
    if (extra.length > 0) throw new UserError(`method ${method.name}: the job lacks options ${extra.map(flag).join(', ')} (submitted by another cl version?)`);
  } catch (e) {
    if (e instanceof UserError) throw new InvalidPayloadError(e.message);
    throw e;
  }
}

/**
 * The `cl run` command line a configuration stands for, every option spelled out (the worker's
 * scratch record; the submitter stores the command line of the grid cell instead).
 */
export function runArgv(config: RunConfig): string[] {
  const argv = ['run', config.scenario.name, '--method', config.method, '--seed', String(config.seed)];
  for (const [k, v] of Object.entries(config.options)) argv.push(flag(k), String(v));
  argv.push('--backbone', config.backbone);
  const o = config.overrides;
  if (o.base !== undefined) argv.push('--base', String(o.base));
  if (o.increment !== undefined) argv.push('--increment', Array.isArray(o.increment) ? o.increment.join(',') : String(o.increment));
  if (o.order !== undefined) argv.push('--order', o.order);
  const b = config.backboneOptions;
  if (b.normalize) argv.push('--input-norm', b.normalize);
  if (b.imageSize) argv.push('--input-size', String(b.imageSize));
  if (b.layout) argv.push('--input-layout', b.layout);
  if (b.pool) argv.push('--feature-pool', b.pool);
  if (b.preprocess) argv.push('--preprocess', b.preprocess);
  if (b.batchSize) argv.push('--extract-batch-size', String(b.batchSize));
  argv.push('--backend', config.backend);
  return argv;
}

export interface RunHooks {
  /** The record exists (features are ready); called once, before any increment. */
  started(record: RunRecord): Promise<void>;
  /** One increment is stored in the scratch record. */
  increment(result: IncrementResult, tasks: number): Promise<void>;
  /** A stage of data loading / feature extraction (e.g. "features train: cache hit ..."). */
  stage?(message: string): void;
}

/**
 * A lock per (dataset, backbone, preprocessing options, data dir) in the worker's cache: the first
 * job extracts the features, every concurrent job waiting on the same features reads them from the
 * cache afterwards. Workers that share one cache directory share the lock too.
 */
async function lockFeatures(config: RunConfig, spec: string, setup: WorkerSetup): Promise<() => Promise<void>> {
  const root = setup.cacheRoot ?? defaultCacheRoot();
  const key = createHash('sha256')
    .update(canonicalJson({ dataset: config.scenario.dataset, spec, options: config.backboneOptions, dataDir: setup.dataDir ?? null }))
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(root, 'locks');
  fs.mkdirSync(dir, { recursive: true });
  return lockfile.lock(path.join(dir, `features-${key}`), {
    realpath: false,
    stale: 60_000,
    update: 10_000,
    // An extraction may take many minutes: wait (bounded, ~8 h) instead of giving up.
    retries: { retries: 15_000, factor: 1, minTimeout: 2000, maxTimeout: 2000 },
    // The lock only saves work: a lock taken over (this process stalled past `stale`) means at worst
    // a second extraction (the cache keeps whichever valid entry is committed first). Not worth
    // failing the run.
    onCompromised: () => undefined,
  });
}

/**
 * Run one queued job on this worker as `cl run` would, into a scratch store of its own, handing the
 * record and every increment to `hooks` as they happen. Resolves with the finished record.
 */
export async function runQueuedJob(config: RunConfig, setup: WorkerSetup, tag: string, hooks: RunHooks): Promise<RunRecord> {
  const spec = resolveBackbone(config.backbone, setup);
  fs.mkdirSync(setup.scratch, { recursive: true });
  const scenarioFile = path.join(setup.scratch, `${tag}.scenario.json`);
  const storePath = path.join(setup.scratch, `${tag}.db.json`);
  fs.writeFileSync(scenarioFile, JSON.stringify(config.scenario));
  const opts: RunOptions = {
    scenario: scenarioFile,
    method: config.method,
    methodOptions: config.options,
    seed: config.seed,
    backbone: spec,
    backboneOptions: config.backboneOptions,
    dataDir: setup.dataDir,
    cacheRoot: setup.cacheRoot,
    offline: setup.offline,
    storePath,
    backend: config.backend,
    overrides: config.overrides,
    command: runArgv(config),
  };
  let release: (() => Promise<void>) | null = await lockFeatures(config, spec, setup);
  const unlock = async () => {
    const r = release;
    release = null;
    if (r) await r().catch(() => undefined);
  };
  let finished: RunRecord | null = null;
  // Hooks run one after another, in event order; the first failure is rethrown at the end.
  let chain: Promise<void> = Promise.resolve();
  let hookError: unknown = null;
  const then = (fn: () => Promise<void>) => {
    chain = chain.then(fn).catch((e: unknown) => {
      hookError ??= e;
    });
  };
  try {
    await lastValueFrom(
      runExperiment(opts).pipe(
        tap((e) => {
          if (e.type === 'started') {
            const record = e.record;
            then(async () => {
              await unlock();
              await hooks.started(record);
            });
          } else if (e.type === 'increment') {
            const { result, tasks } = e;
            then(() => hooks.increment(result, tasks));
          } else if (e.type === 'finished') {
            finished = e.record;
          } else if (e.type === 'stage') {
            hooks.stage?.(e.message);
          }
        }),
      ),
    );
    await chain;
    if (hookError) throw hookError;
  } finally {
    await unlock();
    for (const f of [scenarioFile, storePath, `${storePath}.checkpoints`]) fs.rmSync(f, { recursive: true, force: true });
  }
  if (!finished) throw new Error('the run ended without a record');
  return finished;
}
