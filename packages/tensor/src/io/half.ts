// IEEE 754 half precision (float16) on the host: reading file storages (pth.ts, safetensors.ts),
// making float16 tensors from numbers (create.ts) and writing float16 weights (train's exportWeights).

/** What the file readers make of half-precision storages: float16 kept as it is, or float32 (exact). */
export type HalfDtype = 'float16' | 'float32';

/** A reader's `halfDtype` option, checked (JavaScript may pass anything), or its default. */
export function checkHalfDtype(value: unknown, byDefault: HalfDtype, fail: (message: string) => never): HalfDtype {
  const dtype = value ?? byDefault;
  if (dtype !== 'float16' && dtype !== 'float32') fail(`unknown halfDtype ${JSON.stringify(dtype)} (the dtypes are float16, float32)`);
  return dtype as HalfDtype;
}

/** The float16 with bits `h` as a number (exact). */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * The bits of the float16 nearest to `x`, ties to even, rounding once from the number itself (as
 * numpy's `np.float16(x)`): overflow past 65504 + 16 becomes ±Infinity, values up to half the smallest
 * subnormal (2^-25) ±0, and NaN the quiet NaN 0x7e00.
 */
export function numberToHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a === Infinity) return sign | 0x7c00;
  // The binade of a (log2 can be off by one next to a power of two), at least that of the subnormals.
  let exp = -14;
  if (a >= 2 ** -14) {
    exp = Math.floor(Math.log2(a));
    if (2 ** exp > a) exp--;
    if (2 ** (exp + 1) <= a) exp++;
  }
  // a in units of the half's last place there: exact in float64, as is its fractional part.
  const q = a / 2 ** (exp - 10);
  const f = Math.floor(q);
  const r = q - f;
  const n = r > 0.5 || (r === 0.5 && f % 2 === 1) ? f + 1 : f;
  // Subnormals are n units of 2^-24; normals carry the implicit 1024 in the exponent field, so a
  // rounding up to 2048 lands on the next binade, and past the largest one on Infinity (0x7c00).
  const h = a < 2 ** -14 ? n : ((exp + 15) << 10) + n - 1024;
  return sign | Math.min(h, 0x7c00);
}

/**
 * numberToHalf of a float32 given by its bits, in integer arithmetic (as the GPU's cast kernel, ops/cast.ts,
 * computes it): the same bits, many times faster, for whole weight files.
 */
function float32BitsToHalf(b: number): number {
  const sign = (b >>> 16) & 0x8000;
  const e = ((b >>> 23) & 0xff) - 112; // the exponent field rebiased from 127 to 15
  const m = b & 0x7fffff;
  if (e === 143) return m ? 0x7e00 : sign | 0x7c00;
  if (e >= 31) return sign | 0x7c00;
  if (e < -10) return sign;
  // A subnormal half keeps the 24-bit significand shifted right by 14 - e; a normal one drops 13 bits.
  let h = (Math.max(e, 0) << 10) | (m >>> 13);
  let shift = 13;
  let kept = m;
  if (e <= 0) {
    shift = 14 - e;
    kept = m | 0x800000;
    h = kept >>> shift;
  }
  const rest = kept & ((1 << shift) - 1);
  const tie = 1 << (shift - 1);
  // A carry out of the mantissa moves to the next exponent, and out of the largest one to Infinity.
  return sign | (h + (rest > tie || (rest === tie && h & 1) ? 1 : 0));
}

/** Float16 bits of each value (see numberToHalf). */
export function toHalves(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  if (values instanceof Float32Array) {
    const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
    for (let i = 0; i < bits.length; i++) out[i] = float32BitsToHalf(bits[i]!);
    return out;
  }
  for (let i = 0; i < values.length; i++) out[i] = numberToHalf(values[i]!);
  return out;
}

/** The values of float16 bits, exactly, as float32. */
export function fromHalves(halves: Uint16Array): Float32Array {
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = halfToNumber(halves[i]!);
  return out;
}
