// float16 batch norm against PyTorch (see half.fixtures.ts for the tolerances): a float16 input with
// float32 weight, bias and running statistics (mixed precision: master weights stay float32), or all
// float16; training and eval, the fused ReLU and residual + ReLU, vec4 and scalar planes, HRNet's planes;
// which dtype each result and gradient has; nn.BatchNorm2d's statistics and batch counter on float16
// input; and the errors for mixed dtypes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchNorm2d, init, nn, tensor } from '@tmpose/tensor';
import { BATCH_NORM_VARIANTS } from '../src/ops/batchnorm.js';
import { hashFill } from './fixtures.js';
import { cases, describeCases, runner } from './half.fixtures.js';
import { expectClose, throwsEarly } from './helpers.js';

beforeAll(async () => {
  await init();
});
afterAll(() => runner.expectNoLeaks());

describeCases('batchNorm2d');

describe('float16 batch norm: every tuned reduction variant (training cases: eval reduces nothing)', () => {
  const training = cases('batchNorm2d').filter((c) => c.name.startsWith('batchNorm2d/training'));
  runner.everyVariant('batchNorm', BATCH_NORM_VARIANTS.map((v) => [v, training]));
});

const values = (n: number, seed: number) => Float32Array.from(hashFill(n, { seed, levels: 401, denominator: 128 }));

describe('float16 batch norm: dtypes', () => {
  it('float16 input, float32 parameters: y and dx float16, dweight and dbias float32', () => {
    const x = tensor(values(2 * 3 * 4 * 4, 1), [2, 3, 4, 4], { dtype: 'float16', requiresGrad: true });
    const r = tensor(values(2 * 3 * 4 * 4, 2), [2, 3, 4, 4], { dtype: 'float16', requiresGrad: true });
    const w = tensor([1, 0.5, 2], [3], { requiresGrad: true });
    const b = tensor([0, 0.25, -1], [3], { requiresGrad: true });
    const y = batchNorm2d(x, w, b, null, null, { relu: true, residual: r });
    expect(y.dtype).toBe('float16');
    y.backward(tensor(values(2 * 3 * 4 * 4, 3), [2, 3, 4, 4], { dtype: 'float16' }));
    expect([x.grad?.dtype, r.grad?.dtype, w.grad?.dtype, b.grad?.dtype]).toEqual(['float16', 'float16', 'float32', 'float32']);
    for (const t of [x, r, w, b, y]) t.dispose();
  });

  it('all float16: dweight and dbias float16', () => {
    const x = tensor(values(2 * 3 * 5, 4), [2, 3, 5], { dtype: 'float16', requiresGrad: true });
    const w = tensor([1, 0.5, 2], [3], { dtype: 'float16', requiresGrad: true });
    const b = tensor([0, 0.25, -1], [3], { dtype: 'float16', requiresGrad: true });
    const y = batchNorm2d(x, w, b, null, null);
    y.backward(tensor(values(30, 5), [2, 3, 5], { dtype: 'float16' }));
    expect([y.dtype, x.grad?.dtype, w.grad?.dtype, b.grad?.dtype]).toEqual(['float16', 'float16', 'float16', 'float16']);
    for (const t of [x, w, b, y]) t.dispose();
  });

  it('nn.BatchNorm2d on float16 input updates its float32 statistics and counts the batch as on float32', async () => {
    const shape = [3, 5, 4, 6];
    const n = 3 * 5 * 4 * 6;
    const [bn16, bn32] = [new nn.BatchNorm2d(5), new nn.BatchNorm2d(5)];
    const x32 = tensor(values(n, 6), shape);
    const x16 = x32.to('float16');
    for (let i = 0; i < 2; i++) {
      bn16.forward(x16).dispose();
      bn32.forward(x32).dispose();
    }
    expect(await bn16.num_batches_tracked!.data()).toEqual(new Int32Array([2]));
    expect(bn16.running_mean!.dtype).toBe('float32');
    // The same float16 values, statistics in float32 both ways.
    expectClose(await bn16.running_mean!.data(), await bn32.running_mean!.data(), 1e-6, 1e-6, 'running mean');
    expectClose(await bn16.running_var!.data(), await bn32.running_var!.data(), 1e-6, 1e-6, 'running var');
    bn16.eval();
    bn32.eval();
    const [y16, y32] = [bn16.forward(x16), bn32.forward(x32)];
    expect(y16.dtype).toBe('float16');
    expectClose(await y16.data(), await y32.data(), 1e-6, 2 ** -10, 'eval output');
    for (const t of [x32, x16, y16, y32, ...bn16.parameters(), ...bn32.parameters(), ...bn16.buffers(), ...bn32.buffers()]) t.dispose();
  });
});

describe('float16 batch norm: errors name the op, the dtypes and the shapes, before any GPU work', () => {
  it('float32 input with float16 parameters, mixed parameters, a residual of another dtype, int32 input', () => {
    const x32 = tensor(values(24, 7), [2, 3, 2, 2]);
    const x16 = x32.to('float16');
    const w16 = tensor([1, 1, 1], [3], { dtype: 'float16' });
    const b32 = tensor([0, 0, 0], [3]);
    const i = tensor(new Int32Array(24), [2, 3, 2, 2], { dtype: 'int32' });
    throwsEarly(() => batchNorm2d(x32, w16, null, null, null), /^batchNorm2d: float16 weight, bias or statistics need a float16 input, got float32 \[2, 3, 2, 2\]$/);
    throwsEarly(() => batchNorm2d(x16, w16, b32, null, null), /^batchNorm2d: dtypes differ \(float16 \[3\], float32 \[3\]\)/);
    throwsEarly(() => batchNorm2d(x16, null, null, null, null, { relu: true, residual: x32 }), /^batchNorm2d: dtypes differ \(float16 \[2, 3, 2, 2\], float32 \[2, 3, 2, 2\]\)/);
    throwsEarly(() => batchNorm2d(i, null, null, null, null), /^batchNorm2d: takes float32 or float16 tensors, got int32 \[2, 3, 2, 2\]/);
    for (const t of [x32, x16, w16, b32, i]) t.dispose();
  });
});
