// HRNet-s (docs/model-spec.md §1): parameter counts, state-dict keys against a PyTorch reference of the
// spec, and numerical parity with that reference on a narrow variant. Fixtures: scripts/gen_hrnet_reference.py.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { concat, init, io, memory, nn, noGrad, randn, sum, tidy } from '@tmpose/tensor';
import { HRNetS } from '@tmpose/model';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const reference = JSON.parse(readFileSync(fixture('hrnet_keys.json'), 'utf8')) as {
  w32: [string, number[]][];
  w48: [string, number[]][];
  params: { w32: number; w48: number };
};

/** |a − e| ≤ atol + rtol·|e| everywhere; reports the worst element. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, what: string) {
  expect(actual.length, what).toBe(expected.length);
  let worst = 0;
  let at = -1;
  let maxAbs = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    maxAbs = Math.max(maxAbs, d);
    const excess = d - (atol + rtol * Math.abs(expected[i]!));
    if (!(excess <= worst)) {
      worst = excess;
      at = i;
    }
  }
  if (at >= 0) expect.fail(`${what}: element ${at} is ${actual[at]}, expected ${expected[at]} (atol ${atol}, rtol ${rtol}; max |diff| ${maxAbs})`);
  return maxAbs;
}

beforeAll(async () => {
  await init();
});

describe('HRNetS', () => {
  for (const width of [32, 48] as const) {
    it(`W${width}: ${width === 32 ? '7,685,632' : '16,705,824'} parameters and the reference state-dict keys and shapes`, () => {
      const model = new HRNetS(width, { seed: 1 });
      const count = model.parameters().reduce((s, p) => s + p.size, 0);
      expect(count).toBe(width === 32 ? 7_685_632 : 16_705_824);
      expect(count).toBe(reference.params[`w${width}`]);
      const dict = model.stateDict();
      const ours = Object.entries(dict).map(([k, t]) => [k, [...t.shape]]);
      expect(ours).toEqual(reference[`w${width}`]);
      expect(ours.length).toBe(930);
      expect(model.namedModules().filter(([, m]) => m instanceof nn.BatchNorm2d).length).toBe(155);
      for (const t of Object.values(dict)) t.dispose();
      model.dispose();
    });
  }

  it('names things as the official checkpoint does (spec §9, without pre_feature.)', () => {
    const keys = reference.w32.map(([k]) => k);
    for (const k of [
      'conv1.weight', 'bn1.num_batches_tracked', 'layer1.0.downsample.0.weight', 'layer1.0.downsample.1.running_var',
      'layer1.3.conv3.weight', 'transition1.0.0.weight', 'transition1.0.1.bias', 'transition1.1.0.0.weight',
      'transition1.1.0.1.running_mean', 'stage2.0.branches.1.3.bn2.weight', 'stage2.0.fuse_layers.0.1.0.weight',
      'stage2.0.fuse_layers.1.0.0.0.weight', 'transition2.2.0.0.weight', 'stage3.0.fuse_layers.2.0.1.0.weight',
      'stage3.0.fuse_layers.2.0.0.1.weight', 'stage3.3.fuse_layers.0.2.1.running_var',
    ]) {
      expect(keys, k).toContain(k);
    }
    // The last stage3 module fuses into branch 0 only; identities (None) have no keys.
    expect(keys.some((k) => k.startsWith('stage3.3.fuse_layers.1.'))).toBe(false);
    expect(keys.some((k) => k.startsWith('stage3.2.fuse_layers.1.'))).toBe(true);
    expect(keys.some((k) => /fuse_layers\.(\d)\.\1\./.test(k) || k.startsWith('transition2.0') || k.startsWith('transition2.1'))).toBe(false);
  });

  it('initialises convs ~ N(0, 0.001) and BN to γ = 1, β = 0, with BN momentum 0.1 / eps 1e-5', async () => {
    const model = new HRNetS(32, { seed: 3 });
    const param = (k: string) => model.namedParameters().find(([n]) => n === k)![1];
    const w = Array.from(await param('stage3.1.branches.2.0.conv1.weight').data());
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(2e-5);
    expect(std).toBeGreaterThan(0.00095);
    expect(std).toBeLessThan(0.00105);
    const bn = model.namedModules().find(([k]) => k === 'stage2.0.fuse_layers.0.1.1')![1] as nn.BatchNorm2d;
    expect([bn.momentum, bn.eps]).toEqual([0.1, 1e-5]);
    expect(Array.from(await bn.weight!.data())).toEqual(Array(32).fill(1));
    expect(Array.from(await bn.bias!.data())).toEqual(Array(32).fill(0));
    expect(model.namedModules().every(([, m]) => !(m instanceof nn.Conv2d) || m.bias === null)).toBe(true);
    model.dispose();
  });

  it('outputs [B, C, H/4, W/4] and frees its intermediates (W32, 1×3×64×48)', () => {
    const model = new HRNetS(32, { seed: 5 }).eval();
    const input = randn([1, 3, 64, 48], { seed: 6 });
    const before = memory().liveTensors;
    const y = noGrad(() => model.forward(input));
    expect(y.shape).toEqual([1, 32, 16, 12]);
    expect(memory().liveTensors).toBe(before + 1); // the output only
    for (const t of [input, y]) t.dispose();
    model.dispose();
  });
});

describe('HRNetS parity with the PyTorch reference (narrow: width 6, stem 8, layer1 planes 8)', () => {
  const load = (name: string) => io.loadPth(new Uint8Array(readFileSync(fixture(name))), { name });
  const narrow = () => {
    const model = new HRNetS(6, { stemChannels: 8, layer1Planes: 8 });
    const weights = load('hrnet_narrow.pth'); // float16 values, loaded as float32
    model.loadStateDict(weights);
    for (const t of Object.values(weights)) t.dispose();
    return model;
  };

  it('eval mode (running statistics) and then train mode (batch statistics, running stats updated)', async () => {
    const ref = load('hrnet_narrow_io.pth');
    const model = narrow();
    const x = ref['input']!;
    expect(x.shape).toEqual([1, 3, 64, 48]);

    model.eval();
    const yEval = noGrad(() => model.forward(x));
    expect(yEval.shape).toEqual([1, 6, 16, 12]);
    const dEval = expectClose(await yEval.data(), await ref['eval']!.data(), 1e-4, 1e-5, 'eval output');

    model.train();
    const yTrain = noGrad(() => model.forward(x));
    const dTrain = expectClose(await yTrain.data(), await ref['train']!.data(), 1e-4, 1e-5, 'train output');

    const bns = model.namedModules().filter(([, m]) => m instanceof nn.BatchNorm2d).map(([, m]) => m as nn.BatchNorm2d);
    expect(bns.length).toBe(155);
    for (const stat of ['running_mean', 'running_var'] as const) {
      const ours = tidy(() => concat(bns.map((b) => b[stat]!), 0));
      expectClose(await ours.data(), await ref[`after_train.${stat}`]!.data(), 1e-5, 1e-5, stat);
      ours.dispose();
    }
    expect(await Promise.all(bns.map((b) => b.num_batches_tracked!.item()))).toEqual(Array(155).fill(6));
    console.log(`HRNetS narrow parity: max |diff| eval ${dEval.toExponential(2)}, train ${dTrain.toExponential(2)}`);
    for (const t of [yEval, yTrain, ...Object.values(ref)]) t.dispose();
    model.dispose();
  });

  it('backpropagates to every parameter (train mode)', async () => {
    const model = narrow().train();
    const x = randn([1, 3, 64, 48], { seed: 11 });
    const loss = tidy(() => sum(model.forward(x)));
    loss.backward();
    const missing = model.namedParameters().filter(([, p]) => !p.grad).map(([k]) => k);
    expect(missing).toEqual([]);
    const conv1 = model.namedParameters().find(([k]) => k === 'conv1.weight')![1];
    expect((await conv1.grad!.data()).some((v) => v !== 0)).toBe(true);
    model.zeroGrad();
    for (const t of [x, loss]) t.dispose();
    model.dispose();
  });
});
