// The row variants of softmax, logSoftmax and layerNorm (rowlanes.ts: a thread, a workgroup or subgroups
// per row) on row lengths the fixtures lack (1, 3, 33, 257, 1000: shorter than a subgroup, than the 64
// lanes, longer and uneven), f32 and f16, forward and backward, against the thread variant; the same bits
// run to run; and an adapter without subgroups (features.subgroups switched off).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DType, type DeviceInfo, type Tensor, forceVariant, init, layerNorm, logSoftmax, memory, softmax, tensor } from '@tmpose/tensor';
import { ROW_VARIANTS, type RowVariant } from '../src/ops/rowlanes.js';
import { tunablesOf } from '../src/runtime/tune.js';
import { hashFill } from './fixtures.js';
import { expectClose } from './helpers.js';

let info: DeviceInfo;
let live = 0;
beforeAll(async () => {
  info = await init();
  live = memory().liveTensors;
});
afterAll(() => expect(memory().liveTensors).toBe(live));

const values = (n: number, seed: number) => Float32Array.from(hashFill(n, { seed, levels: 401, denominator: 64 }));
const OPS = {
  softmax: (x: Tensor) => softmax(x),
  logSoftmax: (x: Tensor) => logSoftmax(x),
  layerNorm: (x: Tensor, w: Tensor, b: Tensor) => layerNorm(x, [x.shape[1]!], w, b),
};

/** y, dx and (layerNorm) dweight of `op` on 3 rows of R with `variant` forced. */
async function run(op: keyof typeof OPS, R: number, dtype: DType, variant: RowVariant): Promise<Float32Array[]> {
  forceVariant('rows', variant);
  const owned: Tensor[] = [];
  try {
    const x = tensor(values(3 * R, 1), [3, R], { dtype, requiresGrad: true });
    const w = tensor(values(R, 2), [R], { requiresGrad: true });
    const b = tensor(values(R, 3), [R]);
    const y = OPS[op](x, w, b);
    const g = tensor(values(3 * R, 4), [3, R], { dtype });
    owned.push(x, w, b, y, g);
    y.backward(g);
    const read = async (t: Tensor) => Float32Array.from(await t.data());
    return [await read(y), await read(x.grad!), ...(op === 'layerNorm' ? [await read(w.grad!)] : [])];
  } finally {
    forceVariant('rows', null);
    for (const t of owned) t.dispose();
  }
}

describe('row variants', () => {
  for (const dtype of ['float32', 'float16'] as const) {
    for (const op of Object.keys(OPS) as (keyof typeof OPS)[]) {
      it(`${dtype} ${op}: rows of 1, 3, 33, 257, 1000, every variant matches a thread per row`, async () => {
        // Sums of the same terms in another order: f32 rounding, or one float16 ulp of the result.
        const atol = dtype === 'float16' ? 2 ** -8 : 1e-5;
        for (const R of [1, 3, 33, 257, 1000]) {
          const want = await run(op, R, dtype, 'thread');
          for (const variant of ROW_VARIANTS.slice(1)) {
            const got = await run(op, R, dtype, variant);
            want.forEach((w, i) => expectClose(got[i]!, w, atol, atol, `${op} R=${R} ${variant} output ${i}`));
          }
        }
      });
    }
  }

  it('the same bits run to run (subgroups and workgroup trees)', async () => {
    for (const variant of ['workgroup', 'subgroup'] as const) {
      const [a, b] = [await run('layerNorm', 1000, 'float32', variant), await run('layerNorm', 1000, 'float32', variant)];
      a.forEach((v, i) => expect(Buffer.from(b[i]!.buffer).equals(Buffer.from(v.buffer)), `${variant} ${i}`).toBe(true));
    }
  });

  it('without subgroups: no subgroup variant, and the workgroup tree serves', async () => {
    const had = info.features.subgroups;
    info.features.subgroups = false;
    try {
      const want = await run('softmax', 257, 'float32', 'thread');
      const got = await run('softmax', 257, 'float32', 'workgroup');
      want.forEach((w, i) => expectClose(got[i]!, w, 1e-6, 1e-5, `softmax without subgroups, output ${i}`));
      // Unforced, the op runs (a thread per row on a CPU adapter, the workgroup tree on a GPU) and the
      // tuner is offered no subgroup variant.
      const x = tensor(values(3 * 257, 1), [3, 257]);
      let y: Tensor | undefined;
      const [problem] = tunablesOf(() => {
        y = softmax(x);
      });
      expect(problem!.candidates.map(problem!.label)).toEqual(['thread', 'workgroup']);
      expectClose(await y!.data(), want[0]!, 1e-6, 1e-5, 'softmax without subgroups, unforced');
      x.dispose();
      y!.dispose();
    } finally {
      info.features.subgroups = had;
    }
  });
});
