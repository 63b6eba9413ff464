/**
 * Core types shared by every module (see docs/architecture.md "Core types").
 * Labels are always the dataset's own ids; class orders only decide which classes form which task.
 */
import type { Provenance } from './provenance.js';
import type { RunConfig } from './study/study.js';
import type { CompatRecord } from './compat/record.js';

/** A block of feature vectors (row-major, `count` rows of `dim` floats) with their labels. */
export interface Features {
  x: Float32Array;
  y: Int32Array;
  count: number;
  dim: number;
}

/** One increment of the stream. */
export interface Experience {
  /** 0-based task id. */
  index: number;
  /** Classes introduced by this experience (original label ids), in class-order position order. */
  classes: number[];
  /** Features + labels of the new classes' training samples. */
  train: Features;
}

/** Events a learner may emit while it learns (training progress). Rendered by the CLI, not stored. */
export type LearnerEvent =
  | { type: 'epoch'; task: number; epoch: number; epochs: number; loss: number; phase?: string }
  | { type: 'message'; text: string };

export interface LearnContext {
  /** Called with training progress; may be a no-op. */
  emit(event: LearnerEvent): void;
}

export interface Learner {
  readonly name: string;
  /** Consume one experience; resolves when the learner is ready to be evaluated. */
  learn(exp: Experience, ctx?: LearnContext): Promise<void>;
  /** Predict labels (original ids, only classes seen so far) for every row of `x`. */
  predict(x: Features): Int32Array;
  /** The options actually in force (defaults filled in), stored in the run record. */
  options(): Record<string, unknown>;
  /** What the learner keeps between increments (for the record: per-class counts, dims, exemplars, ...). */
  stateSummary(): Record<string, unknown>;
  /** Free tensors. */
  dispose(): void;
  /**
   * Optional: predictions of secondary decision rules (e.g. WA's `unaligned` head before weight
   * aligning, `nme` nearest mean of exemplars). Each is scored and stored beside the headline.
   */
  extraPredictions?(x: Features): Record<string, Int32Array>;
  /**
   * Optional: everything the learner needs to continue, as JSON-serialisable data (checkpoints for
   * `cl resume`), and its inverse. setState throws a UserError for a state it cannot take.
   */
  getState?(): unknown;
  setState?(state: unknown): void;
  /**
   * Optional: the scores of the headline decision rule, one per known class for every row of `x`
   * (higher = more likely). Its argmax, ties to the earlier label, must be predict()'s answer.
   * With scores the evaluator also stores task-IL and top-5 accuracy (docs/protocols.md).
   */
  scores?(x: Features): ClassScores;
}

/**
 * Class scores of a block of rows: `values` is row-major, rows × labels.length; float64 where the
 * learner decides in float64 (the closed-form learners), so that rounding to float32 cannot tie
 * two classes that predict() tells apart.
 */
export interface ClassScores {
  /** The classes (original label ids) of the columns. */
  labels: ArrayLike<number>;
  values: Float32Array | Float64Array;
}

/**
 * An accuracy beside the class-IL headline, from the same test samples (docs/protocols.md):
 * task-IL (argmax restricted to the classes of the sample's own task) or top-5.
 */
export interface ScopedAccuracy {
  /** Per task i ≤ t (percent), like accuracyRow. */
  accuracyRow: number[];
  /** Sample-weighted over all seen classes (percent). */
  accuracy: number;
  /** Correct test samples per seen class (totals are the increment's totalPerClass). */
  correctPerClass: Record<string, number>;
}

/** Test samples of class labels[i] predicted as labels[j]: matrix[i][j] (seen classes, class order). */
export interface ConfusionMatrix {
  labels: number[];
  matrix: number[][];
}

/** Accuracy of a secondary decision rule at one increment (see Learner.extraPredictions). */
export interface ExtraEvaluation {
  accuracyRow: number[];
  accuracy: number;
  oldAccuracy: number | null;
  newAccuracy: number;
}

/** Canonical in-memory image split: uint8 pixels, HWC interleaved per image, images back to back. */
export interface ImageSplit {
  images: Uint8Array;
  labels: Int32Array;
  /** Optional second label set (CIFAR-100 coarse labels). */
  coarseLabels?: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
}

/** How the images of an image folder become fixed-size pixels (docs/datasets.md "Resize rules"). */
export type ResizeRule = 'crop' | 'squash' | 'none';

/** One image file of an image folder, with its label. */
export interface ImageFile {
  /** Absolute path. */
  path: string;
  /** Path relative to the split's folder (for errors and records). */
  rel: string;
  label: number;
}

/**
 * A split whose images stay in their files (image folders): decoded in chunks while features are
 * extracted, never all in memory. See src/data/decode.ts.
 */
export interface FileImageSplit {
  kind: 'files';
  /** The split's folder. */
  root: string;
  files: ImageFile[];
  labels: Int32Array;
  count: number;
  resize: ResizeRule;
  /** Leave undecodable images out (listed in the record) instead of stopping. */
  skipBadImages: boolean;
}

export type AnySplit = ImageSplit | FileImageSplit;

export function isFileSplit(s: AnySplit): s is FileImageSplit {
  return (s as FileImageSplit).kind === 'files';
}

/** A dataset; array datasets hold ImageSplits, image folders FileImageSplits (see loadDataset). */
export interface ImageDataset<S extends AnySplit = ImageSplit> {
  /** Dataset id, e.g. "cifar100", "fashion-mnist", "mnist-embedded", "imagefolder:/abs/dir". */
  name: string;
  numClasses: number;
  classNames?: string[];
  train: S;
  test: S;
  /** Where it came from (path or URL) and how it was checked; stored in run records. */
  source: { location: string; verified: 'checksum' | 'structure' | 'embedded' };
}

/** An image left out of a split with --skip-bad-images. */
export interface SkippedImage {
  split: 'train' | 'test';
  /** Path relative to the split's folder. */
  file: string;
  error: string;
}

/**
 * What a run read (stored in run and compat records): where the data came from, how it was
 * checked, the class names, images left out, and for `features:` datasets the checksum of every file.
 */
export interface DataProvenance {
  location: string;
  verified: 'checksum' | 'structure' | 'embedded' | 'external';
  /** Class names by label id, when the dataset has them. */
  classNames?: string[];
  /** Image folders: the resize rule and decoder that made the pixels. */
  decode?: string;
  /** Images left out with --skip-bad-images. */
  skippedImages?: SkippedImage[];
  /** `features:` datasets: sha256 of every file read, by file name. */
  files?: Record<string, string>;
}

/** One row of the accuracy matrix plus everything needed to recompute aggregates later. */
export interface IncrementResult {
  /** 0-based task id t. */
  task: number;
  /** Classes introduced by task t. */
  classes: number[];
  /** Number of classes seen after task t. */
  seenClasses: number;
  /** R[t][i] for i = 0..t (percent, top-1, predicting among all seen classes). */
  accuracyRow: number[];
  /** A_t: sample-weighted accuracy over all seen-class test samples (percent). */
  accuracy: number;
  /** Accuracy on classes of tasks < t (percent); null at t = 0. */
  oldAccuracy: number | null;
  /** Accuracy on classes of task t (percent). */
  newAccuracy: number;
  /** correct[c] for every seen class c (original label id as string key). */
  correctPerClass: Record<string, number>;
  /** total test samples per seen class. */
  totalPerClass: Record<string, number>;
  /** Wall time of learn() and of evaluation for this increment (ms). */
  learnMs: number;
  evalMs: number;
  /** Learner state summary after the increment. */
  learnerState?: Record<string, unknown>;
  /** Secondary decision rules scored on the same test samples, by name (e.g. unaligned, nme). */
  extra?: Record<string, ExtraEvaluation>;
  /** Task-IL accuracy (only for learners with class scores). */
  taskIL?: ScopedAccuracy;
  /** Top-5 accuracy among the seen classes (only for learners with class scores). */
  top5?: ScopedAccuracy;
  /** Confusion matrix of the headline predictions over the seen classes. */
  confusion?: ConfusionMatrix;
  /** Mean training loss of every epoch of this increment, by training phase (e.g. train, balance). */
  losses?: Record<string, number[]>;
}

export type ForgettingDefinition = 'max-prev' | 'max-all' | 'first';

export interface RunSummary {
  tasks: number;
  finalAccuracy: number; // A_T
  averageIncrementalAccuracy: number; // Ā, first task included
  forgetting: Record<ForgettingDefinition, number | null>; // F_T per definition (null when T = 1)
  /** F_t for t = 1..T-1 (0-based task index t >= 1) under each definition. */
  forgettingCurve: Record<ForgettingDefinition, number[]>;
  bwt: number | null;
  totalMs: number;
  /** Task-IL A_T and Ā (learners with class scores). */
  taskIL?: { finalAccuracy: number; averageIncrementalAccuracy: number };
  /** Top-5 A_T and Ā (learners with class scores). */
  top5?: { finalAccuracy: number; averageIncrementalAccuracy: number };
}

export type RunStatus = 'running' | 'finished' | 'failed' | 'interrupted';

/** Fields every stored record has, whatever its kind ('run', 'compat', ...). See docs/store.md. */
export interface RecordBase {
  /** Lowercase letters, digits, '-' and '_' (generated ids: 8 base36 chars of time + 6 random). */
  id: string;
  kind: string;
  createdAt: string;
  updatedAt: string;
  status: string;
  /** The process that owns the record (runs it), and its host. */
  pid: number;
  host: string;
  /** Set when status is failed/interrupted. */
  error?: string;
}

export interface RunRecord extends RecordBase {
  kind: 'run';
  status: RunStatus;
  scenario: {
    name: string;
    dataset: string;
    split: string; // e.g. "B0-Inc10"
    taskClasses: number[][];
    order: { id: string; seed: number | null; classes: number[] };
  };
  method: string;
  methodOptions: Record<string, unknown>;
  trainSeed: number;
  backbone: { id: string; preprocessing: string; preprocessingEngine?: string; device?: string; dim: number; featureCacheId: string };
  /** What was read (absent in records made before cl stored it). */
  data?: DataProvenance;
  backend: string;
  clVersion: string;
  command: string[];
  /** Working directory of the command (relative paths in `command` are relative to it). */
  cwd?: string;
  /** The resolved configuration (an experiment file of one cell: `cl show <id> --config`). */
  config?: RunConfig;
  /** Versions, machine and times of the run (docs/protocols.md "Provenance"). */
  provenance?: Provenance;
  /**
   * Runs of `cl sweep --queue`: the sweep, the job (its id is also this record's id), the job's
   * attempt whose results the record holds, and the worker that ran it.
   */
  queue?: { sweep: string; job: string; attempt: number; worker: string };
  /** Each `cl resume` of this run: when, by which process, and the first task it computed anew. */
  resumes?: { at: string; pid: number; fromTask: number }[];
  increments: IncrementResult[];
  summary?: RunSummary;
}

/** Every record kind the store holds (docs/store.md): what `Store.get` returns, narrowed by `kind`. */
export type StoredRecord = RunRecord | CompatRecord;
