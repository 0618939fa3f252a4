// float16 conv2d (forward, input and weight gradients, bias, grouped, every tuned variant), and HRNet's
// other feature-map ops in float16, upsampleNearest and dropout, against PyTorch (see half.fixtures.ts
// for the tolerances); which dtype each result and gradient has; and the errors for mixed dtypes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, batchNorm2d, conv2d, dropout, init, kernelsOf, randn, scaledDotProductAttention, tensor, tidy, upsampleNearest } from '@tmpose/tensor';
import { CONV_VARIANTS } from '../src/ops/conv2d.js';
import { hashFill } from './fixtures.js';
import { cases, describeCases, runner } from './half.fixtures.js';
import { throwsEarly } from './helpers.js';

beforeAll(async () => {
  await init();
});
afterAll(() => runner.expectNoLeaks());

describeCases('conv2d');
describeCases('upsampleNearest');

describe('float16 conv2d: every tuned variant', () => {
  runner.everyVariant('conv2d', CONV_VARIANTS.map((label) => [label, cases('conv2d')]));
});

const half = (shape: number[], seed: number, requiresGrad = false) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(Float32Array.from(hashFill(n, { seed, levels: 201, denominator: 256 })), shape, { dtype: 'float16', requiresGrad });
};

describe('kernel cache keys', () => {
  it('one WGSL source per key across float32 and float16: conv, batch norm, attention, upsample, dropout, every variant', () => {
    const leaf = (shape: number[], seed: number, dtype: 'float32' | 'float16') => {
      const t = randn(shape, { seed }).to(dtype);
      t.requiresGrad = true;
      return t;
    };
    const kernels = kernelsOf(() => {
      for (const dtype of ['float32', 'float16'] as const) {
        tidy(() => {
          const x = leaf([2, 8, 6, 8], 1, dtype);
          const outs = [1, 3].map((k) => conv2d(x, leaf([8, 8, k, k], k, dtype), leaf([8], 2, dtype), { padding: (k - 1) / 2 }));
          outs.push(upsampleNearest(conv2d(x, leaf([8, 8, 3, 3], 4, dtype), undefined, { stride: 2, padding: 1 }), 2));
          outs.push(batchNorm2d(x, null, null, null, null, { relu: true, residual: x }), dropout(x, 0.5));
          const q = leaf([1, 2, 5, 24], 5, dtype);
          outs.push(scaledDotProductAttention(q, q, q).reshape([2, 8, 1, 15]).slice(3, 0, 8).expand([2, 8, 6, 8]));
          outs.reduce((a, b) => a.add(b)).sum().backward();
        });
      }
    }, { everyVariant: true });
    const names = new Set(kernels.map((k) => `${k.name}|${k.key}`));
    for (const name of ['conv2d|f163x3s1w8', 'conv2dBackwardWeight|f163x3s1v', 'batchNormStats|f16f324', 'attentionBackwardKV|f16d24r2u', 'attentionBackwardKV|f16d32r4']) {
      expect(names, name).toContain(name);
    }
  });
});

describe('float16 dtypes', () => {
  it('conv2d: output, dx, dweight and dbias are float16', () => {
    const x = half([2, 3, 5, 5], 1, true);
    const w = half([4, 3, 3, 3], 2, true);
    const b = half([4], 3, true);
    const y = conv2d(x, w, b, { padding: 1 });
    expect(y.dtype).toBe('float16');
    y.backward(half([2, 4, 5, 5], 4));
    expect([x.grad?.dtype, w.grad?.dtype, b.grad?.dtype]).toEqual(['float16', 'float16', 'float16']);
    for (const t of [x, w, b, y]) t.dispose();
  });

  it('upsampleNearest and dropout keep float16, forward and backward', () => {
    const x = half([1, 2, 3, 3], 5, true);
    tidy(() => {
      const u = upsampleNearest(x, 2);
      const d = dropout(u, 0.3, { seed: 7 });
      expect([u.dtype, d.dtype]).toEqual(['float16', 'float16']);
      d.backward(half([1, 2, 6, 6], 6));
    });
    expect(x.grad?.dtype).toBe('float16');
    x.dispose();
  });
});

describe('float16 dropout', () => {
  // Its mask hashes (seed, index), as in float32: the float16 result is the float32 one of the same
  // (float16) values, rounded once. Odd sizes use the last half of the last word.
  for (const n of [1, 7, 1001]) {
    it(`equals float32 dropout rounded to float16, forward and backward: ${n} elements`, async () => {
      const x32 = tensor(Float32Array.from(hashFill(n, { seed: n, levels: 401, denominator: 128 })), [n], { requiresGrad: true });
      const x16 = x32.detach().to('float16');
      x16.requiresGrad = true;
      const g = tensor(Float32Array.from(hashFill(n, { seed: n + 1, levels: 301, denominator: 128 })), [n]);
      const y32 = dropout(x32, 0.3, { seed: 11 });
      const y16 = dropout(x16, 0.3, { seed: 11 });
      y32.backward(g);
      const g16 = g.to('float16');
      y16.backward(g16);
      const round = (t: Tensor) => t.to('float16');
      const [want, wantGrad] = [round(y32), round(x32.grad!)];
      expect(await y16.rawData()).toEqual(await want.rawData());
      expect(await x16.grad!.rawData()).toEqual(await wantGrad.rawData());
      for (const t of [x32, x16, g, g16, y32, y16, want, wantGrad]) t.dispose();
    });
  }
});

describe('float16 errors name the op, the dtypes and the shapes, before any GPU work', () => {
  it('conv2d with mixed dtypes', () => {
    const x = half([1, 3, 5, 5], 1);
    const w = tensor(new Float32Array(4 * 3 * 9), [4, 3, 3, 3]);
    const w16 = half([4, 3, 3, 3], 2);
    const b = tensor(new Float32Array(4), [4]);
    const i = tensor(new Int32Array(75), [1, 3, 5, 5], { dtype: 'int32' });
    const iw = tensor(new Int32Array(36), [4, 1, 3, 3], { dtype: 'int32' });
    // A float16 input takes float32 weights (half.mixed.test.ts); a float32 input with float16 weights does not.
    throwsEarly(() => conv2d(w, w16), /^conv2d: dtypes differ \(float32 \[4, 3, 3, 3\], float16 \[4, 3, 3, 3\]\); the operands share one dtype, or a float16 input takes float32 weights: convert with \.to\(\) first$/);
    throwsEarly(() => conv2d(x, w16, b), /^conv2d: dtypes differ \(float16 \[1, 3, 5, 5\], float16 \[4, 3, 3, 3\], float32 \[4\]\)/);
    throwsEarly(() => conv2d(i, iw, undefined, { groups: 3 }), /^conv2d: takes float32 or float16 tensors, got int32 \[1, 3, 5, 5\]/);
    for (const t of [x, w, w16, b, i, iw]) t.dispose();
  });

  it('upsampleNearest and dropout on int32', () => {
    const i = tensor(new Int32Array(6), [1, 1, 2, 3], { dtype: 'int32' });
    throwsEarly(() => upsampleNearest(i, 2), /^upsampleNearest: .*int32 \[1, 1, 2, 3\]/);
    throwsEarly(() => dropout(i, 0.5), /^dropout: .*int32 \[1, 1, 2, 3\]/);
    i.dispose();
  });
});
