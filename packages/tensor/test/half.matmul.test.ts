// float16 matmul and linear against PyTorch, forward and backward, in every read mode (vec4 along k, m or
// n, scalar loads), with the fallback variant and with every tuned variant forced; and the dtype in the
// tuning problem. Fixtures: scripts/gen_half_kernel_fixtures.py (float16-rounded inputs and upstream
// gradient, float64 references).
import { beforeAll, describe, expect, it } from 'vitest';
import { init, matmul, randn, sync } from '@tmpose/tensor';
import { type Case, type OpCall, fixtureRunner, loadCases, tol, viewShape } from './fixtures.js';
import { matmulVariantLabels } from '../src/ops/matmul.js';
import { tunablesOf } from '../src/runtime/tune.js';
import { fn } from './helpers.js';

// Tolerance in units of float16's epsilon E = 2^-10: |got - want| <= atol + atolPerK * k + rtol * |want|.
// Products and sums are f32 (their error, ~k * 2^-24 of the terms, is far below E); the result is rounded
// to f16 once, when stored: E/2 of itself, E if the conversion rounds the other way, hence rtol E. A
// gradient summed over broadcast batch dims (sumTo) is rounded twice. atol and per k: a dot product of k
// O(1) terms may cancel to a result much smaller than its terms, and a second rounding is relative to
// the partial results.
const E = 2 ** -10;
const GEMM = tol(E / 8, E, E / 32);
const OPS: Record<string, OpCall> = {
  matmul: (xs) => fn('matmul')(xs[0], xs[1]),
  linear: (_, __, n) => fn('linear')(n.x, n.weight, n.bias),
};
const cases = loadCases('half.ops').filter((c) => c.op in OPS);
const runner = fixtureRunner(OPS, { matmul: GEMM, linear: GEMM });

beforeAll(async () => {
  await init();
});

describe('float16 matmul and linear against PyTorch (the variant small problems get)', () => {
  for (const c of cases) it(c.name, () => runner.run(c));
});

describe('float16 matmul and linear with every tuned variant (register rows x column lanes; GEMM-core tiles, split-K)', () => {
  // As ops.fixtures.test.ts: a label runs on the cases where every product, forward and backward, has it.
  const widths = (c: Case) => {
    const named = Object.fromEntries(c.inputs.map((inp, i) => [inp.name ?? i, viewShape(inp.shape, inp.view)]));
    if (c.op === 'linear') return [named.weight![0]!, named.x!.at(-1)!];
    const [a, b] = [named[0]!, named[1]!];
    return [b.length === 1 ? 1 : b.at(-1)!, a.at(-1)!];
  };
  const labels = [...new Set(cases.flatMap((c) => widths(c).flatMap(matmulVariantLabels)))].sort();
  runner.everyVariant('matmul', labels.map((label) => [label, cases.filter((c) => widths(c).every((w) => matmulVariantLabels(w).includes(label)))]));
  it('every variant label is exercised, and no case leaves live tensor handles behind', () => {
    expect(labels).toEqual(['4x16', '4x4', '4x8', '8x16', '8x4', '8x8', 'g128x64', 'g128x64s', 'g32x64', 'g64x64', 'g64x64s']);
    for (const label of labels) expect(cases.some((c) => widths(c).every((w) => matmulVariantLabels(w).includes(label))), label).toBe(true);
    runner.expectNoLeaks();
  });
});

describe('float16 and float32 are tuned apart', () => {
  it('the tuning problem names the dtype', async () => {
    const problems = (dtype: 'float32' | 'float16') => {
      const a = randn([64, 96], { seed: 1 }).to(dtype);
      const b = randn([96, 80], { seed: 2 }).to(dtype);
      const found = tunablesOf(() => matmul(a, b).dispose()).map((t) => t.problem);
      a.dispose();
      b.dispose();
      return found;
    };
    const [f32, f16] = [problems('float32'), problems('float16')];
    await sync();
    expect(f32).toEqual(['matmul|f32|kn|M64|N128|K128|B1']);
    expect(f16).toEqual(['matmul|f16|kn|M64|N128|K128|B1']);
  });
});
