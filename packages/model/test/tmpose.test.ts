// The whole model on the `tiny` config: shapes, masking semantics (training vs inference, seeds,
// explicit indices, per-sample masks, slot vs gathered PE) and training steps (the loss falls, nothing
// leaks). No timing is asserted here (a test's speed depends on the runner and on what else runs): the
// speed of a training step of this config is measured by `pnpm bench train` (`tiny` at batch 8 and 32:
// the real loader, forward, JointsMSE, backward, Adam; `pnpm bench model` times TokenPose-B/TMPose-B only).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, init, memory, mseLoss, optim, randn, sub, abs, max, tidy } from '@tmpose/tensor';
import { RandomState, type TMPose, countFlops, countParams, createModel } from '@tmpose/model';

let model: TMPose;
let images: Tensor;
const B = 2;

beforeAll(async () => {
  await init();
  model = createModel('tiny', { seed: 7 });
  images = randn([B, 3, 128, 96], { seed: 11 });
});

afterAll(() => {
  images.dispose();
  model.dispose();
});

async function maxDiff(a: Tensor, b: Tensor): Promise<number> {
  const d = tidy(() => max(abs(sub(a, b))));
  const v = await d.item();
  d.dispose();
  return v;
}

describe('tiny TMPose', () => {
  it('maps images [B, 3, 128, 96] to heatmaps [B, 17, 32, 24]', async () => {
    model.eval();
    const out = model.forward(images);
    expect(out.shape).toEqual([B, 17, 32, 24]);
    const v = await out.data();
    expect(v.every(Number.isFinite)).toBe(true);
    out.dispose();
    expect(model.numTokens).toBe(64);
  });

  it('masks in training mode by default, at inference only when asked', () => {
    model.train();
    tidy(() => model.forward(images));
    expect(model.lastIndices).toHaveLength(38); // int(64 · 0.6)
    model.eval();
    tidy(() => model.forward(images));
    expect(model.lastIndices).toBeNull();
    tidy(() => model.forward(images, { keep: 0.4 }));
    expect(model.lastIndices).toHaveLength(25);
    tidy(() => model.forward(images, { keep: 0.6, sampler: 'block' }));
    expect(model.lastIndices).toEqual(Array.from({ length: 36 }, (_, i) => i));
    tidy(() => model.forward(images, { keep: 0.6, perSample: true }));
    expect(model.lastIndices).toHaveLength(B);
    expect((model.lastIndices as number[][])[0]).toHaveLength(38);
  });

  it('draws numpy-compatible indices from a seed, and explicit indices reproduce a forward exactly', async () => {
    model.eval();
    const a = model.forward(images, { keep: 0.6, seed: 3 });
    expect(model.lastIndices).toEqual(new RandomState(3).choice(64, 38));
    const used = model.lastIndices as number[];
    const b = model.forward(images, { indices: used });
    expect(await maxDiff(a, b)).toBe(0);
    const c = model.forward(images, { keep: 0.6, seed: 4 });
    expect(await maxDiff(a, c)).toBeGreaterThan(1e-6);
    // Unseeded draws advance the model's own generator: two forwards differ.
    model.forward(images, { keep: 0.6 });
    const first = model.lastIndices;
    model.forward(images, { keep: 0.6 });
    expect(model.lastIndices).not.toEqual(first);
    for (const t of [a, b, c]) t.dispose();
    expect(() => model.forward(images, { indices: [0, 64] })).toThrow(/out of range/);
    expect(() => model.forward(images, { indices: [[1, 2]] })).toThrow(/batch of 2/);
  });

  it('with gathered PE a permutation of all tokens changes nothing; with slot PE it does (trap T2)', async () => {
    // On random features (the freshly initialised backbone's are ~1e-9, which would hide the effect).
    const gatheredModel = createModel('tiny', { seed: 7 }).eval();
    const slotModel = createModel('tiny', { seed: 7, pe: 'slot' }).eval();
    const feature = randn([B, 8, 32, 24], { seed: 12 });
    const perm = new RandomState(9).permutation(64);
    const full = gatheredModel.forwardFeatures(feature);
    const gathered = gatheredModel.forwardFeatures(feature, { indices: perm });
    expect(await maxDiff(full, gathered)).toBeLessThan(1e-5);
    const slotFull = slotModel.forwardFeatures(feature);
    expect(await maxDiff(full, slotFull)).toBe(0); // same weights, no masking: identical
    const slotPerm = slotModel.forwardFeatures(feature, { indices: perm });
    expect(await maxDiff(full, slotPerm)).toBeGreaterThan(1e-3); // heatmaps are O(0.1) at init
    // The official keep 1.0 + random: a permutation even at full keep, only with slot PE.
    tidy(() => slotModel.forwardFeatures(feature, { keep: 1 }));
    expect(slotModel.lastIndices).toHaveLength(64);
    tidy(() => gatheredModel.forwardFeatures(feature, { keep: 1 }));
    expect(gatheredModel.lastIndices).toBeNull();
    for (const t of [feature, full, gathered, slotFull, slotPerm]) t.dispose();
    slotModel.dispose();
    gatheredModel.dispose();
  });

  it('trains: 8 steps at batch 4 (forward, MSE, backward, Adam) lower the loss and leak nothing', async () => {
    const net = createModel('tiny', { seed: 1 });
    net.train();
    const opt = new optim.Adam(net.parameters(), { lr: 1e-3 });
    const x = randn([4, 3, 128, 96], { seed: 5 });
    const y = randn([4, 17, 32, 24], { seed: 6, std: 0.1 });
    const live = memory().liveTensors;
    const losses: number[] = [];
    const times: number[] = [];
    for (let step = 0; step < 8; step++) {
      const t0 = performance.now();
      const loss = tidy(() => {
        const l = mseLoss(net.forward(x, { seed: step }), y);
        l.backward();
        return l;
      });
      opt.step();
      opt.zeroGrad();
      losses.push(await loss.item());
      loss.dispose();
      times.push(performance.now() - t0);
    }
    const steady = times.slice(2).reduce((a, b) => a + b, 0) / (times.length - 2);
    console.log(
      `tiny: ${countParams(net).toLocaleString('en')} parameters, ${countFlops(net.config, { convention: 'macs' }).total.toFixed(4)} GMACs at keep 0.6; ` +
        `step times (ms, batch 4): ${times.map((t) => t.toFixed(0)).join(' ')}; steady mean ${steady.toFixed(0)} ms`,
    );
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
    // Adam's two moments per parameter (views) and the one buffer (arena) holding them: nothing leaked.
    expect(memory().liveTensors).toBe(live + opt.paramGroups[0]!.params.length * 2 + 1);
    x.dispose();
    y.dispose();
    opt.zeroGrad();
    net.dispose();
  });
});
