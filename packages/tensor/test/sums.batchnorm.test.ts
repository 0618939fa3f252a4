// Batch norm taking over a split-K conv's held sum (runtime/sums.ts): the conv's output (or its input
// gradient) is still its split partials when batch norm binds it, and the batch norm pass that reads it
// first (the per-channel or fused reduction, or the split variant's partials pass) adds them up in the
// sum pass's order, stores them, and goes on. The results must be those of the sum pass followed by
// batch norm, bit for bit, in every variant: the reference puts a multiplication by 1 between each conv
// and batch norm (the same values, forward and backward), whose kernel binds the held output and so
// runs its sum pass first. Also the gradient added into a pending one (a block input read by two
// convs), planes too odd for vec4s, and several chunks per channel for the split variant.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DType, type Tensor, batchNorm2d, conv2d, forceVariant, init, launchesOf, memory, relu, tensor, tidy } from '@tmpose/tensor';
import type { BatchNormEpilogue } from '../src/ops/batchnorm.js';
import { hashFill } from './fixtures.js';

let live = 0;
beforeAll(async () => {
  await init();
  live = memory().liveTensors;
});
afterAll(() => expect(memory().liveTensors).toBe(live));

const values = (n: number, seed: number) => Float32Array.from(hashFill(n, { seed, levels: 401, denominator: 128 }));
const leaf = (shape: number[], seed: number, dtype: DType, requiresGrad = true) =>
  tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape, { dtype, requiresGrad });

// [N, C, H, W] in, F filters of 3x3: K = C * 9 = 45, so the forced split tile cuts it in 2.
const [N, C, F] = [2, 5, 6];

/**
 * a = bn1(conv1(x)) with `epilogue`, then the loss sum(conv2(a) * g) + sum(conv3(a) * g'): a's gradient
 * is conv3's input gradient added to conv2's (in place), and reaches bn1 as the held sum of that add.
 * Every conv runs the split tile; batch norm runs `variant`. Returns every output and gradient read back.
 */
async function block(dtype: DType, H: number, W: number, epilogue: BatchNormEpilogue, variant: 'fused' | 'channel' | 'split', summedFirst = false): Promise<Float32Array[]> {
  const t: Record<string, Tensor> = {
    x: leaf([N, C, H, W], 1, dtype),
    w1: leaf([F, C, 3, 3], 2, dtype),
    w2: leaf([C, F, 3, 3], 3, dtype),
    w3: leaf([C, F, 3, 3], 4, dtype),
    gamma: leaf([F], 5, 'float32'),
    beta: leaf([F], 6, 'float32'),
    rm: tensor(new Float32Array(F), [F]),
    rv: tensor(new Float32Array(F).fill(1), [F]),
    g2: leaf([N, C, H, W], 7, dtype, false),
    g3: leaf([N, C, H, W], 8, dtype, false),
  };
  if (epilogue === 'addRelu') t.r = leaf([N, F, H, W], 9, dtype);
  forceVariant('conv2d', 'g64x64s');
  forceVariant('batchNorm', variant);
  try {
    const h = conv2d(t.x!, t.w1!, undefined, { padding: 1 });
    const a = tidy(() => batchNorm2d(summedFirst ? h.mul(1) : h, t.gamma!, t.beta!, t.rm!, t.rv!, { relu: epilogue !== 'none', residual: t.r }));
    tidy(() => {
      const a1 = summedFirst ? a.mul(1) : a;
      conv2d(a1, t.w2!, undefined, { padding: 1 }).mul(t.g2!).sum().add(conv2d(a1, t.w3!, undefined, { padding: 1 }).mul(t.g3!).sum()).backward();
    });
    const read = async (v: Tensor) => Float32Array.from(await v.data());
    const grads = ['x', 'w1', 'w2', 'w3', 'gamma', 'beta', ...(t.r ? ['r'] : [])].map((k) => t[k]!.grad!);
    const out = [await read(h), await read(a), await read(t.rm!), await read(t.rv!), ...(await Promise.all(grads.map(read)))];
    for (const v of [h, a, ...Object.values(t)]) v.dispose();
    return out;
  } finally {
    forceVariant('conv2d', null);
    forceVariant('batchNorm', null);
  }
}

const NAMES = ['conv output', 'y', 'running mean', 'running var', 'dx', 'dw1', 'dw2', 'dw3', 'dgamma', 'dbeta', 'dresidual'];

describe('batch norm takes over a split-K conv\'s held sum', () => {
  // 8x6 and 7x5 planes: vec4 and scalar units. 48x48 and 47x49 at batch 2: the split variant's 2 and 5
  // chunks per channel. (Its statistics pass takes float32 only: see batchnorm.ts.)
  const cases = [[8, 6, 'none', 'fused'], [8, 6, 'relu', 'fused'], [7, 5, 'addRelu', 'fused'], [8, 6, 'relu', 'channel'], [7, 5, 'addRelu', 'channel'], [48, 48, 'relu', 'split'], [47, 49, 'addRelu', 'split']] as const;
  for (const dtype of ['float32', 'float16'] as const) {
    for (const [H, W, epilogue, variant] of cases) {
      it(`${dtype} ${H}x${W} ${epilogue}, ${variant}: the bits of the sum pass then batch norm`, async () => {
        const want = await block(dtype, H, W, epilogue, variant, true);
        const got = await block(dtype, H, W, epilogue, variant);
        want.forEach((w, i) => expect(Buffer.from(got[i]!.buffer).equals(Buffer.from(w.buffer)), NAMES[i]).toBe(true));
      });
    }
  }

  // Eval mode (running statistics) takes the conv's held sum over too, fused or per channel.
  for (const dtype of ['float32', 'float16'] as const) {
    for (const [H, W, epilogue, variant] of [[8, 6, 'relu', 'fused'], [7, 5, 'addRelu', 'channel']] as const) {
      it(`${dtype} ${H}x${W} ${epilogue}, eval ${variant}: the bits of the sum pass then batch norm, and no sum pass`, async () => {
        const x = leaf([N, C, H, W], 1, dtype, false);
        const w = leaf([F, C, 3, 3], 2, dtype, false);
        const r = epilogue === 'addRelu' ? leaf([N, F, H, W], 9, dtype, false) : undefined;
        const [gamma, beta, rm] = [leaf([F], 5, 'float32', false), leaf([F], 6, 'float32', false), leaf([F], 7, 'float32', false)];
        const rv = tensor(values(F, 8).map(Math.abs), [F]);
        const run = (summedFirst: boolean) =>
          tidy(() => {
            const h = conv2d(x, w, undefined, { padding: 1 });
            return batchNorm2d(summedFirst ? h.mul(1) : h, gamma, beta, rm, rv, { training: false, relu: true, residual: r });
          });
        forceVariant('conv2d', 'g64x64s');
        forceVariant('batchNormEval', variant);
        try {
          const kernels = launchesOf(() => run(false).dispose()).map((l) => l.kernel.name);
          expect(kernels.filter((k) => k === 'heldSums' || k.includes('SplitSum'))).toEqual([]);
          const [want, got] = [run(true), run(false)];
          expect(Buffer.from((await got.rawData()).buffer).equals(Buffer.from((await want.rawData()).buffer))).toBe(true);
          for (const t of [want, got]) t.dispose();
        } finally {
          forceVariant('conv2d', null);
          forceVariant('batchNormEval', null);
          for (const t of [x, w, gamma, beta, rm, rv, ...(r ? [r] : [])]) t.dispose();
        }
      });
    }
  }

  it('no sum pass of its own for a conv output or input gradient that batch norm reads next', () => {
    const x = leaf([N, C, 8, 6], 1, 'float32');
    const w1 = leaf([F, C, 3, 3], 2, 'float32');
    const w2 = leaf([C, F, 3, 3], 3, 'float32');
    const [gamma, beta] = [leaf([F], 5, 'float32'), leaf([F], 6, 'float32')];
    forceVariant('conv2d', 'g64x64s');
    forceVariant('batchNorm', 'fused');
    try {
      const kernels = launchesOf(() =>
        tidy(() => relu(conv2d(batchNorm2d(conv2d(x, w1, undefined, { padding: 1 }), gamma, beta, null, null, { relu: true }), w2, undefined, { padding: 1 })).sum().backward()),
      ).map((l) => `${l.kernel.name}|${l.kernel.key}`);
      expect(kernels.filter((k) => k.includes('SplitSum'))).toEqual([]);
      expect(kernels.filter((k) => /^batchNormStats\|.*p$/.test(k)), 'statistics from the partials').toHaveLength(1);
      expect(kernels.filter((k) => /^batchNormBackwardReduce\|.*psum$/.test(k)), 'backward from the partials').toHaveLength(1);
      // conv2's output, read by the ReLU, is summed alone; the two weight gradients and x's go out
      // together when read (here: at the recording's end).
      expect(kernels.filter((k) => k.startsWith('heldSums|'))).toEqual(['heldSums|f32k1', 'heldSums|f32k3']);
      // The recording above left the weights' gradients (never computed): this backward adds into them,
      // which runs their held sums, but not the input gradient's, held for the batch norm after it.
      forceVariant('batchNorm', 'split');
      const split = launchesOf(() =>
        tidy(() => conv2d(batchNorm2d(conv2d(x, w1, undefined, { padding: 1 }), gamma, beta, null, null, { relu: true }), w2, undefined, { padding: 1 }).sum().backward()),
      ).map((l) => `${l.kernel.name}|${l.kernel.key}`);
      expect(split.filter((k) => /^batchNormPartials\|.*psum$/.test(k)), 'the split partials passes from the partials, forward and backward').toHaveLength(2);
    } finally {
      forceVariant('conv2d', null);
      forceVariant('batchNorm', null);
    }
    for (const t of [x, w1, w2, gamma, beta]) {
      t.grad?.dispose();
      t.dispose();
    }
  });
});
