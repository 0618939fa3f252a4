// Held-back sums (runtime/sums.ts): a weight gradient's sum over its split partials waits until the
// gradient is used and goes out with the others, several per dispatch. Checked on conv weight
// gradients (1x1 convs, whose gradient dW[f, c] = sum over n, h, w of dy[n, f, h, w] x[n, c, h, w] is
// computed here in float64): the values, the number of dispatches, and each way the gradient can be
// used first — read back, bound by a kernel, overwritten, released unread, accumulated into — and
// around a recording (launchesOf).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, add, conv2d, init, launchesOf, memory, mul, sum, tensor, tidy } from '@tmpose/tensor';
import { normal } from './gradcheck.js';
import { expectClose } from './helpers.js';

let live = 0;
let perDispatch = 0;
beforeAll(async () => {
  const info = await init();
  perDispatch = Math.min(8, Math.floor(info.limits.maxStorageBuffersPerShaderStage / 2));
  live = memory().liveTensors;
});
afterAll(() => expect(memory().liveTensors).toBe(live));

// [2, 4, 6, 6] in, 8 filters: the CPU register kernel splits the 12 output rows into 12 partials (a GPU's
// split tiles hold their sums the same way).
const [N, C, H, W, F] = [2, 4, 6, 6, 8];

interface Layer { w: Tensor; x: Tensor; dy: Tensor }

function layers(count: number, dtype: 'float32' | 'float16' = 'float32'): Layer[] {
  return Array.from({ length: count }, (_, i) => ({
    w: tensor(normal([F, C, 1, 1], 10 + i).values, [F, C, 1, 1], { dtype, requiresGrad: true }),
    x: tensor(normal([N, C, H, W], 100 + i).values, [N, C, H, W], { dtype }),
    dy: tensor(normal([N, F, H, W], 200 + i).values, [N, F, H, W], { dtype }),
  }));
}

/** sum_i <conv(x_i, w_i), dy_i>: its backward gives w_i the gradient dyᵀ x. */
const lossOf = (ls: Layer[]) => tidy(() => ls.map((l) => sum(mul(conv2d(l.x, l.w), l.dy))).reduce((a, b) => add(a, b)));

async function expected(l: Layer): Promise<Float64Array> {
  const [x, dy] = await Promise.all([l.x.data(), l.dy.data()]);
  const dw = new Float64Array(F * C);
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      for (let c = 0; c < C; c++) {
        for (let p = 0; p < H * W; p++) dw[f * C + c] += dy[(n * F + f) * H * W + p]! * x[(n * C + c) * H * W + p]!;
      }
    }
  }
  return dw;
}

const dispose = (ls: Layer[]) => ls.forEach((l) => [l.w.grad, l.w, l.x, l.dy].forEach((t) => t?.dispose()));

describe('held sums', () => {
  it('the weight gradients of 10 convs: summed by a few dispatches, right when read', async () => {
    const ls = layers(10);
    // Nothing reads the gradients during the backward pass: a kernel that reads them all afterwards
    // (here sums of them, as an optimizer's step) finds one sum dispatch for every few convs before it.
    const kernels = launchesOf(() => {
      tidy(() => lossOf(ls).backward());
      tidy(() => {
        ls.forEach((l) => sum(l.w.grad!));
      });
    }).map((l) => l.kernel.name);
    expect(kernels.filter((k) => k === 'heldSums')).toHaveLength(Math.ceil(10 / perDispatch));
    for (const l of ls) {
      l.w.grad!.dispose();
      l.w.grad = null;
    }
    const loss = lossOf(ls);
    loss.backward();
    loss.dispose();
    for (const l of ls) expectClose(await l.w.grad!.data(), await expected(l), 1e-5, 1e-5, 'dW');
    dispose(ls);
  });

  it('a kernel that binds the gradient sees it summed', async () => {
    const [l] = layers(1);
    const loss = lossOf([l!]);
    loss.backward();
    const plus = add(l!.w.grad!, 1);
    expectClose(await plus.data(), Array.from(await expected(l!), (v) => v + 1), 1e-5, 1e-5, 'dW + 1');
    for (const t of [loss, plus]) t.dispose();
    dispose([l!]);
  });

  it('a gradient released unread leaves its buffer to the next tensor untouched', async () => {
    const ls = layers(3);
    const loss = lossOf(ls);
    loss.backward();
    loss.dispose();
    for (const l of ls) {
      l.w.grad!.dispose();
      l.w.grad = null;
    }
    // New tensors of the gradients' size take their buffers from the pool: their values stay theirs.
    const fresh = [1, 2, 3].map((v) => tensor(new Float32Array(F * C).fill(v), [F, C]));
    for (const [i, t] of fresh.entries()) expect(Array.from(await t.data())).toEqual(new Array(F * C).fill(i + 1));
    fresh.forEach((t) => t.dispose());
    dispose(ls);
  });

  it('a second backward adds into the held gradient', async () => {
    const [l] = layers(1);
    for (let i = 0; i < 2; i++) {
      const loss = lossOf([l!]);
      loss.backward();
      loss.dispose();
    }
    expectClose(await l!.w.grad!.data(), Array.from(await expected(l!), (v) => 2 * v), 1e-5, 1e-5, '2 dW');
    dispose([l!]);
  });

  it('a recording (launchesOf) neither runs nor swallows sums held by real work', async () => {
    const [l, other] = layers(2);
    const loss = lossOf([l!]);
    loss.backward();
    loss.dispose();
    launchesOf(() => tidy(() => lossOf([other!]).backward()));
    expectClose(await l!.w.grad!.data(), await expected(l!), 1e-5, 1e-5, 'dW after a recording');
    dispose([l!, other!]);
  });

  it('float16 weights: the f32 sums rounded once to half', async () => {
    const ls = layers(2, 'float16');
    const loss = lossOf(ls);
    loss.backward();
    loss.dispose();
    for (const l of ls) {
      expect(l.w.grad!.dtype).toBe('float16');
      const want = await expected(l);
      const scale = Math.max(...Array.from(want, Math.abs));
      expectClose(await l.w.grad!.data(), want, 2 ** -10 * scale + 1e-3, 0, 'dW (half)');
    }
    dispose(ls);
  });
});
