// DARK ("unbiased") heatmap targets: `TM tools/lib/dataset/JointsDataset.py` `generate_target` (l.239)
// and `adjust_target_weight` (l.283); model-spec §5 and Trap T11.
//
// - joints are already in heatmap coordinates (mapped by the second, heatmap-size affine; not /4);
// - the Gaussian exp(−((x−μx)² + (y−μy)²) / (2σ²)) covers the whole W×H integer grid with the float
//   centre μ: no 3σ window, no rounding;
// - weight = visibility (0/1), set to 0 when the window [int(μ−3σ), int(μ+3σ+1)) lies wholly outside
//   the map (int() truncates toward zero, as Python's does); the map is written only if weight > 0.5.
//
// The Gaussian is separable, so it is computed as gx[x]·gy[y] (W + H exponentials per joint instead of
// W·H); the product equals the fused exponential to ~1e-16 relative before the float32 rounding.

export interface TargetOptions {
  /** Heatmap [width, height], e.g. [48, 64] for COCO, [64, 64] for MPII. */
  heatmapSize: readonly [number, number];
  /** Gaussian σ in heatmap pixels. Default 2. */
  sigma?: number;
}

/**
 * Writes the targets of one sample.
 * @param joints heatmap-space joint coordinates, [J, 2] (x, y) flattened.
 * @param visible per-joint visibility (0 or 1; values > 0 count as 1 for the weight).
 * @param target J·H·W floats from `targetOffset` (overwritten: zeros where no Gaussian is written).
 * @param weights J floats from `weightOffset`.
 */
export function generateTarget(
  joints: ArrayLike<number>,
  visible: ArrayLike<number>,
  options: TargetOptions,
  target: Float32Array,
  targetOffset: number,
  weights: Float32Array,
  weightOffset: number,
): void {
  const [W, H] = options.heatmapSize;
  const sigma = options.sigma ?? 2;
  const tmpSize = sigma * 3;
  const J = visible.length;
  const plane = W * H;
  const gx = new Float64Array(W);
  const gy = new Float64Array(H);
  const denom = 2 * sigma * sigma;
  for (let j = 0; j < J; j++) {
    const base = targetOffset + j * plane;
    let w = visible[j]!;
    const mx = joints[2 * j]!;
    const my = joints[2 * j + 1]!;
    // adjust_target_weight
    const ulx = Math.trunc(mx - tmpSize);
    const uly = Math.trunc(my - tmpSize);
    const brx = Math.trunc(mx + tmpSize + 1);
    const bry = Math.trunc(my + tmpSize + 1);
    if (ulx >= W || uly >= H || brx < 0 || bry < 0 || !Number.isFinite(mx) || !Number.isFinite(my)) w = 0;
    weights[weightOffset + j] = w;
    if (!(w > 0.5)) {
      target.fill(0, base, base + plane);
      continue;
    }
    for (let x = 0; x < W; x++) gx[x] = Math.exp(-((x - mx) * (x - mx)) / denom);
    for (let y = 0; y < H; y++) gy[y] = Math.exp(-((y - my) * (y - my)) / denom);
    for (let y = 0; y < H; y++) {
      const row = base + y * W;
      const g = gy[y]!;
      for (let x = 0; x < W; x++) target[row + x] = gx[x]! * g;
    }
  }
}
