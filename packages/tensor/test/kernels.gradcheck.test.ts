// Finite-difference checks of the TMPose kernels' backward rules (conv2d, batchNorm2d in training mode,
// scaledDotProductAttention, gatherTokens with repeated indices, upsampleNearest), on the real WebGPU
// device in float32 (the method and its tolerances are in gradcheck.ts). conv2d, gatherTokens and
// upsampleNearest are linear in each input, so their finite differences have no truncation error at all.
import { beforeAll, describe, expect, it } from 'vitest';
import * as api from '@tmpose/tensor';
import { init, tensor } from '@tmpose/tensor';
import { gradcheck, normal } from './gradcheck.js';
import { fn } from './helpers.js';

beforeAll(async () => {
  await init();
});

// ---------------------------------------------------------------------------------------------------
const conv = fn('conv2d');
const bn = fn('batchNorm2d');
const attention = fn('scaledDotProductAttention');
const gather = fn('gatherTokens');
const upsample = fn('upsampleNearest');

describe('gradcheck: conv2d (input, weight, bias)', () => {
  it('3x3, stride 2, padding 1: 2x3x7x5 -> 4', () =>
    gradcheck(([x, w, b]) => conv(x, w, b, { stride: 2, padding: 1 }), [normal([2, 3, 7, 5], 201), normal([4, 3, 3, 3], 202, 0.3), normal([4], 203)]));
  it('3x3, stride 1, padding 1, 17 channels: 1x17x5x3 -> 3', () =>
    gradcheck(([x, w]) => conv(x, w, undefined, { padding: 1 }), [normal([1, 17, 5, 3], 204), normal([3, 17, 3, 3], 205, 0.3)]));
  it('5x5, groups 2, stride 2, padding [2, 1]: 1x4x6x5 -> 4', () =>
    gradcheck(([x, w, b]) => conv(x, w, b, { stride: 2, padding: [2, 1], groups: 2 }), [normal([1, 4, 6, 5], 206), normal([4, 2, 5, 5], 207, 0.3), normal([4], 208)]));
  it('1x1 on a permuted NHWC view: 2x3x5x7 -> 5', () =>
    gradcheck(([x, w]) => conv(api.permute(x, [0, 3, 1, 2]), w), [normal([2, 5, 7, 3], 209), normal([5, 3, 1, 1], 210, 0.5)]));
});

describe('gradcheck: batchNorm2d in training mode (input, weight, bias)', () => {
  it('2x3x7x5', () =>
    gradcheck(([x, w, b]) => bn(x, w, b, null, null, { training: true }), [normal([2, 3, 7, 5], 211, 2, 0.5), normal([3], 212, 0.3, 1), normal([3], 213, 0.3)]));
  it('1x1 spatial, batch 6, 4 channels, with running stats being updated', () =>
    gradcheck(([x, w, b]) => {
      const rm = api.zeros([4]);
      const rv = api.ones([4]);
      return bn(x, w, b, rm, rv, { training: true, momentum: 0.3 });
    }, [normal([6, 4, 1, 1], 214), normal([4], 215, 0.3, 1), normal([4], 216, 0.3)]));
  it('affine off, eps 1e-3, permuted NHWC view: 3x2x4x5', () =>
    gradcheck(([x]) => bn(api.permute(x, [0, 3, 1, 2]), null, null, null, null, { eps: 1e-3 }), [normal([3, 4, 5, 2], 217)]));
  it('plane a multiple of 4: 2x3x4x4', () =>
    gradcheck(([x, w, b]) => bn(x, w, b, null, null), [normal([2, 3, 4, 4], 218), normal([3], 219, 0.3, 1), normal([3], 220, 0.3)]));
});

describe('gradcheck: scaledDotProductAttention (q, k, v)', () => {
  it('B2 H2 L7 D8', () => gradcheck(([q, k, v]) => attention(q, k, v), [normal([2, 2, 7, 8], 221), normal([2, 2, 7, 8], 222), normal([2, 2, 7, 8], 223)]));
  it('B1 H1 L9 D16, scale 0.5 (peaked softmax)', () =>
    gradcheck(([q, k, v]) => attention(q, k, v, { scale: 0.5 }), [normal([1, 1, 9, 16], 224), normal([1, 1, 9, 16], 225), normal([1, 1, 9, 16], 226)]));
  it('q, k, v split from one qkv projection [B, L, 3*H, D] (strided views, no copies)', () =>
    gradcheck(([qkv]) => {
      const part = (i: number) => api.permute(api.slice(qkv, 2, 2 * i, 2 * i + 2), [0, 2, 1, 3]);
      return attention(part(0), part(1), part(2));
    }, [normal([2, 5, 6, 8], 227)]));
});

describe('gradcheck: gatherTokens (deterministic backward)', () => {
  it('shared x 1x7x5, per-sample host lists with repeats', () =>
    gradcheck(([x]) => gather(x, [[0, 3, 3, 6], [3, 0, 0, 2]]), [normal([1, 7, 5], 231)]));
  it('x 2x6x4, one int32 index [5] with repeats for every sample', () =>
    gradcheck(([x]) => {
      const idx = tensor(new Int32Array([5, 5, 1, 5, 0]), [5], { dtype: 'int32' });
      return gather(x, idx);
    }, [normal([2, 6, 4], 232)]));
  it('is deterministic: a shared 1x16x8 x gathered 64 times per sample for 8 samples gives the same gradient bits every time', async () => {
    const xd = normal([1, 16, 8], 234);
    const x = tensor(xd.values, xd.shape, { requiresGrad: true });
    const lists = Array.from({ length: 8 }, (_, b) => Array.from({ length: 64 }, (_, k) => (k * 7 + b * 3) % 16));
    const gd = normal([8, 64, 8], 235);
    const g = tensor(gd.values, gd.shape);
    const grads: Float32Array[] = [];
    for (let run = 0; run < 3; run++) {
      const y = gather(x, lists);
      y.backward(g);
      grads.push(await x.grad!.data());
      x.grad!.dispose();
      x.grad = null;
      y.dispose();
    }
    expect(grads[1]).toEqual(grads[0]);
    expect(grads[2]).toEqual(grads[0]);
    x.dispose();
    g.dispose();
  });
  it('transposed view x, per-sample int32 index [2, 3]', () =>
    gradcheck(([x]) => {
      const idx = tensor(new Int32Array([4, 4, 0, 2, 1, 2]), [2, 3], { dtype: 'int32' });
      return gather(api.transpose(x, 0, 1), idx);
    }, [normal([5, 2, 3], 233)]));
});

describe('gradcheck: upsampleNearest', () => {
  it('factor 2 on 2x3x5x3', () => gradcheck(([x]) => upsample(x, 2), [normal([2, 3, 5, 3], 241)]));
  it('factor 3 on a permuted view', () => gradcheck(([x]) => upsample(api.permute(x, [0, 3, 1, 2]), 3), [normal([1, 3, 5, 2], 242)]));
});

describe('gradcheck: an HRNet-style composite', () => {
  it('conv2d (stride 2) -> batchNorm2d -> upsampleNearest x2 -> gelu', () =>
    gradcheck(([x, w, g, b]) => api.gelu(upsample(bn(conv(x, w, undefined, { stride: 2, padding: 1 }), g, b, null, null), 2)),
      [normal([2, 3, 7, 5], 251), normal([4, 3, 3, 3], 252, 0.3), normal([4], 253, 0.3, 1), normal([4], 254, 0.3)]));
});
