/**
 * The `pixels` backbone: no model, each image's uint8 HWC pixels divided by 255 and flattened
 * (dim = height * width * channels, in the split's own HWC order). A floor for every real backbone.
 */
import type { ImageSplit } from '../types.js';
import type { Backbone, ExtractOptions } from './types.js';
import { checkSplit } from './preprocess.js';

export const PIXELS_PREPROCESSING_ID = 'native-unit-hwc';

export function createPixelsBackbone(): Backbone {
  let dim: number | null = null;
  return {
    id: 'pixels',
    kind: 'pixels',
    preprocessing: null,
    preprocessingId: PIXELS_PREPROCESSING_ID,
    describe: () => ({ kind: 'pixels', scale: '1/255', layout: 'HWC', resize: 'none' }),
    dim: () => dim,
    async extract(split: ImageSplit, opts: ExtractOptions = {}): Promise<Float32Array> {
      checkSplit(split, 'pixels backbone');
      const t0 = performance.now();
      const src = split.images;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i] / 255;
      dim = split.height * split.width * split.channels;
      const secs = Math.max((performance.now() - t0) / 1000, 1e-9);
      opts.onProgress?.(split.count, split.count, split.count / secs);
      return out;
    },
    dispose: async () => {},
  };
}
