import { beforeAll, describe, expect, it } from 'vitest';
import { add, clamp, emptyCache, init, memory, mul, permute, stack, sum, tensor, tidy } from '@tmpose/tensor';
import { expectClose } from './helpers.js';

beforeAll(async () => {
  await init();
});

describe('core', () => {
  it('adds with broadcasting over a permuted view and backpropagates', async () => {
    const a = tensor([[1, 2, 3], [4, 5, 6]], undefined, { requiresGrad: true });
    const b = tensor([10, 20]);
    const c = add(permute(a, [1, 0]), b);
    expect(c.shape).toEqual([3, 2]);
    expectClose(await c.data(), [11, 24, 12, 25, 13, 26], 0);
    sum(mul(c, c)).backward();
    expectClose(await a.grad!.data(), [22, 24, 26, 48, 50, 52], 1e-5);
  });

  it('tidy frees intermediates', async () => {
    const before = memory().liveTensors;
    const x = tensor([1, 2, 3]);
    const y = tidy(() => mul(add(x, 1), 2));
    expect(memory().liveTensors).toBe(before + 2);
    expectClose(await y.data(), [4, 6, 8], 0);
    x.dispose();
    y.dispose();
    expect(memory().liveTensors).toBe(before);
  });

  it('emptyCache frees pooled buffers and later ops still run', async () => {
    tidy(() => {
      mul(tensor([1, 2, 3]), 2);
    });
    expect(memory().pooledBytes).toBeGreaterThan(0);
    emptyCache();
    expect(memory().pooledBytes).toBe(0);
    const y = mul(tensor([1, 2, 3]), 2);
    expectClose(await y.data(), [2, 4, 6], 0);
    y.dispose();
  });

  it('throws on use after dispose, naming the op', () => {
    const x = tensor([1, 2]);
    x.dispose();
    expect(() => add(x, 1)).toThrow(/add: a tensor of shape \[2\] was used after dispose/);
  });
});

describe('PyTorch-style methods, clamp and stack', () => {
  it('methods chain like the functional ops, with gradients', async () => {
    const w = tensor([[1, -2], [3, 4]], undefined, { requiresGrad: true });
    const x = tensor([[1, 2]]);
    const y = x.matmul(w).add(-6.5).relu().sum(); // x @ w = [7, 6]: only the first column stays positive
    expectClose(await y.data(), [0.5], 1e-6);
    y.backward();
    expectClose(await w.grad!.data(), [1, 0, 2, 0], 1e-6);
  });

  it('clamp passes the gradient inside the bounds (inclusive), stack adds an axis', async () => {
    const x = tensor([-2, -1, 0, 1, 2], undefined, { requiresGrad: true });
    const c = clamp(x, -1, 1);
    expectClose(await c.data(), [-1, -1, 0, 1, 1], 0);
    c.sum().backward();
    expectClose(await x.grad!.data(), [0, 1, 1, 1, 0], 0);
    const s = stack([tensor([1, 2]), tensor([3, 4])], 1);
    expect(s.shape).toEqual([2, 2]);
    expectClose(await s.data(), [1, 3, 2, 4], 0);
    expect(() => clamp(x, 2, 1)).toThrow(/clamp: min 2 is greater than max 1/);
  });
});
