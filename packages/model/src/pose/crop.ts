// The top-down crop on the host: a person box to the official centre/scale, and the cv2-exact warp on
// the CPU (`warpAffineU8`, `warpAffine`), the reference that `warpAffineCrops` of @tmpose/tensor equals
// on the GPU bit for bit. The fixed-point offsets, the inverse matrix and the normalisation table are
// @tmpose/tensor's (`warpOffsets`, `invertAffine`, `normalizeTable`), shared by both; see ops/image.ts
// there for cv2's arithmetic. OpenCV 4.11 rewrote this path in floating point; the training code this
// project follows predates it. No Node imports: the training data workers and browsers both use this.
import { invertAffine, normalizeTable, warpOffsets } from '@tmpose/tensor';

/** The pixel_std of the official code: scale = size / 200. */
export const PIXEL_STD = 200;

const f32 = Math.fround;

/**
 * `_xywh2cs(x, y, w, h)`: box → centre and scale (×1.25 padding), aspect ratio w/h of the input
 * (192/256 = 0.75 for COCO). Values are rounded to float32 as the official code stores them.
 */
export function xywhToCenterScale(
  x: number,
  y: number,
  w: number,
  h: number,
  aspectRatio = 192 / 256,
  padding = 1.25,
): { center: [number, number]; scale: [number, number] } {
  const cx = f32(x + (w - 1) * 0.5);
  const cy = f32(y + (h - 1) * 0.5);
  if (w > aspectRatio * h) h = (w * 1.0) / aspectRatio;
  else if (w < aspectRatio * h) w = h * aspectRatio;
  let sx = f32(w / PIXEL_STD);
  let sy = f32(h / PIXEL_STD);
  if (cx !== -1) {
    sx = f32(sx * padding);
    sy = f32(sy * padding);
  }
  return { center: [cx, cy], scale: [sx, sy] };
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
  const { adelta, bdelta, x0, y0 } = warpOffsets(m, dstW, dstH);
  const sstep = srcW * cn;
  const w1 = srcW - 1;
  const h1 = srcH - 1;
  let o = 0;
  for (let y = 0; y < dstH; y++) {
    const X0 = x0[y]!;
    const Y0 = y0[y]!;
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
