// The tiled attention kernels (forward and dQ: a workgroup per block of queries; dK, dV: per block of
// keys; rows staged in workgroup memory) beside the row kernels, on token counts the fixtures lack: one
// token, partial blocks and partial staged tiles (7, 33, 65), TMPose's head dims 24 and 64 (kernels
// the fixture tests compile too), f32 and f16; and the same bits run to run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DType, type Tensor, forceVariant, init, memory, scaledDotProductAttention, tensor } from '@tmpose/tensor';
import { ATTENTION_TILES } from '../src/ops/attentiontiles.js';
import { hashFill } from './fixtures.js';
import { expectClose } from './helpers.js';

beforeAll(async () => {
  await init();
});

let live = 0;
beforeAll(() => {
  live = memory().liveTensors;
});
afterAll(() => expect(memory().liveTensors).toBe(live));

const values = (n: number, seed: number) => Float32Array.from(hashFill(n, { seed, levels: 401, denominator: 128 }));

/** The attention output and dq, dk, dv of [1, 2, L, D] inputs with the variant `label` forced forward and backward. */
async function attention(L: number, D: number, dtype: DType, label: string): Promise<Float32Array[]> {
  const shape = [1, 2, L, D];
  const [q, k, v] = [1, 2, 3].map((seed) => tensor(values(2 * L * D, seed), shape, { dtype, requiresGrad: true })) as [Tensor, Tensor, Tensor];
  const dy = tensor(values(2 * L * D, 4), shape, { dtype });
  const owned = [q, k, v, dy];
  forceVariant('attention', label);
  forceVariant('attentionBackward', label);
  try {
    const o = scaledDotProductAttention(q, k, v);
    owned.push(o);
    o.backward(dy);
    return await Promise.all([o, q.grad!, k.grad!, v.grad!].map(async (t) => Float32Array.from(await t.data())));
  } finally {
    forceVariant('attention', null);
    forceVariant('attentionBackward', null);
    for (const t of owned) t.dispose();
  }
}

const NAMES = ['o', 'dq', 'dk', 'dv'];

describe('attention: tiled kernels', () => {
  for (const dtype of ['float32', 'float16'] as const) {
    for (const [L, D] of [[1, 24], [7, 64], [33, 24], [65, 64]] as const) {
      it(`${dtype} L${L} D${D}: every tile matches the row kernels forward and backward, and repeats its bits`, async () => {
        const want = await attention(L, D, dtype, '2');
        // The same sums in another order: f32 rounding, or one float16 ulp after the one rounding.
        const atol = dtype === 'float16' ? 2 ** -9 : 1e-5;
        for (const tile of ATTENTION_TILES) {
          const got = await attention(L, D, dtype, `tile${tile}`);
          got.forEach((x, n) => expectClose(x, want[n]!, atol, atol, `${dtype} L${L} D${D} tile${tile} ${NAMES[n]}`));
          expect(await attention(L, D, dtype, `tile${tile}`), `tile${tile} twice`).toEqual(got);
        }
      });
    }
  }
});
