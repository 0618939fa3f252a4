// float16 fused attention against PyTorch (see half.fixtures.ts for the tolerances, and the generator for
// the per-case bound on dq and dk): head dims 16 to 128 (the unrolled and the rolled backward kernels,
// every head-dim class), odd token counts, L = 1, q/k/v as strided views of one qkv tensor and at an
// offset, TMPose's 170 tokens, with every forward variant (rows per thread, tiles) and every backward one; which dtype the output and the
// gradients have; and the errors for mixed dtypes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, scaledDotProductAttention, tensor } from '@tmpose/tensor';
import { ATTENTION_VARIANTS } from '../src/ops/attention.js';
import { hashFill } from './fixtures.js';
import { cases, describeCases, runner } from './half.fixtures.js';
import { throwsEarly } from './helpers.js';

beforeAll(async () => {
  await init();
});
afterAll(() => runner.expectNoLeaks());

describeCases('scaledDotProductAttention');

describe('float16 attention: every tuned variant', () => {
  // The 64-query tiles on the D = 24 cases only (the code is the 32-query tiles' with another block
  // size; attention.tiles.test.ts has more): each tile compiles a kernel per dtype and head-dim class.
  const attention = cases('scaledDotProductAttention');
  const variants = ATTENTION_VARIANTS.map((label): [string, typeof attention] => [label, label === 'tile64' ? attention.filter((c) => / D24\b/.test(c.name)) : attention]);
  runner.everyVariant('attention', variants);
  runner.everyVariant('attentionBackward', variants);
});

const half = (shape: number[], seed: number, requiresGrad = false) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(Float32Array.from(hashFill(n, { seed, levels: 401, denominator: 128 })), shape, { dtype: 'float16', requiresGrad });
};

describe('float16 attention: dtypes and errors', () => {
  it('the output and dq, dk, dv are float16', () => {
    const [q, k, v] = [1, 2, 3].map((s) => half([1, 2, 5, 8], s, true));
    const o = scaledDotProductAttention(q!, k!, v!);
    expect(o.dtype).toBe('float16');
    o.backward(half([1, 2, 5, 8], 4));
    expect([q!.grad?.dtype, k!.grad?.dtype, v!.grad?.dtype]).toEqual(['float16', 'float16', 'float16']);
    for (const t of [q!, k!, v!, o]) t.dispose();
  });

  it('mixed dtypes are one error naming the op, the dtypes and the shapes, before any GPU work', () => {
    const q = half([1, 2, 5, 8], 1);
    const k = tensor(new Float32Array(80), [1, 2, 5, 8]);
    throwsEarly(() => scaledDotProductAttention(q, k, q), /^scaledDotProductAttention: dtypes differ \(float16 \[1, 2, 5, 8\], float32 \[1, 2, 5, 8\], float16 \[1, 2, 5, 8\]\); convert with \.to\(\) first$/);
    q.dispose();
    k.dispose();
  });
});
