/**
 * Turning one model output into one feature vector per image:
 *   rank 2 [N, D]            used as is;
 *   rank 3 [N, T, D] tokens  `cls` = token 0 (ViT [CLS], docs/methods/nmc.md "Pitfalls"), `mean` = average over tokens;
 *   rank 4 [N, C, H, W] / [N, H, W, C]  `gap` = global average pool over the spatial dims;
 *   `none` flattens whatever is there.
 */
import type { PoolMode } from './types.js';

export interface OutputGeometry {
  /** Output dims without the batch dim. */
  dims: number[];
  /** For rank 4: channels last ([N, H, W, C]) rather than first. */
  channelsLast: boolean;
}

/** The pooling to use when the user gives none. */
export function defaultPool(rank: number): PoolMode {
  return rank === 3 ? 'cls' : rank === 4 ? 'gap' : 'none';
}

/** Which pool modes make sense for an output of `rank` (batch dim included). */
export function allowedPools(rank: number): PoolMode[] {
  if (rank === 3) return ['cls', 'mean', 'none'];
  if (rank === 4) return ['gap', 'none'];
  return ['none'];
}

/** Feature dimension after pooling, or null when a needed dim is not static. */
export function pooledDim(dims: (number | null)[], pool: PoolMode, channelsLast: boolean): number | null {
  const known = (xs: (number | null)[]): number | null => (xs.every((d) => typeof d === 'number') ? (xs as number[]).reduce((a, b) => a * b, 1) : null);
  if (pool === 'none') return known(dims);
  if (pool === 'cls' || pool === 'mean') return known([dims[1]]);
  return known([channelsLast ? dims[2] : dims[0]]); // gap
}

/**
 * Pool `n` images of a batch output (`data` row-major, per-image dims `g.dims`) into `out`
 * starting at row `row` (each row `dim` floats). Sums run in float64.
 */
export function poolInto(data: Float32Array, n: number, g: OutputGeometry, pool: PoolMode, out: Float32Array, row: number, dim: number): void {
  const per = g.dims.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    const src = i * per;
    const dst = (row + i) * dim;
    if (pool === 'none') {
      out.set(data.subarray(src, src + per), dst);
    } else if (pool === 'cls') {
      out.set(data.subarray(src, src + dim), dst);
    } else if (pool === 'mean') {
      const tokens = g.dims[0];
      for (let d = 0; d < dim; d++) {
        let s = 0;
        for (let t = 0; t < tokens; t++) s += data[src + t * dim + d];
        out[dst + d] = s / tokens;
      }
    } else if (g.channelsLast) {
      const spatial = g.dims[0] * g.dims[1];
      for (let d = 0; d < dim; d++) {
        let s = 0;
        for (let p = 0; p < spatial; p++) s += data[src + p * dim + d];
        out[dst + d] = s / spatial;
      }
    } else {
      const spatial = g.dims[1] * g.dims[2];
      for (let d = 0; d < dim; d++) {
        let s = 0;
        const base = src + d * spatial;
        for (let p = 0; p < spatial; p++) s += data[base + p];
        out[dst + d] = s / spatial;
      }
    }
  }
}
