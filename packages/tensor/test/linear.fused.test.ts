// Epilogues fused into the product kernels: a linear's bias gradient summed by the weight gradient's own
// pass over g (the first column tile's workgroups sum the rows of gᵀ they load anyway); a residual added
// in the forward store (torch.addmm's input; its gradient is g itself, no dispatch), and an addend
// broadcast over the leading dims (a position embedding re-added); and feedForward's
// GELU: h and gelu(h) stored by one pass, gelu'(h) applied in the store of the product through w2.
// feedForward exercises every epilogue, so it takes every kind of matmul kernel (the register kernels,
// the tiled core, split-K with its sum pass) in float32, a register kernel in float16 (the same WGSL
// with other element types: each variant is a cold compile in CI), and the mixed case (float16 x,
// float32 weights and residual; every variant of the mixed bias gradient is in half.mixed.test.ts):
// forward and every gradient against float64 references computed from the values the kernels read.
// linear with a residual on the default variant, one row and one output; gradchecks; and dispatch counts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, feedForward, init, launchesOf, linear, memory, nn, tensor, tidy } from '@tmpose/tensor';
import { matmulVariantLabels } from '../src/ops/matmul.js';
import { forceVariant } from '../src/runtime/tune.js';
import { gradcheck, normal as data } from './gradcheck.js';
import { leaf, throwsEarly } from './helpers.js';

const values = async (t: Tensor) => (await t.data()) as Float32Array;

type DType = 'float32' | 'float16';

beforeAll(async () => {
  await init();
});

/** |got - want| <= atol + rtol |want| everywhere. */
function expectNear(got: Float32Array, want: Float64Array, atol: number, rtol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= atol + rtol * Math.abs(want[i]!))) {
      expect.fail(`${what}: element ${i} is ${got[i]}, want ${want[i]} (atol ${atol}, rtol ${rtol})`);
    }
  }
}
// f32 sums of up to 37 unit-variance products drift a few ulps; a float16 result is rounded once more
// (2^-11 of itself, 2^-10 with slack).
const FLOAT = { atol: 1e-5, rtol: 1e-5 };
const HALF = { atol: 2 ** -14, rtol: 2 ** -10 };


// float64 pieces on row-major arrays: x [M, K] wᵀ ([N, K]) + b, g [M, N] w, gᵀ [N, M] x, column sums.
function affine(x: ArrayLike<number>, M: number, K: number, w: ArrayLike<number>, N: number, b: ArrayLike<number>): Float64Array {
  const y = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = b[j]!;
    for (let k = 0; k < K; k++) s += x[i * K + k]! * w[j * K + k]!;
    y[i * N + j] = s;
  }
  return y;
}
function backData(g: ArrayLike<number>, M: number, N: number, w: ArrayLike<number>, K: number): Float64Array {
  const dx = new Float64Array(M * K);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) dx[i * K + k] += g[i * N + j]! * w[j * K + k]!;
  return dx;
}
function backWeight(g: ArrayLike<number>, M: number, N: number, x: ArrayLike<number>, K: number): Float64Array {
  const dw = new Float64Array(N * K);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) for (let k = 0; k < K; k++) dw[j * K + k] += g[i * N + j]! * x[i * K + k]!;
  return dw;
}
function columnSums(g: ArrayLike<number>, M: number, N: number): Float64Array {
  const s = new Float64Array(N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) s[j] += g[i * N + j]!;
  return s;
}
/** y + r + p, with p's rows repeating over y's (a broadcast addend); and p's gradient, g summed over them. */
const plus = (y: ArrayLike<number>, r: ArrayLike<number>, p: ArrayLike<number>) => Float64Array.from(y, (v, i) => v + r[i]! + p[i % p.length]!);
const periodicSum = (g: ArrayLike<number>, n: number) => {
  const s = new Float64Array(n);
  for (let i = 0; i < g.length; i++) s[i % n] += g[i]!;
  return s;
};

/** erf in float64: its Taylor series near 0, a continued fraction for erfc beyond 3. */
function erf(x: number): number {
  const a = Math.abs(x);
  if (a > 3) {
    let t = a;
    for (let n = 60; n >= 1; n--) t = a + n / 2 / t;
    return Math.sign(x) * (1 - Math.exp(-a * a) / (Math.sqrt(Math.PI) * t));
  }
  let [term, sum] = [x, x];
  for (let n = 1; n < 80; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
const geluGrad = (v: number) => 0.5 * (1 + erf(v / Math.SQRT2)) + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI);

/** Values as a float16 tensor holds them (a float16 kernel output is its f32 value rounded once). */
async function toHalf(v: Float64Array): Promise<Float64Array> {
  const t = tensor(Float32Array.from(v), [v.length]);
  const h = t.to('float16');
  const out = Float64Array.from(await values(h));
  t.dispose();
  h.dispose();
  return out;
}

interface Case {
  /** x's leading dims (folded into M rows; the addend is [1, ..lead[1:], N]); in, hidden (feedForward) and out features. */
  lead: number[];
  K: number;
  H: number;
  N: number;
  x: DType;
  /** The weights' and the residual's dtype (float32 with a float16 x: the mixed case). */
  w: DType;
}
const rowsOf = (c: Case) => c.lead.reduce((p, d) => p * d, 1);
const addendShape = (c: Case) => [1, ...c.lead.slice(1), c.N];
const tolerance = (d: DType) => (d === 'float32' ? FLOAT : HALF);

/** Runs `net` forward and backward (g seeds it) with a matmul variant forced; returns y. */
function run(label: string | null, g: Tensor, net: () => Tensor): Tensor {
  forceVariant('matmul', label);
  try {
    const y = net();
    y.backward(g);
    return y;
  } finally {
    forceVariant('matmul', null);
  }
}

/** linear(x, w, b, { residual: r, addend: p }) forward and backward against float64: y and every gradient. */
async function checkLinear(c: Case, label: string | null): Promise<void> {
  const before = memory().liveTensors;
  const M = rowsOf(c);
  const [x, w, b, r, p] = [leaf([...c.lead, c.K], 1, c.x), leaf([c.N, c.K], 2, c.w), leaf([c.N], 3, c.w), leaf([...c.lead, c.N], 4, c.w), leaf(addendShape(c), 8, c.w)];
  const yDType = c.w === 'float32' ? 'float32' : c.x;
  const g = leaf([...c.lead, c.N], 5, yDType, false);
  const y = run(label, g, () => linear(x, w, b, { residual: r, addend: p }));
  expect([y.dtype, x.grad!.dtype, w.grad!.dtype, b.grad!.dtype, r.grad!.dtype, p.grad!.dtype]).toEqual([yDType, c.x, c.w, c.w, c.w, c.w]);
  const [xs, ws, gs] = [await values(x), await values(w), await values(g)];
  const near = async (t: Tensor, want: Float64Array, what: string) => expectNear(await values(t), want, tolerance(t.dtype as DType).atol, tolerance(t.dtype as DType).rtol, what);
  await near(y, plus(affine(xs, M, c.K, ws, c.N, await values(b)), await values(r), await values(p)), 'y');
  await near(p.grad!, periodicSum(gs, p.size), 'dp');
  await near(x.grad!, backData(gs, M, c.N, ws, c.K), 'dx');
  await near(w.grad!, backWeight(gs, M, c.N, xs, c.K), 'dW');
  await near(b.grad!, columnSums(gs, M, c.N), 'db');
  // The residual's gradient is g, exactly.
  expect(Array.from(await values(r.grad!))).toEqual(Array.from(gs));
  for (const t of [x, w, b, r, p]) t.grad!.dispose();
  for (const t of [x, w, b, r, p, g, y]) t.dispose();
  expect(memory().liveTensors).toBe(before);
}

/**
 * feedForward(x, w1, b1, w2, b2, { residual: r, addend: p }) forward and backward against float64: y and every
 * gradient. Float16 intermediates (h, gelu(h), and h's gradient) are rounded in the reference as the
 * kernels round them; a flip of one such rounding moves a result by a float16 ulp of one term, hence
 * the looser float16 tolerance here.
 */
async function checkFeedForward(c: Case, label: string | null): Promise<void> {
  const before = memory().liveTensors;
  const M = rowsOf(c);
  const x = leaf([...c.lead, c.K], 1, c.x);
  const [w1, b1, w2, b2] = [leaf([c.H, c.K], 2, c.w), leaf([c.H], 3, c.w), leaf([c.N, c.H], 4, c.w), leaf([c.N], 5, c.w)];
  const [r, p] = [leaf([...c.lead, c.N], 6, c.w), leaf(addendShape(c), 8, c.w)];
  const yDType = c.w === 'float32' ? 'float32' : c.x;
  const g = leaf([...c.lead, c.N], 7, yDType, false);
  const y = run(label, g, () => feedForward(x, w1, b1, w2, b2, { residual: r, addend: p }));
  expect([y.dtype, x.grad!.dtype, w1.grad!.dtype, b2.grad!.dtype, r.grad!.dtype, p.grad!.dtype]).toEqual([yDType, c.x, c.w, c.w, c.w, c.w]);
  const round = async (v: Float64Array) => (c.x === 'float16' ? toHalf(v) : v);
  const [xs, w1s, w2s, gs] = [await values(x), await values(w1), await values(w2), await values(g)];
  const h = affine(xs, M, c.K, w1s, c.H, await values(b1));
  const [hs, a] = [await round(h), await round(h.map(gelu))];
  const dA = backData(gs, M, c.N, w2s, c.H);
  const dh = await round(dA.map((v, i) => v * geluGrad(hs[i]!)));
  const loose = c.x === 'float16' ? { atol: 2 ** -8, rtol: 2 ** -9 } : null;
  const near = async (t: Tensor, want: Float64Array, what: string) => {
    const tol = loose ?? tolerance(t.dtype as DType);
    expectNear(await values(t), want, tol.atol, tol.rtol, what);
  };
  await near(y, plus(affine(a, M, c.H, w2s, c.N, await values(b2)), await values(r), await values(p)), 'y');
  await near(p.grad!, periodicSum(gs, p.size), 'dp');
  await near(x.grad!, backData(dh, M, c.H, w1s, c.K), 'dx');
  await near(w1.grad!, backWeight(dh, M, c.H, xs, c.K), 'dW1');
  await near(b1.grad!, columnSums(dh, M, c.H), 'db1');
  await near(w2.grad!, backWeight(gs, M, c.N, a, c.H), 'dW2');
  await near(b2.grad!, columnSums(gs, M, c.N), 'db2');
  expect(Array.from(await values(r.grad!))).toEqual(Array.from(gs));
  for (const t of [x, w1, b1, w2, b2, r, p]) t.grad!.dispose();
  for (const t of [x, w1, b1, w2, b2, r, p, g, y]) t.dispose();
  expect(memory().liveTensors).toBe(before);
}

// 38 rows (x [2, 19, 13]; the addend [1, 19, 16] repeats over the 2): partial row tiles forward, and the
// weight gradients' products (K = 38) two split-K chunks, the second partial, and a partial vec4 of k
// in the register kernels. 13 inputs: scalar x loads, dW1's output neither a multiple of 4 nor of a
// tile. 20 hidden, 16 outputs: the tiles' vec4 store with the residual and the addend. Products 13 or
// more wide have register variants of 4 and 8 rows per thread.
const SHAPE = { lead: [2, 19], K: 13, H: 20, N: 16 };
// The epilogues' code differs by kernel, not by tile size: the register kernels of 4 and 8 rows per
// thread (one or two 4-row groups of row sums), the tiled core's plain store (vec4 here) and its split
// sum pass. The other tiles (g128x64, g32x64, g128x64s: other bm, the same store and sum pass) run the
// row sums in half.mixed.test.ts and the plain epilogues in gemm.test.ts; each one here was ~12 s of
// cold compiles in CI.
const LABELS = matmulVariantLabels(13).filter((l) => !l.startsWith('g') || l === 'g64x64' || l === 'g64x64s');

describe('feedForward (linear, GELU, linear, residual) in fused products, every kind of matmul kernel', () => {
  for (const label of LABELS) {
    it(`float32, variant ${label}: y and every gradient`, () => checkFeedForward({ ...SHAPE, x: 'float32', w: 'float32' }, label));
  }
  it(`float16, variant ${LABELS[0]!}`, () => checkFeedForward({ ...SHAPE, x: 'float16', w: 'float16' }, LABELS[0]!));
  it('float16 x with float32 weights and a float32 residual: y float32, the weights\' gradients float32', () =>
    checkFeedForward({ ...SHAPE, x: 'float16', w: 'float32' }, null));
  // At SHAPE, on the default variant: the kernels compiled above.
  it('gradcheck', () =>
    gradcheck(
      ([x, w1, b1, w2, b2, r, p]) => feedForward(x!, w1!, b1, w2!, b2, { residual: r, addend: p }),
      [data([2, 19, 13], 90), data([20, 13], 91, 0.3), data([20], 92), data([16, 20], 93, 0.3), data([16], 94), data([2, 19, 16], 95), data([1, 19, 16], 96)],
    ));
});

describe('linear with a bias and a residual', () => {
  // As feedForward's second linear (its forward and weight-gradient kernels compiled above).
  const second = { ...SHAPE, K: SHAPE.H };
  it('float32: y and every gradient', () => checkLinear({ ...second, x: 'float32', w: 'float32' }, null));
  it('float16 x with float32 weights and a float32 residual: y float32 (the f32 sums plus r, rounded once)', () =>
    checkLinear({ ...second, x: 'float16', w: 'float32' }, null));
  it('one row and one output', () => checkLinear({ lead: [1], K: 5, H: 0, N: 1, x: 'float32', w: 'float32' }, null));
  it('gradcheck', () =>
    gradcheck(
      ([x, w, b, r, p]) => linear(x!, w!, b, { residual: r, addend: p }),
      [data([2, 19, 20], 80), data([16, 20], 81, 0.3), data([16], 82), data([2, 19, 16], 83), data([1, 19, 16], 84)],
    ));

  it('a residual or an addend of another shape or dtype is an error', () => {
    const [x, w, b] = [leaf([2, 3, 4], 6, 'float32'), leaf([2, 4], 7, 'float32'), leaf([2], 8, 'float32')];
    const [wide, half, column] = [leaf([2, 3, 3], 9, 'float32'), leaf([2, 3, 2], 10, 'float16'), leaf([2, 3, 1], 11, 'float32')];
    throwsEarly(() => linear(x, w, b, { residual: wide }), /^linear: residual \[2, 3, 3\] must be the output's shape \[2, 3, 2\]/);
    throwsEarly(() => linear(x, w, b, { residual: half }), /^linear: residual float16 \[2, 3, 2\] must be of the input's dtype float32/);
    throwsEarly(() => linear(x, w, b, { addend: column }), /^linear: addend \[2, 3, 1\] must broadcast over the leading dims of the output \[2, 3, 2\]/);
    throwsEarly(() => linear(x, w, b, { addend: wide }), /^linear: addend \[2, 3, 3\] must broadcast/);
    for (const t of [x, w, b, wide, half, column]) t.dispose();
  });
});

describe('dispatches', () => {
  // launchesOf compiles and runs nothing: each step's dispatches, with a register variant and a GEMM tile.
  let [x, r, p, g] = [] as Tensor[] as [Tensor, Tensor, Tensor, Tensor];
  beforeAll(() => {
    [x, r, g] = [leaf([2, 5, 13], 12, 'float32'), leaf([2, 5, 16], 13, 'float32'), leaf([2, 5, 16], 14, 'float32', false)];
    p = leaf([1, 5, 16], 15, 'float32', false);
  });
  afterAll(() => [x, r, p, g].forEach((t) => t.dispose()));
  const names = (label: string, step: () => Tensor, params: Tensor[]) => {
    forceVariant('matmul', label);
    try {
      return launchesOf(() => tidy(() => step().backward(g))).map((l) => l.kernel.name);
    } finally {
      forceVariant('matmul', null);
      for (const t of [x, r, ...params]) {
        t.grad?.dispose();
        t.grad = null;
      }
    }
  };
  const VARIANTS = [[LABELS[0]!, 'matmul'], ['g64x64', 'matmulTiled']] as const;

  it('linear with a bias, a residual and an addend: three products (forward, dx = g W, dW = gᵀ x with db), no sum, no add', () => {
    const fc = new nn.Linear(13, 16, { seed: 11 });
    for (const [label, kernel] of VARIANTS) {
      expect(names(label, () => fc.forward(x, { residual: r, addend: p }), fc.parameters()), label).toEqual(Array(3).fill(kernel));
    }
    for (const t of fc.parameters()) t.dispose();
  });

  it('feedForward: six products (two forward; dW2 with db2, dh = (g W2) gelu\'(h), dx, dW1 with db1), no GELU, no sum, no add', () => {
    const [fc1, fc2] = [new nn.Linear(13, 20, { seed: 15 }), new nn.Linear(20, 16, { seed: 16 })];
    const params = [...fc1.parameters(), ...fc2.parameters()];
    for (const [label, kernel] of VARIANTS) {
      const step = () => feedForward(x, fc1.weight, fc1.bias!, fc2.weight, fc2.bias!, { residual: r, addend: p });
      expect(names(label, step, params), label).toEqual(Array(6).fill(kernel));
    }
    for (const t of params) t.dispose();
  });
});

describe('a linear bias at an offset in a shared buffer (Module.flattenParameters)', () => {
  // 13 -> 18 stores scalars, 18 -> 16 vec4s: both read the bias at its offset.
  for (const label of [null, 'g64x64']) {
    it(`gives what its own buffers give, bit for bit (${label ?? 'default variant'})`, async () => {
      const run = async (flat: boolean) => {
        const m = new nn.Sequential(new nn.Linear(13, 18), new nn.Linear(18, 16));
        const values = tidy(() => Object.fromEntries(Object.entries(m.stateDict()).map(([k, t], i) => [k, tensor(data([...t.shape], 20 + i, 0.3).values, [...t.shape])])));
        m.loadStateDict(values);
        for (const t of Object.values(values)) t.dispose();
        if (flat) m.flattenParameters();
        const x = tensor(data([5, 13], 1).values, [5, 13], { requiresGrad: true });
        forceVariant('matmul', label);
        try {
          const y = tidy(() => m.forward(x));
          tidy(() => y.sum().backward());
          const out = [await y.data(), await x.grad!.data(), ...(await Promise.all(m.parameters().map((p) => p.grad!.data())))];
          for (const t of [x.grad!, ...m.parameters().map((p) => p.grad!), x, y, m]) t.dispose();
          return out;
        } finally {
          forceVariant('matmul', null);
        }
      };
      const own = await run(false);
      const flat = await run(true);
      own.forEach((want, i) => expect(Array.from(flat[i]!), `output ${i}`).toEqual(Array.from(want)));
    });
  }
});
