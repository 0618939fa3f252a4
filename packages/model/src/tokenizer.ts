// The tokenizer: the backbone's feature map cut into patches, in einops'
// `b c (h p1) (w p2) -> b (h w) (p1 p2 c)` order: token t = row·gw + col, and inside a patch the
// feature index is (dy·pw + dx)·C + c (channel fastest). On COCO a [B, 32, 64, 48] map with 4×3 patches
// gives a 16×16 grid of 256 tokens of 384 values; MPII uses 4×4 patches on 64×64.
import { type Tensor, permute, reshape } from '@tmpose/tensor';

export interface PatchGrid {
  /** Rows and columns of the token grid. */
  gh: number;
  gw: number;
  /** Tokens (gh·gw) and values per token (ph·pw·C). */
  numTokens: number;
  patchDim: number;
}

/** The grid for a feature map of fh×fw with C channels and ph×pw (rows×cols) patches. */
export function patchGrid(fh: number, fw: number, channels: number, ph: number, pw: number): PatchGrid {
  if (fh % ph !== 0 || fw % pw !== 0) throw new Error(`patchGrid: the ${fh}×${fw} feature map is not divisible into ${ph}×${pw} patches`);
  const gh = fh / ph;
  const gw = fw / pw;
  return { gh, gw, numTokens: gh * gw, patchDim: ph * pw * channels };
}

/** [B, C, H, W] → [B, (H/ph)·(W/pw), ph·pw·C] (one copy; differentiable). */
export function patchify(feature: Tensor, ph: number, pw: number): Tensor {
  if (feature.rank !== 4) throw new Error(`patchify: expected a [B, C, H, W] feature map, got [${feature.shape.join(', ')}]`);
  const [B, C, H, W] = feature.shape as [number, number, number, number];
  const { gh, gw, numTokens, patchDim } = patchGrid(H, W, C, ph, pw);
  // [B, C, gh, ph, gw, pw] → [B, gh, gw, ph, pw, C]
  const v = reshape(feature, [B, C, gh, ph, gw, pw]);
  const p = permute(v, [0, 2, 4, 3, 5, 1]);
  const out = reshape(p, [B, numTokens, patchDim]);
  if (v !== feature) v.dispose();
  p.dispose();
  return out;
}
