// The DarkPose `get_affine_transform` (TokenPose / TMPose `utils/transforms.py`), on host numbers.
// (packages/train/src/data/affine.ts has the same for the data pipeline; this copy keeps the model
// package free of a dependency on train — dedupe later.)
//
// src_w = scale[0]·200; src = {c, c + R(rot)·[0, −(src_w−1)/2], 3rd}; dst = {((W−1)/2, (H−1)/2),
// that + [0, −(W−1)/2], 3rd}; 3rd = b + perp(a − b). The points are float32 (numpy arrays of float32),
// the matrix is solved in float64 as cv2.getAffineTransform does.

/** A 2×3 affine matrix, row-major: [a, b, c, d, e, f] maps (x, y) to (a·x + b·y + c, d·x + e·y + f). */
export type Affine = [number, number, number, number, number, number];

const f32 = Math.fround;

/** cv2.getAffineTransform: the affine map taking three src points onto three dst points. */
export function affineFromPoints(src: [number, number][], dst: [number, number][]): Affine {
  // Two 3×3 systems [x y 1]·(a b c)ᵀ = u and [x y 1]·(d e f)ᵀ = v, by Gaussian elimination with pivoting.
  const solve = (rhs: number[]): number[] => {
    const A = src.map(([x, y], i) => [x, y, 1, rhs[i]!]);
    for (let col = 0; col < 3; col++) {
      let piv = col;
      for (let r = col + 1; r < 3; r++) if (Math.abs(A[r]![col]!) > Math.abs(A[piv]![col]!)) piv = r;
      if (A[piv]![col] === 0) throw new Error('affineFromPoints: the source points are collinear');
      [A[col], A[piv]] = [A[piv]!, A[col]!];
      for (let r = col + 1; r < 3; r++) {
        const f = A[r]![col]! / A[col]![col]!;
        for (let c = col; c < 4; c++) A[r]![c]! -= f * A[col]![c]!;
      }
    }
    const x = [0, 0, 0];
    for (let r = 2; r >= 0; r--) {
      let s = A[r]![3]!;
      for (let c = r + 1; c < 3; c++) s -= A[r]![c]! * x[c]!;
      x[r] = s / A[r]![r]!;
    }
    return x;
  };
  const [a, b, c] = solve(dst.map((p) => p[0]));
  const [d, e, f] = solve(dst.map((p) => p[1]));
  return [a!, b!, c!, d!, e!, f!];
}

function thirdPoint(a: [number, number], b: [number, number]): [number, number] {
  const dx = f32(a[0] - b[0]);
  const dy = f32(a[1] - b[1]);
  return [f32(b[0] - dy), f32(b[1] + dx)];
}

export interface AffineOptions {
  /** Shift of the centre, in units of the box size (default [0, 0]). */
  shift?: [number, number];
  /** The inverse map (output → source), as `inv=1`. */
  inv?: boolean;
}

/**
 * The crop transform: centre c, scale s (box size / 200, [sx, sy] or one number), rotation in degrees,
 * output size [W, H] (width first, as the official code).
 */
export function getAffineTransform(
  center: readonly [number, number] | ArrayLike<number>,
  scale: number | readonly [number, number] | ArrayLike<number>,
  rot: number,
  outputSize: readonly [number, number] | ArrayLike<number>,
  options: AffineOptions = {},
): Affine {
  // centre and scale are float32 in the data pipeline (numpy float32 arrays): so is scale·200.
  const [sx, sy] = typeof scale === 'number' ? [f32(scale), f32(scale)] : [f32(scale[0]!), f32(scale[1]!)];
  const shift = options.shift ?? [0, 0];
  const scaleTmp = [f32(sx * 200), f32(sy * 200)];
  const srcW = scaleTmp[0]!;
  const dstW = outputSize[0]!;
  const dstH = outputSize[1]!;
  const rotRad = (Math.PI * rot) / 180;
  const sn = Math.sin(rotRad);
  const cs = Math.cos(rotRad);
  // get_dir([0, (src_w − 1)·−0.5], rot)
  const p1 = (srcW - 1) * -0.5;
  const srcDir = [0 * cs - p1 * sn, 0 * sn + p1 * cs];
  const dstDir = [0, f32((dstW - 1) * -0.5)];
  const cx = f32(center[0]!);
  const cy = f32(center[1]!);
  const s0: [number, number] = [f32(cx + scaleTmp[0]! * shift[0]), f32(cy + scaleTmp[1]! * shift[1])];
  const s1: [number, number] = [f32(cx + srcDir[0]! + scaleTmp[0]! * shift[0]), f32(cy + srcDir[1]! + scaleTmp[1]! * shift[1])];
  const d0: [number, number] = [f32((dstW - 1) * 0.5), f32((dstH - 1) * 0.5)];
  const d1: [number, number] = [f32((dstW - 1) * 0.5 + dstDir[0]!), f32((dstH - 1) * 0.5 + dstDir[1]!)];
  const src = [s0, s1, thirdPoint(s0, s1)];
  const dst = [d0, d1, thirdPoint(d0, d1)];
  return options.inv ? affineFromPoints(dst, src) : affineFromPoints(src, dst);
}

/** Applies a 2×3 matrix to a point. */
export function affineTransform(pt: readonly [number, number] | ArrayLike<number>, t: Affine): [number, number] {
  const x = pt[0]!;
  const y = pt[1]!;
  return [t[0] * x + t[1] * y + t[2], t[3] * x + t[4] * y + t[5]];
}

/**
 * `transform_preds`: heatmap coordinates [J][2] (flat Float32Array of 2·J or pairs) back to the image,
 * with the inverse transform of the heatmap-size crop.
 */
export function transformPreds(
  coords: ArrayLike<number>,
  center: readonly [number, number] | ArrayLike<number>,
  scale: number | readonly [number, number] | ArrayLike<number>,
  outputSize: readonly [number, number] | ArrayLike<number>,
): Float32Array {
  const t = getAffineTransform(center, scale, 0, outputSize, { inv: true });
  const out = new Float32Array(coords.length);
  for (let p = 0; p < coords.length / 2; p++) {
    const [x, y] = affineTransform([coords[2 * p]!, coords[2 * p + 1]!], t);
    out[2 * p] = x;
    out[2 * p + 1] = y;
  }
  return out;
}
