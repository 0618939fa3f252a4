// The crop affine of the DarkPose/TokenPose pipeline and a cv2-exact bilinear warp.
//
// `getAffineTransform` follows `TM tools/lib/utils/transforms.py` `get_affine_transform` (the DarkPose
// variant, model-spec §5 and Trap T11): the crop centre maps to ((W−1)/2, (H−1)/2), the source width
// `scale[0]·200` spans W−1 output pixels, so the map is a similarity with scale (W−1)/(src_w−1). The
// three point pairs are rounded to float32 as numpy does there, and the 2×3 matrix is solved the way
// `cv2.getAffineTransform` does (a 6×6 system, OpenCV's LU with partial pivoting, in double).
//
// `warpAffineU8` reproduces `cv2.warpAffine(img, M, (W, H), flags=INTER_LINEAR)` with the default
// constant-0 border bit for bit (OpenCV 3.x/4.x up to 4.10, `imgwarp.cpp`):
//   - M is inverted in double exactly as warpAffine does; destination pixel (x, y), at integer
//     coordinates (no half-pixel shift), reads the source at M⁻¹·(x, y, 1);
//   - coordinates are fixed point: X = (round(M⁻¹₀₀·x·1024) + round((M⁻¹₀₁·y + M⁻¹₀₂)·1024) + 16) >> 5,
//     i.e. 1/32-pixel steps, with round = round-half-even (cvRound);
//   - bilinear weights are the 32×32 table of 15-bit integers (1−fx)(1−fy)·32768 etc., and the result
//     is (Σ w·p + 2^14) >> 15;
//   - neighbours outside the image count as 0 (BORDER_CONSTANT, value 0).
// OpenCV 4.11 rewrote this path in floating point; the training code this project follows predates it.
//
// The output of the warp is uint8 (as cv2's is, for a uint8 image); `warpAffine` then applies
// torchvision's ToTensor + Normalize (float32: v/255, −mean, /std) through a 3×256 lookup table.

/** A 2×3 affine matrix, row-major: [a, b, c, d, e, f] maps (x, y) to (a·x + b·y + c, d·x + e·y + f). */
export type AffineMatrix = Float64Array;

/** (x, y) */
export type Point = readonly [number, number];

/** ImageNet mean and std (RGB), as in the official `transforms.Normalize`. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

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

/**
 * The DarkPose `get_affine_transform(center, scale, rot, output_size, inv)`:
 * maps the crop given by `center` (pixels) and `scale` (box size / 200, a number means [s, s]),
 * rotated by `rot` degrees, onto an image of `outputSize` = [width, height]. With `inverse`, the
 * matrix maps output pixels back to source pixels. `scaleDtype` says whether the official code held the
 * scale as float32 (COCO) or float64 (MPII); 'auto' (default) decides by whether the value is a float32.
 */
export function getAffineTransform(
  center: Point,
  scale: Point | number,
  rot: number,
  outputSize: Point,
  inverse = false,
  scaleDtype: 'auto' | 'float32' | 'float64' = 'auto',
): AffineMatrix {
  const s0 = typeof scale === 'number' ? scale : scale[0];
  // `scale * 200.0` is a float32 product when scale is a float32 array (COCO), a double one for MPII's
  // float64 arrays. 'auto' takes a value that float32 represents exactly for a float32 one.
  const f32Scale = scaleDtype === 'float32' || (scaleDtype === 'auto' && f32(s0) === s0);
  const srcW = f32Scale ? f32(s0 * 200) : s0 * 200;
  const [dstW, dstH] = outputSize;
  const rotRad = (Math.PI * rot) / 180;
  const sn = Math.sin(rotRad);
  const cs = Math.cos(rotRad);
  // get_dir([0, (src_w − 1)·−0.5], rot)
  const p1 = (srcW - 1) * -0.5;
  const srcDirX = 0 * cs - p1 * sn;
  const srcDirY = 0 * sn + p1 * cs;
  const src = new Float64Array(6);
  const dst = new Float64Array(6);
  src[0] = f32(center[0]);
  src[1] = f32(center[1]);
  src[2] = f32(center[0] + srcDirX);
  src[3] = f32(center[1] + srcDirY);
  dst[0] = f32((dstW - 1) * 0.5);
  dst[1] = f32((dstH - 1) * 0.5);
  dst[2] = f32((dstW - 1) * 0.5 + 0);
  dst[3] = f32((dstH - 1) * 0.5 + f32((dstW - 1) * -0.5));
  third(src);
  third(dst);
  return inverse ? solveAffine(dst, src) : solveAffine(src, dst);
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

/** The inverse of an affine map, computed as `cv2.warpAffine` does (double, same operation order). */
export function invertAffine(m: ArrayLike<number>): AffineMatrix {
  const M = Float64Array.from(m as ArrayLike<number>);
  let D = M[0]! * M[4]! - M[1]! * M[3]!;
  D = D !== 0 ? 1 / D : 0;
  const A11 = M[4]! * D;
  const A22 = M[0]! * D;
  M[0] = A11;
  M[1] = M[1]! * -D;
  M[3] = M[3]! * -D;
  M[4] = A22;
  const b1 = -M[0] * M[2]! - M[1] * M[5]!;
  const b2 = -M[3] * M[2]! - M[4] * M[5]!;
  M[2] = b1;
  M[5] = b2;
  return M;
}

/**
 * How many rows from the top of a `srcH`-row source `warpAffineU8` can read for this matrix and output
 * size: the lowest source row any output pixel maps to, plus the bilinear neighbour and one row for the
 * 1/32-pixel rounding. Used to decode only the top of a JPEG.
 */
export function sourceRowsNeeded(m: ArrayLike<number>, dstW: number, dstH: number, srcH: number): number {
  const M = invertAffine(m);
  let maxY = -Infinity;
  for (const x of [0, dstW - 1]) for (const y of [0, dstH - 1]) maxY = Math.max(maxY, M[3]! * x + M[4]! * y + M[5]!);
  if (!Number.isFinite(maxY)) return srcH;
  return Math.min(srcH, Math.max(1, Math.floor(maxY) + 3));
}

/** cvRound: round half to even (x86 cvtsd2si in the default rounding mode). */
function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

function saturateInt(x: number): number {
  return x >= 2147483647 ? 2147483647 : x <= -2147483648 ? -2147483648 : x;
}

function saturateShort(x: number): number {
  return x > 32767 ? 32767 : x < -32768 ? -32768 : x;
}

export interface WarpOptions {
  /**
   * Read the source mirrored left–right (as if it were `img[:, ::-1]`), which is how the training
   * flip is applied (the Python code flips the array before warping).
   */
  flip?: boolean;
  /** Where to write (HWC uint8, dstW·dstH·3 bytes); a new array when absent. */
  out?: Uint8Array;
}

/**
 * `cv2.warpAffine(src, m, (dstW, dstH), flags=cv2.INTER_LINEAR)` on an RGB (or any 3-channel) uint8
 * image in HWC order, constant-0 border. `m` is the forward matrix (source → destination), as passed
 * to cv2.
 */
export function warpAffineU8(
  src: Uint8Array,
  srcW: number,
  srcH: number,
  m: ArrayLike<number>,
  dstW: number,
  dstH: number,
  options: WarpOptions = {},
): Uint8Array {
  const cn = 3;
  if (src.length < srcW * srcH * cn) {
    // Only the top of the image was decoded: fine if the warp never reads below it.
    const rows = Math.floor(src.length / (srcW * cn));
    const need = sourceRowsNeeded(m, dstW, dstH, srcH);
    if (rows < need) {
      throw new Error(`warpAffineU8: source has ${rows} of ${srcH} rows (${srcW} wide), the warp reads ${need}`);
    }
  }
  const out = options.out ?? new Uint8Array(dstW * dstH * cn);
  if (out.length < dstW * dstH * cn) throw new Error('warpAffineU8: output buffer too small');
  const flip = options.flip === true;
  const M = invertAffine(m);
  const adelta = new Int32Array(dstW);
  const bdelta = new Int32Array(dstW);
  for (let x = 0; x < dstW; x++) {
    adelta[x] = saturateInt(rint(M[0]! * x * 1024));
    bdelta[x] = saturateInt(rint(M[3]! * x * 1024));
  }
  const sstep = srcW * cn;
  const w1 = srcW - 1;
  const h1 = srcH - 1;
  let o = 0;
  for (let y = 0; y < dstH; y++) {
    const X0 = saturateInt(rint((M[1]! * y + M[2]!) * 1024)) + 16;
    const Y0 = saturateInt(rint((M[4]! * y + M[5]!) * 1024)) + 16;
    for (let x = 0; x < dstW; x++, o += 3) {
      const X = (X0 + adelta[x]!) >> 5;
      const Y = (Y0 + bdelta[x]!) >> 5;
      const sx = saturateShort(X >> 5);
      const sy = saturateShort(Y >> 5);
      const fx = X & 31;
      const fy = Y & 31;
      const w00 = (32 - fy) * (32 - fx) * 32;
      const w01 = (32 - fy) * fx * 32;
      const w10 = fy * (32 - fx) * 32;
      const w11 = fy * fx * 32;
      if (sx >= 0 && sx < w1 && sy >= 0 && sy < h1) {
        // All four neighbours inside.
        let p0: number;
        let p1: number;
        if (flip) {
          p0 = sy * sstep + (w1 - sx) * 3;
          p1 = p0 - 3;
        } else {
          p0 = sy * sstep + sx * 3;
          p1 = p0 + 3;
        }
        const p2 = p0 + sstep;
        const p3 = p1 + sstep;
        out[o] = (src[p0]! * w00 + src[p1]! * w01 + src[p2]! * w10 + src[p3]! * w11 + 16384) >> 15;
        out[o + 1] =
          (src[p0 + 1]! * w00 + src[p1 + 1]! * w01 + src[p2 + 1]! * w10 + src[p3 + 1]! * w11 + 16384) >> 15;
        out[o + 2] =
          (src[p0 + 2]! * w00 + src[p1 + 2]! * w01 + src[p2 + 2]! * w10 + src[p3 + 2]! * w11 + 16384) >> 15;
      } else if (sx >= srcW || sx + 1 < 0 || sy >= srcH || sy + 1 < 0) {
        out[o] = 0;
        out[o + 1] = 0;
        out[o + 2] = 0;
      } else {
        // On the border: neighbours outside the image read 0.
        const x0in = sx >= 0 && sx < srcW;
        const x1in = sx + 1 >= 0 && sx + 1 < srcW;
        const y0in = sy >= 0 && sy < srcH;
        const y1in = sy + 1 >= 0 && sy + 1 < srcH;
        const c0 = flip ? w1 - sx : sx;
        const c1 = flip ? w1 - sx - 1 : sx + 1;
        const p0 = x0in && y0in ? sy * sstep + c0 * 3 : -1;
        const p1 = x1in && y0in ? sy * sstep + c1 * 3 : -1;
        const p2 = x0in && y1in ? (sy + 1) * sstep + c0 * 3 : -1;
        const p3 = x1in && y1in ? (sy + 1) * sstep + c1 * 3 : -1;
        for (let k = 0; k < 3; k++) {
          const v =
            (p0 >= 0 ? src[p0 + k]! * w00 : 0) +
            (p1 >= 0 ? src[p1 + k]! * w01 : 0) +
            (p2 >= 0 ? src[p2 + k]! * w10 : 0) +
            (p3 >= 0 ? src[p3 + k]! * w11 : 0);
          out[o + k] = (v + 16384) >> 15;
        }
      }
    }
  }
  return out;
}

/**
 * The 3×256 table of torchvision's `ToTensor()` then `Normalize(mean, std)` in float32:
 * ((v / 255) − mean[c]) / std[c].
 */
export function normalizeTable(
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
): Float32Array {
  const t = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const m = f32(mean[c]!);
    const s = f32(std[c]!);
    for (let v = 0; v < 256; v++) t[c * 256 + v] = f32(f32(f32(v / 255) - m) / s);
  }
  return t;
}

export interface WarpAffineOptions {
  flip?: boolean;
  /** From `normalizeTable` (default: ImageNet mean/std). */
  table?: Float32Array;
  /** Destination (3·dstH·dstW floats from `outOffset`); a new array when absent. */
  out?: Float32Array;
  outOffset?: number;
  /** A reusable HWC uint8 buffer of dstW·dstH·3 bytes. */
  scratch?: Uint8Array;
}

let defaultTable: Float32Array | undefined;

/**
 * `warpAffineU8`, then ToTensor + Normalize: writes a CHW float32 [3, dstH, dstW] image normalised with
 * the ImageNet mean/std (or the given table).
 */
export function warpAffine(
  src: Uint8Array,
  srcW: number,
  srcH: number,
  m: ArrayLike<number>,
  dstW: number,
  dstH: number,
  options: WarpAffineOptions = {},
): Float32Array {
  const plane = dstW * dstH;
  const hwc = warpAffineU8(src, srcW, srcH, m, dstW, dstH, {
    flip: options.flip,
    out: options.scratch && options.scratch.length >= plane * 3 ? options.scratch : undefined,
  });
  const table = options.table ?? (defaultTable ??= normalizeTable());
  const out = options.out ?? new Float32Array(3 * plane);
  const off = options.outOffset ?? 0;
  if (out.length < off + 3 * plane) throw new Error('warpAffine: output buffer too small');
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    out[off + i] = table[hwc[j]!]!;
    out[off + plane + i] = table[256 + hwc[j + 1]!]!;
    out[off + 2 * plane + i] = table[512 + hwc[j + 2]!]!;
  }
  return out;
}
