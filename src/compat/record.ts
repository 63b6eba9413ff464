/**
 * The store record of a compatibility run (kind 'compat'), written after every model version
 * (docs/architecture.md "Results are precious"). Matrices follow docs/protocols.md "Compatibility (embedding upgrades)": C[i][j] = M(φ^i on Q,
 * φ^j on G), rows = query model, columns = gallery model, null above the diagonal (and for rows not
 * computed yet), values in percent.
 */
import type { ClassOrder } from '../scenario/orders.js';
import type { DataProvenance, RecordBase } from '../types.js';
import type { CompatMethod, CompatOptions } from './options.js';

export type CompatMetric = 'top1' | 'top5' | 'mAP';
export const COMPAT_METRICS: CompatMetric[] = ['top1', 'top5', 'mAP'];
export const METRIC_LABELS: Record<CompatMetric, string> = { top1: 'CMC top-1', top5: 'CMC top-5', mAP: 'mAP' };

export interface CompatVersion {
  /** 1-based version number. */
  version: number;
  /** Embedding width d_t. */
  dim: number;
  /** Classes of the training set (all blocks so far, scenario order). */
  trainClasses: number[];
  trainSamples: number;
  /** Width of the prototypes P (d_{t−1}); null for version 1 and independent. */
  prototypeDim: number | null;
  loss: string;
  epochLosses: number[];
  /** max|QᵀQ − I| after the last epoch (oca with expm), else null. */
  orthoError: number | null;
  /** Largest orthogonality error over all epochs. */
  orthoErrorMax: number | null;
  headParams: number;
  orthoParams: number;
  trainMs: number;
  /** Training time of the backfill reference model (0 when reused or off). */
  backfillTrainMs: number;
  evalMs: number;
  /** Wall time of the slowest Q×G retrieval of this version's row. */
  maxPairMs: number;
}

export interface CompatBackfill {
  /** What the bound is. */
  description: string;
  /** Width of the unconstrained model per version. */
  dims: number[];
  /** M(new*, new*) per version: the unconstrained model with the gallery re-embedded (percent). */
  row: Record<CompatMetric, number[]>;
  /** How each version's reference was obtained: trained, or the method's own diagonal (same model). */
  source: ('trained' | 'diagonal')[];
}

export interface CompatRecord extends RecordBase {
  kind: 'compat';
  scenario: {
    name: string;
    dataset: string;
    numClasses: number;
    order: ClassOrder;
    /** Class blocks; version t trains on blocks 1..t. */
    blocks: number[][];
  };
  method: CompatMethod;
  methodOptions: CompatOptions & { growth: 'every'; data: 'joint' };
  trainSeed: number;
  steps: number;
  backbone: { id: string; preprocessing: string; preprocessingEngine?: string; dim: number; featureCacheId: string };
  /** What was read (absent in records made before cl stored it). */
  data?: DataProvenance;
  retrieval: {
    queries: number;
    gallery: number;
    protocol: string;
    /** Queries without a relevant gallery item (skipped in CMC and mAP), per computed row/col. */
    skippedQueries: number;
  };
  versions: CompatVersion[];
  /** C[i][j] per metric, steps × steps, null where j > i or row i is not done yet. */
  matrices: Record<CompatMetric, (number | null)[][]>;
  /** criterion[m][i][j] = C[i][j] > C[j][j] (strict) for j < i; null elsewhere. */
  criterion: Record<CompatMetric, (boolean | null)[][]>;
  backfill: CompatBackfill | null;
  /** Over the rows done so far (null while fewer than 2 versions). */
  ac: Record<CompatMetric, number | null>;
  am: Record<CompatMetric, number | null>;
  acPerStep: Record<CompatMetric, number[]>;
  timings: { totalMs: number; featuresMs: number };
  backend: string;
  clVersion: string;
  command: string[];
}

export function isCompatRecord(r: RecordBase): r is CompatRecord {
  return r.kind === 'compat';
}

/** The lower triangle of the rows done so far as plain numbers (for the compatibility metric functions). */
export function doneTriangle(matrix: (number | null)[][]): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < matrix.length; i++) {
    const row = matrix[i].slice(0, i + 1);
    if (row.some((v) => v === null)) break;
    out.push(row as number[]);
  }
  return out;
}
