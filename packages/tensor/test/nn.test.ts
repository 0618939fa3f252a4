import { beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, init, io, memory, mseLoss, mul, nn, optim, tensor, tidy } from '@tmpose/tensor';
import { expectClose } from './helpers.js';

/** A model with every kind of registration: a nested Sequential, a LayerNorm, a buffer. */
class Net extends nn.Module {
  readonly layers: nn.Sequential;
  readonly norm: nn.LayerNorm;
  readonly scale: Tensor;

  constructor(seed: number) {
    super();
    this.layers = this.registerModule(
      'layers',
      new nn.Sequential(new nn.Linear(2, 3, { seed }), new nn.GELU(), new nn.Dropout(0.5), new nn.Linear(3, 4, { seed: seed + 10, bias: false })),
    );
    this.scale = this.registerBuffer('scale', tensor([2]));
    this.norm = this.registerModule('norm', new nn.LayerNorm(4));
  }

  forward(x: Tensor): Tensor {
    return mul(this.norm.forward(this.layers.forward(x)), this.scale);
  }
}

const values = async (m: nn.Module) =>
  Object.fromEntries(await Promise.all(m.namedParameters().map(async ([k, t]) => [k, Array.from(await t.data())] as const)));

beforeAll(async () => {
  await init();
});

describe('Module', () => {
  it('names parameters, buffers and state-dict keys as PyTorch does', () => {
    const net = new Net(1);
    expect(net.namedParameters().map(([k]) => k)).toEqual(['layers.0.weight', 'layers.0.bias', 'layers.3.weight', 'norm.weight', 'norm.bias']);
    expect(net.namedBuffers().map(([k]) => k)).toEqual(['scale']);
    // Per module: parameters, then buffers, then submodules.
    const dict = net.stateDict();
    expect(Object.keys(dict)).toEqual(['scale', 'layers.0.weight', 'layers.0.bias', 'layers.3.weight', 'norm.weight', 'norm.bias']);
    expect(dict['layers.0.weight']!.shape).toEqual([3, 2]);
    expect(net.namedModules().map(([k]) => k)).toEqual(['', 'layers', 'layers.0', 'layers.1', 'layers.2', 'layers.3', 'norm']);
    expect(net.parameters().every((p) => p.requiresGrad)).toBe(true);
    expect(net.buffers()[0]!.requiresGrad).toBe(false);
    // stateDict handles are the caller's: disposing them leaves the model intact.
    for (const t of Object.values(dict)) t.dispose();
    expect(net.parameters().some((p) => p.isDisposed)).toBe(false);
    net.dispose();
    expect(net.parameters().every((p) => p.isDisposed)).toBe(true);
  });

  it('initialises Linear in U(-1/sqrt(in), 1/sqrt(in)), reproducibly from a seed', async () => {
    const a = new nn.Linear(16, 8, { seed: 7 });
    const b = new nn.Linear(16, 8, { seed: 7 });
    const w = Array.from(await a.weight.data());
    expect(w).toEqual(Array.from(await b.weight.data()));
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(0.25);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.2);
    const bias = Array.from(await a.bias!.data());
    expect(bias).not.toEqual(w.slice(0, 8));
    expect(Math.max(...bias.map(Math.abs))).toBeLessThanOrEqual(0.25);
    expect(new nn.Linear(3, 2, { bias: false }).namedParameters().map(([k]) => k)).toEqual(['weight']);
    for (const m of [a, b]) m.dispose();
  });

  it('Linear and LayerNorm compute what they should', async () => {
    const lin = new nn.Linear(3, 2, { seed: 3 });
    const x = tensor([[1, 2, 3], [-1, 0, 0.5]]);
    const W = Array.from(await lin.weight.data());
    const b = Array.from(await lin.bias!.data());
    const X = [[1, 2, 3], [-1, 0, 0.5]];
    const expected = X.flatMap((row) => [0, 1].map((o) => row.reduce((s, v, i) => s + v * W[o * 3 + i]!, b[o]!)));
    expectClose(await lin.forward(x).data(), expected, 1e-5);

    const ln = new nn.LayerNorm(3, { eps: 1e-5 });
    const expectedLn = X.flatMap((row) => {
      const mu = row.reduce((s, v) => s + v, 0) / 3;
      const variance = row.reduce((s, v) => s + (v - mu) ** 2, 0) / 3;
      return row.map((v) => (v - mu) / Math.sqrt(variance + 1e-5));
    });
    expectClose(await ln.forward(x).data(), expectedLn, 1e-5);
  });

  it('round-trips through stateDict, safetensors and loadStateDict', async () => {
    const a = new Net(1);
    const b = new Net(100);
    expect(await values(b)).not.toEqual(await values(a));
    const handles = a.stateDict();
    const bytes = await io.serialize(handles);
    for (const t of Object.values(handles)) t.dispose();
    const loaded = io.parse(bytes);
    expect(b.loadStateDict(loaded)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(await values(b)).toEqual(await values(a));
    const x = tensor([[0.5, -1], [2, 0.25]]);
    a.eval();
    b.eval();
    expect(Array.from(await b.forward(x).data())).toEqual(Array.from(await a.forward(x).data()));
    // Loading a module's own state dict is a no-op, not a read-write hazard.
    const own = b.stateDict();
    b.loadStateDict(own);
    expect(await values(b)).toEqual(await values(a));
  });

  it('loadStateDict reports missing, unexpected and mis-shaped keys in one error and loads nothing', async () => {
    const net = new Net(1);
    const before = await values(net);
    const donor = new Net(2);
    const dict = donor.stateDict();
    delete dict['norm.bias'];
    delete dict.scale;
    dict['layers.9.weight'] = tensor([1]);
    dict['layers.0.weight'] = tensor([[1, 2, 3], [4, 5, 6]]); // [2, 3], the module has [3, 2]
    let message = '';
    try {
      net.loadStateDict(dict);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe(
      'Net.loadStateDict: the state dict does not fit (nothing was loaded):\n' +
        '  missing keys: scale, norm.bias\n' +
        '  unexpected keys: layers.9.weight\n' +
        '  mismatched: layers.0.weight: float32 [2, 3] in the dict, float32 [3, 2] in the module',
    );
    expect(await values(net)).toEqual(before);
    expect(Array.from(await net.buffers()[0]!.data())).toEqual([2]);

    // Non-strict: missing and unexpected keys are returned, the rest is loaded; shapes must still match.
    expect(() => net.loadStateDict(dict, { strict: false })).toThrow(/mismatched: layers.0.weight/);
    dict['layers.0.weight'] = donor.stateDict()['layers.0.weight']!;
    expect(net.loadStateDict(dict, { strict: false })).toEqual({ missingKeys: ['scale', 'norm.bias'], unexpectedKeys: ['layers.9.weight'] });
    const after = await values(net);
    const donorValues = await values(donor);
    expect(after['layers.0.weight']).toEqual(donorValues['layers.0.weight']);
    expect(after['norm.bias']).toEqual(before['norm.bias']);
  });

  it('propagates train() / eval(), and Dropout follows it', async () => {
    const net = new Net(1);
    const all = () => net.namedModules().map(([, m]) => m.training);
    expect(all().every(Boolean)).toBe(true);
    expect(net.eval()).toBe(net);
    expect(all().some(Boolean)).toBe(false);
    net.train();
    expect(all().every(Boolean)).toBe(true);

    const drop = new nn.Dropout(0.5);
    const x = tensor(new Float32Array(1000).fill(1));
    const trained = Array.from(await drop.forward(x).data());
    expect(new Set(trained)).toEqual(new Set([0, 2]));
    drop.eval();
    expect(Array.from(await drop.forward(x).data())).toEqual(new Array(1000).fill(1));
  });

  it('keeps parameters alive outside tidy', async () => {
    const lin = tidy(() => new nn.Linear(4, 4, { seed: 1 }));
    expect(lin.weight.isDisposed).toBe(false);
    expect((await lin.weight.data()).length).toBe(16);
    const live = memory().liveTensors;
    lin.dispose();
    expect(memory().liveTensors).toBe(live - 2);
  });

  it('rejects bad registrations', () => {
    class Bad extends nn.Module {
      forward(x: Tensor) {
        return x;
      }
    }
    const m = new Bad();
    m.registerParameter('w', tensor([1]));
    expect(() => m.registerBuffer('w', tensor([1]))).toThrow(/Bad.registerBuffer: 'w' is already registered/);
    expect(() => m.registerParameter('a.b', tensor([1]))).toThrow(/must be non-empty and contain no '.'/);
    const p = tensor([1], undefined, { requiresGrad: true });
    expect(() => m.registerParameter('y', mul(p, 2))).toThrow(/is the result of an op that autograd tracks/);
  });
});

describe('training', () => {
  /** 1 -> 32 -> 32 -> 1 with GELU, on y = sin(3x) for 64 points in [-1, 1]. */
  function setup() {
    const model = new nn.Sequential(
      new nn.Linear(1, 32, { seed: 1 }),
      new nn.GELU(),
      new nn.Linear(32, 32, { seed: 2 }),
      new nn.GELU(),
      new nn.Linear(32, 1, { seed: 3 }),
    );
    const xs = Array.from({ length: 64 }, (_, i) => -1 + (2 * i) / 63);
    const x = tensor(xs, [64, 1]);
    const y = tensor(xs.map((v) => Math.sin(3 * v)), [64, 1]);
    const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
    const step = () =>
      tidy(() => {
        const loss = mseLoss(model.forward(x), y);
        loss.backward();
        opt.step();
        opt.zeroGrad();
        return loss;
      });
    return { model, opt, step, dispose: () => [model, opt, x, y].forEach((o) => o.dispose()) };
  }

  it('an MLP learns sin(3x) with Adam: the loss falls more than 10x', async () => {
    const { step, dispose } = setup();
    const first = step();
    const initial = await first.item();
    first.dispose();
    let final = NaN;
    for (let i = 1; i < 300; i++) {
      const loss = step();
      if (i % 50 === 0 || i === 299) final = await loss.item();
      loss.dispose();
    }
    console.log(`MLP loss: ${initial.toExponential(3)} -> ${final.toExponential(3)} (${(initial / final).toFixed(1)}x)`);
    expect(final).toBeLessThan(initial / 10);
    dispose();
  });

  it('200 training steps leave live memory and tensor counts flat', async () => {
    const { step, dispose } = setup();
    step().dispose(); // the first step creates Adam's state
    const before = memory();
    for (let i = 0; i < 200; i++) {
      const loss = step();
      if (i % 50 === 49) await loss.item();
      loss.dispose();
    }
    const after = memory();
    console.log(`memory before: ${JSON.stringify(before)}, after 200 steps: ${JSON.stringify(after)}`);
    expect(after.liveTensors).toBe(before.liveTensors);
    expect(after.liveBytes).toBe(before.liveBytes);
    dispose();
  });
});
