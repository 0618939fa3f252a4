// The variants of sum and mean (reduce.ts: thread, columns, workgroup, subgroups) on shapes the fixtures
// lack: a strided reduced axis long enough to split into chunks (the columns order of the partials), a
// contiguous one of 1, 3, 33, 257, 1000, 3000, f32 and f16, forward and backward, against exact sums; the
// same bits run to run; and an adapter without subgroups.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DType, type DeviceInfo, type Tensor, forceVariant, init, mean, memory, sum, tensor } from '@tmpose/tensor';
import { REDUCE_VARIANTS, type ReduceVariant } from '../src/ops/reduce.js';
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

// Multiples of 1/64 in [-3, 3]: float16 holds them exactly, and f32 sums of a few thousand exactly too.
const values = (n: number, seed: number) => Float32Array.from(hashFill(n, { seed, levels: 385, denominator: 64 }));

/** The sum (or mean) over `axis` of x [rows, cols] and dx for a gradient of ones, with `variant` forced. */
async function run(shape: [number, number], axis: number, dtype: DType, variant: ReduceVariant, op: 'sum' | 'mean'): Promise<Float32Array[]> {
  forceVariant('reduce', variant);
  const owned: Tensor[] = [];
  try {
    const x = tensor(values(shape[0] * shape[1], 1), shape, { dtype, requiresGrad: true });
    owned.push(x);
    const y = (op === 'sum' ? sum : mean)(x, axis);
    const g = tensor(new Float32Array(y.size).fill(1), y.shape, { dtype });
    owned.push(y, g);
    y.backward(g);
    return [Float32Array.from(await y.data()), Float32Array.from(await x.grad!.data())];
  } finally {
    forceVariant('reduce', null);
    for (const t of owned) t.dispose();
  }
}

/** The exact sums (f64) over `axis`. */
function exact(shape: [number, number], axis: number, op: 'sum' | 'mean'): Float32Array {
  const [r, c] = shape;
  const x = values(r * c, 1);
  const out = new Float32Array(axis === 0 ? c : r);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[axis === 0 ? j : i]! += x[i * c + j]!;
  const n = axis === 0 ? r : c;
  return op === 'mean' ? out.map((v) => v / n) : out;
}

describe('reduce variants', () => {
  // [3000, 3] over axis 0: 3 strided rows of 3000, split into 12 chunks; [3, R] over axis 1: contiguous.
  const problems: [[number, number], number][] = [[[3000, 3], 0], ...[1, 3, 33, 257, 1000, 3000].map((R): [[number, number], number] => [[3, R], 1])];
  for (const dtype of ['float32', 'float16'] as const) {
    for (const op of ['sum', 'mean'] as const) {
      it(`${dtype} ${op}: every variant, strided and contiguous axes`, async () => {
        for (const [shape, axis] of problems) {
          const want = exact(shape, axis, op);
          const n = shape[axis]!;
          const grad = new Float32Array(shape[0] * shape[1]).fill(op === 'mean' ? 1 / n : 1);
          for (const variant of REDUCE_VARIANTS) {
            const [y, dx] = await run(shape, axis, dtype, variant, op);
            // float16 results round once (sums reach 2^7: an ulp of 2^-3 at most); f32 sums are exact.
            const atol = dtype === 'float16' ? Math.max(...want.map(Math.abs)) * 2 ** -11 : 1e-6;
            expectClose(y, want, atol, 0, `${op} ${shape.join('x')} axis ${axis} ${variant}`);
            expectClose(dx, grad, dtype === 'float16' ? 2 ** -11 : 1e-7, 0, `d${op} ${variant}`);
          }
        }
      });
    }
  }

  it('the same bits run to run', async () => {
    for (const variant of REDUCE_VARIANTS) {
      const [a, b] = [await run([3000, 3], 0, 'float32', variant, 'mean'), await run([3, 3000], 1, 'float32', variant, 'mean')];
      const [a2, b2] = [await run([3000, 3], 0, 'float32', variant, 'mean'), await run([3, 3000], 1, 'float32', variant, 'mean')];
      expect(Buffer.from(a2[0]!.buffer).equals(Buffer.from(a[0]!.buffer)), `${variant} strided`).toBe(true);
      expect(Buffer.from(b2[0]!.buffer).equals(Buffer.from(b[0]!.buffer)), `${variant} contiguous`).toBe(true);
    }
  });

  it('without subgroups: no subgroup candidate, the rest right', async () => {
    const had = info.features.subgroups;
    info.features.subgroups = false;
    try {
      const x = tensor(values(3 * 257, 1), [3, 257]);
      let y: Tensor | undefined;
      const [problem] = tunablesOf(() => {
        y = sum(x, 1);
      });
      expect(problem!.candidates.map(problem!.label)).toEqual(['thread', 'columns', 'workgroup']);
      expectClose(await y!.data(), exact([3, 257], 1, 'sum'), 1e-6, 0, 'sum without subgroups');
      x.dispose();
      y!.dispose();
    } finally {
      info.features.subgroups = had;
    }
  });
});
