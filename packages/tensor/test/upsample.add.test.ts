// upsampleNearest's fused form, upsampleNearest(x, factor, addend) = addend + upsampled x in one pass
// (HRNet's fuse layers): against float64 on the host and bit for bit against the unfused add, forward and
// backward, f32 and f16, on odd shapes, with a contiguous, an offset and a permuted addend; no add kernel
// either way; the addend's gradient is the output's own; gradcheck; the errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, add, init, launchesOf, memory, mul, permute, relu, sum, tensor, tidy, upsampleNearest } from '@tmpose/tensor';
import { gradcheck, normal } from './gradcheck.js';
import { throwsEarly } from './helpers.js';

let live = 0;
beforeAll(async () => {
  await init();
  live = memory().liveTensors;
});
afterAll(() => expect(memory().liveTensors).toBe(live));

type DType = 'float32' | 'float16';
const leaf = (shape: number[], seed: number, dtype: DType, requiresGrad = true) =>
  tensor(normal(shape, seed).values, shape, { dtype, requiresGrad });

/** Each addend form over out's shape [N, C, H, W]: contiguous, at an offset in its buffer, a permuted view. */
const ADDENDS: Record<string, (shape: number[], dtype: DType) => { base: Tensor; addend: (b: Tensor) => Tensor }> = {
  contiguous: (shape, dtype) => ({ base: leaf(shape, 3, dtype), addend: (b) => b }),
  offset: ([n, c, h, w], dtype) => ({ base: leaf([n! + 1, c!, h!, w!], 3, dtype), addend: (b) => b.slice(0, 1, n! + 1) }),
  permuted: ([n, c, h, w], dtype) => ({ base: leaf([n!, h!, w!, c!], 3, dtype), addend: (b) => permute(b, [0, 3, 1, 2]) }),
};
const SHAPES: [shape: number[], factor: number][] = [
  [[2, 3, 5, 3], 2],
  [[1, 1, 1, 1], 3],
];

/** Output, x.grad and the addend base's grad of sum(up * g), fused or through add; the launches of both passes. */
function run(x: Tensor, base: Tensor, addendOf: (b: Tensor) => Tensor, factor: number, g: Tensor, fused: boolean) {
  let out: Tensor | undefined;
  const build = () => {
    const a = addendOf(base);
    out = fused ? upsampleNearest(x, factor, a) : add(a, upsampleNearest(x, factor));
    return sum(mul(out, g));
  };
  const launches = tidy(() => {
    const loss = build();
    return launchesOf(() => loss.backward()).map((l) => l.kernel.name);
  });
  for (const t of [x, base]) {
    t.grad?.dispose(); // the dry run's
    t.grad = null;
  }
  const forward = tidy(() => launchesOf(() => void build()).map((l) => l.kernel.name));
  const kept = tidy(() => {
    const loss = build();
    loss.backward();
    return out!;
  });
  return { out: kept, dx: x.grad!, da: base.grad!, forward, backward: launches };
}

describe('upsampleNearest with an addend', () => {
  for (const dtype of ['float32', 'float16'] as const) {
    for (const [name, make] of Object.entries(ADDENDS)) {
      it(`${dtype}, ${name} addend: the unfused add's bits, float64's values, no add kernel`, async () => {
        for (const [shape, factor] of SHAPES) {
          const outShape = [shape[0]!, shape[1]!, shape[2]! * factor, shape[3]! * factor];
          const g = leaf(outShape, 4, dtype, false);
          const results = [];
          for (const fused of [true, false]) {
            const x = leaf(shape, 1, dtype);
            const { base, addend } = make(outShape, dtype);
            const r = run(x, base, addend, factor, g, fused);
            results.push({ out: await r.out.data(), dx: await r.dx.data(), da: await r.da.data(), forward: r.forward, backward: r.backward });
            if (fused) {
              // Float64 on the host: each output is the addend plus its source pixel, rounded once.
              const view = addend(base);
              const [xs, as] = [await x.data(), await view.data()];
              if (view !== base) view.dispose();
              const [, , H, W] = shape as [number, number, number, number];
              const want = Array.from(as, (a, i) => {
                const ow = i % (W * factor);
                const oh = Math.floor(i / (W * factor)) % (H * factor);
                const plane = Math.floor(i / (W * factor * H * factor));
                return a + xs[(plane * H + Math.floor(oh / factor)) * W + Math.floor(ow / factor)]!;
              });
              const rounded = tensor(want, outShape, { dtype }); // the host's rounding to dtype
              expect(Array.from(results[0]!.out), `${shape} x${factor} against float64`).toEqual(Array.from(await rounded.data()));
              rounded.dispose();
            }
            for (const t of [r.out, x, base]) t.dispose();
          }
          const [fused, unfused] = results as [(typeof results)[0], (typeof results)[0]];
          for (const k of ['out', 'dx', 'da'] as const) {
            expect(Buffer.from(fused[k].buffer).equals(Buffer.from(unfused[k].buffer)), `${shape} x${factor}: ${k} bits as the unfused add's`).toBe(true);
          }
          expect(fused.forward.filter((n) => n !== 'copy'), 'fused forward launches').toEqual(['upsampleNearest', 'elementwise_mul', 'reduce_sum']);
          expect(fused.backward.filter((n) => n.startsWith('elementwise_add') || n.startsWith('upsample')), 'fused backward launches').toEqual(['upsampleNearestBackward']);
          g.dispose();
        }
      });
    }
  }

  // relu(addend + upsampled x) in one pass, its gradient applied as the backward reads (HRNet's fuse row
  // 0): the unfused relu's and add's bits, with neither kernel; x or the addend alone needing a gradient.
  for (const dtype of ['float32', 'float16'] as const) {
    it(`${dtype}, with relu: the bits of relu(add(a, up(x))), forward and backward, no relu, add or reluGrad kernel`, async () => {
      const [shape, factor] = SHAPES[0]!;
      const outShape = [shape[0]!, shape[1]!, shape[2]! * factor, shape[3]! * factor];
      const g = leaf(outShape, 4, dtype, false);
      for (const needs of [{ x: true, a: true }, { x: true, a: false }, { x: false, a: true }]) {
        const results = [];
        for (const fused of [true, false]) {
          const x = leaf(shape, 1, dtype, needs.x);
          const a = leaf(outShape, 3, dtype, needs.a);
          const loss = (): Tensor => sum(mul(fused ? upsampleNearest(x, factor, a, { relu: true }) : relu(add(a, upsampleNearest(x, factor))), g));
          const kernels = tidy(() => {
            const names = launchesOf(() => void loss()).map((l) => l.kernel.name);
            const l = loss();
            return [...names, ...launchesOf(() => l.backward()).map((k) => k.kernel.name)];
          });
          for (const t of [x, a]) {
            t.grad?.dispose(); // the dry run's
            t.grad = null;
          }
          const out = tidy(() => {
            const l = loss();
            const value = l.detach();
            l.backward();
            return value;
          });
          results.push({ loss: await out.data(), dx: needs.x ? await x.grad!.data() : null, da: needs.a ? await a.grad!.data() : null, kernels });
          for (const t of [out, x, a, x.grad, a.grad]) t?.dispose();
        }
        const [fused, unfused] = results as [(typeof results)[0], (typeof results)[0]];
        for (const k of ['loss', 'dx', 'da'] as const) {
          if (fused[k]) expect(Buffer.from(fused[k].buffer).equals(Buffer.from(unfused[k]!.buffer)), `${JSON.stringify(needs)}: ${k}`).toBe(true);
        }
        expect(fused.kernels.filter((n) => /^(elementwise_(add|relu|reluGrad)|upsample)/.test(n)), JSON.stringify(needs)).toEqual(['upsampleNearest', 'upsampleNearestBackward']);
      }
      g.dispose();
    });
  }

  it('x without gradient: the addend gets the output gradient itself, no kernel', () => {
    const x = leaf([1, 2, 3, 3], 1, 'float32', false);
    const a = leaf([1, 2, 6, 6], 2, 'float32');
    const names = tidy(() => {
      const y = upsampleNearest(x, 2, a);
      return launchesOf(() => y.backward(y)).map((l) => l.kernel.name);
    });
    expect(names).toEqual([]);
    for (const t of [x, a]) t.dispose();
  });

  it('gradcheck: x and the addend', () =>
    gradcheck(([x, a]) => upsampleNearest(x, 3, a), [normal([2, 3, 4, 3], 261), normal([2, 3, 12, 9], 262)]));

  it('errors: an addend of another shape or dtype', () => {
    const x = leaf([1, 2, 3, 3], 1, 'float32');
    const a = leaf([1, 2, 6, 5], 2, 'float32');
    const h = leaf([1, 2, 6, 6], 3, 'float16');
    throwsEarly(() => upsampleNearest(x, 2, a), /^upsampleNearest: addend \[1, 2, 6, 5\] must have the upsampled shape \[1, 2, 6, 6\]$/);
    throwsEarly(() => upsampleNearest(x, 2, h), /^upsampleNearest: dtypes differ \(float32 \[1, 2, 3, 3\], float16 \[1, 2, 6, 6\]\); convert with \.to\(\) first$/);
    for (const t of [x, a, h]) t.dispose();
  });
});
