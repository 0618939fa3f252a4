// The crop affine of the DarkPose/TokenPose pipeline, on host numbers: `get_affine_transform`,
// `affine_transform` and `transform_preds` of `TM tools/lib/utils/transforms.py`. The data pipeline
// (packages/train) crops with it and the decoding maps heatmap coordinates back with it.
//
// `getAffineTransform` is the DarkPose variant (model-spec §5 and Trap T11): the crop centre maps to
// ((W−1)/2, (H−1)/2), the source width `scale[0]·200` spans W−1 output pixels, so the map is a
// similarity with scale (W−1)/(src_w−1). The three point pairs are rounded to float32 as numpy does
// there, and the 2×3 matrix is solved the way `cv2.getAffineTransform` does (a 6×6 system, OpenCV's LU
// with partial pivoting, in double): bit for bit the matrix of the pip wheels' OpenCV.

/** A 2×3 affine matrix, row-major: [a, b, c, d, e, f] maps (x, y) to (a·x + b·y + c, d·x + e·y + f). */
export type AffineMatrix = Float64Array;

const f32 = Math.fround;

/**
 * OpenCV's `hal::LU` (LUImpl) on an m×m row-major matrix `a` with one right-hand side `b`, in place;
 * returns false when a pivot is below `eps` (singular). The solution is left in `b`.
 */
function luSolve(a: Float64Array, b: Float64Array, m: number, eps: number): boolean {
  for (let i = 0; i < m; i++) {
    let k = i;
    for (let j = i + 1; j < m; j++) if (Math.abs(a[j * m + i]!) > Math.abs(a[k * m + i]!)) k = j;
    if (Math.abs(a[k * m + i]!) < eps) return false;
    if (k !== i) {
      for (let j = i; j < m; j++) {
        const t = a[i * m + j]!;
        a[i * m + j] = a[k * m + j]!;
        a[k * m + j] = t;
      }
      const t = b[i]!;
      b[i] = b[k]!;
      b[k] = t;
    }
    const d = -1 / a[i * m + i]!;
    for (let j = i + 1; j < m; j++) {
      const alpha = a[j * m + i]! * d;
      for (let kk = i + 1; kk < m; kk++) a[j * m + kk] = a[j * m + kk]! + alpha * a[i * m + kk]!;
      b[j] = b[j]! + alpha * b[i]!;
    }
    a[i * m + i] = -d;
  }
  for (let i = m - 1; i >= 0; i--) {
    let s = b[i]!;
    for (let kk = i + 1; kk < m; kk++) s -= a[i * m + kk]! * b[kk]!;
    b[i] = s * a[i * m + i]!;
  }
  return true;
}

/**
 * `cv2.getAffineTransform(src, dst)` for three point pairs given as [x0, y0, x1, y1, x2, y2]
 * (callers round to float32 first, as the Python code's `np.float32(...)` does).
 */
export function solveAffine(src: ArrayLike<number>, dst: ArrayLike<number>): AffineMatrix {
  const a = new Float64Array(36);
  const b = new Float64Array(6);
  for (let i = 0; i < 3; i++) {
    const j = i * 12;
    const k = i * 12 + 6;
    a[j] = a[k + 3] = src[2 * i]!;
    a[j + 1] = a[k + 4] = src[2 * i + 1]!;
    a[j + 2] = a[k + 5] = 1;
    b[i * 2] = dst[2 * i]!;
    b[i * 2 + 1] = dst[2 * i + 1]!;
  }
  if (!luSolve(a, b, 6, 2.220446049250313e-16 * 100)) {
    throw new Error(`solveAffine: the three source points are collinear (${Array.from(src).join(', ')})`);
  }
  return b;
}

export interface AffineOptions {
  /** The inverse map (output pixels → source pixels), as `inv=1`. */
  inv?: boolean;
  /**
   * Whether the official code held the scale as float32 (COCO) or float64 (MPII); 'auto' (default)
   * decides by whether the value is a float32.
   */
  scaleDtype?: 'auto' | 'float32' | 'float64';
}

/**
 * The DarkPose `get_affine_transform(center, scale, rot, output_size, inv)`: maps the crop given by
 * `center` (pixels) and `scale` (box size / 200, a number means [s, s]), rotated by `rot` degrees, onto
 * an image of `outputSize` = [width, height].
 */
export function getAffineTransform(
  center: ArrayLike<number>,
  scale: ArrayLike<number> | number,
  rot: number,
  outputSize: ArrayLike<number>,
  options: AffineOptions = {},
): AffineMatrix {
  const scaleDtype = options.scaleDtype ?? 'auto';
  const s0 = typeof scale === 'number' ? scale : scale[0]!;
  // `scale * 200.0` is a float32 product when scale is a float32 array (COCO), a double one for MPII's
  // float64 arrays. 'auto' takes a value that float32 represents exactly for a float32 one.
  const f32Scale = scaleDtype === 'float32' || (scaleDtype === 'auto' && f32(s0) === s0);
  const srcW = f32Scale ? f32(s0 * 200) : s0 * 200;
  const dstW = outputSize[0]!;
  const dstH = outputSize[1]!;
  const rotRad = (Math.PI * rot) / 180;
  const sn = Math.sin(rotRad);
  const cs = Math.cos(rotRad);
  // get_dir([0, (src_w − 1)·−0.5], rot)
  const p1 = (srcW - 1) * -0.5;
  const srcDirX = 0 * cs - p1 * sn;
  const srcDirY = 0 * sn + p1 * cs;
  const src = new Float64Array(6);
  const dst = new Float64Array(6);
  const cx = center[0]!;
  const cy = center[1]!;
  src[0] = f32(cx);
  src[1] = f32(cy);
  src[2] = f32(cx + srcDirX);
  src[3] = f32(cy + srcDirY);
  dst[0] = f32((dstW - 1) * 0.5);
  dst[1] = f32((dstH - 1) * 0.5);
  dst[2] = f32((dstW - 1) * 0.5 + 0);
  dst[3] = f32((dstH - 1) * 0.5 + f32((dstW - 1) * -0.5));
  third(src);
  third(dst);
  return options.inv ? solveAffine(dst, src) : solveAffine(src, dst);
}

/** get_3rd_point(a, b) = b + perp(a − b), in float32 as numpy computes it. */
function third(p: Float64Array): void {
  const dx = f32(p[0]! - p[2]!);
  const dy = f32(p[1]! - p[3]!);
  p[4] = f32(p[2]! + -dy);
  p[5] = f32(p[3]! + dx);
}

/** `affine_transform(pt, t)`: the matrix applied to one point. */
export function affinePoint(m: AffineMatrix, x: number, y: number): [number, number] {
  return [m[0]! * x + m[1]! * y + m[2]!, m[3]! * x + m[4]! * y + m[5]!];
}

/**
 * `transform_preds`: heatmap coordinates (flat [x0, y0, x1, y1, ...]) back to the image, with the
 * inverse transform of the heatmap-size crop.
 */
export function transformPreds(
  coords: ArrayLike<number>,
  center: ArrayLike<number>,
  scale: ArrayLike<number> | number,
  outputSize: ArrayLike<number>,
): Float32Array {
  const t = getAffineTransform(center, scale, 0, outputSize, { inv: true });
  const out = new Float32Array(coords.length);
  for (let p = 0; p < coords.length / 2; p++) {
    const [x, y] = affinePoint(t, coords[2 * p]!, coords[2 * p + 1]!);
    out[2 * p] = x;
    out[2 * p + 1] = y;
  }
  return out;
}
