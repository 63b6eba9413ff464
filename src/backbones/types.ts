/**
 * The types every backbone module shares: what a backbone is, how it is configured and how a spec
 * string reads. They live apart from backbone.ts (which builds backbones from every kind's module)
 * so that src/backbones/ has no import circle.
 */
import type { Layout, Preprocessing } from './preprocess.js';
import type { ImageSplit } from '../types.js';

export interface ExtractOptions {
  /** Images per model call (default: the backbone's batch size). */
  batchSize?: number;
  /**
   * Called after each batch with images done, total, the running throughput and, from the second
   * batch on, an estimate of the seconds left (measured after the first batch, so model warm-up does
   * not inflate it; added by createBackbone for every kind).
   */
  onProgress?: (done: number, total: number, imagesPerSec: number, etaSeconds?: number) => void;
}

export interface Backbone {
  /** Identifies the model content (e.g. includes the model file's sha256), not just its path. */
  readonly id: string;
  /** Spec kind: 'pixels', 'onnx', ... */
  readonly kind: string;
  /** The declared pixel pipeline (null when the backbone takes raw pixels as they are). */
  readonly preprocessing: Preprocessing | null;
  readonly preprocessingId: string;
  /**
   * Where the declared preprocessing runs when it does not run in JavaScript ('onnxruntime': as
   * operators in front of the model). Part of the feature cache key: two engines agree to ~1e-6,
   * which a quantised model can amplify, so their features are never mixed.
   */
  readonly preprocessingEngine?: string;
  /**
   * Where the model runs, for engines that can run elsewhere than the CPU ('cpu' or 'cuda' for ONNX
   * models). Recorded in the run; a non-CPU device enters the feature cache key (GPU kernels round
   * differently, so their features are never mixed with CPU ones).
   */
  readonly device?: string;
  /** Everything worth storing in a run record / cache sidecar. */
  describe(): Record<string, unknown>;
  /** Features for every image of the split, row-major `count x dim`. */
  extract(split: ImageSplit, opts?: ExtractOptions): Promise<Float32Array>;
  /** Feature dimension when known (null until the first extract for input-dependent backbones). */
  dim(): number | null;
  dispose(): Promise<void>;
}

export type PoolMode = 'cls' | 'mean' | 'gap' | 'none';

export interface BackboneOptions {
  /** Cache root for downloaded models (default: paths.cacheRoot()). */
  cacheRoot?: string;
  /** Never download: a URL model must already be in the model cache. */
  offline?: boolean;
  /** Input normalisation: ImageNet mean/std (default for ONNX) or [0, 1] only. */
  normalize?: 'imagenet' | 'none';
  /** Input size when the model does not declare a static one (default 224). */
  imageSize?: number;
  /** Input layout when the model does not declare one (default NCHW). */
  layout?: Layout;
  /** Pooling of rank-3 (token) / rank-4 (spatial) outputs. */
  pool?: PoolMode;
  /** Default images per model call (default 16). */
  batchSize?: number;
  /** No download progress output. */
  quiet?: boolean;
  /** Intra-op threads (default os.availableParallelism()). */
  threads?: number;
  /**
   * Where ONNX models preprocess: 'auto' (default) puts resize + normalisation into the model as
   * ONNX operators when the model allows it, so onnxruntime runs them on its own threads; 'js'
   * always preprocesses in JavaScript.
   */
  preprocess?: 'auto' | 'js';
  /**
   * Where ONNX models run (docs/gpu.md): 'auto' (default) = onnxruntime's CUDA execution provider
   * when its CUDA build is installed and a GPU answers, else the CPU; 'cuda' = the GPU or a clear
   * error; 'cpu' = always the CPU.
   */
  device?: OnnxDevice;
}

export type OnnxDevice = 'auto' | 'cpu' | 'cuda';
export const ONNX_DEVICES: OnnxDevice[] = ['auto', 'cpu', 'cuda'];

export interface BackboneSpec {
  /** Spec kind (table key). */
  kind: string;
  /** What follows `kind:` without the `#fragment` (path, URL, name); '' for bare kinds. */
  target: string;
  /** The `#fragment` (ONNX output name), if any. */
  output?: string;
  /** The spec as given. */
  raw: string;
}
