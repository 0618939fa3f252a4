// Batch norm's split reductions (partials per chunk of N*H*W, combined per channel) and its fused ones
// (reduction and apply in one dispatch; in eval mode the running statistics' scale and shift and y)
// beside the one-pass per-channel ones, on shapes the fixtures lack: many chunks, N*H*W not a multiple
// of the chunk, 17 channels, scalar and vec4 planes, f32 and f16, each epilogue; and the same bits run
// to run (no atomics).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DType, type Tensor, batchNorm2d, forceVariant, init, kernelsOf, memory, runtimeStats, tensor, tidy } from '@tmpose/tensor';
import { BATCH_NORM_VARIANTS, type BatchNormEpilogue, type BatchNormVariant, MOST_BINDINGS } from '../src/ops/batchnorm.js';
import { hashFill } from './fixtures.js';
import { expectClose, withLimits } from './helpers.js';

beforeAll(async () => {
  await init();
});

let live = 0;
beforeAll(() => {
  live = memory().liveTensors;
});
afterAll(() => expect(memory().liveTensors).toBe(live));

const values = (n: number, seed: number) => Float32Array.from(hashFill(n, { seed, levels: 401, denominator: 128 }));

/**
 * y, dx, dweight, dbias, the running mean and variance (and the residual's gradient) of one training
 * step with `variant` forced (null: as the adapter chooses), and the dispatches of its forward and of
 * its backward.
 */
async function step(shape: number[], dtype: DType, variant: BatchNormVariant | null, epilogue: BatchNormEpilogue | boolean): Promise<Float32Array[] & { dispatches?: [number, number] }> {
  const C = shape[1]!;
  const n = shape.reduce((a, b) => a * b, 1);
  const relu = epilogue === true || epilogue === 'relu' || epilogue === 'addRelu';
  forceVariant('batchNorm', variant);
  const owned: Tensor[] = [];
  try {
    const x = tensor(values(n, 1), shape, { dtype, requiresGrad: true });
    const w = tensor(values(C, 2), [C], { requiresGrad: true });
    const b = tensor(values(C, 3), [C], { requiresGrad: true });
    const [rm, rv] = [tensor(new Float32Array(C), [C]), tensor(new Float32Array(C).fill(1), [C])];
    const r = epilogue === 'addRelu' ? tensor(values(n, 5), shape, { dtype, requiresGrad: true }) : undefined;
    const dy = tensor(values(n, 4), shape, { dtype });
    const count = tensor(new Int32Array([5]), [], { dtype: 'int32' });
    const d0 = runtimeStats().dispatches;
    const y = batchNorm2d(x, w, b, rm, rv, { relu, residual: r, numBatchesTracked: count });
    const d1 = runtimeStats().dispatches;
    owned.push(x, w, b, rm, rv, y, dy, count, ...(r ? [r] : []));
    y.backward(dy);
    const d2 = runtimeStats().dispatches;
    const read = async (t: Tensor) => Float32Array.from(await t.data());
    const out: Float32Array[] & { dispatches?: [number, number] } = [await read(y), await read(x.grad!), await read(w.grad!), await read(b.grad!), await read(rm), await read(rv), await read(count), ...(r ? [await read(r.grad!)] : [])];
    out.dispatches = [d1 - d0, d2 - d1];
    return out;
  } finally {
    forceVariant('batchNorm', null);
    for (const t of owned) t.dispose();
  }
}

const NAMES = ['y', 'dx', 'dweight', 'dbias', 'running mean', 'running var', 'batches counted', 'dresidual'];

describe('batch norm: split reductions', () => {
  // [3, 17, 37, 29]: 3219 scalar units per channel, 4 chunks of 805 (the last 804); [2, 1, 64, 48]: one
  // channel of 1536 vec4 units in 2 chunks; [1, 3, 2, 2]: one vec4 unit per channel, one chunk.
  const shapes = [[3, 17, 37, 29], [2, 1, 64, 48], [1, 3, 2, 2]];
  for (const dtype of ['float32', 'float16'] as const) {
    for (const shape of shapes) {
      const epilogue = (['none', 'relu', 'addRelu'] as const)[shapes.indexOf(shape)]!;
      it(`${dtype} ${shape.join('x')}: split matches one pass per channel, ${epilogue}, in as many dispatches`, async () => {
        const one = await step(shape, dtype, 'channel', epilogue);
        const split = await step(shape, dtype, 'split', epilogue);
        // Sums of the same terms in another order: f32 rounding, or one float16 ulp after rounding.
        const atol = dtype === 'float16' ? 2 ** -9 : 1e-5;
        one.forEach((want, i) => expectClose(split[i]!, want, atol, atol, `${dtype} ${shape.join('x')} ${NAMES[i]}`));
        expect(split[6]).toEqual(Float32Array.of(6));
        expect(split.dispatches).toEqual([2, 2]);
      });
    }
  }

  // The fused kernels do the arithmetic of the channel variant's two kernels, in the same order.
  for (const dtype of ['float32', 'float16'] as const) {
    for (const shape of [[3, 17, 37, 29], [2, 3, 8, 12], [1, 1, 1, 3]]) {
      for (const epilogue of ['none', 'relu', 'addRelu'] as const) {
        it(`${dtype} ${shape.join('x')} ${epilogue}: fused is the channel variant in one dispatch each way`, async () => {
          const one = await step(shape, dtype, 'channel', epilogue);
          const fused = await step(shape, dtype, 'fused', epilogue);
          one.forEach((want, i) => expect(Buffer.from(fused[i]!.buffer).equals(Buffer.from(want.buffer)), `${NAMES[i]}`).toBe(true));
          expect(one.dispatches).toEqual([2, 2]);
          expect(fused.dispatches).toEqual([1, 1]);
        });
      }
    }
  }

  // Eval mode: the running statistics' scale and shift, then y; fused, the same bits in one dispatch.
  for (const dtype of ['float32', 'float16'] as const) {
    for (const [shape, epilogue] of [[[3, 17, 37, 29], 'none'], [[2, 3, 8, 12], 'relu'], [[1, 1, 1, 3], 'addRelu']] as const) {
      it(`${dtype} ${shape.join('x')} ${epilogue}, eval mode: fused is the channel variant in one dispatch, and what a CPU picks`, async () => {
        const evalForward = async (variant: BatchNormVariant | null) => {
          forceVariant('batchNormEval', variant);
          try {
            return await tidy(() => {
              const C = shape[1];
              const n = shape.reduce((a: number, b: number) => a * b, 1);
              const x = tensor(values(n, 1), [...shape], { dtype });
              const r = epilogue === 'addRelu' ? tensor(values(n, 5), [...shape], { dtype }) : undefined;
              const [w, b] = [tensor(values(C, 2), [C]), tensor(values(C, 3), [C])];
              const [rm, rv] = [tensor(values(C, 6), [C]), tensor(values(C, 7).map(Math.abs), [C])];
              const d0 = runtimeStats().dispatches;
              const y = batchNorm2d(x, w, b, rm, rv, { training: false, relu: epilogue !== 'none', residual: r });
              return { y, dispatches: runtimeStats().dispatches - d0 };
            });
          } finally {
            forceVariant('batchNormEval', null);
          }
        };
        const read = async (o: { y: Tensor; dispatches: number }) => {
          const v = Float32Array.from(await o.y.data());
          o.y.dispose();
          return { v, dispatches: o.dispatches };
        };
        const [one, fused, chosen] = [await read(await evalForward('channel')), await read(await evalForward('fused')), await read(await evalForward(null))];
        expect(Buffer.from(fused.v.buffer).equals(Buffer.from(one.v.buffer))).toBe(true);
        expect([one.dispatches, fused.dispatches, chosen.dispatches]).toEqual([2, 1, 1]);
      });
    }
  }

  it(`every kernel takes at most ${MOST_BINDINGS} storage bindings; with WebGPU's default 8, the variants that need 9 are not run`, async () => {
    // The most bindings: a batch counter and a residual, forward and backward.
    const call = () => tidy(() => {
      const x = tensor(values(2 * 3 * 4 * 4, 1), [2, 3, 4, 4], { requiresGrad: true });
      const r = tensor(values(2 * 3 * 4 * 4, 5), [2, 3, 4, 4], { requiresGrad: true });
      const [w, b] = [tensor(values(3, 2), [3], { requiresGrad: true }), tensor(values(3, 3), [3], { requiresGrad: true })];
      const [rm, rv] = [tensor(new Float32Array(3), [3]), tensor(new Float32Array(3).fill(1), [3])];
      const count = tensor(new Int32Array([0]), [], { dtype: 'int32' });
      batchNorm2d(x, w, b, rm, rv, { relu: true, residual: r, numBatchesTracked: count }).sum().backward();
    });
    for (const variant of BATCH_NORM_VARIANTS) {
      forceVariant('batchNorm', variant);
      try {
        const most = Math.max(...kernelsOf(call).filter((k) => k.name.startsWith('batchNorm')).map((k) => k.bindings.length));
        expect(most, variant).toBeLessThanOrEqual(MOST_BINDINGS);
      } finally {
        forceVariant('batchNorm', null);
      }
    }
    // Untuned on 8 bindings: the forward's fused kernel (9 with the counter and the residual) gives way to
    // the channel variant's two; the backward's (8) stays. The same bits either way.
    const [chosen, limited] = await withLimits({ maxStorageBuffersPerShaderStage: 8 }, async () => [
      kernelsOf(call).filter((k) => k.name.startsWith('batchNorm')),
      await step([2, 3, 4, 4], 'float32', null, 'addRelu'),
    ] as const);
    expect(chosen.map((k) => `${k.name}|${k.key}`)).toEqual(['batchNormStats|f32f324c', 'batchNormApply|f324addRelu', 'batchNormBackwardReduce|f32f324faddRelu']);
    const one = await step([2, 3, 4, 4], 'float32', 'channel', 'addRelu');
    one.forEach((want, i) => expect(Buffer.from(limited[i]!.buffer).equals(Buffer.from(want.buffer)), NAMES[i]).toBe(true));
  });

  it('the same bits run to run', async () => {
    const first = await step([3, 17, 37, 29], 'float32', 'split', false);
    const again = await step([3, 17, 37, 29], 'float32', 'split', false);
    first.forEach((a, i) => expect(Buffer.from(again[i]!.buffer).equals(Buffer.from(a.buffer)), NAMES[i]).toBe(true));
  });
});
