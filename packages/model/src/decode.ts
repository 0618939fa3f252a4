// Heatmap decoding on the host, exactly as the official post-processing (TokenPose / TMPose
// `core/inference.py` get_final_preds with POST_PROCESS, i.e. DARK; model-spec §5):
//   1. argmax per joint → integer (x, y); maxval = the peak (of the flip-averaged map, before blur);
//      coords are zeroed when maxval ≤ 0.
//   2. zero-pad by 5, cv2.GaussianBlur 11×11 σ = 0 → 2.0 (radius = pad, so cv2's border rule never
//      reaches past the zeros), crop, rescale so that the max equals the original max.
//   3. max(·, 1e-10), log.
//   4. Taylor step at (px, py) = int(coords), only if 1 < px < W−2 and 1 < py < H−2:
//        dx = ½(f[x+1]−f[x−1]), dxx = ¼(f[x+2]−2f[x]+f[x−2]), dxy = ¼(f[y+1,x+1]−f[y−1,x+1]−f[y+1,x−1]+f[y−1,x−1])
//      and coord −= H⁻¹·g when det ≠ 0.
//   5. map back with the inverse affine of the crop (output size = heatmap size).
//   6. score = maxval.
// Flip test: flip_back (reverse W, swap the symmetric pairs) and average with the plain output.
// Heatmaps are float32 arrays laid out [B, J, H, W]; the intermediate float32 roundings of numpy are
// reproduced where they matter.
import { transformPreds } from './affine.js';

/** COCO's left/right pairs (0-based). */
export const COCO_FLIP_PAIRS: readonly [number, number][] = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]];
/** MPII's left/right pairs (0-based). */
export const MPII_FLIP_PAIRS: readonly [number, number][] = [[0, 5], [1, 4], [2, 3], [10, 15], [11, 14], [12, 13]];

export type HeatmapShape = readonly [number, number, number, number];

const f32 = Math.fround;

function checkShape(data: ArrayLike<number>, shape: HeatmapShape, what: string): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (shape.length !== 4 || data.length !== n) throw new Error(`${what}: ${data.length} values do not fill [${shape.join(', ')}]`);
}

/** `get_max_preds`: argmax (first maximum) per map → coords [B·J·2] (x, y) and maxvals [B·J]. */
export function getMaxPreds(heatmaps: ArrayLike<number>, shape: HeatmapShape): { coords: Float32Array; maxvals: Float32Array } {
  checkShape(heatmaps, shape, 'getMaxPreds');
  const [B, J, H, W] = shape;
  const HW = H * W;
  const coords = new Float32Array(B * J * 2);
  const maxvals = new Float32Array(B * J);
  for (let m = 0; m < B * J; m++) {
    let best = 0;
    let bestV = heatmaps[m * HW]!;
    for (let i = 1; i < HW; i++) {
      const v = heatmaps[m * HW + i]!;
      // numpy's argmax: the first maximum; NaN counts as the maximum.
      if (v > bestV || (Number.isNaN(v) && !Number.isNaN(bestV))) {
        best = i;
        bestV = v;
      }
    }
    maxvals[m] = bestV;
    const keep = bestV > 0 ? 1 : 0;
    coords[2 * m] = (best % W) * keep;
    coords[2 * m + 1] = Math.floor(best / W) * keep;
  }
  return { coords, maxvals };
}

/** cv2.getGaussianKernel(k, σ) for float64 (σ ≤ 0 → 0.3·((k−1)/2 − 1) + 0.8). */
export function gaussianKernel(k: number, sigma = 0): Float64Array {
  const s = sigma > 0 ? sigma : ((k - 1) * 0.5 - 1) * 0.3 + 0.8;
  const scale2 = -0.5 / (s * s);
  const out = new Float64Array(k);
  let sum = 0;
  for (let i = 0; i < k; i++) {
    const x = i - (k - 1) * 0.5;
    out[i] = Math.exp(scale2 * x * x);
    sum += out[i]!;
  }
  for (let i = 0; i < k; i++) out[i]! /= sum;
  return out;
}

/**
 * `gaussian_blur` of DARK on a copy: per map, zero-pad by (k−1)/2, separable Gaussian blur, crop, then
 * rescale to the original maximum. Returns float32 maps.
 */
export function gaussianBlur(heatmaps: ArrayLike<number>, shape: HeatmapShape, kernel = 11): Float32Array {
  checkShape(heatmaps, shape, 'gaussianBlur');
  if (kernel % 2 !== 1) throw new Error(`gaussianBlur: the kernel size ${kernel} must be odd`);
  const [B, J, H, W] = shape;
  const r = (kernel - 1) / 2;
  const g = gaussianKernel(kernel);
  const out = new Float32Array(B * J * H * W);
  const tmp = new Float64Array(H * W);
  for (let m = 0; m < B * J; m++) {
    const base = m * H * W;
    let originMax = -Infinity;
    for (let i = 0; i < H * W; i++) originMax = Math.max(originMax, heatmaps[base + i]!);
    // Rows: outside the map the padded image is zero, and the kernel (radius r = pad) never reaches
    // past the padding, so this is an exact zero-padded convolution.
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let s = 0;
        for (let t = -r; t <= r; t++) {
          const xx = x + t;
          if (xx >= 0 && xx < W) s += g[t + r]! * heatmaps[base + y * W + xx]!;
        }
        tmp[y * W + x] = s;
      }
    }
    let blurMax = -Infinity;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let s = 0;
        for (let t = -r; t <= r; t++) {
          const yy = y + t;
          if (yy >= 0 && yy < H) s += g[t + r]! * tmp[yy * W + x]!;
        }
        const v = f32(s);
        out[base + y * W + x] = v;
        blurMax = Math.max(blurMax, v);
      }
    }
    // hm *= origin_max / max(hm), in float32 (an all-zero blur would give NaN in numpy: left as is here).
    if (blurMax !== 0) {
      const k = f32(f32(originMax) / blurMax);
      for (let i = 0; i < H * W; i++) out[base + i] = f32(out[base + i]! * k);
    }
  }
  return out;
}

/** One Taylor step of DARK at an integer location of a log-heatmap (H×W, offset `base`); returns the refined (x, y). */
export function taylorStep(logHm: ArrayLike<number>, base: number, H: number, W: number, x: number, y: number): [number, number] {
  const px = Math.trunc(x);
  const py = Math.trunc(y);
  if (!(1 < px && px < W - 2 && 1 < py && py < H - 2)) return [x, y];
  const f = (yy: number, xx: number) => logHm[base + yy * W + xx]!;
  const dx = 0.5 * (f(py, px + 1) - f(py, px - 1));
  const dy = 0.5 * (f(py + 1, px) - f(py - 1, px));
  const dxx = 0.25 * (f(py, px + 2) - 2 * f(py, px) + f(py, px - 2));
  const dxy = 0.25 * (f(py + 1, px + 1) - f(py - 1, px + 1) - f(py + 1, px - 1) + f(py - 1, px - 1));
  const dyy = 0.25 * (f(py + 2, px) - 2 * f(py, px) + f(py - 2, px));
  const det = dxx * dyy - dxy * dxy;
  if (det === 0 || Number.isNaN(det)) return [x, y];
  // offset = −H⁻¹ g with H⁻¹ = [[dyy, −dxy], [−dxy, dxx]] / det
  const ox = -(dyy * dx - dxy * dy) / det;
  const oy = -(-dxy * dx + dxx * dy) / det;
  return [f32(x + ox), f32(y + oy)];
}

export interface DecodeOptions {
  /** DARK refinement (the official POST_PROCESS: true); default true. */
  dark?: boolean;
  /** The blur kernel size (TEST.BLUR_KERNEL 11). */
  blurKernel?: number;
}

/**
 * Heatmap-space keypoints: argmax + DARK. Returns coords [B·J·2] (x, y in heatmap pixels) and
 * maxvals [B·J].
 */
export function decodeHeatmaps(heatmaps: ArrayLike<number>, shape: HeatmapShape, options: DecodeOptions = {}): { coords: Float32Array; maxvals: Float32Array } {
  const { coords, maxvals } = getMaxPreds(heatmaps, shape);
  if (options.dark ?? true) {
    const [B, J, H, W] = shape;
    const blurred = gaussianBlur(heatmaps, shape, options.blurKernel ?? 11);
    for (let i = 0; i < blurred.length; i++) blurred[i] = f32(Math.log(Math.max(blurred[i]!, f32(1e-10))));
    for (let m = 0; m < B * J; m++) {
      const [x, y] = taylorStep(blurred, m * H * W, H, W, coords[2 * m]!, coords[2 * m + 1]!);
      coords[2 * m] = x;
      coords[2 * m + 1] = y;
    }
  }
  return { coords, maxvals };
}

/**
 * `get_final_preds`: decode, then map back to the image through each sample's crop (centre [B][2],
 * scale [B][2] in units of 200 px). Returns preds [B·J·2] in image pixels and maxvals [B·J] (the scores).
 */
export function getFinalPreds(
  heatmaps: ArrayLike<number>,
  shape: HeatmapShape,
  centers: ArrayLike<ArrayLike<number>>,
  scales: ArrayLike<ArrayLike<number>>,
  options: DecodeOptions = {},
): { preds: Float32Array; maxvals: Float32Array } {
  const [B, J, H, W] = shape;
  if (centers.length !== B || scales.length !== B) throw new Error(`getFinalPreds: need ${B} centres and scales, got ${centers.length} and ${scales.length}`);
  const { coords, maxvals } = decodeHeatmaps(heatmaps, shape, options);
  const preds = new Float32Array(B * J * 2);
  for (let b = 0; b < B; b++) {
    const c = centers[b]!;
    const s = scales[b]!;
    preds.set(transformPreds(coords.subarray(b * J * 2, (b + 1) * J * 2), [c[0]!, c[1]!], [s[0]!, s[1]!], [W, H]), b * J * 2);
  }
  return { preds, maxvals };
}

/** `flip_back`: reverse each map along W and swap the symmetric joints. Returns a new array. */
export function flipBack(heatmaps: ArrayLike<number>, shape: HeatmapShape, pairs: readonly (readonly [number, number])[]): Float32Array {
  checkShape(heatmaps, shape, 'flipBack');
  const [B, J, H, W] = shape;
  const perm = Array.from({ length: J }, (_, j) => j);
  for (const [a, b] of pairs) {
    perm[a] = b;
    perm[b] = a;
  }
  const out = new Float32Array(B * J * H * W);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < J; j++) {
      const src = (b * J + perm[j]!) * H * W;
      const dst = (b * J + j) * H * W;
      for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[dst + y * W + x] = heatmaps[src + y * W + (W - 1 - x)]!;
    }
  }
  return out;
}

/** Flip test: (plain + flip_back(flipped))·0.5, in float32 (no 1-pixel shift: the alignment needs none). */
export function flipTestAverage(
  plain: ArrayLike<number>,
  flipped: ArrayLike<number>,
  shape: HeatmapShape,
  pairs: readonly (readonly [number, number])[],
): Float32Array {
  checkShape(plain, shape, 'flipTestAverage');
  const back = flipBack(flipped, shape, pairs);
  for (let i = 0; i < back.length; i++) back[i] = f32(f32(plain[i]! + back[i]!) * 0.5);
  return back;
}
