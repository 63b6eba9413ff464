/**
 * Checkpoints of the adapter + coding-vector learners (NAPA-VQ, finetune-adapter) for `cl resume`:
 * plain JSON of everything a learner keeps between tasks, and the checks that a state fits the
 * learner that restores it (same options, feature dimension, seed and sizes).
 */
import { UserError } from '../../errors.js';

/** What happened in one task (stateSummary). */
export interface CvTaskRecord {
  task: number;
  classes: number[];
  samples: number;
  epochs: number;
  steps: number;
  finalLoss: number | null;
  adapterTrained: boolean;
  /** Edges of the class graph after the task (NAPA-VQ only). */
  graphEdges?: number;
  ms: number;
}

export interface CvState {
  /** `cl-<method>`. */
  format: string;
  version: 2;
  config: Record<string, unknown>;
  dim: number;
  seed: number;
  standardisation: { mean: number[]; invStd: number[] } | null;
  adapter: { w1: number[]; b1: number[]; w2: number[]; b2: number[] } | null;
  codingVectors: number[];
  units: { label: number; task: number; count: number; muF: number[]; muZ: number[] }[];
  tasks: CvTaskRecord[];
  /** The method's own parts (NAPA-VQ: softminScale, graph). */
  extra: Record<string, unknown>;
}

export const finite = (a: unknown, n: number): a is number[] => Array.isArray(a) && a.length === n && a.every(Number.isFinite);

/** A UserError factory for an unusable checkpoint of `name`. */
export function unusable(name: string): (why: string) => UserError {
  return (why) =>
    new UserError(`${name} checkpoint is unusable: ${why}`, 'resume with the method options, seed and backbone the run was started with, or start a new run');
}

/**
 * Checks that `state` is a checkpoint of this learner: format and version, dimension, seed,
 * every option, and the sizes of every vector. Returns it typed, or throws the UserError of `bad`.
 */
export function checkState(
  state: unknown,
  want: { format: string; dim: number; seed: number; config: Record<string, unknown>; hidden: number; embedDim: number },
  bad: (why: string) => UserError,
): CvState {
  const st = state as Partial<CvState> | null;
  if (!st || typeof st !== 'object' || st.format !== want.format || st.version !== 2) throw bad(`not a ${want.format} state, version 2`);
  if (st.dim !== want.dim) throw bad(`feature dimension ${String(st.dim)}, learner has ${want.dim}`);
  if (st.seed !== want.seed) throw bad(`seed ${String(st.seed)}, learner has ${want.seed}`);
  for (const key of Object.keys(want.config)) {
    if (st.config?.[key] !== want.config[key]) throw bad(`option ${key} was ${String(st.config?.[key])}, now ${String(want.config[key])}`);
  }
  const D = want.dim;
  const p = want.embedDim;
  const H = want.hidden;
  const units = st.units ?? [];
  const U = units.length;
  if (!finite(st.codingVectors, U * p)) throw bad(`coding vectors are not ${U} × ${p} finite numbers`);
  const labels = new Set<number>();
  for (const u of units) {
    if (!Number.isInteger(u.label) || labels.has(u.label)) throw bad(`class label ${String(u.label)} is not a unique integer`);
    labels.add(u.label);
    if (!Number.isInteger(u.count) || u.count < 1) throw bad(`class ${u.label}: sample count ${String(u.count)}`);
    if (!finite(u.muF, D) || !finite(u.muZ, p)) throw bad(`class ${String(u.label)}: prototypes of the wrong size`);
  }
  const a = st.adapter;
  if (U > 0 && (!a || !finite(a.w1, D * H) || !finite(a.b1, H) || !finite(a.w2, H * p) || !finite(a.b2, p))) {
    throw bad('adapter weights of the wrong size');
  }
  if (st.standardisation && (!finite(st.standardisation.mean, D) || !finite(st.standardisation.invStd, D))) throw bad('standardisation of the wrong size');
  if (!Array.isArray(st.tasks)) throw bad('no task records');
  return { ...st, units, extra: st.extra ?? {} } as CvState;
}
