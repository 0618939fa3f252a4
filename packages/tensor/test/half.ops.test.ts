// float16 kernels against PyTorch, forward and backward (gradients through autograd in float16): the
// elementwise ops, reductions, softmax, layerNorm, copies and views, gatherTokens and mseLoss (matmul and
// linear: half.matmul.test.ts). Fixtures: scripts/gen_half_kernel_fixtures.py (float16-rounded inputs and
// upstream gradient, float64 references).
import { beforeAll, describe, expect, it } from 'vitest';
import * as api from '@tmpose/tensor';
import { type DType, init, kernelsOf, randn, tensor, tidy } from '@tmpose/tensor';
import { wgslSource } from '../src/runtime/pipelines.js';
import { REDUCE_VARIANTS } from '../src/ops/reduce.js';
import { ROW_VARIANTS } from '../src/ops/rowlanes.js';
import { type OpCall, type Tol, fixtureRunner, loadCases, tol } from './fixtures.js';
import { fn, throwsEarly, withoutShaderF16 } from './helpers.js';

// ---------------------------------------------------------------------------------------------------
// Tolerances in units of float16's epsilon E = 2^-10: |got - want| <= atol + atolPerK * k + rtol * |want|.
// The kernels compute in f32 (errors ~1e-7, negligible here) and round each stored result to f16: half
// an ulp, at most E/2 of the value (E if WGSL's f32 -> f16 conversion rounds the other way; a subnormal
// result is off by at most 2^-25 absolute). A backward that runs several ops rounds between them.
//
//   op                       atol     rtol   per k   why
//   copies, views, neg,      0        5e-5   -       exact (the references are stored to 5 digits, 5e-5
//     abs, relu, clamp,                               of themselves at most; two neighbouring halves
//     max, min, eq, lt                                differ by >= 4.9e-4 of themselves):
//                                                     halves are copied or negated; relu and abs
//                                                     pass g or 0, max / min pick a half (a tie shares
//                                                     g / count, exact in halves)
//   gatherTokens             2^-24    E      -       repeated picks sum in f32, rounded once; an x shared
//                                                     by the batch sums the samples' rounded gradients
//   add, sub, mul,           2^-24    E      E/2     one rounding; backward sums a broadcast gradient
//     maximum, minimum,                               of rounded products (E/2 of each term, k terms)
//     expand
//   div                      2^-24    2E     E/2     out, g*out and /b each rounded in b's gradient
//   exp, log, sqrt, gelu     2^-24    2E     -       f32 math (erf to 1.5e-7) then one rounding; the
//                                                     gradient multiplies a rounded output (exp, sqrt)
//                                                     by g: two roundings
//   sigmoid, tanh            2E       2E     -       the gradients g*y*(1-y), g*(1-y*y) come from the
//                                                     rounded output y: near |y| = 1 the E/2 of y is
//                                                     all that is left of 1-y*y, an error of ~E*|g|
//                                                     (|g| <= 3 here) however small the result
//   pow                      2^-24    3E     E/2     exp2(b*log2 a) rounded, then out*log a and b*a^(b-1)
//   sum, mean                2^-24    E      E/2     f32 sums, one rounding; a split row's partials are
//                                                     f32. mean's gradient g/k is one rounding
//   softmax, logSoftmax      E/4      2E     -       f32 statistics; y rounded, then y*(g - sum(g*y)):
//                                                     sum(g*y) of rounded y is off by ~E/2*max|g|, so
//                                                     the gradient by 1.5*E*y (|g| <= 3, y <= 1) when
//                                                     g - sum cancels
//   layerNorm                E/4      2E     E/16    f32 mean, variance, rsqrt; dx from rounded g
//   mseLoss                  2^-24    3E     E/2     d = x - t and d*d rounded elementwise, the mean in f32
// ---------------------------------------------------------------------------------------------------
const E = 2 ** -10;
const TINY = 2 ** -24;
const EXACT = tol(0, 5e-5);
const ONCE = tol(TINY, E, E / 2);
const MATH = tol(TINY, 2 * E);
const FROM_OUTPUT = tol(2 * E, 2 * E);
const TOLERANCES: Record<string, Tol> = {
  contiguous: EXACT, concat: EXACT, stack: EXACT, slice: EXACT, expand: tol(TINY, E, E / 2), permute: EXACT,
  neg: EXACT, abs: EXACT, relu: EXACT, clamp: EXACT, max: EXACT, min: EXACT, eq: EXACT, lt: EXACT,
  gatherTokens: tol(TINY, E),
  add: ONCE, sub: ONCE, mul: ONCE, maximum: ONCE, minimum: ONCE,
  div: tol(TINY, 2 * E, E / 2),
  exp: MATH, log: MATH, sqrt: MATH, gelu: MATH, sigmoid: FROM_OUTPUT, tanh: FROM_OUTPUT,
  pow: tol(TINY, 3 * E, E / 2),
  sum: ONCE, mean: ONCE,
  softmax: tol(E / 4, 2 * E), logSoftmax: tol(E / 4, 2 * E),
  layerNorm: tol(E / 4, 2 * E, E / 16),
  mseLoss: tol(TINY, 3 * E, E / 2),
};

const binary = (name: string): OpCall => (xs, o) => {
  if ('scalar' in o) return o.side === 'left' ? fn(name)(o.scalar, xs[0]) : fn(name)(xs[0], o.scalar);
  return fn(name)(xs[0], xs[1]);
};
const unary = (name: string): OpCall => (xs) => fn(name)(xs[0]);
const reduction = (name: string): OpCall => (xs, o) => fn(name)(xs[0], o.axis, { keepdim: o.keepdim });
const OPS: Record<string, OpCall> = {
  ...Object.fromEntries(['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'lt'].map((n) => [n, binary(n)])),
  ...Object.fromEntries(['neg', 'abs', 'relu', 'gelu', 'exp', 'log', 'sqrt', 'sigmoid', 'tanh', 'contiguous'].map((n) => [n, unary(n)])),
  ...Object.fromEntries(['sum', 'mean', 'max', 'min'].map((n) => [n, reduction(n)])),
  clamp: (xs, o) => fn('clamp')(xs[0], o.min, o.max),
  concat: (xs, o) => fn('concat')(xs, o.axis),
  stack: (xs, o) => fn('stack')(xs, o.axis),
  slice: (xs, o) => fn('slice')(xs[0], o.axis, o.start, o.end),
  expand: (xs, o) => fn('expand')(xs[0], o.shape),
  permute: (xs, o) => fn('permute')(xs[0], o.dims),
  gatherTokens: (xs, o) => fn('gatherTokens')(xs[0], o.hostIndex),
  softmax: (xs, o) => fn('softmax')(xs[0], o.axis ?? -1),
  logSoftmax: (xs, o) => fn('logSoftmax')(xs[0], o.axis ?? -1),
  layerNorm: (_, o, n) => fn('layerNorm')(n.x, o.normalizedShape, n.weight, n.bias, o.eps ?? 1e-5),
  mseLoss: (xs, o) => fn('mseLoss')(xs[0], xs[1], o.reduction ?? 'mean'),
};

const GEMM = new Set(['matmul', 'linear']);
const cases = loadCases('half.ops').filter((c) => !GEMM.has(c.op));
const runner = fixtureRunner(OPS, TOLERANCES);

beforeAll(async () => {
  await init();
});

describe('float16 kernels against PyTorch (outputs float16, gradients float16)', () => {
  for (const c of cases) it(c.name, () => runner.run(c));
  it('states a tolerance for every op, and leaves no live tensor handles behind', () => {
    expect([...new Set(cases.map((c) => c.op))].filter((op) => !TOLERANCES[op])).toEqual([]);
    runner.expectNoLeaks();
  });
});

describe('float16 sum and mean with every reduce variant (thread, columns, workgroup, subgroups)', () => {
  runner.everyVariant('reduce', REDUCE_VARIANTS.map((v) => [v, cases.filter((k) => k.op === 'sum' || k.op === 'mean')]));
});

describe('float16 softmax, logSoftmax and layerNorm with every row variant (thread, workgroup, subgroups)', () => {
  const rowOps = new Set(['softmax', 'logSoftmax', 'layerNorm']);
  runner.everyVariant('rows', ROW_VARIANTS.map((v) => [v, cases.filter((k) => rowOps.has(k.op))]));
});

describe('float16 results keep the dtype, gradients included', () => {
  it('an op chain stays float16, and .grad of a float16 leaf is float16', async () => {
    const x = tensor([0.5, -1, 2, 3, -0.25], [5], { dtype: 'float16', requiresGrad: true });
    const y = api.mean(api.softmax(api.gelu(api.mul(x, x))));
    expect(y.dtype).toBe('float16');
    y.backward();
    expect(x.grad!.dtype).toBe('float16');
    expect((await x.grad!.data()).every(Number.isFinite)).toBe(true);
    for (const t of [x, y]) t.dispose();
  });
});

describe('float16 and float32 kernels never share a cache key', () => {
  it('each op family in both dtypes, forward and backward, every matmul variant: one WGSL source per key, f16 in the key of every kernel that stores halves', () => {
    const kernels = kernelsOf(() => tidy(() => {
      for (const dtype of ['float32', 'float16'] as DType[]) {
        const leaf = (shape: number[], seed: number) => Object.assign(randn(shape, { seed }).to(dtype), { requiresGrad: true });
        const [a, b, x, y] = [leaf([2, 9, 40], 1), leaf([40, 36], 2), leaf([3, 5, 8], 3), leaf([5, 1], 4)];
        const parts = [
          api.matmul(a, b), api.linear(x, leaf([7, 8], 5), leaf([7], 6)), api.add(x, y), api.mul(x, 0.5), api.gelu(x), api.relu(x),
          api.softmax(x, 1), api.logSoftmax(x), api.layerNorm(x, [8], leaf([8], 7), leaf([8], 8)), api.max(x, 2), api.mean(x, 0),
          api.gatherTokens(x, [0, 4, 4]), api.mseLoss(x, api.mul(x, 0.5)), api.concat([x, x], 1).slice(2, 1, 5), api.clamp(x, -1, 1),
        ];
        parts.map((p) => api.sum(p)).reduce((p, q) => api.add(p, q)).backward();
      }
    }), { everyVariant: true });
    const halves = kernels.filter((k) => /array<(vec4<)?f16>?>/.test(wgslSource(k)));
    expect(halves.length).toBeGreaterThan(30);
    expect(halves.filter((k) => !k.key.includes('f16')).map((k) => `${k.name}|${k.key}`)).toEqual([]);
  });
});

describe('float16 errors name the op, the dtypes and the shapes', () => {
  it('mixed float16 and float32 operands', () => {
    const h = tensor([1, 2, 3, 4, 5, 6], [2, 3], { dtype: 'float16' });
    const f = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const mixed = /dtypes differ \(float16 \[2, 3\], float32 \[2, 3\]\); convert with \.to\(\) first$/;
    for (const op of ['add', 'sub', 'mul', 'div', 'maximum', 'eq'] as const) throwsEarly(() => fn(op)(h, f), new RegExp(`^${op}: ${mixed.source}`));
    throwsEarly(() => api.mseLoss(h, f), new RegExp(`^mseLoss: ${mixed.source}`));
    const ft = api.transpose(f);
    throwsEarly(() => api.matmul(ft, h), /^matmul: dtypes differ \(float32 \[3, 2\], float16 \[2, 3\]\)/);
    const b = tensor([1, 2], [2], { dtype: 'float16' });
    throwsEarly(() => api.linear(h, f, b), /^linear: dtypes differ \(float16 \[2, 3\], float32 \[2, 3\], float16 \[2\]\)/);
    const w16 = tensor([1, 2, 3], [3], { dtype: 'float16' });
    throwsEarly(() => api.layerNorm(f, [3], w16), /^layerNorm: weight float16 \[3\] must be float32 or the input's dtype \(input float32 \[2, 3\]\)$/);
    for (const t of [h, f, ft, b, w16]) t.dispose();
  });

  it('without shader-f16, a float16 op is the one-line error of checkDType, naming the op', () => {
    const h = tensor([1, 2, 3, 4], [2, 2], { dtype: 'float16' });
    withoutShaderF16(() => {
      for (const [op, call] of [
        ['gelu', () => api.gelu(h)], ['add', () => api.add(h, h)], ['sum', () => api.sum(h)], ['softmax', () => api.softmax(h)],
        ['matmul', () => api.matmul(h, h)], ['layerNorm', () => api.layerNorm(h, [2])], ['mseLoss', () => api.mseLoss(h, h)],
      ] as const) {
        throwsEarly(call, new RegExp(`^${op}: this adapter has no shader-f16; float16 tensors need it`));
      }
    });
    h.dispose();
  });
});
