// warpAffineCrops: crops of a uint8 image through 2×3 affine maps, normalised for a network — what
// `cv2.warpAffine(img, M, (W, H), flags=INTER_LINEAR)` then torchvision's `ToTensor()` +
// `Normalize(mean, std)` give, for several crops in one dispatch, bit for bit.
//
// cv2's fixed-point INTER_LINEAR (OpenCV 3.x/4.x up to 4.10, `imgwarp.cpp`):
//   - M is inverted in double exactly as warpAffine does; destination pixel (x, y), at integer
//     coordinates (no half-pixel shift), reads the source at M⁻¹·(x, y, 1);
//   - coordinates are fixed point: X = (round(M⁻¹₀₀·x·1024) + round((M⁻¹₀₁·y + M⁻¹₀₂)·1024) + 16) >> 5,
//     i.e. 1/32-pixel steps, with round = round-half-even (cvRound);
//   - bilinear weights are the 32×32 table of 15-bit integers (1−fx)(1−fy)·32768 etc., and the result
//     is (Σ w·p + 2^14) >> 15;
//   - neighbours outside the image count as 0 (BORDER_CONSTANT, value 0).
// The per-column and per-row offsets need float64, which WGSL lacks: `warpOffsets` computes them on the
// host (they are all the doubles the warp uses) and the kernel does the rest in 32-bit integers, which
// wrap as the CPU's do. The uint8 result becomes float32 through the same 3×256 table as the CPU path.
// The pixels travel as they are, four bytes to a u32 word (RGB or RGBA, the alpha ignored).
import { linearEntry } from '../runtime/pipelines.js';
import { dispatch, grid, upload } from '../runtime/queue.js';
import { uniforms } from '../runtime/uniforms.js';
import { type Tensor, empty } from '../tensor.js';
import { tensor } from './create.js';

/** ImageNet mean and std (RGB), as in the official `transforms.Normalize`. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

const f32 = Math.fround;

/**
 * The 3×256 table of torchvision's `ToTensor()` then `Normalize(mean, std)` in float32:
 * ((v / 255) − mean[c]) / std[c].
 */
export function normalizeTable(mean: readonly number[] = IMAGENET_MEAN, std: readonly number[] = IMAGENET_STD): Float32Array {
  const t = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const m = f32(mean[c]!);
    const s = f32(std[c]!);
    for (let v = 0; v < 256; v++) t[c * 256 + v] = f32(f32(f32(v / 255) - m) / s);
  }
  return t;
}

/** A 2×3 affine matrix, row-major: [a, b, c, d, e, f] maps (x, y) to (a·x + b·y + c, d·x + e·y + f). */
export type Affine2x3 = ArrayLike<number>;

/** The inverse of an affine map, computed as `cv2.warpAffine` does (double, same operation order). */
export function invertAffine(m: Affine2x3): Float64Array {
  const M = Float64Array.from(m);
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

/** cvRound: round half to even (x86 cvtsd2si in the default rounding mode). */
function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}

function saturateInt(x: number): number {
  return x >= 2147483647 ? 2147483647 : x <= -2147483648 ? -2147483648 : x;
}

/**
 * The fixed-point offsets of cv2's warpAffine for the forward matrix `m` and a dstW×dstH output:
 * destination pixel (x, y) reads the source at X = (x0[y] + adelta[x]) >> 5, Y = (y0[y] + bdelta[x]) >> 5
 * (1/32 pixels, in int32 arithmetic). x0 and y0 include cv2's rounding term (+16); an Int32Array
 * wraps them as the int32 sum would.
 */
export function warpOffsets(m: Affine2x3, dstW: number, dstH: number): { adelta: Int32Array; bdelta: Int32Array; x0: Int32Array; y0: Int32Array } {
  const M = invertAffine(m);
  const adelta = new Int32Array(dstW);
  const bdelta = new Int32Array(dstW);
  for (let x = 0; x < dstW; x++) {
    adelta[x] = saturateInt(rint(M[0]! * x * 1024));
    bdelta[x] = saturateInt(rint(M[3]! * x * 1024));
  }
  const x0 = new Int32Array(dstH);
  const y0 = new Int32Array(dstH);
  for (let y = 0; y < dstH; y++) {
    x0[y] = saturateInt(rint((M[1]! * y + M[2]!) * 1024)) + 16;
    y0[y] = saturateInt(rint((M[4]! * y + M[5]!) * 1024)) + 16;
  }
  return { adelta, bdelta, x0, y0 };
}

/** An image as bytes, row-major (HWC): RGB, or RGBA like `ImageData` (the alpha is ignored). */
export interface ImagePixels {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA); inferred from the length of `data` when absent. */
  channels?: 3 | 4;
}

/** The channel count of `image`, checked against its size; errors name `op` and the sizes. */
export function imageChannels(op: string, image: ImagePixels): 3 | 4 {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`${op}: the image must be at least 1×1 pixels with integer sizes, got ${width}×${height}`);
  }
  const pixels = width * height;
  const channels = image.channels ?? (data.length === pixels * 3 ? 3 : data.length === pixels * 4 ? 4 : undefined);
  if ((channels !== 3 && channels !== 4) || data.length !== pixels * channels) {
    const said = image.channels === undefined ? '' : ` with channels ${image.channels}`;
    throw new Error(
      `${op}: a ${width}×${height} image${said} needs ${pixels * 3} (RGB) or ${pixels * 4} (RGBA) bytes, got ${data.length}`,
    );
  }
  return channels;
}

export interface WarpAffineCropsOptions {
  /**
   * Read the source mirrored left–right (as if it were `img[:, ::-1]`), as the training flip
   * augmentation does (the Python code flips the array before warping).
   */
  flip?: boolean;
  /** Mirror each crop left–right (`torchvision`'s `hflip` of the result): the flip test's input. */
  mirror?: boolean;
  /** Per-channel mean and std of `Normalize` (default ImageNet's). */
  mean?: readonly number[];
  std?: readonly number[];
}

const WG = 64;
// total = B·H·W crop pixels of W × H; the source is srcW × srcH with cn channels; flip is 0 or 1.
// Off holds per crop [adelta (W), bdelta (W), x0 (H), y0 (H)]; T the 3×256 normalisation table.
const U = uniforms({ total: 'u32', W: 'u32', H: 'u32', srcW: 'i32', srcH: 'i32', cn: 'u32', flip: 'u32' });
const WARP = {
  name: 'warpAffineCrops',
  key: '',
  uniforms: U,
  bindings: [
    { name: 'Img', type: 'u32', access: 'read' as const },
    { name: 'Off', type: 'i32', access: 'read' as const },
    { name: 'T', type: 'f32', access: 'read' as const },
    { name: 'O', type: 'f32', access: 'read_write' as const },
  ],
  body: () => `
fn byteAt(k: u32) -> i32 { return i32((Img[k >> 2u] >> ((k & 3u) * 8u)) & 255u); }

${linearEntry(WG, 'i', 'u.total')}
  let W = u.W; let H = u.H;
  let srcW = u.srcW; let srcH = u.srcH; let cn = u.cn; let flip = u.flip == 1u;
  let x = i % W;
  let y = (i / W) % H;
  let b = i / (W * H);
  let base = b * 2u * (W + H);
  let X = (Off[base + 2u * W + y] + Off[base + x]) >> 5u;
  let Y = (Off[base + 2u * W + H + y] + Off[base + W + x]) >> 5u;
  let sx = clamp(X >> 5u, -32768, 32767);
  let sy = clamp(Y >> 5u, -32768, 32767);
  let fx = X & 31; let fy = Y & 31;
  let w = vec4<i32>((32 - fy) * (32 - fx), (32 - fy) * fx, fy * (32 - fx), fy * fx) * 32;
  // The four neighbours (sx, sy), (sx+1, sy), (sx, sy+1), (sx+1, sy+1); outside the image they read 0.
  // (Parenthesised: 'a < b, c >' would read as a template list.)
  let inX = vec2<bool>((sx >= 0) && (sx < srcW), (sx + 1 >= 0) && (sx + 1 < srcW));
  let inY = vec2<bool>((sy >= 0) && (sy < srcH), (sy + 1 >= 0) && (sy + 1 < srcH));
  let c0 = select(sx, srcW - 1 - sx, flip);
  let c1 = select(sx + 1, srcW - 2 - sx, flip);
  var acc = vec3<i32>(0);
  for (var n = 0u; n < 4u; n++) {
    let dx = n & 1u; let dy = n >> 1u;
    if (inX[dx] && inY[dy]) {
      let k = (u32(sy + i32(dy)) * u32(srcW) + u32(select(c0, c1, dx == 1u))) * cn;
      acc += vec3<i32>(byteAt(k), byteAt(k + 1u), byteAt(k + 2u)) * w[n];
    }
  }
  let v = vec3<u32>((acc + 16384) >> vec3<u32>(15u));
  let plane = W * H;
  let o = b * 3u * plane + y * W + x;
  O[o] = T[v.x];
  O[o + plane] = T[256u + v.y];
  O[o + 2u * plane] = T[512u + v.z];
}`,
};

/**
 * Crops of `image` (uint8 HWC, RGB or RGBA) through the forward 2×3 affine maps `matrices` (source →
 * crop, as passed to cv2), each `size` = [H, W]: a float32 [B, 3, H, W] tensor normalised with
 * `mean`/`std` (ImageNet's by default). Equal bit for bit to `cv2.warpAffine(img, M, (W, H),
 * flags=INTER_LINEAR)` + `ToTensor()` + `Normalize(mean, std)` per crop. Host inputs only, so the result
 * never requires a gradient.
 */
export function warpAffineCrops(
  image: ImagePixels,
  matrices: readonly Affine2x3[],
  size: readonly [number, number],
  options: WarpAffineCropsOptions = {},
): Tensor {
  const op = 'warpAffineCrops';
  const cn = imageChannels(op, image);
  const [H, W] = size;
  if (!Number.isInteger(H) || !Number.isInteger(W) || H < 1 || W < 1) throw new Error(`${op}: size must be positive integers [H, W], got [${H}, ${W}]`);
  if (!matrices.length) throw new Error(`${op}: no matrices (one 2×3 affine per crop)`);
  if (image.width > 32767 || image.height > 32767) throw new Error(`${op}: a ${image.width}×${image.height} image is too large (cv2's fixed point reaches 32767 pixels)`);
  const stride = 2 * (W + H);
  const offsets = new Int32Array(matrices.length * stride);
  matrices.forEach((m, b) => {
    if (m.length !== 6) throw new Error(`${op}: matrix ${b} has ${m.length} numbers, not 6 (2×3)`);
    const { adelta, bdelta, x0, y0 } = warpOffsets(m, W, H);
    // A mirrored crop reads, at column x, what column W−1−x reads: the column offsets reversed.
    if (options.mirror) {
      adelta.reverse();
      bdelta.reverse();
    }
    offsets.set(adelta, b * stride);
    offsets.set(bdelta, b * stride + W);
    offsets.set(x0, b * stride + 2 * W);
    offsets.set(y0, b * stride + 2 * W + H);
  });
  // Whole u32 words: the last one padded with zero bytes.
  const bytes = image.data.length;
  const pixels = empty([Math.ceil(bytes / 4)], 'int32');
  const whole = bytes - (bytes % 4);
  if (whole) upload(pixels.storage, new Uint8Array(image.data.buffer, image.data.byteOffset, whole));
  if (bytes % 4) {
    const tail = new Uint8Array(4);
    tail.set(image.data.subarray(whole));
    upload(pixels.storage, tail, whole);
  }
  const off = tensor(offsets, [offsets.length], { dtype: 'int32' });
  const table = tensor(normalizeTable(options.mean, options.std), [768]);
  const out = empty([matrices.length, 3, H, W]);
  const total = matrices.length * H * W;
  dispatch(WARP, [pixels.storage, off.storage, table.storage, out.storage], U.pack({ total, W, H, srcW: image.width, srcH: image.height, cn, flip: options.flip ? 1 : 0 }), grid(Math.ceil(total / WG)));
  pixels.dispose();
  off.dispose();
  table.dispose();
  return out;
}
