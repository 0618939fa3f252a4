// The runner of the float16 kernel tests (half.conv, half.batchnorm, half.attention): PyTorch references
// in fixtures/half.kernels.json from scripts/gen_half_conv_fixtures.py, run by fixtures.ts' runner on
// float16 leaves (views and offsets applied to them) and float16 upstream gradients.
//
// Tolerances: |got - want| <= atol + atolPerK * k + rtol * |want|, k the longest sum of the case. Every
// result here is accumulated in float32 and rounded to float16 once, when stored: at most one float16
// ulp whichever way the conversion rounds, 2^-10 = EPS16 relative. So rtol is 1 EPS16 throughout, and
// atol (with its per-k part) is the float32 tolerance of kernels.fixtures.test.ts for the same sums.
//
//   op                         atol    atol per k   rtol     k                        what else
//   conv2d                     1e-5    2e-7         EPS16    max(Cg*KH*KW, Fg*KH*KW,  the weight gradient's split
//                                                            N*OH*OW)                 partials are float32
//   batchNorm2d                5e-5    -            EPS16    N*H*W                    float32 dweight and dbias:
//                                                                                     float32 sums (the generator
//                                                                                     states atolPerK 2e-7)
//   running mean / variance    1e-6    -            2e-6     N*H*W                    float32, as in float32;
//                                                                                     float16 ones: rtol EPS16
//                                                                                     (from the generator)
//   scaledDotProductAttention  1e-5    1e-7         EPS16    max(L, D)                dq and dk: + the error of
//                                                                                     delta from the float16 O,
//                                                                                     bounded per case by the
//                                                                                     generator
//   upsampleNearest            1e-6    1e-6         EPS16    factor^2                 forward: exact copies
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Case, type OpCall, type Tol, fixtureRunner, tol } from './fixtures.js';
import { fn } from './helpers.js';

export const EPS16 = 2 ** -10;

export const TOLERANCES: Record<string, Tol> = {
  conv2d: tol(1e-5, EPS16, 2e-7),
  batchNorm2d: tol(5e-5, EPS16),
  scaledDotProductAttention: tol(1e-5, EPS16, 1e-7),
  upsampleNearest: tol(1e-6, EPS16, 1e-6),
};
const STATE_TOLERANCE = tol(1e-6, 2e-6);

const OPS: Record<string, OpCall> = {
  conv2d: (xs, o) => fn('conv2d')(xs[0], xs[1], xs[2] ?? undefined, { stride: o.stride, padding: o.padding, groups: o.groups }),
  batchNorm2d: (xs, o) => fn('batchNorm2d')(xs[0], xs[1], xs[2], xs[3], xs[4], { training: o.training, relu: o.relu, residual: xs[5] ?? undefined }),
  scaledDotProductAttention: (xs) => fn('scaledDotProductAttention')(xs[0], xs[1], xs[2]),
  upsampleNearest: (xs, o) => fn('upsampleNearest')(xs[0], o.factor),
};

export const cases = (op: string): Case[] =>
  (JSON.parse(readFileSync(new URL('./fixtures/half.kernels.json', import.meta.url), 'utf8')) as { cases: Case[] }).cases.filter((c) => c.op === op);

export const runner = fixtureRunner(OPS, TOLERANCES, STATE_TOLERANCE);

/** One test per case of `op`, and the leak check after them. */
export function describeCases(op: string): void {
  describe(`float16 fixtures: ${op}`, () => {
    const all = cases(op);
    it('has cases', () => expect(all.length).toBeGreaterThan(0));
    for (const c of all) it(c.name, () => runner.run(c));
  });
}
