// Mixed precision in the products: a float16 input with float32 weights (and bias), the mix autocast
// runs matmul, linear and conv2d in. Every matmul and conv2d variant is forced in turn on small odd
// shapes, forward and both gradients, against float64 references computed from the values the kernels
// read (the float16-rounded input and upstream gradient, the float32 weights). The output and the
// input gradient are float16; the weight gradient is float32 straight from the f32 sums, so it is
// checked 256 times tighter than one float16 rounding. Also: which mixes are errors, and that autocast
// casts only the input then.
import { beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, add, autocast, conv2d, init, kernelsOf, launchesOf, linear, matmul, memory, mul, sum, tensor, tidy } from '@tmpose/tensor';
import { CONV_VARIANTS } from '../src/ops/conv2d.js';
import { matmulVariantLabels } from '../src/ops/matmul.js';
import { forceVariant, tunablesOf } from '../src/runtime/tune.js';
import { expectClose, leaf, throwsEarly } from './helpers.js';

const values = async (t: Tensor) => (await t.data()) as Float32Array;

beforeAll(async () => {
  await init();
});

// Tolerances in units of float16's epsilon E = 2^-10. A float16 result (y, dx, and a bias gradient,
// which is summed in f32 but stored as f16 before it is widened) is rounded once: E/2 of itself, E with
// slack; atol E/16 covers the f32 sums' error (~K 2^-24 of the terms, K <= 45 here) near zero. A float32
// weight gradient has only the f32 sums' error: E/256, far below the E/2 that one float16 rounding
// would cost.
const E = 2 ** -10;
const HALF = { atol: E / 16, rtol: E };
const FLOAT = { atol: E / 256, rtol: E / 256 };

function expectNear(got: Float32Array, want: Float64Array, t: { atol: number; rtol: number }, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= t.atol + t.rtol * Math.abs(want[i]!))) {
      expect.fail(`${what}: element ${i} is ${got[i]}, want ${want[i]} (atol ${t.atol}, rtol ${t.rtol})`);
    }
  }
}

/** y = x wᵀ + b, dx = g w, dw = gᵀ x, db = column sums of g, in float64. */
function linearReference(M: number, K: number, N: number, x: Float32Array, w: Float32Array, b: Float32Array, g: Float32Array) {
  const [y, dx, dw, db] = [new Float64Array(M * N), new Float64Array(M * K), new Float64Array(N * K), new Float64Array(N)];
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      const go = g[i * N + j]!;
      let s = b[j]!;
      for (let k = 0; k < K; k++) {
        s += x[i * K + k]! * w[j * K + k]!;
        dx[i * K + k] += go * w[j * K + k]!;
        dw[j * K + k] += go * x[i * K + k]!;
      }
      y[i * N + j] = s;
      db[j] += go;
    }
  }
  return { y, dx, dw, db };
}

describe('linear, float16 x with float32 weight and bias, every matmul variant', () => {
  // x reads vec4 along k (K % 4 == 0), the transposed weight vec4 along k; dx's product reads g by
  // scalars and the weight vec4 along n; dw's reads gᵀ by scalars. M and N leave partial tiles.
  const [M, K, N] = [13, 20, 10];
  let ref: ReturnType<typeof linearReference> | null = null;
  for (const label of matmulVariantLabels(Math.min(N, K))) {
    it(`variant ${label}: y and dx float16, dW and db float32`, async () => {
      const before = memory().liveTensors;
      const x = leaf([M, K], 1, 'float16');
      const w = leaf([N, K], 2, 'float32');
      const b = leaf([N], 3, 'float32');
      const g = leaf([M, N], 4, 'float16', false);
      forceVariant('matmul', label);
      let y: Tensor;
      try {
        y = linear(x, w, b);
        y.backward(g);
      } finally {
        forceVariant('matmul', null);
      }
      expect([y.dtype, x.grad!.dtype, w.grad!.dtype, b.grad!.dtype]).toEqual(['float16', 'float16', 'float32', 'float32']);
      ref ??= linearReference(M, K, N, await values(x), await values(w), await values(b), await values(g));
      expectNear(await values(y), ref.y, HALF, 'y');
      expectNear(await values(x.grad!), ref.dx, HALF, 'dx');
      expectNear(await values(w.grad!), ref.dw, FLOAT, 'dW');
      expectNear(await values(b.grad!), ref.db, HALF, 'db');
      for (const t of [x.grad!, w.grad!, b.grad!, x, w, b, g, y]) t.dispose();
      expect(memory().liveTensors).toBe(before);
    });
  }

  it('matmul: a float16 batch times a shared float32 matrix (its gradient one f32 product over the batch)', async () => {
    const [B, m, k, n] = [2, 5, 6, 3];
    const a = leaf([B, m, k], 5, 'float16');
    const w = leaf([k, n], 6, 'float32');
    const g = leaf([B, m, n], 7, 'float16', false);
    const y = matmul(a, w);
    y.backward(g);
    expect([y.dtype, a.grad!.dtype, w.grad!.dtype]).toEqual(['float16', 'float16', 'float32']);
    // As linear with the batch folded into rows, weight [n, k] = wᵀ and a zero bias.
    const ws = await values(w);
    const wT = Float32Array.from({ length: n * k }, (_, i) => ws[(i % k) * n + Math.floor(i / k)]!);
    const ref = linearReference(B * m, k, n, await values(a), wT, new Float32Array(n), await values(g));
    expectNear(await values(y), ref.y, HALF, 'y');
    expectNear(await values(a.grad!), ref.dx, HALF, 'da');
    const dwT = Float64Array.from({ length: k * n }, (_, i) => ref.dw[(i % n) * k + Math.floor(i / n)]!);
    expectNear(await values(w.grad!), dwT, FLOAT, 'dW');
    for (const t of [a.grad!, w.grad!, a, w, g, y]) t.dispose();
  });
});

interface ConvCase {
  name: string;
  N: number; C: number; H: number; W: number; F: number; k: number; stride: number; pad: number; bias: boolean;
}
// One conv (each kernel variant of a new dtype mix is a cold compile in CI): 7 filters and 4x3 outputs
// of 7x6 inputs leave partial tiles and thread columns everywhere; K = 36 takes the forward tiles' vec4
// weight loads, and OH*OW = 12 their vec4 stores and the weight gradient's vec4 dy loads; the input
// gradient (K = 63) reads the weights by scalars.
const CONVS: ConvCase[] = [{ name: 'odd 3x3 stride 2 4->7 at 7x6 with bias', N: 2, C: 4, H: 7, W: 6, F: 7, k: 3, stride: 2, pad: 1, bias: true }];

/** float64 forward and gradients of a conv, by definition. */
function convReference(c: ConvCase, x: Float32Array, w: Float32Array, b: Float32Array | null, g: Float32Array) {
  const OH = Math.floor((c.H + 2 * c.pad - c.k) / c.stride) + 1;
  const OW = Math.floor((c.W + 2 * c.pad - c.k) / c.stride) + 1;
  const [y, dx, dw, db] = [new Float64Array(c.N * c.F * OH * OW), new Float64Array(x.length), new Float64Array(w.length), new Float64Array(c.F)];
  for (let n = 0; n < c.N; n++) for (let f = 0; f < c.F; f++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const o = ((n * c.F + f) * OH + oh) * OW + ow;
    let s = b ? b[f]! : 0;
    db[f] += g[o]!;
    for (let ch = 0; ch < c.C; ch++) for (let kh = 0; kh < c.k; kh++) for (let kw = 0; kw < c.k; kw++) {
      const [ih, iw] = [oh * c.stride - c.pad + kh, ow * c.stride - c.pad + kw];
      if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
      const xi = ((n * c.C + ch) * c.H + ih) * c.W + iw;
      const wi = ((f * c.C + ch) * c.k + kh) * c.k + kw;
      s += x[xi]! * w[wi]!;
      dx[xi] += g[o]! * w[wi]!;
      dw[wi] += g[o]! * x[xi]!;
    }
    y[o] = s;
  }
  return { y, dx, dw, db };
}

describe('conv2d, float16 input with float32 weight and bias, every conv variant (forward, input and weight gradients)', () => {
  for (const c of CONVS) {
    let ref: ReturnType<typeof convReference> | null = null;
    for (const label of CONV_VARIANTS) {
      it(`${c.name}, variant ${label}`, async () => {
        const before = memory().liveTensors;
        const x = leaf([c.N, c.C, c.H, c.W], 8, 'float16');
        const w = leaf([c.F, c.C, c.k, c.k], 9, 'float32');
        const b = c.bias ? leaf([c.F], 10, 'float32') : undefined;
        forceVariant('conv2d', label);
        let y: Tensor;
        let g: Tensor;
        try {
          y = conv2d(x, w, b, { stride: c.stride, padding: c.pad });
          g = leaf([...y.shape], 11, 'float16', false);
          y.backward(g);
        } finally {
          forceVariant('conv2d', null);
        }
        expect([y.dtype, x.grad!.dtype, w.grad!.dtype, b?.grad!.dtype]).toEqual(['float16', 'float16', 'float32', b && 'float32']);
        ref ??= convReference(c, await values(x), await values(w), b ? await values(b) : null, await values(g));
        expectNear(await values(y), ref.y, HALF, 'y');
        expectNear(await values(x.grad!), ref.dx, HALF, 'dx');
        expectNear(await values(w.grad!), ref.dw, FLOAT, 'dW');
        if (b) expectNear(await values(b.grad!), ref.db, HALF, 'db');
        for (const t of [x.grad!, w.grad!, ...(b ? [b.grad!, b] : []), x, w, g, y]) t.dispose();
        expect(memory().liveTensors).toBe(before);
      });
    }
  }
});

describe('grouped conv2d, float16 input with float32 weight and bias (the variant small problems get)', () => {
  it('two groups, each the conv above: y and dx float16, dW and db float32', async () => {
    const before = memory().liveTensors;
    const c = CONVS[0]!;
    const G = 2;
    const x = leaf([c.N, G * c.C, c.H, c.W], 26, 'float16');
    const w = leaf([G * c.F, c.C, c.k, c.k], 27, 'float32');
    const b = leaf([G * c.F], 28, 'float32');
    const y = conv2d(x, w, b, { stride: c.stride, padding: c.pad, groups: G });
    const g = leaf([...y.shape], 29, 'float16', false);
    y.backward(g);
    expect([y.dtype, x.grad!.dtype, w.grad!.dtype, b.grad!.dtype]).toEqual(['float16', 'float16', 'float32', 'float32']);
    const plane = y.shape[2]! * y.shape[3]!;
    // Group gi's part of a [outer, G * inner] array.
    const part = (a: ArrayLike<number>, outer: number, inner: number, gi: number) =>
      Float32Array.from({ length: outer * inner }, (_, i) => a[Math.floor(i / inner) * G * inner + gi * inner + (i % inner)]!);
    const [xs, ws, bs, gs] = [await values(x), await values(w), await values(b), await values(g)];
    const [ys, dxs, dws, dbs] = [await values(y), await values(x.grad!), await values(w.grad!), await values(b.grad!)];
    const xIn = c.C * c.H * c.W;
    const wIn = c.F * c.C * c.k * c.k;
    for (let gi = 0; gi < G; gi++) {
      const ref = convReference(c, part(xs, c.N, xIn, gi), part(ws, 1, wIn, gi), part(bs, 1, c.F, gi), part(gs, c.N, c.F * plane, gi));
      expectNear(part(ys, c.N, c.F * plane, gi), ref.y, HALF, `y, group ${gi}`);
      expectNear(part(dxs, c.N, xIn, gi), ref.dx, HALF, `dx, group ${gi}`);
      expectNear(part(dws, 1, wIn, gi), ref.dw, FLOAT, `dW, group ${gi}`);
      expectNear(part(dbs, 1, c.F, gi), ref.db, HALF, `db, group ${gi}`);
    }
    for (const t of [x.grad!, w.grad!, b.grad!, x, w, b, g, y]) t.dispose();
    expect(memory().liveTensors).toBe(before);
  });
});

describe('which mixes the products take', () => {
  it('a float32 input with float16 weights, and a float16 bias with a float32 weight, are errors naming the op, dtypes and shapes', () => {
    const [x16, x32] = [leaf([1, 3, 5, 5], 12, 'float16', false), leaf([1, 3, 5, 5], 12, 'float32', false)];
    const [w16, w32] = [leaf([4, 3, 3, 3], 13, 'float16', false), leaf([4, 3, 3, 3], 13, 'float32', false)];
    const b16 = leaf([4], 14, 'float16', false);
    const [m16, m32] = [leaf([4, 3], 15, 'float16', false), leaf([4, 3], 15, 'float32', false)];
    const m16T = m16.transpose();
    const mix = /; the operands share one dtype, or a float16 input takes float32 weights: convert with \.to\(\) first$/;
    throwsEarly(() => conv2d(x32, w16), /^conv2d: dtypes differ \(float32 \[1, 3, 5, 5\], float16 \[4, 3, 3, 3\]\)/);
    throwsEarly(() => conv2d(x16, w32, b16), /^conv2d: dtypes differ \(float16 \[1, 3, 5, 5\], float32 \[4, 3, 3, 3\], float16 \[4\]\)/);
    throwsEarly(() => linear(m32, m16), /^linear: dtypes differ \(float32 \[4, 3\], float16 \[4, 3\]\)/);
    throwsEarly(() => matmul(m32, m16T), mix);
    for (const t of [x16, x32, w16, w32, b16, m16, m16T, m32]) t.dispose();
  });

  it('one WGSL source per kernel key across float32, float16 and the mix, every variant (nothing compiled)', () => {
    const kernels = kernelsOf(() => {
      for (const [xd, wd] of [['float32', 'float32'], ['float16', 'float16'], ['float16', 'float32']] as const) {
        tidy(() => {
          const x = leaf([2, 4, 4, 5], 21, xd);
          const y = conv2d(x, leaf([6, 4, 3, 3], 22, wd), leaf([6], 23, wd), { padding: 1 });
          const z = linear(y.reshape([12, 20]), leaf([8, 20], 24, wd), leaf([8], 25, wd));
          z.sum().backward();
        });
      }
    }, { everyVariant: true });
    const keys = new Set(kernels.map((k) => `${k.name}|${k.key}`));
    // Same-dtype keys as before mixes; a mix names each operand's type (x, w[, out]): dx's product reads
    // f16 g and the f32 weight into f16, dW's f16 operands into f32 (with the bias gradient's row sums, s).
    const mixed = ['conv2d|f16f323x3s1w8', 'conv2dBackwardWeightTiled|f16f323x3s1v|g64x64', 'matmul|f16f32f16kn8x8x8', 'matmul|f16f16f32mn8x8x8s'];
    for (const key of ['conv2d|f163x3s1w8', 'matmul|f16kn8x8x8', ...mixed]) {
      expect(keys, key).toContain(key);
    }
  });

  it('each mix is tuned apart: the tuning problems name every operand type', () => {
    const x = leaf([13, 20], 30, 'float16');
    const w = leaf([10, 20], 31, 'float32');
    const problems = tunablesOf(() => tidy(() => linear(x, w).sum().backward())).map((t) => t.problem.split('|').slice(0, 2).join('|'));
    // y and dx: f16 by f32 into f16; dW: f16 by f16 into f32.
    expect(problems.filter((p) => p.startsWith('matmul'))).toEqual(['matmul|f16f32f16', 'matmul|f16f32f16', 'matmul|f16f16f32']);
    for (const t of [x.grad!, w.grad!, x, w]) t.dispose();
  });

  it('autocast casts only the input of a product with float32 weights', () => {
    const x = leaf([1, 3, 5, 5], 16, 'float32');
    const w = leaf([4, 3, 3, 3], 17, 'float32');
    const a = leaf([6, 8], 18, 'float32', false);
    const fc = leaf([5, 8], 19, 'float32');
    const bias = leaf([5], 20, 'float32');
    const launches = launchesOf(() => tidy(() => {
      const ys = autocast('float16', () => [conv2d(x, w, undefined, { padding: 1 }), linear(a, fc, bias), matmul(a, fc.transpose())]);
      expect(ys.map((y) => y.dtype)).toEqual(['float16', 'float16', 'float16']);
    }));
    // One cast per input (x, and the activation a for each of its two products); none of w, fc or bias.
    expect(launches.filter((l) => l.kernel.name === 'cast').length).toBe(3);
    for (const t of [x, w, a, fc, bias]) t.dispose();
  });

  it('float32 bias gradients of a float16 linear and conv are summed in f32 and written in f32: no cast', async () => {
    const a = leaf([6, 8], 21, 'float16', false);
    const fc = leaf([5, 8], 22, 'float32');
    const fb = leaf([5], 23, 'float32');
    const x = leaf([2, 3, 5, 5], 24, 'float16', false);
    const w = leaf([4, 3, 3, 3], 25, 'float32');
    const cb = leaf([4], 26, 'float32');
    const gl = leaf([6, 5], 27, 'float16', false);
    const gc = leaf([2, 4, 5, 5], 28, 'float16', false);
    const step = () => tidy(() => add(sum(mul(linear(a, fc, fb), gl)), sum(mul(conv2d(x, w, cb, { padding: 1 }), gc))).backward());
    const launches = launchesOf(step);
    expect(launches.filter((l) => l.kernel.name === 'cast').length).toBe(0);
    for (const p of [fc, fb, w, cb]) {
      p.grad!.dispose();
      p.grad = null;
    }
    step();
    for (const [bias, g, axes] of [[fb, gl, [0]], [cb, gc, [0, 2, 3]]] as const) {
      expect(bias.grad!.dtype).toBe('float32');
      // The column / channel sums of the float16 cotangent, in float64.
      const gv = await values(g);
      const want = new Float64Array(bias.size);
      const [C, inner] = axes.length === 1 ? [5, 1] : [4, 25];
      gv.forEach((v, i) => (want[Math.floor(i / inner) % C] += v));
      expectClose(await values(bias.grad!), want, 1e-6, 1e-6, 'bias gradient');
    }
    for (const t of [a, fc, fb, x, w, cb, gl, gc, fc.grad!, fb.grad!, w.grad!, cb.grad!]) t.dispose();
  });

  it('sum(float16, { dtype: float32 }) accumulates unrounded, its gradient is float16; other dtype pairs are errors', async () => {
    const h = leaf([3, 700], 29, 'float16');
    const s32 = sum(h, 1, { dtype: 'float32' });
    expect(s32.dtype).toBe('float32');
    const hv = await values(h);
    const want = [0, 1, 2].map((r) => hv.slice(r * 700, (r + 1) * 700).reduce((p, v) => p + v, 0));
    expectClose(await values(s32), want, 1e-4, 1e-6, 'f32 sum of halves');
    sum(s32).backward();
    expect(h.grad!.dtype).toBe('float16');
    const i = tensor(new Int32Array(4), [4], { dtype: 'int32' });
    expect(() => sum(i, 0, { dtype: 'float32' })).toThrow(/^sum: dtype float32 for a int32 \[4\] tensor/);
    for (const t of [h, s32, h.grad!, i]) t.dispose();
  });
});
