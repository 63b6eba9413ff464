/**
 * Published reference results (`baselines/*.json`, docs/protocols.md "Published reference numbers"): loading, validation and the
 * rule that decides which of them are drawn beside a set of runs.
 *
 * Matching rule. A published entry is comparable with a run only when the run was made under the
 * same protocol, so ALL of these must hold (string comparisons ignore case):
 *   1. dataset:     entry.dataset === run.scenario.dataset
 *   2. split:       the same B{b}-Inc{i} split after canonicalisation (b0-inc10 ≡ B0-Inc10);
 *                   B0-Inc5 and B0-Inc10 are different settings even when one curve derives from the other
 *   3. class order: entry.order === run.scenario.order.id (numbers move with the order, docs/protocols.md "Class orders")
 *   4. backbone:    run.backbone.id equals entry.backbone (the named backbone, e.g. "vit-b16-in21k")
 *                   or one of entry.backboneAliases (e.g. the ONNX export "Xenova/vit-base-patch16-224-in21k",
 *                   also when the run's id is "onnx:<alias>")
 * The method is deliberately NOT part of the rule: a published baseline is a reference line for any
 * method run under the same protocol.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Ajv, type ErrorObject, type JSONSchemaType, type ValidateFunction } from 'ajv';
import { UserError } from '../errors.js';
import { formatSplit, parseSplit, taskSizes } from '../scenario/split.js';
import type { RunRecord } from '../types.js';
import { packageRoot } from '../version.js';

/** A_T: final accuracy; A_avg: Ā, average incremental accuracy (first task included); A_t: the per-increment curve. */
export type BaselineMetric = 'A_T' | 'A_avg' | 'A_t';
export type BaselineStatus = 'verified' | 'unverified' | 'derived';

export interface BaselineEntry {
  id: string;
  method: string;
  citation: string;
  url: string;
  /** Where exactly the number is printed (abstract, table, log file). */
  source: string;
  dataset: string;
  numClasses: number;
  split: string;
  order: string;
  /** Named backbone id, as in run records. */
  backbone: string;
  backboneName: string;
  backboneAliases?: string[];
  metric: BaselineMetric;
  /** How the source names the metric, when that reading is uncertain. */
  metricNote?: string;
  /** One value for A_T / A_avg, one per task for A_t (percent). */
  values: number[];
  status: BaselineStatus;
  /** The status exactly as in docs/protocols.md "Published reference numbers". */
  statusNote: string;
}

export interface BaselineFile {
  description?: string;
  entries: BaselineEntry[];
}

/** A loaded entry and the file it came from. */
export interface Baseline extends BaselineEntry {
  file: string;
}

const entrySchema: JSONSchemaType<BaselineEntry> = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'method', 'citation', 'url', 'source', 'dataset', 'numClasses', 'split', 'order', 'backbone', 'backboneName', 'metric', 'values', 'status', 'statusNote'],
  properties: {
    id: { type: 'string', pattern: '^[a-z0-9][a-z0-9.-]*$' },
    method: { type: 'string', minLength: 1 },
    citation: { type: 'string', minLength: 1 },
    url: { type: 'string', pattern: '^https?://' },
    source: { type: 'string', minLength: 1 },
    dataset: { type: 'string', minLength: 1 },
    numClasses: { type: 'integer', minimum: 1 },
    split: { type: 'string', minLength: 1 },
    order: { type: 'string', minLength: 1 },
    backbone: { type: 'string', minLength: 1 },
    backboneName: { type: 'string', minLength: 1 },
    backboneAliases: { type: 'array', items: { type: 'string', minLength: 1 }, nullable: true },
    metric: { type: 'string', enum: ['A_T', 'A_avg', 'A_t'] },
    metricNote: { type: 'string', nullable: true },
    values: { type: 'array', minItems: 1, items: { type: 'number', minimum: 0, maximum: 100 } },
    status: { type: 'string', enum: ['verified', 'unverified', 'derived'] },
    statusNote: { type: 'string', minLength: 1 },
  },
};

const fileSchema: JSONSchemaType<BaselineFile> = {
  type: 'object',
  additionalProperties: false,
  required: ['entries'],
  properties: {
    description: { type: 'string', nullable: true },
    entries: { type: 'array', items: entrySchema },
  },
};

let validateFile: ValidateFunction<BaselineFile> | undefined;

function describe(e: ErrorObject): string {
  const where = e.instancePath || '(top level)';
  if (e.keyword === 'additionalProperties') return `${where}: unknown field "${String(e.params.additionalProperty)}"`;
  if (e.keyword === 'enum') return `${where}: must be one of ${(e.params.allowedValues as unknown[]).join(', ')}`;
  return `${where} ${e.message ?? 'is invalid'}`;
}

/** Check a parsed baseline file; throws a UserError naming the file and the field. */
export function validateBaselineFile(data: unknown, file: string): BaselineFile {
  validateFile ??= new Ajv({ allErrors: true }).compile(fileSchema);
  if (!validateFile(data)) {
    const msgs = (validateFile.errors ?? []).slice(0, 5).map(describe);
    throw new UserError(`baseline file ${file} is invalid: ${msgs.join('; ')}`, 'fix the entry to follow the format of baselines/*.json (see src/report/baselines.ts)');
  }
  const ids = new Set<string>();
  for (const e of data.entries) {
    const at = `baseline file ${file}, entry "${e.id}"`;
    if (ids.has(e.id)) throw new UserError(`${at}: duplicate id`, 'give every entry its own id');
    ids.add(e.id);
    let tasks: number;
    try {
      tasks = taskSizes(e.split, e.numClasses).length;
    } catch (err) {
      throw new UserError(`${at}: split "${e.split}" does not fit ${e.numClasses} classes: ${(err as Error).message}`, 'write the split as B{base}-Inc{increment}');
    }
    const want = e.metric === 'A_t' ? tasks : 1;
    if (e.values.length !== want) {
      throw new UserError(
        `${at}: metric ${e.metric} needs ${want} value(s) for ${e.split} over ${e.numClasses} classes, found ${e.values.length}`,
        e.metric === 'A_t' ? 'give one A_t value per task' : 'give exactly one value',
      );
    }
  }
  return data;
}

export function defaultBaselinesDir(): string {
  return path.join(packageRoot(), 'baselines');
}

/** Every entry of every `*.json` file in `dir` (sorted by file name), validated. */
export function loadBaselines(dir: string = defaultBaselinesDir()): Baseline[] {
  if (!fs.existsSync(dir)) return [];
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  const out: Baseline[] = [];
  for (const f of files) {
    const file = path.join(dir, f);
    let data: unknown;
    try {
      data = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (err) {
      throw new UserError(`baseline file ${file} is not valid JSON: ${(err as Error).message}`, 'fix or remove the file');
    }
    for (const e of validateBaselineFile(data, file).entries) out.push({ ...e, file });
  }
  return out;
}

const norm = (s: string): string => s.trim().toLowerCase();

function canonicalSplit(s: string): string {
  try {
    return norm(formatSplit(parseSplit(s)));
  } catch {
    return norm(s);
  }
}

function backboneMatches(entry: BaselineEntry, runBackbone: string): boolean {
  const names = [entry.backbone, ...(entry.backboneAliases ?? [])].map(norm);
  // Named backbones carry their model's content hash (`vit-b16-in21k@<sha12>`): match on the name.
  const id = norm(runBackbone).replace(/@[0-9a-f]{12}$/, '');
  return names.includes(id) || names.some((n) => id === `onnx:${n}`);
}

/** Whether a published entry may be drawn beside this run (the rule in the module comment). */
export function baselineMatches(entry: BaselineEntry, run: RunRecord): boolean {
  return (
    norm(entry.dataset) === norm(run.scenario.dataset) &&
    canonicalSplit(entry.split) === canonicalSplit(run.scenario.split) &&
    norm(entry.order) === norm(run.scenario.order.id) &&
    backboneMatches(entry, run.backbone.id)
  );
}

/** Entries matching at least one of the runs. */
export function matchingBaselines(baselines: Baseline[], runs: RunRecord[]): Baseline[] {
  return baselines.filter((b) => runs.some((r) => baselineMatches(b, r)));
}

/** Number of classes seen after each task of the entry's split (x positions of an A_t curve). */
export function baselineSeenClasses(entry: BaselineEntry): number[] {
  let seen = 0;
  return taskSizes(entry.split, entry.numClasses).map((n) => (seen += n));
}
