// Floating-point helpers that reproduce numpy's arithmetic bit for bit, so that the evaluators match
// pycocotools and the official MPII code to the last ulp where the operations allow it.

/** np.spacing(1) = 2^-52, the eps pycocotools adds in OKS and in precision. */
export const NP_SPACING_1 = 2.220446049250313e-16;

/**
 * numpy's float64 `add.reduce` over a contiguous 1-D array (`np.sum`, the sum inside `np.mean`).
 * numpy does not add left to right: below 8 elements it does, up to 128 it keeps 8 running sums
 * (combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the tail), and above that it splits the array
 * in two at a multiple of 8 and recurses (pairwise summation). The reduction starts from 0.
 */
export function npSum(a: ArrayLike<number>, start = 0, end = a.length): number {
  return 0 + pairwise(a, start, end - start);
}

function pairwise(a: ArrayLike<number>, off: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[off + i]!;
    return res;
  }
  if (n <= 128) {
    let r0 = a[off]!, r1 = a[off + 1]!, r2 = a[off + 2]!, r3 = a[off + 3]!;
    let r4 = a[off + 4]!, r5 = a[off + 5]!, r6 = a[off + 6]!, r7 = a[off + 7]!;
    const stop = n - (n % 8);
    let i = 8;
    for (; i < stop; i += 8) {
      r0 += a[off + i]!;
      r1 += a[off + i + 1]!;
      r2 += a[off + i + 2]!;
      r3 += a[off + i + 3]!;
      r4 += a[off + i + 4]!;
      r5 += a[off + i + 5]!;
      r6 += a[off + i + 6]!;
      r7 += a[off + i + 7]!;
    }
    let res = (r0 + r1 + (r2 + r3)) + (r4 + r5 + (r6 + r7));
    for (; i < n; i++) res += a[off + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwise(a, off, n2) + pairwise(a, off + n2, n - n2);
}

/** `np.mean` of a 1-D float64 array: the numpy sum divided by the count (NaN for an empty array). */
export function npMean(a: ArrayLike<number>): number {
  return npSum(a) / a.length;
}

/** `np.linspace(start, stop, num)` (endpoint=True) computed as numpy does: i·step + start, last = stop. */
export function npLinspace(start: number, stop: number, num: number): Float64Array {
  const y = new Float64Array(num);
  const div = num - 1;
  const delta = stop - start;
  const step = delta / div;
  for (let i = 0; i < num; i++) y[i] = step === 0 ? (i / div) * delta + start : i * step + start;
  if (num > 1) y[num - 1] = stop;
  return y;
}

/** `np.arange(start, stop, step)` for floats: start + i·(start+step−start), ceil((stop−start)/step) values. */
export function npArange(start: number, stop: number, step: number): Float64Array {
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const y = new Float64Array(n);
  if (n > 0) y[0] = start;
  if (n > 1) y[1] = start + step;
  const delta = start + step - start;
  for (let i = 2; i < n; i++) y[i] = start + i * delta;
  return y;
}

/**
 * Python's `'{:.Nf}'.format(x)`: correctly rounded, ties to even. JS `toFixed` is correctly rounded too
 * but breaks exact ties upwards, so exact decimal ties are resolved here.
 */
export function formatFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : x < 0 ? '-inf' : 'nan';
  const s = x.toFixed(digits);
  // An exact tie at `digits` decimals means x·10^digits is an odd multiple of 1/2, exactly. Its exact
  // decimal expansion then has exactly digits+1 decimals ending in 5: check with a long toFixed (exact
  // for such short dyadic values) and compare with the double itself.
  const long = x.toFixed(Math.min(100, digits + 60));
  const m = /^(-?\d+)\.(\d+)$/.exec(long);
  if (!m) return s;
  const frac = m[2]!;
  const tail = frac.slice(digits);
  if (!/^50*$/.test(tail)) return s;
  // Exact tie: round half to even on the truncated value.
  const truncated = (m[1]! + '.' + frac.slice(0, digits)).replace(/\.$/, '');
  const lastDigit = digits > 0 ? Number(frac[digits - 1]) : Math.abs(Number(m[1]!)) % 10;
  if (lastDigit % 2 === 0) return digits > 0 ? truncated : m[1]!;
  return s; // toFixed rounded away from zero, which is the even neighbour here
}
