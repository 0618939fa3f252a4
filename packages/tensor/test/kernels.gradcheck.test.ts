// Finite-difference checks of the TMPose kernels' backward rules (conv2d, batchNorm2d in training mode,
// scaledDotProductAttention, gatherTokens with repeated indices, upsampleNearest), on the real WebGPU
// device in float32. The machinery is that of gradcheck.test.ts (copied, since importing a test file
// would run its tests too):
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
// (2^-22 ~ 2.4e-7 relative) of rounding in every output. conv2d, gatherTokens and upsampleNearest are
// linear in each input, so their finite differences have no truncation error at all.
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
const conv = fn('conv2d');
const bn = fn('batchNorm2d');
const attention = fn('scaledDotProductAttention');
const gather = fn('gatherTokens');
const upsample = fn('upsampleNearest');

describe('gradcheck: conv2d (input, weight, bias)', () => {
  it('3x3, stride 2, padding 1: 2x3x7x5 -> 4', () =>
    gradcheck(([x, w, b]) => conv(x, w, b, { stride: 2, padding: 1 }), [normal([2, 3, 7, 5], 201), normal([4, 3, 3, 3], 202, 0.3), normal([4], 203)]));
  it('3x3, stride 1, padding 1, 17 channels: 1x17x5x3 -> 3', () =>
    gradcheck(([x, w]) => conv(x, w, undefined, { padding: 1 }), [normal([1, 17, 5, 3], 204), normal([3, 17, 3, 3], 205, 0.3)]));
  it('5x5, groups 2, stride 2, padding [2, 1]: 1x4x6x5 -> 4', () =>
    gradcheck(([x, w, b]) => conv(x, w, b, { stride: 2, padding: [2, 1], groups: 2 }), [normal([1, 4, 6, 5], 206), normal([4, 2, 5, 5], 207, 0.3), normal([4], 208)]));
  it('1x1 on a permuted NHWC view: 2x3x5x7 -> 5', () =>
    gradcheck(([x, w]) => conv(api.permute(x, [0, 3, 1, 2]), w), [normal([2, 5, 7, 3], 209), normal([5, 3, 1, 1], 210, 0.5)]));
});

describe('gradcheck: batchNorm2d in training mode (input, weight, bias)', () => {
  it('2x3x7x5', () =>
    gradcheck(([x, w, b]) => bn(x, w, b, null, null, { training: true }), [normal([2, 3, 7, 5], 211, 2, 0.5), normal([3], 212, 0.3, 1), normal([3], 213, 0.3)]));
  it('1x1 spatial, batch 6, 4 channels, with running stats being updated', () =>
    gradcheck(([x, w, b]) => {
      const rm = api.zeros([4]);
      const rv = api.ones([4]);
      return bn(x, w, b, rm, rv, { training: true, momentum: 0.3 });
    }, [normal([6, 4, 1, 1], 214), normal([4], 215, 0.3, 1), normal([4], 216, 0.3)]));
  it('affine off, eps 1e-3, permuted NHWC view: 3x2x4x5', () =>
    gradcheck(([x]) => bn(api.permute(x, [0, 3, 1, 2]), null, null, null, null, { eps: 1e-3 }), [normal([3, 4, 5, 2], 217)]));
  it('plane a multiple of 4: 2x3x4x4', () =>
    gradcheck(([x, w, b]) => bn(x, w, b, null, null), [normal([2, 3, 4, 4], 218), normal([3], 219, 0.3, 1), normal([3], 220, 0.3)]));
});

describe('gradcheck: scaledDotProductAttention (q, k, v)', () => {
  it('B2 H2 L7 D8', () => gradcheck(([q, k, v]) => attention(q, k, v), [normal([2, 2, 7, 8], 221), normal([2, 2, 7, 8], 222), normal([2, 2, 7, 8], 223)]));
  it('B1 H1 L9 D16, scale 0.5 (peaked softmax)', () =>
    gradcheck(([q, k, v]) => attention(q, k, v, { scale: 0.5 }), [normal([1, 1, 9, 16], 224), normal([1, 1, 9, 16], 225), normal([1, 1, 9, 16], 226)]));
  it('q, k, v split from one qkv projection [B, L, 3*H, D] (strided views, no copies)', () =>
    gradcheck(([qkv]) => {
      const part = (i: number) => api.permute(api.slice(qkv, 2, 2 * i, 2 * i + 2), [0, 2, 1, 3]);
      return attention(part(0), part(1), part(2));
    }, [normal([2, 5, 6, 8], 227)]));
});

describe('gradcheck: gatherTokens (scatter-add backward)', () => {
  it('shared x 1x7x5, per-sample host lists with repeats', () =>
    gradcheck(([x]) => gather(x, [[0, 3, 3, 6], [3, 0, 0, 2]]), [normal([1, 7, 5], 231)]));
  it('x 2x6x4, one int32 index [5] with repeats for every sample', () =>
    gradcheck(([x]) => {
      const idx = tensor(new Int32Array([5, 5, 1, 5, 0]), [5], { dtype: 'int32' });
      return gather(x, idx);
    }, [normal([2, 6, 4], 232)]));
  it('transposed view x, per-sample int32 index [2, 3]', () =>
    gradcheck(([x]) => {
      const idx = tensor(new Int32Array([4, 4, 0, 2, 1, 2]), [2, 3], { dtype: 'int32' });
      return gather(api.transpose(x, 0, 1), idx);
    }, [normal([5, 2, 3], 233)]));
});

describe('gradcheck: upsampleNearest', () => {
  it('factor 2 on 2x3x5x3', () => gradcheck(([x]) => upsample(x, 2), [normal([2, 3, 5, 3], 241)]));
  it('factor 3 on a permuted view', () => gradcheck(([x]) => upsample(api.permute(x, [0, 3, 1, 2]), 3), [normal([1, 3, 5, 2], 242)]));
});

describe('gradcheck: an HRNet-style composite', () => {
  it('conv2d (stride 2) -> batchNorm2d -> upsampleNearest x2 -> gelu', () =>
    gradcheck(([x, w, g, b]) => api.gelu(upsample(bn(conv(x, w, undefined, { stride: 2, padding: 1 }), g, b, null, null), 2)),
      [normal([2, 3, 7, 5], 251), normal([4, 3, 3, 3], 252, 0.3), normal([4], 253, 0.3, 1), normal([4], 254, 0.3)]));
});
