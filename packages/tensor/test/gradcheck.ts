// Finite-difference gradient checks on the real WebGPU device in float32, shared by gradcheck.test.ts
// and kernels.gradcheck.test.ts.
//
// For an op y = op(x1, .., xn) and fixed random weights w (shaped like y), f(x) = sum(w * y) is
// evaluated on the device and summed on the host in float64. Its gradient comes from
// `y.backward(w)`. For each input xi and each direction v (one dense random direction and a few
// coordinate directions, always including the first and last element):
//   x+ = f32(xi + eps v), x- = f32(xi - eps v), d = x+ - x- (exactly, in float64: the step really taken)
//   finite difference  fd = f(x+) - f(x-)          analytic  an = <grad_xi f, d>
//   pass when |fd - an| <= RTOL * sum_k |grad_k d_k| + ULPS * sum_j |w_j y_j|
// Central differences are exact to O(eps^2): with eps = 1e-2 and O(1) data the truncation error is
// ~1e-4 relative, so RTOL = 2e-3 leaves a 20x margin; the second term allows a few float32 ulps
// (2^-22 ~ 2.4e-7 relative) of rounding in every output.
import { expect } from 'vitest';
import { type Tensor, noGrad, tensor, tidy } from '@tmpose/tensor';

const EPS = 1e-2;
const RTOL = 2e-3;
const ULPS = 2 ** -22;
const COORDINATE_DIRECTIONS = 3;

// ---------------------------------------------------------------------------------------------------
// Deterministic data (mulberry32), so that a failure reproduces.
function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return { next, normal };
}
const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

interface Data {
  shape: number[];
  values: Float32Array;
}
export function normal(shape: number[], seed: number, scale = 1, shift = 0): Data {
  const r = rng(seed);
  return { shape, values: Float32Array.from({ length: sizeOf(shape) }, () => shift + scale * r.normal()) };
}
export function uniform(shape: number[], seed: number, low: number, high: number): Data {
  const r = rng(seed);
  return { shape, values: Float32Array.from({ length: sizeOf(shape) }, () => low + (high - low) * r.next()) };
}
/** Distinct values spaced `gap` apart in random order: no ties, and no swap of order within +-eps*|v|. */
export function distinct(shape: number[], seed: number, gap = 0.25): Data {
  const r = rng(seed);
  const n = sizeOf(shape);
  const perm = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r.next() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return { shape, values: Float32Array.from(perm, (p) => (p - n / 2) * gap) };
}

// ---------------------------------------------------------------------------------------------------
type Build = (xs: Tensor[]) => Tensor;

/** f(x) = sum(w * op(x)) on the host in float64, from a no-grad forward pass. */
async function objective(build: Build, inputs: Data[], w: Float64Array): Promise<{ f: number; scale: number }> {
  const leaves = inputs.map((d) => tensor(d.values, d.shape));
  try {
    const y = noGrad(() => tidy(() => build(leaves)));
    const ys = await y.data();
    y.dispose();
    let f = 0;
    let scale = 0;
    for (let j = 0; j < ys.length; j++) {
      f += w[j]! * ys[j]!;
      scale += Math.abs(w[j]! * ys[j]!);
    }
    return { f, scale };
  } finally {
    for (const l of leaves) l.dispose();
  }
}

/** Weights for f, and the analytic gradient of f for every input (from `y.backward(w)`). */
async function analytic(build: Build, inputs: Data[], seed: number): Promise<{ w: Float64Array; grads: Float64Array[] }> {
  const leaves = inputs.map((d) => tensor(d.values, d.shape, { requiresGrad: true }));
  try {
    const y = tidy(() => build(leaves));
    const r = rng(seed ^ 0x5eed);
    // Weights are float32 values, so that the device sees exactly the w the host sums with.
    const w32 = Float32Array.from({ length: y.size }, () => r.normal());
    const wt = tensor(w32, y.shape);
    y.backward(wt);
    wt.dispose();
    y.dispose();
    const grads: Float64Array[] = [];
    for (const [i, leaf] of leaves.entries()) {
      expect(leaf.grad, `input ${i} has no .grad after backward()`).not.toBeNull();
      expect(leaf.grad!.shape).toEqual(inputs[i]!.shape);
      grads.push(Float64Array.from(await leaf.grad!.data()));
    }
    return { w: Float64Array.from(w32), grads };
  } finally {
    for (const l of leaves) l.dispose();
  }
}

/** Checks every input's gradient (or those in `wrt`) along one dense and a few coordinate directions. */
export async function gradcheck(build: Build, inputs: Data[], options: { seed?: number; eps?: number; wrt?: number[] } = {}) {
  const seed = options.seed ?? 1;
  const eps = options.eps ?? EPS;
  const { w, grads } = await analytic(build, inputs, seed);
  for (const i of options.wrt ?? inputs.map((_, k) => k)) {
    const x = inputs[i]!.values;
    const n = x.length;
    const r = rng(seed * 7919 + i);
    const directions: { label: string; v: Float64Array }[] = [
      { label: 'dense random direction', v: Float64Array.from({ length: n }, () => r.normal()) },
    ];
    const picks = new Set([0, n - 1]);
    while (picks.size < Math.min(n, COORDINATE_DIRECTIONS)) picks.add(Math.floor(r.next() * n));
    for (const k of picks) {
      const v = new Float64Array(n);
      v[k] = 1;
      directions.push({ label: `coordinate ${k}`, v });
    }
    for (const { label, v } of directions) {
      const plus = Float32Array.from(x, (xi, k) => xi + eps * v[k]!);
      const minus = Float32Array.from(x, (xi, k) => xi - eps * v[k]!);
      const with_ = (vals: Float32Array) => inputs.map((d, k) => (k === i ? { shape: d.shape, values: vals } : d));
      const fp = await objective(build, with_(plus), w);
      const fm = await objective(build, with_(minus), w);
      const fd = fp.f - fm.f;
      let an = 0;
      let mag = 0;
      for (let k = 0; k < n; k++) {
        const dk = plus[k]! - minus[k]!;
        an += grads[i]![k]! * dk;
        mag += Math.abs(grads[i]![k]! * dk);
      }
      const tol = RTOL * mag + ULPS * (fp.scale + fm.scale);
      if (process.env.GRADCHECK_REPORT) console.log(`used ${(Math.abs(fd - an) / tol).toFixed(3)} of the tolerance: input ${i}, ${label}`);
      expect(
        Math.abs(fd - an),
        `input ${i} ${JSON.stringify(inputs[i]!.shape)}, ${label}: finite difference ${fd.toExponential(6)} vs analytic ${an.toExponential(6)} (tolerance ${tol.toExponential(2)})`,
      ).toBeLessThanOrEqual(tol);
    }
  }
}
