// GradScaler: unscaled gradients equal unscaled-loss gradients (the scale is a power of two), an
// overflow skips the step (weights and Adam state unchanged), halves the scale and is counted, the scale
// grows after growthInterval good steps, the state round-trips, and disabled it is a pass-through.
import { beforeAll, describe, expect, it } from 'vitest';
import { GradScaler, type Tensor, init, memory, mul, optim, randn, sum, tensor, tidy } from '@tmpose/tensor';

beforeAll(async () => {
  await init();
});

const param = (seed: number) => {
  const p = randn([5, 3], { seed });
  p.requiresGrad = true;
  return p;
};

/** loss = sum(p * x), so p.grad = x: an Infinity in x overflows the gradient. */
const backward = (p: Tensor, x: Tensor, scaler: GradScaler) =>
  tidy(() => {
    scaler.scale(sum(mul(p, x))).backward();
  });

describe('GradScaler', () => {
  it('unscales gradients exactly and steps as without scaling', async () => {
    const a = param(1);
    const b = param(1);
    const x = randn([5, 3], { seed: 2 });
    const scaler = new GradScaler({ initScale: 2 ** 10 });
    const oa = new optim.Adam([a], { lr: 0.1 });
    const ob = new optim.Adam([b], { lr: 0.1 });
    backward(a, x, scaler);
    expect(await a.grad!.data()).toEqual((await x.data()).map((v) => v * 2 ** 10));
    scaler.unscale(oa);
    expect(await a.grad!.data()).toEqual(await x.data());
    expect(await scaler.step(oa)).toBe(true);
    scaler.update();
    tidy(() => sum(mul(b, x)).backward());
    ob.step();
    expect(await a.data()).toEqual(await b.data());
    expect(scaler.getScale()).toBe(2 ** 10);
    expect(scaler.skippedSteps).toBe(0);
    for (const t of [a, b, x]) t.dispose();
    oa.dispose();
    ob.dispose();
  });

  it('unscales many gradients (several per dispatch, in more than one dispatch) and finds an Infinity in any of them', async () => {
    const params = Array.from({ length: 11 }, (_, i) => {
      const p = randn([i + 1, 3], { seed: 20 + i });
      p.requiresGrad = true;
      return p;
    });
    const opt = new optim.SGD(params, { lr: 0.1 });
    const scaler = new GradScaler({ initScale: 2 ** 4 });
    const grads = async (bad: number | null) => {
      const xs = params.map((p, i) => {
        const values = Array.from({ length: p.size }, (_, j) => i + j / 8);
        if (i === bad) values[p.size - 1] = Infinity;
        return tensor(values, [...p.shape]);
      });
      tidy(() => scaler.scale(params.map((p, i) => sum(mul(p, xs[i]!))).reduce((a, b) => a.add(b))).backward());
      scaler.unscale(opt);
      const got = await Promise.all(params.map((p) => p.grad!.data()));
      const stepped = await scaler.step(opt);
      scaler.update();
      opt.zeroGrad();
      const want = await Promise.all(xs.map((x) => x.data()));
      xs.forEach((x) => x.dispose());
      return { got, want, stepped };
    };
    const good = await grads(null);
    expect(good.stepped).toBe(true);
    good.got.forEach((g, i) => expect(g).toEqual(good.want[i]));
    expect((await grads(9)).stepped).toBe(false);
    expect((await grads(0)).stepped).toBe(false);
    expect(scaler.skippedSteps).toBe(2);
    params.forEach((p) => p.dispose());
    opt.dispose();
  });

  it('an overflow skips the step (weights and Adam state unchanged), halves the scale and counts it', async () => {
    const p = param(3);
    const good = randn([5, 3], { seed: 4 });
    const bad = tensor([1, 2, Infinity, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, NaN], [5, 3]);
    const opt = new optim.Adam([p], { lr: 0.1 });
    const scaler = new GradScaler({ initScale: 2 ** 8 });
    backward(p, good, scaler);
    expect(await scaler.step(opt)).toBe(true);
    scaler.update();
    opt.zeroGrad();
    const state = opt.stateDict();
    const before = [await p.data(), await state.state[0]!.tensors.expAvg!.data(), await state.state[0]!.tensors.expAvgSq!.data()];
    const live = memory().liveTensors;
    backward(p, bad, scaler);
    expect(await scaler.step(opt)).toBe(false);
    scaler.update();
    opt.zeroGrad();
    expect([await p.data(), await state.state[0]!.tensors.expAvg!.data(), await state.state[0]!.tensors.expAvgSq!.data()]).toEqual(before);
    expect(memory().liveTensors).toBe(live);
    const stepOf = () => {
      const dict = opt.stateDict();
      for (const t of Object.values(dict.state[0]!.tensors)) t.dispose();
      return dict.state[0]!.step;
    };
    expect(stepOf()).toBe(1);
    expect(scaler.getScale()).toBe(2 ** 7);
    expect(scaler.skippedSteps).toBe(1);
    // A huge scale overflows a finite loss's gradients too (float32 max is about 3.4e38).
    scaler.loadStateDict({ ...scaler.stateDict(), scale: 2 ** 127 });
    backward(p, tensor(Array(15).fill(4), [5, 3]), scaler);
    expect(await scaler.step(opt)).toBe(false);
    scaler.update();
    opt.zeroGrad();
    expect(scaler.getScale()).toBe(2 ** 126);
    expect(scaler.skippedSteps).toBe(2);
    // ... and recovers: the next step is taken.
    backward(p, good, scaler);
    expect(await scaler.step(opt)).toBe(true);
    scaler.update();
    expect(stepOf()).toBe(2);
    for (const t of Object.values(state.state[0]!.tensors)) t.dispose();
    for (const t of [p, good, bad]) t.dispose();
    opt.dispose();
  });

  it('grows the scale after growthInterval steps without overflow; the state round-trips', async () => {
    const p = param(5);
    const x = randn([5, 3], { seed: 6 });
    const opt = new optim.SGD([p], { lr: 0.01 });
    const scaler = new GradScaler({ initScale: 4, growthInterval: 3 });
    for (let i = 0; i < 3; i++) {
      backward(p, x, scaler);
      await scaler.step(opt);
      scaler.update();
      opt.zeroGrad();
      expect(scaler.getScale()).toBe(i < 2 ? 4 : 8);
    }
    const saved = JSON.parse(JSON.stringify(scaler.stateDict()));
    expect(saved).toEqual({ scale: 8, growthFactor: 2, backoffFactor: 0.5, growthInterval: 3, growthTracker: 0, skippedSteps: 0 });
    const again = new GradScaler();
    again.loadStateDict({ ...saved, growthTracker: 2, skippedSteps: 5 });
    expect(again.stateDict()).toEqual({ ...saved, growthTracker: 2, skippedSteps: 5 });
    expect(() => again.loadStateDict({ ...saved, scale: -1, growthInterval: 0 })).toThrow(
      /^GradScaler: scale -1 must be a positive finite number; growthInterval 0 must be a positive integer$/,
    );
    expect(again.getScale()).toBe(8);
    expect(() => again.update()).toThrow(/^GradScaler.update: no step\(\) since the last update\(\)$/);
    p.dispose();
    x.dispose();
    opt.dispose();
  });

  it('disabled, it passes the loss through and always steps', async () => {
    const p = param(7);
    const x = randn([5, 3], { seed: 8 });
    const opt = new optim.SGD([p], { lr: 0.5 });
    const scaler = new GradScaler({ enabled: false });
    backward(p, x, scaler);
    expect(await p.grad!.data()).toEqual(await x.data());
    expect(await scaler.step(opt)).toBe(true);
    scaler.update();
    expect(scaler.getScale()).toBe(1);
    for (const t of [p, x]) t.dispose();
    opt.dispose();
  });

  it('a float16 gradient is one error in unscale and in the optimizer, naming the parameter', () => {
    const p = param(9);
    const opt = new optim.Adam([p]);
    p.grad = randn([5, 3], { seed: 10 }).to('float16') as unknown as Tensor<'float32'>;
    expect(() => new GradScaler().unscale(opt)).toThrow(
      /^GradScaler.unscale: parameter 0 of group 0 \(\[5, 3\]\) has a float16 gradient; master weights and their gradients are float32$/,
    );
    expect(() => opt.step()).toThrow(/^Adam.step: the gradient of a \[5, 3\] parameter is float16, not float32$/);
    opt.zeroGrad();
    p.dispose();
    opt.dispose();
  });
});
