// The tiled attention forward (a workgroup per block of queries, keys staged in workgroup memory) beside
// the row kernel, on token counts the fixtures lack: one query, partial query blocks and partial staged
// key tiles (7, 33, 65), head dims 8 and 128 (128 stages 16 keys at a time), f32 and f16; and the same
// bits run to run.
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

/** The attention output of [1, 2, L, D] inputs with the forward variant `label` forced. */
async function forward(L: number, D: number, dtype: DType, label: string): Promise<Float32Array> {
  const shape = [1, 2, L, D];
  const [q, k, v] = [1, 2, 3].map((seed) => tensor(values(2 * L * D, seed), shape, { dtype })) as [Tensor, Tensor, Tensor];
  forceVariant('attention', label);
  try {
    const o = scaledDotProductAttention(q, k, v);
    const out = Float32Array.from(await o.data());
    o.dispose();
    return out;
  } finally {
    forceVariant('attention', null);
    for (const t of [q, k, v]) t.dispose();
  }
}

describe('attention: tiled forward', () => {
  for (const dtype of ['float32', 'float16'] as const) {
    for (const [L, D] of [[1, 8], [7, 128], [33, 8], [65, 128]] as const) {
      it(`${dtype} L${L} D${D}: every tile matches the row kernel, and repeats its bits`, async () => {
        const want = await forward(L, D, dtype, '1');
        // The same sums in another order: f32 rounding, or one float16 ulp after the one rounding.
        const atol = dtype === 'float16' ? 2 ** -9 : 1e-5;
        for (const tile of ATTENTION_TILES) {
          const got = await forward(L, D, dtype, `tile${tile}`);
          expectClose(got, want, atol, atol, `${dtype} L${L} D${D} tile${tile}`);
          expect(await forward(L, D, dtype, `tile${tile}`), `tile${tile} twice`).toEqual(got);
        }
      });
    }
  }
});
