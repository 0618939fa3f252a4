// The pipeline cache keys a compiled kernel by name|key and never looks at the WGSL again: two
// sources under one key would silently run whichever compiled first. kernelsOf() checks every kernel
// it records; here it records the kernels of every op family, forward and backward, over shapes,
// strides, dtypes and every tuned variant, and the check must find no key with two sources.
import { beforeAll, describe, expect, it } from 'vitest';
import * as T from '@tmpose/tensor';
import { type Tensor, init, kernelsOf, nn, randn, sum, tensor, tidy } from '@tmpose/tensor';
import { dispatch } from '../src/runtime/queue.js';
import { allocate, release } from '../src/runtime/pool.js';

beforeAll(async () => {
  await init();
});

const leaf = (shape: number[], seed: number) => randn(shape, { seed, requiresGrad: true });

/** Records fn's kernels (forward and the backward of its sum) with every tuned variant. */
function kernelsOfLoss(fn: () => Tensor): number {
  return kernelsOf(() => tidy(() => sum(fn()).backward()), { everyVariant: true }).length;
}

describe('a kernel cache key stands for one WGSL source', () => {
  it('elementwise, reductions and copies over broadcasts, views, ranks 0-5 and int32', () => {
    const n = kernelsOfLoss(() => {
      const a = leaf([2, 3, 4], 1);
      const b = leaf([3, 1], 2);
      const c = leaf([5], 3);
      const i = tensor(new Int32Array([1, 2, 3]), [3], { dtype: 'int32' });
      const parts = [
        T.add(a, b), T.mul(a, T.transpose(a, 0, 2).reshape([2, 3, 4])), T.sub(T.permute(a, [2, 0, 1]), 1).reshape([2, 3, 4]),
        T.div(a, T.add(T.abs(a), 1)), T.gelu(a), T.relu(a), T.exp(T.neg(T.abs(a))), T.maximum(a, b), T.minimum(a, T.mul(a, 0.5)),
        T.clamp(a, -1, 1), T.mean(a, [0, 2], { keepdim: true }).expand([2, 3, 4]), T.max(a, 1, { keepdim: true }).expand([2, 3, 4]),
        T.softmax(a, -1), T.logSoftmax(a, 1), T.layerNorm(a, [4]),
        T.concat([a, a], 0).reshape([4, 3, 4]).slice(0, 0, 2), T.stack([a, a], 0).sum(0),
      ];
      T.add(T.eq(i, i), i);
      T.sum(T.reshape(c, [1, 5, 1, 1, 1]).expand([2, 5, 2, 1, 3]));
      return parts.reduce((x, y) => T.add(x, y));
    });
    expect(n).toBeGreaterThan(30);
  });

  it('matmul and linear in every read mode (vec4 along k or m, scalar), with bias, batched, every variant', () => {
    const n = kernelsOfLoss(() => {
      const a = leaf([2, 36, 40], 4);
      const b = leaf([40, 44], 5);
      const odd = leaf([7, 13], 6);
      const w = leaf([35, 13], 7);
      const bias = leaf([35], 8);
      return T.add(
        T.matmul(a, b).sum(),
        T.add(T.linear(odd, w, bias).sum(), T.matmul(T.transpose(odd, 0, 1), odd).sum()),
      );
    });
    expect(n).toBeGreaterThan(10);
  });

  it('conv2d geometries, batch norm paths and epilogues, attention head dims, gather and upsample', () => {
    const n = kernelsOfLoss(() => {
      const x = leaf([2, 8, 12, 10], 9);
      const outs: Tensor[] = [];
      for (const [k, stride, pad] of [[1, 1, 0], [3, 1, 1], [3, 2, 1], [5, 1, 2]] as const) {
        outs.push(T.conv2d(x, leaf([6, 8, k, k], 10 + k), undefined, { stride, padding: pad }).sum());
      }
      const bn = new nn.BatchNorm2d(8);
      outs.push(bn.forward(x).sum(), bn.forwardReLU(x).sum(), bn.forwardReLU(x, x).sum(), bn.forward(T.slice(x, 3, 0, 7)).sum());
      for (const D of [16, 24, 32, 64]) {
        const q = leaf([1, 2, 9, D], 20 + D);
        outs.push(T.scaledDotProductAttention(q, q, q).sum());
      }
      outs.push(T.gatherTokens(leaf([2, 6, 4], 30), [[0, 2, 2], [5, 1, 0]]).sum(), T.upsampleNearest(x, 2).sum());
      return outs.reduce((a, b) => T.add(a, b));
    });
    expect(n).toBeGreaterThan(20);
  });

  it('every kernel declares named uniforms, except those still on numbered slots (matmul, conv2d, optimizers)', () => {
    const numbered = /^(matmul|conv2d|adam_step|sgd_step)/;
    const leafOf = (shape: number[], seed: number) => leaf(shape, seed);
    const kernels = kernelsOf(() => tidy(() => {
      const x = leafOf([2, 8, 12, 8], 1);
      const i = tensor(new Int32Array([1, -2, 3]), [3], { dtype: 'int32' });
      const parts = [
        new nn.BatchNorm2d(8).forwardReLU(x, x).sum(), T.layerNorm(x, [8]).sum(), T.softmax(x, 1).sum(), T.logSoftmax(x, -1).sum(),
        T.gatherTokens(leafOf([2, 6, 4], 2), [[0, 1], [2, 3]]).sum(), T.upsampleNearest(x, 2).sum(), T.dropout(x, 0.2).sum(),
        T.mean(T.permute(x, [3, 1, 0, 2]), [1, 2]).sum(), T.max(x, 0).sum(), T.mul(T.add(x, 1), T.transpose(x, 2, 3).reshape(x.shape)).sum(),
        T.sum(T.full([5], 2)), T.sum(T.arange(0, 4).to('float32')), T.sum(x.to('float16').to('float32')), T.sum(T.add(i, 1).to('float32')),
        T.concat([x, x], 1).sum(),
        ...[8, 32, 64].map((D) => T.scaledDotProductAttention(leafOf([1, 2, 9, D], D), leafOf([1, 2, 9, D], D + 1), leafOf([1, 2, 9, D], D + 2)).sum()),
      ];
      sum(parts.reduce((a, b) => T.add(a, b))).backward();
    }), { everyVariant: true });
    const img = { width: 5, height: 4, data: new Uint8Array(60) };
    kernels.push(...kernelsOf(() => void T.warpAffineCrops(img, [[1, 0, 0, 0, 1, 0]], [3, 3])));
    const slots = [...new Set(kernels.filter((k) => !k.uniforms && !numbered.test(k.name)).map((k) => k.name))];
    expect(kernels.length).toBeGreaterThan(25);
    expect(slots, 'kernels reading numbered slots pu(i)').toEqual([]);
  });

  it('is checked: two sources under one key throw', () => {
    const kernel = (body: string) => ({
      name: 'keyCheck',
      key: 'same',
      bindings: [{ name: 'O', type: 'f32', access: 'read_write' as const }],
      body: () => `@compute @workgroup_size(1) fn main() { ${body} }`,
    });
    const scratch = allocate(16);
    try {
      expect(() => kernelsOf(() => {
        dispatch(kernel('O[0] = 1.0;'), [scratch], [], [1]);
        dispatch(kernel('O[0] = 2.0;'), [scratch], [], [1]);
      })).toThrow(/kernel 'keyCheck\|same': one cache key, two different WGSL sources/);
    } finally {
      release(scratch, 0);
    }
  });
});
