// Finite-difference checks of the backward rules that are easy to get subtly wrong, on the real WebGPU
// device in float32 (the method and its tolerances are in gradcheck.ts). Data stays away from kinks
// (amax ties).
import { beforeAll, describe, it } from 'vitest';
import * as api from '@tmpose/tensor';
import { init } from '@tmpose/tensor';
import { distinct, gradcheck, normal, uniform } from './gradcheck.js';
import { fn } from './helpers.js';

beforeAll(async () => {
  await init();
});

// ---------------------------------------------------------------------------------------------------
describe('gradcheck: softmax and logSoftmax', () => {
  for (const op of ['softmax', 'logSoftmax']) {
    it(`${op} over the last axis, 7x13`, () => gradcheck(([x]) => fn(op)(x, -1), [normal([7, 13], 11)]));
    it(`${op} over a middle axis, 3x5x7 axis 1`, () => gradcheck(([x]) => fn(op)(x, 1), [normal([3, 5, 7], 12)]));
    it(`${op} over axis 0 of a transposed view`, () =>
      gradcheck(([x]) => fn(op)(api.transpose(x, 0, 1), 0), [normal([13, 6], 13)]));
    it(`${op} with spread-out logits (x3), 5x129`, () => gradcheck(([x]) => fn(op)(x, -1), [normal([5, 129], 14, 3)]));
  }
});

describe('gradcheck: layerNorm (input, weight, bias)', () => {
  it('7x13 over [13]', () =>
    gradcheck(([x, w, b]) => fn('layerNorm')(x, [13], w, b), [normal([7, 13], 21, 2, 0.5), normal([13], 22, 0.3, 1), normal([13], 23, 0.3)]));
  it('2x3x7 over [3, 7]', () =>
    gradcheck(([x, w, b]) => fn('layerNorm')(x, [3, 7], w, b), [normal([2, 3, 7], 24), normal([3, 7], 25, 0.3, 1), normal([3, 7], 26, 0.3)]));
  it('no affine, eps 1e-3, transposed input', () =>
    gradcheck(([x]) => fn('layerNorm')(api.transpose(x, 0, 1), [5], undefined, undefined, 1e-3), [normal([5, 9], 27)]));
  it('many rows (weight and bias gradients summed over 65 rows)', () =>
    gradcheck(([x, w, b]) => fn('layerNorm')(x, [11], w, b), [normal([65, 11], 28), normal([11], 29, 0.3, 1), normal([11], 30, 0.3)]));
});

describe('gradcheck: gelu', () => {
  it('7x13 over [-4, 4]', () => gradcheck(([x]) => api.gelu(x), [uniform([7, 13], 31, -4, 4)]));
  it('around 0 and on a permuted view', () =>
    gradcheck(([x]) => api.gelu(api.permute(x, [2, 0, 1])), [uniform([3, 5, 7], 32, -0.5, 0.5)]));
});

describe('gradcheck: max (amax, no ties)', () => {
  it('7x13 axis 1 keepdim', () => gradcheck(([x]) => api.max(x, 1, { keepdim: true }), [distinct([7, 13], 41)]));
  it('3x5x7 axes [0, 2]', () => gradcheck(([x]) => api.max(x, [0, 2]), [distinct([3, 5, 7], 42)]));
  it('all axes of 129', () => gradcheck(([x]) => api.max(x), [distinct([129], 43)]));
  it('axis 0 of a transposed view, composed with mul', () =>
    gradcheck(([x]) => api.mul(api.max(api.transpose(x, 0, 1), 0), 2), [distinct([7, 13], 44)]));
});

describe('gradcheck: broadcasting reductions and broadcast backward', () => {
  it('sum over [0, 2] keepdim, 3x5x7', () => gradcheck(([x]) => api.sum(x, [0, 2], { keepdim: true }), [normal([3, 5, 7], 51)]));
  it('mean over axis 1, no keepdim, 3x5x7', () => gradcheck(([x]) => api.mean(x, 1), [normal([3, 5, 7], 52)]));
  it('x * sum(x, 1, keepdim) (a keepdim result broadcast back)', () =>
    gradcheck(([x]) => api.mul(x, api.sum(x, 1, { keepdim: true })), [normal([7, 13], 53)]));
  it('x - mean(x, -1, keepdim), squared', () =>
    gradcheck(([x]) => {
      const c = api.sub(x, api.mean(x, -1, { keepdim: true }));
      return api.mul(c, c);
    }, [normal([5, 13], 54)]));
  it('mean over all axes with keepdim, then broadcast add', () =>
    gradcheck(([x, y]) => api.add(y, api.mean(x, undefined, { keepdim: true })), [normal([3, 7], 55), normal([2, 3, 7], 56)]));
  it('add (7x1) + (1x13)', () => gradcheck(([a, b]) => api.add(a, b), [normal([7, 1], 57), normal([1, 13], 58)]));
  it('mul (3x1x7) * (5x1)', () => gradcheck(([a, b]) => api.mul(a, b), [normal([3, 1, 7], 59), normal([5, 1], 60)]));
  it('mul by a rank-0 tensor and sub from a size-1 one', () =>
    gradcheck(([a, s, t]) => api.sub(t, api.mul(a, s)), [normal([5, 7], 61), normal([], 62), normal([1], 63)]));
});

describe('gradcheck: matmul with broadcast batch dims', () => {
  it('2x1x5x7 @ 3x7x4', () => gradcheck(([a, b]) => fn('matmul')(a, b), [normal([2, 1, 5, 7], 71), normal([3, 7, 4], 72)]));
  it('transposed operands: (3x7x5)^T @ (4x7)^T', () =>
    gradcheck(([a, b]) => fn('matmul')(api.transpose(a, -1, -2), api.transpose(b, -1, -2)), [normal([3, 7, 5], 73), normal([4, 7], 74)]));
  it('7x13 @ 13x5 then 5x1 (a chain)', () =>
    gradcheck(([a, b, c]) => fn('matmul')(fn('matmul')(a, b), c), [normal([7, 13], 75), normal([13, 5], 76), normal([5, 1], 77)]));
  it('aligned 8x12 @ 2x12x8 (vector loads)', () => gradcheck(([a, b]) => fn('matmul')(a, b), [normal([8, 12], 78), normal([2, 12, 8], 79)]));
  it('linear 2x3x7 -> 5 with bias', () =>
    gradcheck(([x, w, b]) => fn('linear')(x, w, b), [normal([2, 3, 7], 80), normal([5, 7], 81, 0.4), normal([5], 82)]));
});

describe('gradcheck: pow and div', () => {
  it('pow: positive base ^ tensor exponent, broadcast', () =>
    gradcheck(([a, b]) => api.pow(a, b), [uniform([5, 7], 91, 0.4, 2.5), uniform([7], 92, -1.5, 2)]));
  it('pow: x^3 on both signs', () => gradcheck(([x]) => api.pow(x, 3), [normal([7, 13], 93)]));
  it('pow: x^-1.5 on positive x', () => gradcheck(([x]) => api.pow(x, -1.5), [uniform([13], 94, 0.5, 2)]));
  it('pow: 2^x', () => gradcheck(([x]) => api.pow(2, x), [normal([13], 95)]));
  it('div: tensor / tensor, broadcast', () =>
    gradcheck(([a, b]) => api.div(a, b), [normal([5, 7], 96), uniform([5, 1], 97, 0.5, 2)]));
  it('div: scalar / tensor on both signs', () => {
    const d = uniform([13], 98, 0.5, 2);
    d.values.forEach((v, k) => (d.values[k] = k % 2 ? -v : v));
    return gradcheck(([x]) => api.div(1, x), [d]);
  });
  it('div: tensor / rank-0 tensor', () => gradcheck(([a, b]) => api.div(a, b), [normal([3, 5], 99), uniform([], 100, 0.5, 2)]));
});

describe('gradcheck: a composite graph', () => {
  it('linear -> gelu -> layerNorm -> logSoftmax -> mseLoss', () =>
    gradcheck(([x, w, b, g, t]) => {
      const h = api.gelu(fn('linear')(x, w, b));
      const n = fn('layerNorm')(h, [6], g);
      return fn('mseLoss')(fn('logSoftmax')(n, -1), t);
    }, [normal([4, 5], 111), normal([6, 5], 112, 0.5), normal([6], 113, 0.2), normal([6], 114, 0.3, 1), normal([4, 6], 115, 1, -2)]));
});
