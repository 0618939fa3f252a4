// Finite-difference checks of the backward rules that are easy to get subtly wrong. Everything runs on
// the real WebGPU device in float32.
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
// (2^-22 ~ 2.4e-7 relative) of rounding in every output. Data stays away from kinks (amax ties).
import { beforeAll, describe, expect, it } from 'vitest';
import * as api from '@tmpose/tensor';
import { type Tensor, init, noGrad, tensor, tidy } from '@tmpose/tensor';

const EPS = 1e-2;
const RTOL = 2e-3;
const ULPS = 2 ** -22;
const COORDINATE_DIRECTIONS = 3;

type Fn = (...args: unknown[]) => Tensor;
/** Looks an op up by name, so that one not yet exported fails its own tests rather than the file. */
function fn(name: string): Fn {
  const f = (api as unknown as Record<string, unknown>)[name];
  if (typeof f !== 'function') throw new Error(`${name} is not exported by @tmpose/tensor (yet)`);
  return f as Fn;
}

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
function normal(shape: number[], seed: number, scale = 1, shift = 0): Data {
  const r = rng(seed);
  return { shape, values: Float32Array.from({ length: sizeOf(shape) }, () => shift + scale * r.normal()) };
}
function uniform(shape: number[], seed: number, low: number, high: number): Data {
  const r = rng(seed);
  return { shape, values: Float32Array.from({ length: sizeOf(shape) }, () => low + (high - low) * r.next()) };
}
/** Distinct values spaced `gap` apart in random order: no ties, and no swap of order within +-eps*|v|. */
function distinct(shape: number[], seed: number, gap = 0.25): Data {
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
async function gradcheck(build: Build, inputs: Data[], options: { seed?: number; eps?: number; wrt?: number[] } = {}) {
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

beforeAll(async () => {
  await init();
});

// ---------------------------------------------------------------------------------------------------
describe('gradcheck: softmax and logSoftmax', () => {
  for (const op of ['softmax', 'logSoftmax']) {
    it(`${op} over the last axis, 7x13`, () => gradcheck(([x]) => fn(op)(x, -1), [normal([7, 13], 11)]));
    it(`${op} over a middle axis, 3x5x7 axis 1`, () => gradcheck(([x]) => fn(op)(x, 1), [normal([3, 5, 7], 12)]));
    it(`${op} over axis 0 of a transposed view`, () =>
      gradcheck(([x]) => fn(op)(api.transpose(x, 0, 1), 0), [normal([13, 6], 13)]));
    it(`${op} with spread-out logits (x3), 5x129`, () => gradcheck(([x]) => fn(op)(x, -1), [normal([5, 129], 14, 3)]));
  }
});

describe('gradcheck: layerNorm (input, weight, bias)', () => {
  it('7x13 over [13]', () =>
    gradcheck(([x, w, b]) => fn('layerNorm')(x, [13], w, b), [normal([7, 13], 21, 2, 0.5), normal([13], 22, 0.3, 1), normal([13], 23, 0.3)]));
  it('2x3x7 over [3, 7]', () =>
    gradcheck(([x, w, b]) => fn('layerNorm')(x, [3, 7], w, b), [normal([2, 3, 7], 24), normal([3, 7], 25, 0.3, 1), normal([3, 7], 26, 0.3)]));
  it('no affine, eps 1e-3, transposed input', () =>
    gradcheck(([x]) => fn('layerNorm')(api.transpose(x, 0, 1), [5], undefined, undefined, 1e-3), [normal([5, 9], 27)]));
  it('many rows (weight and bias gradients summed over 65 rows)', () =>
    gradcheck(([x, w, b]) => fn('layerNorm')(x, [11], w, b), [normal([65, 11], 28), normal([11], 29, 0.3, 1), normal([11], 30, 0.3)]));
});

describe('gradcheck: gelu', () => {
  it('7x13 over [-4, 4]', () => gradcheck(([x]) => api.gelu(x), [uniform([7, 13], 31, -4, 4)]));
  it('around 0 and on a permuted view', () =>
    gradcheck(([x]) => api.gelu(api.permute(x, [2, 0, 1])), [uniform([3, 5, 7], 32, -0.5, 0.5)]));
});

describe('gradcheck: max (amax, no ties)', () => {
  it('7x13 axis 1 keepdim', () => gradcheck(([x]) => api.max(x, 1, { keepdim: true }), [distinct([7, 13], 41)]));
  it('3x5x7 axes [0, 2]', () => gradcheck(([x]) => api.max(x, [0, 2]), [distinct([3, 5, 7], 42)]));
  it('all axes of 129', () => gradcheck(([x]) => api.max(x), [distinct([129], 43)]));
  it('axis 0 of a transposed view, composed with mul', () =>
    gradcheck(([x]) => api.mul(api.max(api.transpose(x, 0, 1), 0), 2), [distinct([7, 13], 44)]));
});

describe('gradcheck: broadcasting reductions and broadcast backward', () => {
  it('sum over [0, 2] keepdim, 3x5x7', () => gradcheck(([x]) => api.sum(x, [0, 2], { keepdim: true }), [normal([3, 5, 7], 51)]));
  it('mean over axis 1, no keepdim, 3x5x7', () => gradcheck(([x]) => api.mean(x, 1), [normal([3, 5, 7], 52)]));
  it('x * sum(x, 1, keepdim) (a keepdim result broadcast back)', () =>
    gradcheck(([x]) => api.mul(x, api.sum(x, 1, { keepdim: true })), [normal([7, 13], 53)]));
  it('x - mean(x, -1, keepdim), squared', () =>
    gradcheck(([x]) => {
      const c = api.sub(x, api.mean(x, -1, { keepdim: true }));
      return api.mul(c, c);
    }, [normal([5, 13], 54)]));
  it('mean over all axes with keepdim, then broadcast add', () =>
    gradcheck(([x, y]) => api.add(y, api.mean(x, undefined, { keepdim: true })), [normal([3, 7], 55), normal([2, 3, 7], 56)]));
  it('add (7x1) + (1x13)', () => gradcheck(([a, b]) => api.add(a, b), [normal([7, 1], 57), normal([1, 13], 58)]));
  it('mul (3x1x7) * (5x1)', () => gradcheck(([a, b]) => api.mul(a, b), [normal([3, 1, 7], 59), normal([5, 1], 60)]));
  it('mul by a rank-0 tensor and sub from a size-1 one', () =>
    gradcheck(([a, s, t]) => api.sub(t, api.mul(a, s)), [normal([5, 7], 61), normal([], 62), normal([1], 63)]));
});

describe('gradcheck: matmul with broadcast batch dims', () => {
  it('2x1x5x7 @ 3x7x4', () => gradcheck(([a, b]) => fn('matmul')(a, b), [normal([2, 1, 5, 7], 71), normal([3, 7, 4], 72)]));
  it('transposed operands: (3x7x5)^T @ (4x7)^T', () =>
    gradcheck(([a, b]) => fn('matmul')(api.transpose(a, -1, -2), api.transpose(b, -1, -2)), [normal([3, 7, 5], 73), normal([4, 7], 74)]));
  it('7x13 @ 13x5 then 5x1 (a chain)', () =>
    gradcheck(([a, b, c]) => fn('matmul')(fn('matmul')(a, b), c), [normal([7, 13], 75), normal([13, 5], 76), normal([5, 1], 77)]));
  it('aligned 8x12 @ 2x12x8 (vector loads)', () => gradcheck(([a, b]) => fn('matmul')(a, b), [normal([8, 12], 78), normal([2, 12, 8], 79)]));
  it('linear 2x3x7 -> 5 with bias', () =>
    gradcheck(([x, w, b]) => fn('linear')(x, w, b), [normal([2, 3, 7], 80), normal([5, 7], 81, 0.4), normal([5], 82)]));
});

describe('gradcheck: pow and div', () => {
  it('pow: positive base ^ tensor exponent, broadcast', () =>
    gradcheck(([a, b]) => api.pow(a, b), [uniform([5, 7], 91, 0.4, 2.5), uniform([7], 92, -1.5, 2)]));
  it('pow: x^3 on both signs', () => gradcheck(([x]) => api.pow(x, 3), [normal([7, 13], 93)]));
  it('pow: x^-1.5 on positive x', () => gradcheck(([x]) => api.pow(x, -1.5), [uniform([13], 94, 0.5, 2)]));
  it('pow: 2^x', () => gradcheck(([x]) => api.pow(2, x), [normal([13], 95)]));
  it('div: tensor / tensor, broadcast', () =>
    gradcheck(([a, b]) => api.div(a, b), [normal([5, 7], 96), uniform([5, 1], 97, 0.5, 2)]));
  it('div: scalar / tensor on both signs', () => {
    const d = uniform([13], 98, 0.5, 2);
    d.values.forEach((v, k) => (d.values[k] = k % 2 ? -v : v));
    return gradcheck(([x]) => api.div(1, x), [d]);
  });
  it('div: tensor / rank-0 tensor', () => gradcheck(([a, b]) => api.div(a, b), [normal([3, 5], 99), uniform([], 100, 0.5, 2)]));
});

describe('gradcheck: a composite graph', () => {
  it('linear -> gelu -> layerNorm -> logSoftmax -> mseLoss', () =>
    gradcheck(([x, w, b, g, t]) => {
      const h = api.gelu(fn('linear')(x, w, b));
      const n = fn('layerNorm')(h, [6], g);
      return fn('mseLoss')(fn('logSoftmax')(n, -1), t);
    }, [normal([4, 5], 111), normal([6, 5], 112, 0.5), normal([6], 113, 0.2), normal([6], 114, 0.3, 1), normal([4, 6], 115, 1, -2)]));
});
