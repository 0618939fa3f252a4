// mseLoss's fused kernels (mean and sum: partial sums forward, one elementwise pass backward) against a
// float64 CPU reference, with a weight broadcast over trailing axes, strided views, float16, sizes from
// 1 to past the partial-sum thread count; gradient checks; the dispatches they save; bad input.
import { beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, launchesOf, mseLoss, permute, tensor, tidy } from '@tmpose/tensor';
import { gradcheck, normal, uniform } from './gradcheck.js';
import { device, expectClose, throwsEarly } from './helpers.js';

beforeAll(async () => {
  await device();
});

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Float64 reference of sum(w·(x − t)²)·scale and its input gradient 2·w·(x − t)·scale, with w broadcast. */
function reference(x: Float32Array, t: Float32Array, shape: number[], w: Float32Array | null, wShape: number[], scale: number) {
  const pad = shape.length - wShape.length;
  const wAt = (i: number) => {
    if (!w) return 1;
    let rem = i;
    let idx = 0;
    let stride = 1;
    for (let d = shape.length - 1; d >= pad; d--) {
      const c = rem % shape[d]!;
      rem = Math.floor(rem / shape[d]!);
      const size = wShape[d - pad]!;
      if (size !== 1) idx += c * stride;
      stride *= size;
    }
    return w[idx]!;
  };
  let loss = 0;
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const d = x[i]! - t[i]!;
    loss += wAt(i) * d * d;
    dx[i] = 2 * wAt(i) * d * scale;
  }
  return { loss: loss * scale, dx };
}

const cases: { name: string; shape: number[]; wShape?: number[] }[] = [
  { name: 'one element', shape: [1] },
  { name: 'odd 3x5x7', shape: [3, 5, 7] },
  { name: 'heatmaps [2, 17, 64, 48] (many elements per partial sum)', shape: [2, 17, 64, 48], wShape: [2, 17, 1, 1] },
  { name: 'weight over the last axis', shape: [5, 9], wShape: [9] },
  { name: 'weight of one element', shape: [4, 3], wShape: [1] },
];

describe('mseLoss: mean and sum against float64', () => {
  for (const c of cases) {
    for (const reduction of ['mean', 'sum'] as const) {
      it(`${c.name}, ${reduction}`, async () => {
        const x = normal(c.shape, 1).values;
        const t = normal(c.shape, 2).values;
        const w = c.wShape ? uniform(c.wShape, 3, 0, 2).values : null;
        const scale = reduction === 'mean' ? 1 / x.length : 1;
        const ref = reference(x, t, c.shape, w, c.wShape ?? [], scale);
        const xs = tensor(x, c.shape, { requiresGrad: true });
        const ts = tensor(t, c.shape);
        const ws = w ? tensor(w, c.wShape!) : undefined;
        const loss = mseLoss(xs, ts, reduction, { weight: ws });
        loss.backward();
        expectClose(await loss.data(), [ref.loss], 0, 1e-5, 'loss');
        expectClose(await xs.grad!.data(), ref.dx, 1e-7 * scale, 1e-5, 'dx');
        for (const z of [xs, ts, loss, ...(ws ? [ws] : [])]) z.dispose();
      });
    }
  }

  it('strided input (a permuted view) and target, with the weight broadcast over the view', async () => {
    const x = normal([6, 5, 4], 4).values;
    const t = normal([4, 5, 6], 5).values;
    const w = uniform([4, 1, 1], 6, 0, 1).values;
    const xs = tensor(x, [6, 5, 4], { requiresGrad: true });
    const xv = permute(xs, [2, 1, 0]); // [4, 5, 6]
    const ts = tensor(t, [4, 5, 6]);
    const loss = mseLoss(xv, ts, 'mean', { weight: tensor(w, [4, 1, 1]) });
    loss.backward();
    // The reference on the permuted values, its gradient permuted back.
    const xp = new Float32Array(120);
    for (let a = 0; a < 4; a++) for (let b = 0; b < 5; b++) for (let c = 0; c < 6; c++) xp[(a * 5 + b) * 6 + c] = x[(c * 5 + b) * 4 + a]!;
    const ref = reference(xp, t, [4, 5, 6], w, [4, 1, 1], 1 / 120);
    const dx = new Float64Array(120);
    for (let a = 0; a < 4; a++) for (let b = 0; b < 5; b++) for (let c = 0; c < 6; c++) dx[(c * 5 + b) * 4 + a] = ref.dx[(a * 5 + b) * 6 + c]!;
    expectClose(await loss.data(), [ref.loss], 0, 1e-5, 'loss');
    expectClose(await xs.grad!.data(), dx, 1e-9, 1e-5, 'dx');
  });

  it('reduction none: the weighted squares elementwise', async () => {
    const x = normal([3, 4], 7).values;
    const t = normal([3, 4], 8).values;
    const w = uniform([4], 9, 0, 2).values;
    const out = mseLoss(tensor(x, [3, 4]), tensor(t, [3, 4]), 'none', { weight: tensor(w, [4]) });
    expectClose(await out.data(), Array.from(x, (v, i) => w[i % 4]! * (v - t[i]!) ** 2), 1e-7, 1e-6);
  });

  it('float16: accumulated in f32, rounded once (within one f16 ulp of the float64 value)', async () => {
    const shape = [2, 3, 17, 13];
    const x = normal(shape, 10).values;
    const t = normal(shape, 11).values;
    const w = uniform([2, 3, 1, 1], 12, 0, 1).values;
    const half = (a: Float32Array) => tensor(a, [a.length]).to('float16');
    const [xh, th, wh] = [half(x), half(t), half(w)];
    const round = async (h: Tensor) => Float32Array.from(await h.data());
    const [xr, tr, wr] = [await round(xh), await round(th), await round(wh)];
    const xs = xh.reshape(shape);
    xs.requiresGrad = true;
    const loss = mseLoss(xs, th.reshape(shape), 'mean', { weight: wh.reshape([2, 3, 1, 1]) });
    loss.backward();
    const ref = reference(xr, tr, shape, wr, [2, 3, 1, 1], 1 / sizeOf(shape));
    expect(loss.dtype).toBe('float16');
    expectClose(await loss.data(), [ref.loss], 0, 2 ** -10, 'loss');
    expectClose(await xs.grad!.data(), ref.dx, 2 ** -24, 2 ** -10, 'dx');
  });

  it('gradients of input, target and weight (finite differences)', () =>
    gradcheck(([x, t, w]) => mseLoss(x!, t!, 'mean', { weight: w }), [normal([3, 5, 7], 13), normal([3, 5, 7], 14), uniform([5, 1], 15, 0.5, 1.5)]));

  it('forward and backward in 3 dispatches with a weight, besides backward()\'s seed', () => {
    const x = tensor(normal([2, 17, 8, 6], 16).values, [2, 17, 8, 6], { requiresGrad: true });
    const t = tensor(normal([2, 17, 8, 6], 17).values, [2, 17, 8, 6]);
    const w = tensor(uniform([2, 17, 1, 1], 18, 0, 1).values, [2, 17, 1, 1]);
    const launches = launchesOf(() => tidy(() => mseLoss(x, t, 'mean', { weight: w }).backward()));
    expect(launches.map((l) => l.kernel.name)).toEqual(['mseLoss_partials', 'reduce_sum', 'fill', 'mseLoss_grad']);
  });

  it('bad input: mismatched shapes, a weight that does not broadcast, an empty input', () => {
    const x = tensor(new Float32Array(6), [2, 3]);
    const short = tensor(new Float32Array(3), [3]);
    const two = tensor(new Float32Array(2), [2]);
    const empty = tensor(new Float32Array(0), [0]);
    throwsEarly(() => mseLoss(x, short), /mseLoss: input \[2, 3\] and target \[3\] must have the same shape/);
    throwsEarly(() => mseLoss(x, x, 'mean', { weight: two }), /mseLoss: weight \[2\] does not broadcast to input \[2, 3\]/);
    throwsEarly(() => mseLoss(empty, empty), /mseLoss: input \[0\] is empty/);
  });
});
