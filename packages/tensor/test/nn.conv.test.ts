// nn.Conv2d, nn.BatchNorm2d and foldBatchNorm: names, initialisation, state dicts, train/eval, folding.
import { beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, add, batchNorm2d, conv2d, init, io, memory, nn, randn, relu, tensor, tidy } from '@tmpose/tensor';
import { expectClose, values } from './helpers.js';

beforeAll(async () => {
  await init();
});

/** Host reference: per-channel mean and biased / unbiased variance of an NCHW array. */
function channelStats(x: ArrayLike<number>, [N, C, H, W]: number[]) {
  const HW = H! * W!;
  const m = N! * HW;
  return [...Array(C).keys()].map((c) => {
    let s = 0;
    for (let n = 0; n < N!; n++) for (let i = 0; i < HW; i++) s += x[(n * C! + c) * HW + i]!;
    const mean = s / m;
    let q = 0;
    for (let n = 0; n < N!; n++) for (let i = 0; i < HW; i++) q += (x[(n * C! + c) * HW + i]! - mean) ** 2;
    return { mean, biased: q / m, unbiased: q / (m - 1) };
  });
}

describe('nn.Conv2d', () => {
  it('registers weight [out, in/groups, kh, kw] and bias, and initialises in U(±1/√fan_in)', async () => {
    const conv = new nn.Conv2d(6, 8, 3, { padding: 1, groups: 2, seed: 11 });
    expect(conv.namedParameters().map(([k, t]) => [k, t.shape])).toEqual([['weight', [8, 3, 3, 3]], ['bias', [8]]]);
    const bound = 1 / Math.sqrt(3 * 3 * 3);
    const w = await values(conv.weight);
    const b = await values(conv.bias!);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.8 * bound);
    expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(b).not.toEqual(w.slice(0, 8));
    // Same seed, same values.
    const again = new nn.Conv2d(6, 8, 3, { padding: 1, groups: 2, seed: 11 });
    expect(await values(again.weight)).toEqual(w);
    const nb = new nn.Conv2d(3, 4, [1, 3], { bias: false });
    expect(nb.namedParameters().map(([k, t]) => [k, t.shape])).toEqual([['weight', [4, 3, 1, 3]]]);
    expect(() => new nn.Conv2d(5, 4, 3, { groups: 2 })).toThrow(/divisible by groups/);
    for (const m of [conv, again, nb]) m.dispose();
  });

  it('computes the functional conv2d with its stride, padding and groups', async () => {
    const conv = new nn.Conv2d(4, 6, 3, { stride: 2, padding: 1, groups: 2, seed: 3 });
    const x = randn([1, 4, 7, 5], { seed: 4 });
    const y = conv.forward(x);
    expect(y.shape).toEqual([1, 6, 4, 3]);
    const ref = conv2d(x, conv.weight, conv.bias!, { stride: 2, padding: 1, groups: 2 });
    expectClose(await values(y), await values(ref), 0);
    for (const t of [x, y, ref]) t.dispose();
    conv.dispose();
  });
});

describe('nn.BatchNorm2d', () => {
  it("uses PyTorch's state-dict names and initial values", async () => {
    const bn = new nn.BatchNorm2d(3);
    const dict = bn.stateDict();
    expect(Object.entries(dict).map(([k, t]) => [k, t.dtype, t.shape])).toEqual([
      ['weight', 'float32', [3]],
      ['bias', 'float32', [3]],
      ['running_mean', 'float32', [3]],
      ['running_var', 'float32', [3]],
      ['num_batches_tracked', 'int32', []],
    ]);
    expect(await values(bn.weight!)).toEqual([1, 1, 1]);
    expect(await values(bn.bias!)).toEqual([0, 0, 0]);
    expect(await values(bn.running_mean!)).toEqual([0, 0, 0]);
    expect(await values(bn.running_var!)).toEqual([1, 1, 1]);
    expect(await bn.num_batches_tracked!.item()).toBe(0);
    expect(bn.namedParameters().map(([k]) => k)).toEqual(['weight', 'bias']);
    for (const t of Object.values(dict)) t.dispose();
    const plain = new nn.BatchNorm2d(2, { affine: false, trackRunningStats: false });
    expect(Object.keys(plain.stateDict())).toEqual([]);
    bn.dispose();
  });

  it('updates running stats and num_batches_tracked in train mode only, and uses them in eval mode', async () => {
    const bn = new nn.BatchNorm2d(2, { momentum: 0.1, eps: 1e-5 });
    const shape = [2, 2, 3, 2];
    const x = randn(shape, { seed: 5, mean: 0.5, std: 2 });
    const xs = await values(x);
    const st = channelStats(xs, shape);
    // Train mode: batch statistics normalise, running stats move.
    const y = bn.forward(x);
    const ys = await values(y);
    const expectedTrain = xs.map((v, i) => {
      const c = Math.floor(i / 6) % 2;
      return (v - st[c]!.mean) / Math.sqrt(st[c]!.biased + 1e-5);
    });
    expectClose(ys, expectedTrain, 1e-5, 1e-5, 'train output');
    const rm1 = st.map((s) => 0.1 * s.mean);
    const rv1 = st.map((s) => 0.9 + 0.1 * s.unbiased);
    expectClose(await values(bn.running_mean!), rm1, 1e-6, 1e-5, 'running_mean');
    expectClose(await values(bn.running_var!), rv1, 1e-6, 1e-5, 'running_var');
    expect(await bn.num_batches_tracked!.item()).toBe(1);
    bn.forward(x).dispose();
    expect(await bn.num_batches_tracked!.item()).toBe(2);
    const rm2 = rm1.map((r, c) => 0.9 * r + 0.1 * st[c]!.mean);
    expectClose(await values(bn.running_mean!), rm2, 1e-6, 1e-5, 'running_mean after 2');

    // Eval mode: running statistics normalise, nothing moves.
    bn.eval();
    const rv2 = await values(bn.running_var!);
    const ye = bn.forward(x);
    const expectedEval = xs.map((v, i) => {
      const c = Math.floor(i / 6) % 2;
      return (v - rm2[c]!) / Math.sqrt(rv2[c]! + 1e-5);
    });
    expectClose(await values(ye), expectedEval, 1e-5, 1e-5, 'eval output');
    expect(await bn.num_batches_tracked!.item()).toBe(2);
    expectClose(await values(bn.running_mean!), rm2, 1e-6, 1e-5, 'running_mean after eval');
    expectClose(await values(bn.running_var!), rv2, 0, 0, 'running_var after eval');

    // trackRunningStats: false uses batch statistics in eval mode too.
    const free = new nn.BatchNorm2d(2, { trackRunningStats: false }).eval();
    expectClose(await values(free.forward(x)), expectedTrain, 1e-5, 1e-5, 'untracked eval output');
    for (const t of [x, y, ye]) t.dispose();
    bn.dispose();
    free.dispose();
  });

  it('round-trips its state dict (directly and through safetensors), num_batches_tracked included', async () => {
    const a = new nn.BatchNorm2d(3);
    const x = randn([2, 3, 2, 2], { seed: 9 });
    a.forward(x).dispose();
    a.forward(x).dispose();
    a.forward(x).dispose();
    const bytes = await io.serialize(a.stateDict());
    const b = new nn.BatchNorm2d(3);
    b.loadStateDict(io.parse(bytes));
    for (const [k, t] of Object.entries(a.stateDict())) {
      expect(await values(b.stateDict()[k]!), k).toEqual(await values(t));
    }
    expect(await b.num_batches_tracked!.item()).toBe(3);
    // A dict whose counter has the wrong shape is refused, naming the key.
    const bad = { ...a.stateDict(), num_batches_tracked: tensor(new Int32Array([3]), [1], { dtype: 'int32' }) };
    expect(() => b.loadStateDict(bad)).toThrow(/num_batches_tracked: int32 \[1\] in the dict, int32 \[\] in the module/);
    x.dispose();
    a.dispose();
    b.dispose();
  });

  it('round-trips a Conv2d + BatchNorm2d stack through a state dict', async () => {
    const make = (seed: number) => new nn.Sequential(new nn.Conv2d(2, 3, 3, { padding: 1, bias: false, seed }), new nn.BatchNorm2d(3), new nn.ReLU());
    const a = make(1);
    const b = make(2);
    const x = randn([1, 2, 5, 4], { seed: 3 });
    a.forward(x).dispose();
    expect(Object.keys(a.stateDict())).toEqual(['0.weight', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked']);
    b.loadStateDict(a.stateDict());
    a.eval();
    b.eval();
    expectClose(await values(b.forward(x)), await values(a.forward(x)), 0, 0, 'same outputs');
    x.dispose();
    a.dispose();
    b.dispose();
  });
});

describe('batch norm with a fused ReLU or residual + ReLU', () => {
  // Against the unfused ops (each checked against PyTorch elsewhere): outputs, and every gradient,
  // on planes of both paths (vec4: 8x6; scalar: 5x3), in training and eval mode.
  for (const [H, W] of [[8, 6], [5, 3]] as const) {
    for (const training of [true, false]) {
      for (const withResidual of [false, true]) {
        it(`${withResidual ? 'relu(bn(x) + r)' : 'relu(bn(x))'} on 2x3x${H}x${W}, ${training ? 'training' : 'eval'}: output and gradients equal the unfused ops`, async () => {
          const shape = [2, 3, H, W];
          const mk = (seed: number, grad: boolean) => randn(shape, { seed, requiresGrad: grad });
          const run = async (fused: boolean) => {
            const x = mk(1, true);
            const r = mk(2, true);
            const w = tensor(new Float32Array([1.5, -0.5, 0.8]), [3], { requiresGrad: true });
            const b = tensor(new Float32Array([0.1, 0.3, -0.2]), [3], { requiresGrad: true });
            const rm = tensor(new Float32Array([0.2, -0.1, 0]), [3]);
            const rv = tensor(new Float32Array([1.2, 0.7, 2]), [3]);
            const g = mk(3, false);
            const o = { training, momentum: 0.1, eps: 1e-5 };
            const y = tidy(() => {
              if (fused) return batchNorm2d(x, w, b, rm, rv, { ...o, relu: true, residual: withResidual ? r : undefined });
              const n = batchNorm2d(x, w, b, rm, rv, o);
              return relu(withResidual ? add(n, r) : n);
            });
            y.backward(g);
            const out = [await values(y), await values(x.grad!), await values(w.grad!), await values(b.grad!), ...(withResidual ? [await values(r.grad!)] : []), await values(rm), await values(rv)];
            for (const t of [x, r, w, b, rm, rv, g, y]) t.dispose();
            return out;
          };
          const [want, got] = [await run(false), await run(true)];
          const names = ['output', 'dx', 'dweight', 'dbias', ...(withResidual ? ['dresidual'] : []), 'running mean', 'running var'];
          got.forEach((v, i) => expectClose(v, want[i]!, 1e-5, 1e-5, names[i]));
        });
      }
    }
  }

  it('nn.BatchNorm2d.forwardReLU fuses relu(bn(x)) and relu(bn(x) + r); a residual needs the ReLU and the input shape', () => {
    const bn = new nn.BatchNorm2d(3);
    const x = randn([2, 3, 4, 4], { seed: 4 });
    const y = bn.forwardReLU(x, x);
    expect(y.shape).toEqual([2, 3, 4, 4]);
    expect(() => batchNorm2d(x, null, null, null, null, { residual: x })).toThrow(/batchNorm2d: residual .* needs relu: true/);
    const narrow = randn([2, 3, 4, 2], { seed: 5 });
    expect(() => batchNorm2d(x, null, null, null, null, { relu: true, residual: narrow })).toThrow(/must be shaped like input \[2, 3, 4, 4\]/);
    for (const t of [x, y, narrow]) t.dispose();
    bn.dispose();
  });
});

describe('foldBatchNorm', () => {
  async function check(conv: nn.Conv2d, inShape: number[]) {
    const bn = new nn.BatchNorm2d(conv.outChannels);
    // Non-trivial γ, β and running statistics.
    const F = conv.outChannels;
    const state: Record<string, Tensor> = {
      weight: tensor([...Array(F).keys()].map((i) => 0.5 + 0.25 * i)),
      bias: tensor([...Array(F).keys()].map((i) => 0.1 * i - 0.2)),
      running_mean: tensor([...Array(F).keys()].map((i) => 0.3 - 0.05 * i)),
      running_var: tensor([...Array(F).keys()].map((i) => 0.2 + 0.3 * i)),
      num_batches_tracked: tensor(new Int32Array([7]), [], { dtype: 'int32' }),
    };
    bn.loadStateDict(state);
    bn.eval();
    const x = randn(inShape, { seed: 21 });
    const folded = nn.foldBatchNorm(conv, bn);
    expect(folded.bias).not.toBeNull();
    const ref = tidy(() => bn.forward(conv.forward(x)));
    const y = folded.forward(x);
    expect(y.shape).toEqual(ref.shape);
    expectClose(await values(y), await values(ref), 1e-5, 1e-5, 'folded');
    for (const t of [x, y, ref, ...Object.values(state)]) t.dispose();
    bn.dispose();
    folded.dispose();
  }

  it('gives the same output as conv → bn (eval), with and without a conv bias', async () => {
    const before = memory().liveTensors;
    const c1 = new nn.Conv2d(3, 4, 3, { stride: 2, padding: 1, bias: false, seed: 1 });
    await check(c1, [2, 3, 9, 7]);
    const c2 = new nn.Conv2d(4, 6, 1, { seed: 2, groups: 2 });
    await check(c2, [1, 4, 5, 5]);
    // The conv itself is untouched.
    expect(c1.bias).toBeNull();
    c1.dispose();
    c2.dispose();
    expect(memory().liveTensors).toBe(before);
  });

  it('refuses a BatchNorm2d without running statistics or of the wrong width', () => {
    const conv = new nn.Conv2d(2, 3, 1);
    expect(() => nn.foldBatchNorm(conv, new nn.BatchNorm2d(3, { trackRunningStats: false }))).toThrow(/no running statistics/);
    expect(() => nn.foldBatchNorm(conv, new nn.BatchNorm2d(4))).toThrow(/3 output channels/);
  });
});
