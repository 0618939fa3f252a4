// The TMPose kernels (conv2d, batchNorm2d, scaledDotProductAttention, gatherTokens, upsampleNearest)
// against PyTorch references in fixtures/kernels.json, written by scripts/gen_kernel_fixtures.py (see its
// docstring for the JSON layout: that of ops.fixtures.test.ts plus positional `args` with nulls and
// extra views of one leaf, int32 inputs, `state` read back after the call, per-case `tol`, and `fill`
// inputs that are regenerated here from a 32-bit hash instead of being stored). Everything runs on the
// real WebGPU device in float32; for each case: build the leaves, apply the views, run the op, compare
// the output (and any state it updates in place), call `out.backward(gradOut)` and compare each
// leaf's `.grad`.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as api from '@tmpose/tensor';
import { type Tensor, init, memory, tensor } from '@tmpose/tensor';
import { runtimeStats } from '../src/runtime/queue.js';
import { expectClose } from './helpers.js';

// ---------------------------------------------------------------------------------------------------
// Tolerances: |got - want| <= atol + atolPerK * k + rtol * |want|, as in ops.fixtures.test.ts; k is the
// longest sum in the forward or backward pass, stored per case by the generator. f32 eps = 1.19e-7.
//
//   op                         atol    rtol    atol per k   k                          why
//   conv2d                     1e-5    2e-5    2e-7         max(Cg*KH*KW, Fg*KH*KW,    dot products of length k: forward over
//                                                            N*OH*OW)                   (c, kh, kw), dx over (f, kh, kw), dw and
//                                                                                       db over every output pixel
//   batchNorm2d                5e-5    1e-4    2e-7         N*H*W                      mean / variance / sum(dy*xhat) over k,
//                                                                                       rsqrt, as layerNorm
//   running mean / variance    1e-6    2e-6    2e-8         N*H*W                      a blend of the batch statistics: the
//                                                                                       variance sums k squares
//   scaledDotProductAttention  1e-5    5e-5    1e-7         max(L, D)                  exp, a softmax sum over L keys, dot
//                                                                                       products over D, gradients over L
//   gatherTokens               1e-6    1e-6    1e-6         most repeats of one row    exact copies; backward adds repeats
//   upsampleNearest            1e-6    1e-6    1e-6         factor^2                   exact copies; backward sums a block
//
// One case overrides these (case.tol, computed and explained in the generator): batchNorm2d on data of
// mean 1e3 and variance 1e-2, i.e. mean/std = R = 1e4. float32 holds 1000 to an ulp of 6.1e-5 = 6.1e-4
// standard deviations, and any float32 evaluation (of the batch mean, of x*scale + shift with |x*scale| ~
// R*|w|, of dx = k1*dy + k2*x + k3) rounds terms ~R times larger than its result: the error is ~R*eps =
// 1.2e-3 of the result's scale, so that case allows 4*R*eps = 4.8e-3 relative to |w| + |b| for the output,
// to 3*|w|*invstd*mean|dy| for dx, and R*eps*sum|dy| for dweight (the mean's rounding times sum dy).
// ---------------------------------------------------------------------------------------------------
interface Tol {
  atol: number;
  rtol: number;
  atolPerK?: number;
}
const t = (atol: number, rtol: number, atolPerK = 0): Tol => ({ atol, rtol, atolPerK });
const COPY = t(1e-6, 1e-6, 1e-6);
export const TOLERANCES: Record<string, Tol> = {
  conv2d: t(1e-5, 2e-5, 2e-7),
  batchNorm2d: t(5e-5, 1e-4, 2e-7),
  scaledDotProductAttention: t(1e-5, 5e-5, 1e-7),
  gatherTokens: COPY,
  upsampleNearest: COPY,
};
const STATE_TOLERANCE = t(1e-6, 2e-6, 2e-8);

// ---------------------------------------------------------------------------------------------------
interface Arr {
  shape: number[];
  values: number[];
}
interface Fill {
  seed: number;
  levels: number;
  denominator: number;
}
/** Values stored, or regenerated from a hash (`fill`, with the float64 sum of the values as a check). */
interface Source {
  shape: number[];
  values?: number[];
  fill?: Fill;
  sum?: number;
}
type ViewStep = [string, ...(number | number[])[]];
interface Input extends Source {
  dtype: 'float32' | 'int32';
  requiresGrad: boolean;
  view?: ViewStep[];
}
type Arg = number | null | { input: number; view: ViewStep[] };
type Options = Record<string, any>;
interface CaseTol {
  why: string;
  output?: Tol;
  grads?: (Tol | null)[];
  state?: Tol;
}
interface Case {
  name: string;
  op: string;
  options: Options;
  k: number;
  args?: Arg[];
  inputs: Input[];
  output: Arr;
  gradOutput: Source;
  grads: (Arr | null)[];
  state?: (Arr & { arg: number })[];
  tol?: CaseTol;
}

const cases: Case[] = (
  JSON.parse(readFileSync(new URL('./fixtures/kernels.json', import.meta.url), 'utf8')) as { cases: Case[] }
).cases;

/** scripts/gen_kernel_fixtures.py hash_fill: (lowbias32(i + seed * 0x9E3779B9) % levels - (levels - 1) / 2) / denominator. */
export function hashFill(n: number, { seed, levels, denominator }: Fill): number[] {
  const base = Math.imul(seed >>> 0, 0x9e3779b9) >>> 0;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let h = (i + base) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = Math.imul(h, 0x7feb352d) >>> 0;
    h = (h ^ (h >>> 15)) >>> 0;
    h = Math.imul(h, 0x846ca68b) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    out[i] = ((h % levels) - (levels - 1) / 2) / denominator;
  }
  return out;
}

const HASH_FILL_SEED_1 = [0.25, -1.5, -1.95, 0];

function valuesOf(src: Source): number[] {
  if (src.values) return src.values;
  const n = src.shape.reduce((a, b) => a * b, 1);
  const v = hashFill(n, src.fill!);
  const s = v.reduce((a, b) => a + b, 0);
  expect(Math.abs(s - src.sum!), 'regenerated fill values differ from the generator\'s').toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(s)));
  return v;
}

/** An op of the public API, looked up by name so that a missing one fails its cases, not the file. */
type Fn = (...args: unknown[]) => Tensor;
function fn(name: string): Fn {
  const f = (api as unknown as Record<string, unknown>)[name];
  if (typeof f !== 'function') throw new Error(`${name} is not exported by @tmpose/tensor (yet)`);
  return f as Fn;
}

type X = Tensor | null;
const OPS: Record<string, (xs: X[], o: Options) => Tensor> = {
  conv2d: (xs, o) => fn('conv2d')(xs[0], xs[1], xs[2] ?? undefined, { stride: o.stride, padding: o.padding, groups: o.groups }),
  batchNorm2d: (xs, o) => fn('batchNorm2d')(xs[0], xs[1], xs[2], xs[3], xs[4], { training: o.training, momentum: o.momentum, eps: o.eps }),
  scaledDotProductAttention: (xs, o) => fn('scaledDotProductAttention')(xs[0], xs[1], xs[2], o.scale === undefined ? {} : { scale: o.scale }),
  gatherTokens: (xs, o) => fn('gatherTokens')(xs[0], o.hostIndex ?? xs[1]),
  upsampleNearest: (xs, o) => fn('upsampleNearest')(xs[0], o.factor),
};

function applyView(x: Tensor, view: ViewStep[] | undefined, owned: Tensor[]): Tensor {
  let y = x;
  const push = (z: Tensor) => {
    owned.push(z);
    y = z;
  };
  for (const [kind, ...a] of view ?? []) {
    const args = a as never[];
    if (kind === 'transpose') push(api.transpose(y, args[0], args[1]));
    else if (kind === 'permute') push(api.permute(y, args[0]));
    else if (kind === 'slice') push(api.slice(y, args[0], args[1], args[2]));
    else if (kind === 'expand') push(api.expand(y, args[0]));
    else throw new Error(`unknown view step ${kind}`);
  }
  return y;
}

function tolFor(c: Case, which: 'output' | 'state' | number): { atol: number; rtol: number } {
  const base = which === 'state' ? STATE_TOLERANCE : TOLERANCES[c.op];
  if (!base) throw new Error(`no tolerance stated for ${c.op}`);
  const over = which === 'output' ? c.tol?.output : which === 'state' ? c.tol?.state : c.tol?.grads?.[which];
  const tol = over ?? base;
  return { atol: tol.atol + (tol.atolPerK ?? 0) * c.k, rtol: tol.rtol };
}

/** Optional calibration aid: FIXTURE_REPORT=1 prints how much of its tolerance each check used. */
const report = process.env.FIXTURE_REPORT ? new Map<string, number>() : null;
function check(what: string, got: ArrayLike<number>, want: number[], tol: { atol: number; rtol: number }): void {
  if (report) {
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (tol.atol + tol.rtol * Math.abs(want[i]!)));
    report.set(what, worst);
  }
  expectClose(got, want, tol.atol, tol.rtol, what);
}

const leaks: string[] = [];

async function runCase(c: Case): Promise<void> {
  const before = memory().liveTensors;
  const owned: Tensor[] = [];
  try {
    const leaves = c.inputs.map((inp) => {
      const vals = valuesOf(inp);
      const leaf =
        inp.dtype === 'int32'
          ? tensor(Int32Array.from(vals), inp.shape, { dtype: 'int32' })
          : tensor(Float32Array.from(vals), inp.shape, { requiresGrad: inp.requiresGrad });
      owned.push(leaf);
      return leaf;
    });
    const viewed = leaves.map((leaf, i) => applyView(leaf, c.inputs[i]!.view, owned));
    const xs = (c.args ?? c.inputs.map((_, i) => i)).map((a) =>
      a === null ? null : typeof a === 'number' ? viewed[a]! : applyView(leaves[a.input]!, a.view, owned),
    );
    const out = OPS[c.op]!(xs, c.options);
    owned.push(out);

    expect(out.shape, `${c.name}: output shape`).toEqual(c.output.shape);
    check(`${c.name}: output`, await out.data(), c.output.values, tolFor(c, 'output'));
    for (const s of c.state ?? []) {
      const x = xs[s.arg]!;
      expect(x.shape, `${c.name}: argument ${s.arg} shape`).toEqual(s.shape);
      check(`${c.name}: argument ${s.arg} after the call`, await x.data(), s.values, tolFor(c, 'state'));
    }

    if (!c.grads.some((g) => g)) return;
    const gradOut = tensor(Float32Array.from(valuesOf(c.gradOutput)), c.gradOutput.shape);
    owned.push(gradOut);
    out.backward(gradOut);
    for (const [i, want] of c.grads.entries()) {
      if (!want) continue;
      const grad = leaves[i]!.grad;
      expect(grad, `${c.name}: input ${i} has no .grad after backward()`).not.toBeNull();
      expect(grad!.shape, `${c.name}: grad ${i} shape`).toEqual(want.shape);
      check(`${c.name}: grad of input ${i}`, await grad!.data(), want.values, tolFor(c, i));
    }
  } finally {
    for (const x of owned) x.dispose();
    const after = memory().liveTensors;
    if (after !== before) leaks.push(`${c.name}: ${after - before} tensor handle(s)`);
  }
}

beforeAll(async () => {
  await init();
});

for (const op of Object.keys(TOLERANCES)) {
  describe(`kernel fixtures: ${op}`, () => {
    for (const c of cases.filter((k) => k.op === op)) it(c.name, () => runCase(c));
  });
}

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
    if (report) {
      const rows = [...report.entries()].sort((a, b) => b[1] - a[1]);
      console.log(rows.map(([k, v]) => `${v.toFixed(3)}  ${k}`).join('\n'));
    }
    expect(leaks).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Error cases: thrown synchronously, naming the op and the shapes, before any GPU work: no dispatch is
// encoded and no tensor is allocated by the failing call.
describe('kernel errors are thrown before any GPU work', () => {
  function throwsEarly(call: () => unknown, pattern: RegExp): void {
    const before = { ...runtimeStats(), ...memory() };
    expect(call).toThrow(pattern);
    const after = { ...runtimeStats(), ...memory() };
    expect(after.dispatches, 'dispatches encoded by the failing call').toBe(before.dispatches);
    expect(after.liveTensors, 'tensors left alive by the failing call').toBe(before.liveTensors);
    expect(after.liveBytes, 'bytes allocated by the failing call').toBe(before.liveBytes);
  }
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
