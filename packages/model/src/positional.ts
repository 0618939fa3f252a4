// The fixed 2-D sine position embedding of TokenPose ("sine-full"), as a host table and as a tensor.
//
// For a grid of h rows and w columns and an embedding size d (F = d/2 channels per direction), with
// rows i and columns j counted from 0 and tokens in row-major order (t = i·w + j):
//   ye = (i+1)/(h + 1e-6)·2π,  xe = (j+1)/(w + 1e-6)·2π,  t_k = 10000^(2·floor(k/2)/F)
//   channel k < F:   k even → sin(ye/t_k), k odd → cos(ye/t_k)
//   channel F + k:   the same with xe
// i.e. the y half first, then the x half. The 1e-6 makes pe[255, 0] = sin(2π·16/(16+1e-6)) ≈ −7.79e−7,
// not 0 (in float32: the exact value would be −3.9e−7). The official code builds the table in float32 and
// so does this one, step by step (fround after every operation), so the two agree to an ulp or so.
import { type Tensor, tensor } from '@tmpose/tensor';

/** The sine table [h·w, d] (row-major tokens), rounded to float32. d must be even. */
export function sinePositionTable(h: number, w: number, d: number, temperature = 10000): Float32Array {
  if (!Number.isInteger(h) || !Number.isInteger(w) || h <= 0 || w <= 0) throw new Error(`sinePositionTable: bad grid ${h}×${w}`);
  if (!Number.isInteger(d) || d <= 0 || d % 2 !== 0) throw new Error(`sinePositionTable: the embedding size ${d} must be a positive even integer`);
  const f = Math.fround;
  const F = d / 2;
  const eps = 1e-6;
  const scale = f(2 * Math.PI);
  // dim_t = temperature ** (2 * (arange(F) // 2) / F), in float32
  const dimT = Float32Array.from({ length: F }, (_, k) => f(temperature ** f((2 * Math.floor(k / 2)) / F)));
  // y_embed / (y_embed[-1] + eps) * scale, in float32
  const embed = (n: number) => Float32Array.from({ length: n }, (_, i) => f(f((i + 1) / f(n + eps)) * scale));
  const ye = embed(h);
  const xe = embed(w);
  const out = new Float32Array(h * w * d);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const row = (i * w + j) * d;
      for (let k = 0; k < F; k++) {
        const fy = f(ye[i]! / dimT[k]!);
        const fx = f(xe[j]! / dimT[k]!);
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
