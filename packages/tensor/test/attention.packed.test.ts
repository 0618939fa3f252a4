// Attention read straight from a packed qkv projection: multiHeadAttention(qkv [B, L, 3·H·hd]) against
// scaledDotProductAttention on separate contiguous q, k, v (checked against PyTorch by the fixture
// tests), with every forward and backward variant forced, f32 and f16, odd L, B > 1: the same kernels
// over the same rows, so the output and the gradient must be the same bits. Also the unpacked op on
// strided views of qkv with a strided output gradient (read in place), a gradient check, the dispatches
// (no copies, fills or adds), and the errors. Head dims 24 and 64: kernels the fixture tests compile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ATTENTION_VARIANTS, type DType, type Tensor, forceVariant, init, launchesOf, memory, multiHeadAttention, permute, reshape,
  scaledDotProductAttention, slice, tensor, tidy, transpose, zeros,
} from '@tmpose/tensor';
import { hashFill } from './fixtures.js';
import { gradcheck, normal } from './gradcheck.js';
import { throwsEarly } from './helpers.js';

beforeAll(async () => {
  await init();
});

let live = 0;
beforeAll(() => {
  live = memory().liveTensors;
});
afterAll(() => expect(memory().liveTensors).toBe(live));

const values = (n: number, seed: number) => Float32Array.from(hashFill(n, { seed, levels: 401, denominator: 128 }));

interface Case {
  B: number;
  L: number;
  H: number;
  hd: number;
}
const label = ({ B, L, H, hd }: Case) => `B${B} L${L} H${H} hd${hd}`;

/** Element (b, l, part, h, e) of a [B, L, 3, H, hd] array, and element (b, h, l, e) of a [B, H, L, hd] one. */
const packedIndex = ({ L, H, hd }: Case, b: number, l: number, part: number, h: number, e: number) => (((b * L + l) * 3 + part) * H + h) * hd + e;
const headIndex = ({ H, L, hd }: Case, b: number, h: number, l: number, e: number) => ((b * H + h) * L + l) * hd + e;

/** Calls f(b, l, h, e) over every element of one head layout. */
function each({ B, L, H, hd }: Case, f: (b: number, l: number, h: number, e: number) => void) {
  for (let b = 0; b < B; b++) for (let l = 0; l < L; l++) for (let h = 0; h < H; h++) for (let e = 0; e < hd; e++) f(b, l, h, e);
}

async function read(t: Tensor): Promise<Float32Array> {
  return Float32Array.from(await t.data());
}

/** The packed op's output [B, L, H·hd] and its gradient [B, L, 3·H·hd] for the output gradient dy. */
async function packed(c: Case, qkvValues: Float32Array, dy: Float32Array, dtype: DType): Promise<Float32Array[]> {
  const { B, L, H, hd } = c;
  const qkv = tensor(qkvValues, [B, L, 3 * H * hd], { dtype, requiresGrad: true });
  const g = tensor(dy, [B, L, H * hd], { dtype });
  const o = multiHeadAttention(qkv, H);
  try {
    o.backward(g);
    return [await read(o), await read(qkv.grad!)];
  } finally {
    for (const t of [qkv, g, o]) t.dispose();
  }
}

/** The same through scaledDotProductAttention on contiguous q, k, v, rearranged on the host into the packed layouts. */
async function separate(c: Case, qkvValues: Float32Array, dy: Float32Array, dtype: DType): Promise<Float32Array[]> {
  const { B, L, H, hd } = c;
  const heads = [0, 1, 2, 3].map(() => new Float32Array(B * H * L * hd));
  each(c, (b, l, h, e) => {
    for (const part of [0, 1, 2]) heads[part]![headIndex(c, b, h, l, e)] = qkvValues[packedIndex(c, b, l, part, h, e)]!;
    heads[3]![headIndex(c, b, h, l, e)] = dy[(b * L + l) * H * hd + h * hd + e]!;
  });
  const shape = [B, H, L, hd];
  const [q, k, v] = heads.slice(0, 3).map((x) => tensor(x, shape, { dtype, requiresGrad: true })) as [Tensor, Tensor, Tensor];
  const g = tensor(heads[3]!, shape, { dtype });
  const o = scaledDotProductAttention(q, k, v);
  try {
    o.backward(g);
    const [oh, dq, dk, dv] = await Promise.all([o, q.grad!, k.grad!, v.grad!].map(read));
    const out = new Float32Array(B * L * H * hd);
    const grad = new Float32Array(3 * out.length);
    each(c, (b, l, h, e) => {
      const i = headIndex(c, b, h, l, e);
      out[(b * L + l) * H * hd + h * hd + e] = oh![i]!;
      [dq, dk, dv].forEach((d, part) => (grad[packedIndex(c, b, l, part, h, e)] = d![i]!));
    });
    return [out, grad];
  } finally {
    for (const t of [q, k, v, g, o]) t.dispose();
  }
}

/** scaledDotProductAttention on strided views of qkv, with the output gradient a permuted view: read in place, no copies. */
async function strided(c: Case, qkvValues: Float32Array, dy: Float32Array, dtype: DType): Promise<Float32Array[]> {
  const { B, L, H, hd } = c;
  const [merged, grad] = tidy(() => {
    const qkv = tensor(qkvValues, [B, L, 3 * H * hd], { dtype, requiresGrad: true });
    const parts = permute(reshape(qkv, [B, L, 3, H, hd]), [2, 0, 3, 1, 4]);
    const [q, k, v] = [0, 1, 2].map((i) => reshape(slice(parts, 0, i, i + 1), [B, H, L, hd])) as [Tensor, Tensor, Tensor];
    const o = scaledDotProductAttention(q, k, v);
    o.backward(transpose(reshape(tensor(dy, [B, L, H * hd], { dtype }), [B, L, H, hd]), 1, 2));
    return [reshape(transpose(o, 1, 2), [B, L, H * hd]), qkv.grad!.detach()];
  });
  try {
    return [await read(merged), await read(grad)];
  } finally {
    merged.dispose();
    grad.dispose();
  }
}

const CASES: Case[] = [
  { B: 2, L: 1, H: 2, hd: 24 },
  { B: 2, L: 7, H: 2, hd: 64 },
  { B: 1, L: 33, H: 3, hd: 24 },
  { B: 2, L: 65, H: 1, hd: 64 },
];

describe('multiHeadAttention: the packed op against scaledDotProductAttention, every variant', () => {
  // A test per variant: a cold run compiles that variant's kernels only (a few seconds each on lavapipe).
  for (const dtype of ['float32', 'float16'] as const) {
    for (const variant of ATTENTION_VARIANTS) {
      it(`${dtype} ${variant}: the same bits forward and backward, packed and read through strides`, async () => {
        forceVariant('attention', variant);
        forceVariant('attentionBackward', variant);
        try {
          for (const c of CASES) {
            const D = c.H * c.hd;
            const qkvValues = values(c.B * c.L * 3 * D, 1);
            const dy = values(c.B * c.L * D, 2);
            const want = await separate(c, qkvValues, dy, dtype);
            expect(await packed(c, qkvValues, dy, dtype), `${label(c)}: packed`).toEqual(want);
            // The strided unpacked path with one variant is enough: it runs the same kernels.
            if (variant === ATTENTION_VARIANTS[0]) expect(await strided(c, qkvValues, dy, dtype), `${label(c)}: strided views`).toEqual(want);
          }
        } finally {
          forceVariant('attention', null);
          forceVariant('attentionBackward', null);
        }
      });
    }
  }
});

describe('multiHeadAttention: gradients, dispatches, errors', () => {
  it('gradcheck: B2 L5 H2 hd8, and a scale', async () => {
    await gradcheck(([qkv]) => multiHeadAttention(qkv, 2), [normal([2, 5, 48], 301)]);
    await gradcheck(([qkv]) => multiHeadAttention(qkv, 1, { scale: 0.5 }), [normal([1, 9, 48], 302)]);
  });

  // The kernels' names, the tiled variants (a GPU's default) under the row kernels' names.
  const names = (fn: () => void) => launchesOf(fn).map((l) => l.kernel.name.replace(/Tiled$/, ''));

  it('forward and backward are the three attention kernels: no copies, fills or adds', () => {
    const qkv = zeros([2, 7, 144], { requiresGrad: true });
    const g = zeros([2, 7, 48]);
    expect(names(() => tidy(() => multiHeadAttention(qkv, 2).backward(g)))).toEqual(['attentionForward', 'attentionBackwardQ', 'attentionBackwardKV']);
    for (const t of [qkv, g]) t.dispose();
  });

  it('scaledDotProductAttention reads strided heads and a strided output gradient in place', () => {
    const qkv = zeros([2, 7, 144], { requiresGrad: true });
    const g = zeros([2, 7, 48]);
    tidy(() => {
      const parts = permute(reshape(qkv, [2, 7, 3, 2, 24]), [2, 0, 3, 1, 4]);
      const [q, k, v] = [0, 1, 2].map((i) => reshape(slice(parts, 0, i, i + 1), [2, 2, 7, 24])) as [Tensor, Tensor, Tensor];
      let o: Tensor | undefined;
      expect(names(() => (o = scaledDotProductAttention(q, k, v)))).toEqual(['attentionForward']);
      const gHeads = transpose(reshape(g, [2, 7, 2, 24]), 1, 2);
      // Then the slices' and the permute's own backward: not the attention's.
      expect(names(() => o!.backward(gHeads)).slice(0, 2)).toEqual(['attentionBackwardQ', 'attentionBackwardKV']);
    });
    for (const t of [qkv, g]) t.dispose();
  });

  it('a qkv that is not [B, L, 3·H·hd] or whose head dim is not a multiple of 4 (at most 128) is an error naming the op and shape', () => {
    const x = zeros([2, 5, 48]);
    const y = zeros([2, 5, 40]);
    const flat = reshape(x, [10, 48]);
    throwsEarly(() => multiHeadAttention(x, 5), /^multiHeadAttention: qkv \[2, 5, 48\] must be \[B, L, 3·H·hd\] for H = 5 heads$/);
    throwsEarly(() => multiHeadAttention(flat, 2), /^multiHeadAttention: qkv \[10, 48\] must be \[B, L, 3·H·hd\]/);
    throwsEarly(() => multiHeadAttention(x, 8), /^multiHeadAttention: qkv \[2, 5, 48\], 8 heads: head dim 2 must be a multiple of 4, at most 128$/);
    throwsEarly(() => multiHeadAttention(y, 2), /^multiHeadAttention: qkv \[2, 5, 40\] must be \[B, L, 3·H·hd\] for H = 2 heads$/);
    for (const t of [x, y, flat]) t.dispose();
  });
});
