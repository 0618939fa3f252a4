// The fixed 2-D sine position embedding of TokenPose ("sine-full"), as a host table and as a tensor.
//
// For a grid of h rows and w columns and an embedding size d (F = d/2 channels per direction), with
// rows i and columns j counted from 0 and tokens in row-major order (t = i·w + j):
//   ye = (i+1)/(h + 1e-6)·2π,  xe = (j+1)/(w + 1e-6)·2π,  t_k = 10000^(2·floor(k/2)/F)
//   channel k < F:   k even → sin(ye/t_k), k odd → cos(ye/t_k)
//   channel F + k:   the same with xe
// i.e. the y half first, then the x half. The 1e-6 makes pe[255, 0] = sin(2π·16/(16+1e-6)) ≈ −7.79e−7,
// not 0. The official code builds the table in float32; this one is built in float64 and rounded once
// (they differ by at most ~5e-7).
import { type Tensor, tensor } from '@tmpose/tensor';

/** The sine table [h·w, d] (row-major tokens), rounded to float32. d must be even. */
export function sinePositionTable(h: number, w: number, d: number, temperature = 10000): Float32Array {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h <= 0 || w <= 0) throw new Error(`sinePositionTable: bad grid ${h}×${w}`);
  if (!Number.isInteger(d) || d <= 0 || d % 2 !== 0) throw new Error(`sinePositionTable: the embedding size ${d} must be a positive even integer`);
  const F = d / 2;
  const eps = 1e-6;
  const scale = 2 * Math.PI;
  const dimT = Float64Array.from({ length: F }, (_, k) => temperature ** ((2 * Math.floor(k / 2)) / F));
  const out = new Float32Array(h * w * d);
  for (let i = 0; i < h; i++) {
    const ye = ((i + 1) / (h + eps)) * scale;
    for (let j = 0; j < w; j++) {
      const xe = ((j + 1) / (w + eps)) * scale;
      const row = (i * w + j) * d;
      for (let k = 0; k < F; k++) {
        const fy = ye / dimT[k]!;
        const fx = xe / dimT[k]!;
        out[row + k] = k % 2 === 0 ? Math.sin(fy) : Math.cos(fy);
        out[row + F + k] = k % 2 === 0 ? Math.sin(fx) : Math.cos(fx);
      }
    }
  }
  return out;
}

/** The table as a [1, h·w, d] float32 tensor (no gradient), as the official `pos_embedding`. */
export function sinePositionEmbedding(h: number, w: number, d: number): Tensor {
  return tensor(sinePositionTable(h, w, d), [1, h * w, d]);
}
