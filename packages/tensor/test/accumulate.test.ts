// Gradients accumulated in place (autograd's pending.take): a tensor h = 2x read by two or three ops,
// where conv2d (its backward in every variant: register kernels, GEMM tiles, split-K) and layerNorm
// (every row variant) add their input gradient into the one pending on h instead of the engine
// launching an add. Each graph is checked against the same graph with h made once per consumer, where
// the engine adds the gradients at the leaf x, in float32 and float16; a pending gradient that shares
// its buffer with another (add's rule hands out one tensor for both inputs) must be left to the
// engine's add. The conv is gemm.test.ts' odd one (3x3 stride 2, 5 -> 7 at 9x11, bias): only the
// accumulating kernels are new.
import { beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, add, conv2d, init, launchesOf, layerNorm, memory, mul, randn, sum, tidy } from '@tmpose/tensor';
import { CONV_VARIANTS } from '../src/ops/conv2d.js';
import { ROW_VARIANTS } from '../src/ops/rowlanes.js';
import { forceVariant } from '../src/runtime/tune.js';
import { expectClose } from './helpers.js';

type DType = 'float32' | 'float16';
const X = [3, 5, 9, 11];
const CONV = { stride: 2, padding: 1 };

beforeAll(async () => {
  await init();
});

function normal(shape: number[], seed: number, dtype: DType, requiresGrad = false): Tensor {
  const f = randn(shape, { seed });
  const t = dtype === 'float32' ? f : f.to(dtype);
  if (t !== f) f.dispose();
  t.requiresGrad = requiresGrad;
  return t;
}

type Consumer = 'mul' | 'conv' | 'layerNorm';

/**
 * The parameters and cotangents of every consumer (seeded: the same in both graphs). The conv's weights
 * need no gradient: its weight-gradient kernels are not what is tested here.
 */
function parts(dtype: DType) {
  return {
    a: normal(X, 1, dtype),
    w: normal([7, 5, 3, 3], 2, dtype),
    b: normal([7], 3, dtype),
    gy: normal([3, 7, 5, 6], 4, dtype),
    lw: normal([11], 5, dtype, true),
    lb: normal([11], 6, dtype, true),
    gz: normal(X, 7, dtype),
  };
}
type Parts = ReturnType<typeof parts>;

/** sum(consumer(h) * cotangent): a scalar whose gradient reaches h through that consumer. */
function branch(c: Consumer, h: Tensor, p: Parts): Tensor {
  if (c === 'mul') return sum(mul(h, p.a));
  if (c === 'conv') return sum(mul(conv2d(h, p.w, p.b, CONV), p.gy));
  return sum(mul(layerNorm(h, [11], p.lw, p.lb), p.gz));
}

/**
 * The loss over the consumers, with h = 2x shared (`shared`) or made once per consumer. Doubling is
 * exact, so both graphs' x gradients differ only in where the sum is rounded.
 */
function loss(consumers: Consumer[], x: Tensor, p: Parts, shared: boolean): Tensor {
  const h = mul(x, 2);
  return consumers.map((c) => branch(c, shared ? h : mul(x, 2), p)).reduce((s, t) => add(s, t));
}

const values = async (t: Tensor) => Array.from(await t.data());

/**
 * |got - want| <= tol * max |want|: the conv2d variants sum in other orders (f32: ~1e-7 of the scale per
 * term, 63 terms); float16 rounds a sum once in place and twice through an add (2^-11 of the scale each).
 */
async function expectSameGrad(got: Tensor, want: Tensor, dtype: DType, what: string): Promise<void> {
  const w = await values(want);
  const scale = Math.max(...w.map(Math.abs));
  expectClose(await values(got), w, (dtype === 'float32' ? 1e-5 : 2 ** -9) * scale, 0, what);
}

/** The kernels (name|key) one backward of `consumers` over a shared h launches (nothing runs). */
function backwardLaunches(consumers: Consumer[], dtype: DType): string[] {
  const x = normal(X, 8, dtype, true);
  const p = parts(dtype);
  const names = tidy(() => {
    const l = loss(consumers, x, p, true);
    return launchesOf(() => l.backward()).map((k) => `${k.kernel.name}|${k.kernel.key}`);
  });
  for (const t of [x, ...Object.values(p)]) t.dispose();
  return names;
}

const count = (names: string[], prefix: string) => names.filter((n) => n.startsWith(prefix)).length;

// Backward runs the consumers' rules last one first: with this order mul's gradient (a buffer of its
// own) is pending on h when conv2d's rule runs, and conv2d's sum when layerNorm's does.
const THREE: Consumer[] = ['layerNorm', 'conv', 'mul'];

describe('gradients accumulated in place', () => {
  for (const dtype of ['float32', 'float16'] as const) {
    it(`${dtype}: conv2d and layerNorm add into the pending gradient; one reduction for layerNorm's weight and bias`, () => {
      const three = backwardLaunches(THREE, dtype);
      expect(count(three, 'elementwise_add|'), 'engine adds').toBe(0);
      expect(three.filter((n) => /^conv2dBackwardData(Tiled)?\|.*a($|\|)/.test(n)), 'accumulating conv2d input gradients').toHaveLength(1);
      expect(three.filter((n) => /^layerNormBackward\|.*a$/.test(n)), 'accumulating layerNorm input gradients').toHaveLength(1);
      // Before: an add for each of the two later gradients.
      const alone = backwardLaunches(['layerNorm'], dtype);
      expect(count(alone, 'layerNorm'), 'one layerNorm backward kernel: dx and the weight and bias partials').toBe(1);
      // The weight and bias gradients' one sum of the partials, held back until read (here: the recording's end).
      expect(count(alone, 'heldSums|'), 'layerNorm weight and bias sums').toBe(1);
    });

    // The forward runs the default conv kernel; the backward each variant, accumulating. The reference
    // graph runs the default kernels and the engine's adds.
    for (const label of CONV_VARIANTS) {
      it(`${dtype}: x -> 2x read by mul, conv2d and layerNorm, conv2d backward variant ${label}, matches the engine's adds`, async () => {
        const before = memory().liveTensors;
        const p = parts(dtype);
        const x = normal(X, 8, dtype, true);
        const x2 = normal(X, 8, dtype, true);
        const l = tidy(() => loss(THREE, x, p, true));
        forceVariant('conv2d', label);
        try {
          l.backward();
        } finally {
          forceVariant('conv2d', null);
        }
        tidy(() => loss(THREE, x2, p, false).backward());
        await expectSameGrad(x.grad!, x2.grad!, dtype, 'x.grad');
        for (const t of [l, x, x2, ...Object.values(p)]) t.dispose();
        expect(memory().liveTensors).toBe(before);
      });
    }

    it(`${dtype}: layerNorm's accumulating input gradient in every row variant`, async () => {
      for (const variant of ROW_VARIANTS) {
        const p = parts(dtype);
        const x = normal(X, 8, dtype, true);
        const x2 = normal(X, 8, dtype, true);
        const l = tidy(() => loss(['layerNorm', 'mul'], x, p, true));
        forceVariant('rows', variant);
        try {
          l.backward();
        } finally {
          forceVariant('rows', null);
        }
        tidy(() => loss(['layerNorm', 'mul'], x2, p, false).backward());
        await expectSameGrad(x.grad!, x2.grad!, dtype, `x.grad, row variant ${variant}`);
        for (const t of [l, x, x2, ...Object.values(p)]) t.dispose();
      }
    });

    it(`${dtype}: two consumers in either order (the first gradient taken by the second)`, async () => {
      for (const consumers of [['conv', 'mul'], ['mul', 'conv'], ['layerNorm', 'mul'], ['conv', 'layerNorm'], ['layerNorm', 'conv']] as Consumer[][]) {
        const p = parts(dtype);
        const x = normal(X, 8, dtype, true);
        const x2 = normal(X, 8, dtype, true);
        tidy(() => loss(consumers, x, p, true).backward());
        tidy(() => loss(consumers, x2, p, false).backward());
        await expectSameGrad(x.grad!, x2.grad!, dtype, `x.grad via ${consumers.join(', ')}`);
        for (const t of [x, x2, ...Object.values(p)]) t.dispose();
      }
    });

    it(`${dtype}: a pending gradient that shares its buffer (add's, with a leaf) is left to the engine's add`, async () => {
      // h + k hands one gradient to both h and the leaf k, pending when conv2d's rule runs: conv2d must not write into it.
      const run = (shared: boolean, p: Parts, x: Tensor, k: Tensor) => {
        const h = mul(x, 2);
        return add(branch('conv', shared ? h : mul(x, 2), p), sum(mul(add(h, k), p.gz)));
      };
      const p = parts(dtype);
      const [x, x2, k] = [normal(X, 8, dtype, true), normal(X, 8, dtype, true), normal(X, 9, dtype, true)];
      const k2 = k.detach();
      tidy(() => {
        const l = run(true, p, x, k);
        const names = launchesOf(() => l.backward()).map((d) => `${d.kernel.name}|${d.kernel.key}`);
        expect(count(names, 'elementwise_add|'), 'the engine adds the conv2d gradient').toBe(1);
        expect(names.filter((n) => /^conv2dBackwardData\|.*a$/.test(n)), 'accumulating conv2d input gradients').toHaveLength(0);
      });
      for (const t of [x, k]) t.grad?.dispose();
      for (const t of [x, k]) t.grad = null;
      tidy(() => run(true, p, x, k).backward());
      tidy(() => run(false, p, x2, k2).backward());
      await expectSameGrad(x.grad!, x2.grad!, dtype, 'x.grad');
      expect(await values(k.grad!), "k's gradient (the shared buffer) untouched").toEqual(await values(p.gz));
      for (const t of [x, x2, k, k2, ...Object.values(p)]) t.dispose();
    });
  }
});
