// The TMPose kernels (conv2d, batchNorm2d, scaledDotProductAttention, gatherTokens, upsampleNearest)
// against PyTorch references in fixtures/kernels.json, written by scripts/gen_kernel_fixtures.py (see its
// docstring for the JSON layout: that of ops.fixtures.test.ts plus positional `args` with nulls and
// extra views of one leaf, int32 inputs, `state` read back after the call, per-case `tol`, and `fill`
// inputs that are regenerated here from a 32-bit hash instead of being stored). Everything runs on the
// real WebGPU device in float32; for each case: build the leaves, apply the views, run the op, compare
// the output (and any state it updates in place), call `out.backward(gradOut)` and compare each
// leaf's `.grad`.
import { beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, init, tensor } from '@tmpose/tensor';
import { type OpCall, type Tol, type ViewStep, applyView, fixtureRunner, hashFill, loadCases, tol } from './fixtures.js';
import { fn, throwsEarly } from './helpers.js';
import { ATTENTION_VARIANTS } from '../src/ops/attention.js';
import { BATCH_NORM_VARIANTS } from '../src/ops/batchnorm.js';
import { CONV_VARIANTS } from '../src/ops/conv2d.js';

// ---------------------------------------------------------------------------------------------------
// Tolerances: |got - want| <= atol + atolPerK * k + rtol * |want|, as in ops.fixtures.test.ts; k is the
// longest sum in the forward or backward pass, stored per case by the generator. f32 eps = 1.19e-7.
//
//   op                         atol    rtol    atol per k   k                          why
//   conv2d                     1e-5    2e-5    2e-7         max(Cg*KH*KW, Fg*KH*KW,    dot products of length k: forward over
//                                                            N*OH*OW)                   (c, kh, kw), dx over (f, kh, kw), dw and
//                                                                                       db over every output pixel
//   batchNorm2d                5e-5    1e-4    -            N*H*W                      output and dx are in normalised units
//                                                                                       and use the statistics as means (sums
//                                                                                       divided by k: an error of a few ulps
//                                                                                       whatever k), rsqrt, the affine map
//     dweight, dbias           5e-5    1e-4    2e-7         N*H*W                      sums over k (sum(dy*xhat), sum(dy)):
//                                                                                       the generator states this per case
//   running mean / variance    1e-6    2e-6    -            N*H*W                      a blend of the batch mean and variance,
//                                                                                       both sums divided by k
//   scaledDotProductAttention  1e-5    5e-5    1e-7         max(L, D)                  exp, a softmax sum over L keys, dot
//                                                                                       products over D, gradients over L
//   gatherTokens               1e-6    1e-6    1e-6         most repeats of one row    exact copies; backward adds repeats
//   upsampleNearest            1e-6    1e-6    1e-6         factor^2                   exact copies; backward sums a block
//
// The batch-norm cases include HRNet's planes (64x48: more than 1024 elements, where each thread of the
// per-channel kernels loops over several units and several workgroups run along each plane), their
// inputs regenerated from a hash. Two cases replace all of these tolerances (case.tol, computed and
// explained in the generator): batchNorm2d, training and eval, on data of mean 1e3 and variance 1e-2, i.e. mean/std = R = 1e4. float32 holds 1000 to an ulp of 6.1e-5 = 6.1e-4
// standard deviations, and any float32 evaluation (of the batch mean, of x*scale + shift with |x*scale| ~
// R*|w|, of dx = k1*dy + k2*x + k3) rounds terms ~R times larger than its result: the error is ~R*eps =
// 1.2e-3 of the result's scale, so that case allows 4*R*eps = 4.8e-3 relative to |w| + |b| for the output,
// to 3*|w|*invstd*mean|dy| for dx, and R*eps*sum|dy| for dweight (the mean's rounding times sum dy).
// ---------------------------------------------------------------------------------------------------
const COPY = tol(1e-6, 1e-6, 1e-6);
const TOLERANCES: Record<string, Tol> = {
  conv2d: tol(1e-5, 2e-5, 2e-7),
  batchNorm2d: tol(5e-5, 1e-4),
  scaledDotProductAttention: tol(1e-5, 5e-5, 1e-7),
  gatherTokens: COPY,
  upsampleNearest: COPY,
};
const STATE_TOLERANCE = tol(1e-6, 2e-6);

// ---------------------------------------------------------------------------------------------------
const cases = loadCases('kernels');

const HASH_FILL_SEED_1 = [0.25, -1.5, -1.95, 0];

const OPS: Record<string, OpCall> = {
  conv2d: (xs, o) => fn('conv2d')(xs[0], xs[1], xs[2] ?? undefined, { stride: o.stride, padding: o.padding, groups: o.groups }),
  batchNorm2d: (xs, o) => fn('batchNorm2d')(xs[0], xs[1], xs[2], xs[3], xs[4], { training: o.training, momentum: o.momentum, eps: o.eps }),
  scaledDotProductAttention: (xs, o) => fn('scaledDotProductAttention')(xs[0], xs[1], xs[2], o.scale === undefined ? {} : { scale: o.scale }),
  gatherTokens: (xs, o) => fn('gatherTokens')(xs[0], o.hostIndex ?? xs[1]),
  upsampleNearest: (xs, o) => fn('upsampleNearest')(xs[0], o.factor),
};

const runner = fixtureRunner(OPS, TOLERANCES, STATE_TOLERANCE);

beforeAll(async () => {
  await init();
});

for (const op of Object.keys(TOLERANCES)) {
  describe(`kernel fixtures: ${op}`, () => {
    for (const c of cases.filter((k) => k.op === op)) it(c.name, () => runner.run(c));
  });
}

// Eval mode reduces nothing: only training cases meet the tuned reductions.
describe('kernel fixtures: batchNorm2d, every tuned reduction variant', () => {
  const training = cases.filter((k) => k.op === 'batchNorm2d' && k.name.startsWith('batchNorm2d/training'));
  runner.everyVariant('batchNorm', BATCH_NORM_VARIANTS.map((v) => [v, training]));
});

describe('kernel fixtures: every tuned conv and attention variant', () => {
  const of = (op: string) => cases.filter((k) => k.op === op);
  runner.everyVariant('conv2d', CONV_VARIANTS.map((label) => [label, of('conv2d')]));
  // The 64-query tiles on the D = 24 cases only (the code is the 32-query tiles' with another block
  // size; attention.tiles.test.ts has more): each tile compiles a kernel per dtype and head-dim class.
  const attention = of('scaledDotProductAttention');
  const variants = ATTENTION_VARIANTS.map((label): [string, typeof attention] => [label, label === 'tile64' ? attention.filter((c) => / D24\b/.test(c.name)) : attention]);
  runner.everyVariant('attention', variants);
  runner.everyVariant('attentionBackward', variants);
});

describe('kernel fixtures: bookkeeping', () => {
  it('states a tolerance for every op in the fixtures, and every op has cases', () => {
    const ops = new Set(cases.map((c) => c.op));
    expect([...ops].filter((op) => !TOLERANCES[op])).toEqual([]);
    expect(Object.keys(TOLERANCES).filter((op) => !ops.has(op))).toEqual([]);
  });

  it('regenerates hash-filled values exactly as the generator does', () => {
    // The first values of seed 1 (levels 401, denominator 100), from scripts/gen_kernel_fixtures.py.
    expect(hashFill(4, { seed: 1, levels: 401, denominator: 100 })).toEqual(HASH_FILL_SEED_1);
  });

  it('splits q, k and v of the qkv cases as strided views (not copies)', () => {
    const c = cases.find((k) => k.name.startsWith('attention/qkv split from'))!;
    const leaf = tensor(new Float32Array(c.inputs[0]!.shape.reduce((a, b) => a * b, 1)), c.inputs[0]!.shape);
    const owned: Tensor[] = [leaf];
    const [q, k, v] = (c.args as { input: number; view: ViewStep[] }[]).map((a) => applyView(leaf, a.view, owned));
    expect([q, k, v].map((x) => x!.isContiguous)).toEqual([false, false, false]);
    expect([q, k, v].map((x) => x!.storage === leaf.storage)).toEqual([true, true, true]);
    expect(v!.offset).toBeGreaterThan(0);
    for (const x of owned) x.dispose();
  });

  it('leaves no live tensor handles behind (after each case disposes what it made)', () => {
    runner.expectNoLeaks();
  });
});

// ---------------------------------------------------------------------------------------------------
// Error cases: thrown synchronously, naming the op and the shapes, before any GPU work: no dispatch is
// encoded and no tensor is allocated by the failing call.
describe('kernel errors are thrown before any GPU work', () => {
  const f32 = (shape: number[]) => tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(1), shape);
  const disposeAll = (...ts: Tensor[]) => ts.forEach((x) => x.dispose());

  it('conv2d: mismatched channels, wrong weight rank, bad groups, bias length', () => {
    const x = f32([1, 3, 5, 5]);
    const w2 = f32([4, 2, 3, 3]);
    const w3 = f32([4, 3, 3]);
    const w = f32([4, 3, 3, 3]);
    const b = f32([5]);
    const x3 = f32([3, 5, 5]);
    throwsEarly(() => fn('conv2d')(x, w2), /^conv2d:.*\[1, 3, 5, 5\].*\[4, 2, 3, 3\]/);
    throwsEarly(() => fn('conv2d')(x, w3), /^conv2d:.*\[1, 3, 5, 5\].*\[4, 3, 3\]/);
    throwsEarly(() => fn('conv2d')(x3, w), /^conv2d:.*\[3, 5, 5\].*\[4, 3, 3, 3\]/);
    throwsEarly(() => fn('conv2d')(x, w, undefined, { groups: 2 }), /^conv2d:.*\[1, 3, 5, 5\].*\[4, 3, 3, 3\]/);
    throwsEarly(() => fn('conv2d')(x, w, b), /^conv2d:.*\[5\].*\[4\]/);
    const tiny = f32([1, 3, 1, 1]);
    throwsEarly(() => fn('conv2d')(tiny, w), /^conv2d:.*\[1, 3, 1, 1\].*\[4, 3, 3, 3\]/);
    disposeAll(x, w2, w3, w, b, x3, tiny);
  });

  it('batchNorm2d: parameters or running stats of the wrong channel count', () => {
    const x = f32([2, 3, 4, 4]);
    const c4 = f32([4]);
    const c3 = f32([3]);
    throwsEarly(() => fn('batchNorm2d')(x, c4, c3, null, null), /^batchNorm2d:.*\[4\].*\[2, 3, 4, 4\]/);
    throwsEarly(() => fn('batchNorm2d')(x, c3, c4, null, null), /^batchNorm2d:.*\[4\].*\[2, 3, 4, 4\]/);
    throwsEarly(() => fn('batchNorm2d')(x, c3, c3, c3, c4), /^batchNorm2d:.*\[4\].*\[2, 3, 4, 4\]/);
    throwsEarly(() => fn('batchNorm2d')(x, null, null, null, null, { training: false }), /^batchNorm2d:/);
    const one = f32([1, 3, 1, 1]);
    throwsEarly(() => fn('batchNorm2d')(one, null, null, null, null), /^batchNorm2d:.*\[1, 3, 1, 1\]/);
    disposeAll(x, c4, c3, one);
  });

  it('scaledDotProductAttention: bad head dim, mismatched shapes, wrong rank', () => {
    const q6 = f32([1, 2, 5, 6]);
    const q = f32([1, 2, 5, 8]);
    const k7 = f32([1, 2, 7, 8]);
    const r3 = f32([2, 5, 8]);
    const big = f32([1, 1, 1, 132]);
    throwsEarly(() => fn('scaledDotProductAttention')(q6, q6, q6), /^scaledDotProductAttention:.*\[1, 2, 5, 6\]/);
    throwsEarly(() => fn('scaledDotProductAttention')(big, big, big), /^scaledDotProductAttention:.*\[1, 1, 1, 132\]/);
    throwsEarly(() => fn('scaledDotProductAttention')(q, k7, q), /^scaledDotProductAttention:.*\[1, 2, 5, 8\].*\[1, 2, 7, 8\]/);
    throwsEarly(() => fn('scaledDotProductAttention')(r3, r3, r3), /^scaledDotProductAttention:.*\[2, 5, 8\]/);
    disposeAll(q6, q, k7, r3, big);
  });

  it('gatherTokens: out-of-range, negative, fractional and ragged host indices; batch mismatch', () => {
    const x = f32([2, 7, 5]);
    throwsEarly(() => fn('gatherTokens')(x, [0, 7]), /^gatherTokens:.*7.*\[2, 7, 5\]|^gatherTokens:.*\[2, 7, 5\].*7/);
    throwsEarly(() => fn('gatherTokens')(x, [[1, 2], [3, -1]]), /^gatherTokens:.*-1.*\[2, 7, 5\]|^gatherTokens:.*\[2, 7, 5\].*-1/);
    throwsEarly(() => fn('gatherTokens')(x, [1.5]), /^gatherTokens:.*1\.5/);
    throwsEarly(() => fn('gatherTokens')(x, [[1, 2], [3]]), /^gatherTokens:.*sample 1/);
    const idx = tensor(new Int32Array([0, 1, 2, 3, 4, 5]), [3, 2]);
    throwsEarly(() => fn('gatherTokens')(x, idx), /^gatherTokens:.*\[2, 7, 5\].*\[3, 2\]/);
    const fidx = f32([2]);
    throwsEarly(() => fn('gatherTokens')(x, fidx), /^gatherTokens:.*float32.*\[2\]/);
    const x2 = f32([7, 5]);
    throwsEarly(() => fn('gatherTokens')(x2, [0]), /^gatherTokens:.*\[7, 5\]/);
    disposeAll(x, idx, fidx, x2);
  });

  it('upsampleNearest: bad factor or rank', () => {
    const x = f32([1, 3, 5, 7]);
    throwsEarly(() => fn('upsampleNearest')(x, 1.5), /^upsampleNearest:.*\[1, 3, 5, 7\].*1\.5/);
    throwsEarly(() => fn('upsampleNearest')(x, 0), /^upsampleNearest:.*\[1, 3, 5, 7\].*0/);
    const v = f32([7]);
    throwsEarly(() => fn('upsampleNearest')(v, 2), /^upsampleNearest:.*\[7\]/);
    disposeAll(x, v);
  });
});
