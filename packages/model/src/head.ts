// The heatmap heads (`transformer.mlp_head`):
//   B: LN(dim) → Linear(dim → hidden) → LN(hidden) → Linear(hidden → H·W), no activation, where
//      hidden = H·W/8 (384 on COCO's 64×48, 512 on MPII's 64×64). The official condition is
//      dim ≤ hidden/2; when it fails (never for the shipped configs) the head is the L form.
//   L: LN(3·dim) → Linear(3·dim → H·W), on the keypoint outputs of the three sub-transformers,
//      concatenated on the feature axis.
// Output [B, J, H·W] is viewed as heatmaps [B, J, H, W].
import { nn } from '@tmpose/tensor';

export type HeadKind = 'B' | 'L';

/** The hidden width of the B head: heatmap H·W / 8 (pose_tokenpose_b.py). */
export const hiddenHeatmapDim = (hmH: number, hmW: number) => Math.floor((hmH * hmW) / 8);

/**
 * Whether the two-LN head is used: the official `dim <= hidden_heatmap_dim * 0.5 and apply_multi` (B
 * only). `hidden` defaults to H·W/8; narrow test models may give another.
 */
export function usesMultiHead(kind: HeadKind, inDim: number, hmH: number, hmW: number, hidden = hiddenHeatmapDim(hmH, hmW)): boolean {
  return kind === 'B' && inDim <= hidden * 0.5;
}

/** The head as an nn.Sequential (children 0..3 or 0..1), for `mlp_head.*` names. */
export function makeHead(kind: HeadKind, inDim: number, hmH: number, hmW: number, hidden = hiddenHeatmapDim(hmH, hmW)): nn.Sequential {
  const out = hmH * hmW;
  if (usesMultiHead(kind, inDim, hmH, hmW, hidden)) {
    return new nn.Sequential(new nn.LayerNorm(inDim), new nn.Linear(inDim, hidden), new nn.LayerNorm(hidden), new nn.Linear(hidden, out));
  }
  return new nn.Sequential(new nn.LayerNorm(inDim), new nn.Linear(inDim, out));
}
