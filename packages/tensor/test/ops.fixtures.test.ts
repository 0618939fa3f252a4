// Compares every op, forward and backward, against PyTorch references on the real WebGPU device.
// The fixtures under ./fixtures are written by scripts/gen_fixtures.py (`pnpm fixtures`): float32
// inputs, torch float64 outputs and input gradients for a random upstream gradient. No PyTorch is
// needed here. Each case: build the float32 leaves, apply the input view (transpose, permute, slice,
// expand), run the op through the public API, compare the output, call `out.backward(gradOut)` and
// compare each leaf's `.grad`.
import { beforeAll, describe, expect, it } from 'vitest';
import * as api from '@tmpose/tensor';
import { init, tensor } from '@tmpose/tensor';
import { type Case, type OpCall, type Tol, fixtureRunner, loadCases, tol, viewShape } from './fixtures.js';
import { matmulVariantLabels } from '../src/ops/matmul.js';
import { REDUCE_VARIANTS } from '../src/ops/reduce.js';
import { ROW_VARIANTS } from '../src/ops/rowlanes.js';
import { expectClose, fn, throwsEarly } from './helpers.js';

// ---------------------------------------------------------------------------------------------------
// Tolerances: |got - want| <= atol + atolPerK * k + rtol * |want|, where k is the longest sum the op
// does in its forward or backward pass (reduced length, contraction length, broadcast factor), stored
// per case by the generator. f32 has eps = 1.19e-7; a sum of k terms of size ~1 drifts by ~eps*k in
// the worst realistic case, hence the per-k term for anything whose result is such a sum. An op that
// divides a sum by k (mean, mseLoss's mean, softmax's normalisation) has a result of the terms' own size
// (or smaller), and so an error relative to that: no per-k term there (with one, mean/1031 could be off
// by 0.65 % of itself and pass; now 0.0025 %). References are stored to 7 significant digits (<= 5e-7 relative),
// which every rtol below covers. Inputs are O(1) (|x| <= ~4).
//
//   op                         atol    rtol    atol per k   why
//   views, concat, stack,      1e-6    1e-6    1e-6         exact copies; backward of expand/slice sums
//     contiguous
//   neg, abs, relu, clamp      1e-6    1e-6    1e-6         exact; backward sums over broadcast dims
//   eq ne lt le gt ge          0       0       -            exactly 1 or 0
//   add, sub, mul, max/minimum 1e-5    1e-5    1e-6         one rounding per op, backward sums (sumTo)
//   div                        1e-5    2e-5    1e-6         WGSL x/y is within 2.5 ulp; grad = g*out/b
//   exp                        1e-5    2e-5    -            WGSL exp: 3 + 2|x| ulp
//   log                        2e-5    1e-5    -            WGSL log: 2^-21 absolute on [0.5, 2]
//   sqrt                       1e-5    1e-5    -            2.5 ulp (via inverseSqrt)
//   pow                        2e-5    1e-4    1e-6         exp2(b*log2 a): log error times |b ln a|
//   gelu                       2e-5    2e-5    -            erf polynomial (A&S 7.1.26, 1.5e-7) and exp
//   sigmoid, tanh              2e-5    2e-5    -            built on exp; tanh near 0 is checked absolutely
//   sum                        1e-5    1e-5    2e-7         f32 accumulation over k terms
//   mean                       5e-7    1e-5    -            the sum's error (~eps * k * |x|) divided by k:
//                                                           a few ulps of |x| whatever k; a result near 0
//                                                           (cancellation) needs that atol. The gradient
//                                                           g/k is within an ulp (rtol)
//   max, min (amax / amin)     1e-6    1e-6    1e-6         exact selection; gradient: a masked copy, or
//                                                           g / (number of tied extremes)
//   matmul, linear             2e-5    2e-5    1e-6         dot products of length k (fwd K, bwd N / M*batch)
//   softmax                    1e-6    1e-4    -            exp(x - max) / (a sum of k terms): the output
//                                                           and its gradient y*(g - sum(g*y)) are relative
//                                                           to y (~1/k), the sum's relative error (~eps*k
//                                                           at worst) is in rtol; atol: a few ulps of the
//                                                           largest y*|g| (~1) for cancellation
//   logSoftmax                 2e-5    1e-4    2e-7         x - max - log(sum exp): log turns the sum's
//                                                           relative error into an absolute one
//   layerNorm                  5e-5    1e-4    2e-7         mean / variance over k, rsqrt, affine
//   mseLoss                    1e-7    2e-5    -            every result is relative: sums (or means) of
//                                                           k positive squares (relative error ~eps*sqrt(k),
//                                                           k*eps at worst), and products 2*(x-t)*g/k
// ---------------------------------------------------------------------------------------------------
const COPY = tol(1e-6, 1e-6, 1e-6);
const ARITH = tol(1e-5, 1e-5, 1e-6);
const EXACT = tol(0, 0);
const TOLERANCES: Record<string, Tol> = {
  reshape: COPY, flatten: COPY, permute: COPY, transpose: COPY, expand: COPY, slice: COPY,
  concat: COPY, stack: COPY, contiguous: COPY, squeeze: COPY, unsqueeze: COPY,
  neg: COPY, abs: COPY, relu: COPY, clamp: COPY,
  eq: EXACT, ne: EXACT, lt: EXACT, le: EXACT, gt: EXACT, ge: EXACT,
  add: ARITH, sub: ARITH, mul: ARITH, maximum: ARITH, minimum: ARITH,
  div: tol(1e-5, 2e-5, 1e-6),
  exp: tol(1e-5, 2e-5),
  log: tol(2e-5, 1e-5),
  sqrt: tol(1e-5, 1e-5),
  pow: tol(2e-5, 1e-4, 1e-6),
  gelu: tol(2e-5, 2e-5),
  sigmoid: tol(2e-5, 2e-5),
  tanh: tol(2e-5, 2e-5),
  sum: tol(1e-5, 1e-5, 2e-7),
  mean: tol(5e-7, 1e-5),
  max: COPY,
  min: COPY,
  matmul: tol(2e-5, 2e-5, 1e-6),
  linear: tol(2e-5, 2e-5, 1e-6),
  softmax: tol(1e-6, 1e-4),
  logSoftmax: tol(2e-5, 1e-4, 2e-7),
  layerNorm: tol(5e-5, 1e-4, 2e-7),
  mseLoss: tol(1e-7, 2e-5),
};

// ---------------------------------------------------------------------------------------------------
const binary = (name: string): OpCall => (xs, o) => {
  if ('scalar' in o) return o.side === 'left' ? fn(name)(o.scalar, xs[0]) : fn(name)(xs[0], o.scalar);
  return fn(name)(xs[0], xs[1]);
};
const unary = (name: string): OpCall => (xs) => fn(name)(xs[0]);
const reduction = (name: string): OpCall => (xs, o) => fn(name)(xs[0], o.axis, { keepdim: o.keepdim });

const OPS: Record<string, OpCall> = {
  add: binary('add'), sub: binary('sub'), mul: binary('mul'), div: binary('div'), pow: binary('pow'),
  maximum: binary('maximum'), minimum: binary('minimum'),
  eq: binary('eq'), ne: binary('ne'), lt: binary('lt'), le: binary('le'), gt: binary('gt'), ge: binary('ge'),
  clamp: (xs, o) => fn('clamp')(xs[0], o.min, o.max),
  neg: unary('neg'), exp: unary('exp'), log: unary('log'), sqrt: unary('sqrt'), relu: unary('relu'),
  gelu: unary('gelu'), sigmoid: unary('sigmoid'), tanh: unary('tanh'), abs: unary('abs'),
  contiguous: unary('contiguous'),
  sum: reduction('sum'), mean: reduction('mean'), max: reduction('max'), min: reduction('min'),
  reshape: (xs, o) => fn('reshape')(xs[0], o.shape),
  flatten: (xs, o) => fn('flatten')(xs[0], o.startAxis ?? 0, o.endAxis ?? -1),
  permute: (xs, o) => fn('permute')(xs[0], o.dims),
  transpose: (xs, o) => fn('transpose')(xs[0], o.dim0 ?? -2, o.dim1 ?? -1),
  expand: (xs, o) => fn('expand')(xs[0], o.shape),
  slice: (xs, o) => fn('slice')(xs[0], o.axis, o.start, o.end),
  concat: (xs, o) => fn('concat')(xs, o.axis),
  stack: (xs, o) => fn('stack')(xs, o.axis),
  squeeze: (xs, o) => fn('squeeze')(xs[0], o.axis),
  unsqueeze: (xs, o) => fn('unsqueeze')(xs[0], o.axis),
  matmul: (xs) => fn('matmul')(xs[0], xs[1]),
  linear: (_, __, n) => fn('linear')(n.x, n.weight, n.bias),
  softmax: (xs, o) => fn('softmax')(xs[0], o.axis ?? -1),
  logSoftmax: (xs, o) => fn('logSoftmax')(xs[0], o.axis ?? -1),
  layerNorm: (_, o, n) => fn('layerNorm')(n.x, o.normalizedShape, n.weight, n.bias, o.eps ?? 1e-5),
  mseLoss: (xs, o) => fn('mseLoss')(xs[0], xs[1], o.reduction ?? 'mean'),
};

const runner = fixtureRunner(OPS, TOLERANCES);

beforeAll(async () => {
  await init();
});

for (const family of ['elementwise', 'reduce', 'views', 'nn']) {
  describe(`fixtures: ${family}`, () => {
    for (const c of loadCases(family)) it(c.name, () => runner.run(c));
  });
}

describe('fixtures: sum and mean with every reduce variant (thread, columns, workgroup, subgroups)', () => {
  runner.everyVariant('reduce', REDUCE_VARIANTS.map((v) => [v, loadCases('reduce').filter((k) => k.op === 'sum' || k.op === 'mean')]));
});

describe('fixtures: softmax, logSoftmax and layerNorm with every row variant (thread, workgroup, subgroups)', () => {
  const rowOps = new Set(['softmax', 'logSoftmax', 'layerNorm']);
  runner.everyVariant('rows', ROW_VARIANTS.map((v) => [v, loadCases('nn').filter((k) => rowOps.has(k.op))]));
});

describe('fixtures: every tuned matmul variant (register rows x column lanes; GEMM-core tiles, split-K)', () => {
  // A label runs on the cases where every product of the case, forward and backward, has it: the
  // variants depend on the output width, N forward and K (matmul) or in (linear) for the gradients.
  const gemmCases = loadCases('nn').filter((k) => k.op === 'matmul' || k.op === 'linear');
  const widths = (c: Case) => {
    const [a, b] = c.inputs.map((inp) => viewShape(inp.shape, inp.view));
    const inner = a!.at(-1)!;
    return c.op === 'linear' ? [b![0]!, inner] : [b!.length === 1 ? 1 : b!.at(-1)!, inner];
  };
  const labels = [...new Set(gemmCases.flatMap((c) => widths(c).flatMap(matmulVariantLabels)))].sort();
  runner.everyVariant('matmul', labels.map((label) => [label, gemmCases.filter((c) => widths(c).every((w) => matmulVariantLabels(w).includes(label)))]));
  it('every variant label of a wide product is exercised', () => {
    expect(labels).toEqual(['4x16', '4x4', '4x8', '8x16', '8x4', '8x8', 'g128x64', 'g128x64s', 'g32x64', 'g64x64', 'g64x64s']);
    for (const label of labels) expect(gemmCases.some((c) => widths(c).every((w) => matmulVariantLabels(w).includes(label))), label).toBe(true);
  });
});

describe('matmul never reads what the buffer pool left past an operand', () => {
  // Pool buffers are rounded up to a size class and keep a released tensor's data. The vec4 kernels
  // walk K four at a time: with K not a multiple of 4 they must not let the rows past K (NaN here) in.
  for (const [M, K, N] of [[36, 9, 40], [8, 7, 16], [12, 5, 20]] as const) {
    it(`(${K}x${M})ᵀ @ ${K}x${N} and its gradients, after NaN-filled buffers of the same sizes were released`, async () => {
      const host = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
      const [av, bv, gv] = [host(K * M, 1), host(K * N, 2), host(M * N, 3)];
      for (const n of [K * M, K * N, M * N, M * N]) api.full([n], Number.NaN).dispose();
      const a = tensor(av, [K, M], { requiresGrad: true });
      const b = tensor(bv, [K, N], { requiresGrad: true });
      const aT = api.transpose(a, 0, 1);
      const out = fn('matmul')(aT, b);
      out.backward(tensor(gv, [M, N]));
      const want = new Float64Array(M * N);
      for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) want[m * N + n] += av[k * M + m]! * bv[k * N + n]!;
      const wantDb = new Float64Array(K * N);
      for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) wantDb[k * N + n] += av[k * M + m]! * gv[m * N + n]!;
      expectClose(await out.data(), want, 1e-5, 1e-5, 'output');
      expectClose(await b.grad!.data(), wantDb, 1e-5, 1e-5, 'grad of b');
      for (const t of [a, b, aT, out]) t.dispose();
    });
  }
});

describe('fixtures: bookkeeping', () => {
  it('states a tolerance for every op in the fixtures', () => {
    const ops = new Set(['elementwise', 'reduce', 'views', 'nn'].flatMap((f) => loadCases(f).map((c) => c.op)));
    expect([...ops].filter((op) => !TOLERANCES[op])).toEqual([]);
  });

  it('leaves no live tensor handles behind (after each case disposes what it made)', () => {
    runner.expectNoLeaks();
  });
});

// ---------------------------------------------------------------------------------------------------
// Error cases: thrown synchronously, naming the op (and the shapes), before any GPU work: no dispatch
// is encoded and no tensor is allocated by the failing call.
describe('errors are thrown before any GPU work', () => {
  const f32 = (shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape);

  it('shape mismatches name the op and both shapes', () => {
    const a = f32([2, 3]);
    const b = f32([4]);
    const m = f32([5, 3]);
    const w = f32([5, 4]);
    for (const op of ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'] as const) {
      throwsEarly(() => fn(op)(a, b), new RegExp(`^${op}:.*\\[2, 3\\].*\\[4\\]`));
    }
    throwsEarly(() => fn('matmul')(a, m), /^matmul:.*\[2, 3\].*\[5, 3\]/);
    throwsEarly(() => fn('linear')(a, w), /^linear:.*\[2, 3\].*\[5, 4\]/);
    throwsEarly(() => fn('mseLoss')(a, m), /^mseLoss:.*\[2, 3\].*\[5, 3\]/);
    throwsEarly(() => api.concat([a, m], 1), /^concat:.*\[2, 3\].*\[5, 3\]/);
    throwsEarly(() => api.reshape(a, [4, 2]), /^reshape:.*\[2, 3\].*\[4, 2\]/);
    throwsEarly(() => api.expand(a, [2, 4]), /^expand:.*\[2, 3\].*\[2, 4\]/);
    throwsEarly(() => fn('layerNorm')(a, [2]), /^layerNorm:.*\[2, 3\].*\[2\]/);
    throwsEarly(() => api.sum(a, 2), /^sum:.*axis 2/);
    for (const t of [a, b, m, w]) t.dispose();
  });

  it('a matmul batch-dim mismatch names both operand shapes', () => {
    const p = f32([2, 3, 7]);
    const q = f32([3, 7, 2]);
    throwsEarly(() => fn('matmul')(p, q), /^matmul:.*\[2, 3, 7\].*\[3, 7, 2\]/);
    p.dispose();
    q.dispose();
  });

  it('dtype mismatches throw, naming the op', () => {
    const x = f32([3]);
    const i = tensor(new Int32Array([1, 2, 3]), [3]);
    for (const op of ['add', 'sub', 'mul', 'maximum'] as const) {
      throwsEarly(() => fn(op)(x, i), new RegExp(`^${op}:.*int32`));
    }
    throwsEarly(() => api.exp(i), /^exp:.*int32/);
    throwsEarly(() => api.mean(i), /^mean:.*int32/);
    const i2 = api.reshape(i, [1, 3]);
    const x2 = api.reshape(x, [3, 1]);
    throwsEarly(() => fn('matmul')(i2, x2), /^matmul:.*int32/);
    i2.dispose();
    x2.dispose();
    throwsEarly(() => fn('softmax')(i), /^softmax:.*int32/);
    throwsEarly(() => api.concat([x, i]), /^concat:.*int32/);
    x.dispose();
    i.dispose();
  });

  it('a disposed tensor throws, naming the op', () => {
    const dead = f32([2, 3]);
    const live = f32([2, 3]);
    const w = f32([4, 3]);
    const liveT = api.transpose(live);
    dead.dispose();
    const calls: [string, () => unknown][] = [
      ['add', () => api.add(dead, live)],
      ['add', () => api.add(live, dead)],
      ['exp', () => api.exp(dead)],
      ['sum', () => api.sum(dead)],
      ['max', () => api.max(dead, 0)],
      ['reshape', () => api.reshape(dead, [6])],
      ['permute', () => api.permute(dead, [1, 0])],
      ['slice', () => api.slice(dead, 0, 0, 1)],
      ['concat', () => api.concat([live, dead])],
      ['contiguous', () => api.contiguous(dead)],
      ['matmul', () => fn('matmul')(dead, liveT)],
      ['linear', () => fn('linear')(dead, w)],
      ['softmax', () => fn('softmax')(dead)],
      ['layerNorm', () => fn('layerNorm')(dead, [3])],
      ['mseLoss', () => fn('mseLoss')(dead, live)],
    ];
    for (const [op, call] of calls) throwsEarly(call, new RegExp(`^${op}: a tensor of shape \\[2, 3\\] was used after dispose`));
    for (const t of [live, w, liveT]) t.dispose();
  });
});
