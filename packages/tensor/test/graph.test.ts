// captureGraph: a captured step replayed must compute what running the step's code again computes, bit
// for bit: the same kernels on the same buffers, with what changes from step to step (inputs written
// with copy_, the optimizer's step counts and learning rate, random numbers drawn without a seed) made
// again at each replay. The graph keeps its buffers (tensors made after the capture never get them), and
// what a capture cannot replay (a readback, a first optimizer step, unseeded dropout) is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Tensor,
  captureGraph,
  dropout,
  forceVariant,
  full,
  hostStep,
  hostTensor,
  init,
  keep,
  manualSeed,
  memory,
  mseLoss,
  nn,
  noGrad,
  optim,
  randn,
  runtimeStats,
  sync,
  tensor,
  tidy,
} from '@tmpose/tensor';
import { normal } from './gradcheck.js';

let live = 0;
beforeAll(async () => {
  await init();
  live = memory().liveTensors;
});
afterAll(() => expect(memory().liveTensors).toBe(live));

// Odd sizes: 5 input channels padded to 8 in the conv's re-laid weights, a 7x6 map.
const [N, C, H, W, F] = [2, 5, 7, 6, 6];
const STEPS = 5;

/** A conv, batch norm, ReLU, 1x1 conv net with its parameters in one buffer, and Adam on them. */
function setup(): { net: nn.Sequential; opt: optim.Adam; x: Tensor; y: Tensor } {
  const net = new nn.Sequential(
    new nn.Conv2d(C, F, 3, { padding: 1, seed: 1 }),
    new nn.BatchNorm2d(F),
    new nn.ReLU(),
    new nn.Conv2d(F, 3, 1, { seed: 3 }),
  );
  net.train().flattenParameters();
  const opt = new optim.Adam(net.parameters().filter((p) => p.requiresGrad), { lr: 1e-2 });
  return { net, opt, x: tensor(new Float32Array(N * C * H * W), [N, C, H, W]), y: tensor(new Float32Array(N * 3 * H * W), [N, 3, H, W]) };
}

/** One training step; the input gets noise drawn without a seed (from the global generator). */
function step(net: nn.Sequential, opt: optim.Adam, x: Tensor, y: Tensor): Tensor {
  const noisy = x.add(randn([N, C, H, W]).mul(0.1));
  const loss = mseLoss(net.forward(noisy), y);
  loss.backward();
  opt.step();
  opt.zeroGrad();
  return loss.detach();
}

const inputs = (s: number) => [normal([N, C, H, W], 10 + s).values, normal([N, 3, H, W], 20 + s).values] as const;
// The learning rate changes between steps, as a scheduler would change it.
const lrAt = (s: number) => 1e-2 / (1 + s);

interface Run {
  losses: number[];
  params: number[];
  state: number[];
  steps: number;
  /** Eval forwards after each step: they read the conv weights as re-laid after that step's update. */
  evalOuts: number[][];
}

/** An eval-mode forward (the net goes back to training mode). */
async function evalForward(net: nn.Sequential, x: Tensor): Promise<number[]> {
  net.eval();
  const out = tidy(() => noGrad(() => net.forward(x)));
  net.train();
  const values = Array.from(await out.data());
  out.dispose();
  return values;
}

async function finish(net: nn.Sequential, opt: optim.Adam, evalOuts: number[][], losses: number[]): Promise<Run> {
  const params = Array.from(await net.parameters()[0]!.data());
  const dict = Object.values(net.stateDict());
  const state = (await Promise.all(dict.map(async (t) => Array.from(await t.data())))).flat();
  for (const t of dict) t.dispose();
  const optState = opt.stateDict();
  const steps = optState.state[0]!.step;
  for (const s of Object.values(optState.state)) for (const t of Object.values(s.tensors)) t.dispose();
  return { losses, params, state, steps, evalOuts };
}

/** Step s's inputs and learning rate, set in place, as a loop over batches with a scheduler sets them. */
function prepare(s: number, opt: optim.Adam, x: Tensor, y: Tensor): void {
  const [xs, ys] = inputs(s);
  x.copy_(xs);
  y.copy_(ys);
  opt.lr = lrAt(s);
}

/** Step s run eagerly: its loss, then an eval forward. */
async function eagerStep(s: number, net: nn.Sequential, opt: optim.Adam, x: Tensor, y: Tensor, losses: number[], evalOuts: number[][]): Promise<void> {
  prepare(s, opt, x, y);
  const loss = tidy(() => keep(step(net, opt, x, y)));
  losses.push(await loss.item());
  loss.dispose();
  evalOuts.push(await evalForward(net, x));
}

async function eager(): Promise<Run> {
  manualSeed(5);
  const { net, opt, x, y } = setup();
  const [losses, evalOuts]: [number[], number[][]] = [[], []];
  for (let s = 0; s < STEPS; s++) await eagerStep(s, net, opt, x, y, losses, evalOuts);
  const run = await finish(net, opt, evalOuts, losses);
  for (const t of [net, opt, x, y]) t.dispose();
  return run;
}

describe('captureGraph', () => {
  it('replays give the bits of running the step again: losses, weights, batch norm statistics, step counts, eval forwards between steps', async () => {
    // The register conv kernels, which read weights re-laid and kept until the weights are written:
    // an eval forward before the capture re-lays them, and the capture must re-lay them itself; the
    // eval forwards between replays must see that a replay wrote the weights.
    forceVariant('conv2d', '4');
    try {
      await replaysMatchEager();
    } finally {
      forceVariant('conv2d', null);
    }
  });

  async function replaysMatchEager(): Promise<void> {
    const expected = await eager();
    manualSeed(5);
    const { net, opt, x, y } = setup();
    const [losses, evalOuts]: [number[], number[][]] = [[], []];
    // Step 0 runs eagerly (the optimizer makes its state), step 1 is captured (and runs), the rest replay.
    await eagerStep(0, net, opt, x, y, losses, evalOuts);
    prepare(1, opt, x, y);
    const before = runtimeStats();
    const graph = captureGraph(() => step(net, opt, x, y));
    const captured = runtimeStats().dispatches - before.dispatches;
    expect(graph.dispatches).toBe(captured);
    losses.push(await graph.outputs.item());
    evalOuts.push(await evalForward(net, x));
    // Tensors made after the capture, of every size the step used, hold NaN through the replays: a
    // buffer of the graph's handed to one of them would spoil the results.
    const squatters = [N * C * H * W, N * F * H * W, N * 3 * H * W, F, 64, 1].map((n) => full([n], NaN));
    for (let s = 2; s < STEPS; s++) {
      prepare(s, opt, x, y);
      const stats = runtimeStats();
      graph.replay();
      const after = runtimeStats();
      expect(after.dispatches - stats.dispatches, 'dispatches of a replay').toBe(captured);
      expect(after.bindGroupsCreated - stats.bindGroupsCreated, 'bind groups made by a replay').toBe(0);
      expect(after.uniformsCreated - stats.uniformsCreated, 'uniform buffers made by a replay').toBe(0);
      losses.push(await graph.outputs.item());
      // Replays 2 and 3 back to back: no eager forward re-lays the weights between them.
      if (s !== 2) evalOuts[s] = await evalForward(net, x);
    }
    for (const t of squatters) expect((await t.data()).every(Number.isNaN)).toBe(true);
    const run = await finish(net, opt, evalOuts, losses);
    expect(run.losses).toEqual(expected.losses);
    expect(run.params).toEqual(expected.params);
    expect(run.state).toEqual(expected.state);
    expect(run.steps).toBe(STEPS);
    run.evalOuts.forEach((out, s) => expect(out, `eval forward after step ${s}`).toEqual(expected.evalOuts[s]));
    expect(Object.keys(run.evalOuts)).toEqual(['0', '1', '3', '4']);
    expect(expected.losses.every(Number.isFinite)).toBe(true);
    // The eval outputs change from step to step (the weights do).
    expect(expected.evalOuts[1]).not.toEqual(expected.evalOuts[2]);
    for (const t of [graph, ...squatters, net, opt, x, y]) t.dispose();
  }

  it('an inference graph re-lays conv weights only when they were written since: eager bits either way', async () => {
    forceVariant('conv2d', '4');
    try {
      // Weights in buffers of their own (not flattened): a re-layout dispatch per conv.
      const net = new nn.Sequential(new nn.Conv2d(C, F, 3, { padding: 1, seed: 1 }), new nn.ReLU(), new nn.Conv2d(F, 3, 1, { seed: 3 }));
      net.eval();
      const x = tensor(inputs(0)[0], [N, C, H, W]);
      const eagerOut = async () => {
        const out = tidy(() => noGrad(() => net.forward(x)));
        const v = Array.from(await out.data());
        out.dispose();
        return v;
      };
      const graph = captureGraph(() => noGrad(() => net.forward(x)));
      const replay = async () => {
        const before = runtimeStats().dispatches;
        graph.replay();
        return { dispatches: runtimeStats().dispatches - before, out: Array.from(await graph.outputs.data()) };
      };
      const [first, second] = [await replay(), await replay()];
      expect(first.dispatches).toBe(graph.dispatches - 2);
      expect(second).toEqual(first);
      expect(first.out).toEqual(await eagerOut());
      // A new first weight: the next replay re-lays it (one more dispatch), and computes with it.
      net.parameters()[0]!.copy_(normal([F, C, 3, 3], 7).values);
      const third = await replay();
      expect(third.dispatches).toBe(graph.dispatches - 1);
      expect(third.out).not.toEqual(first.out);
      expect(third.out).toEqual(await eagerOut());
      expect((await replay()).dispatches).toBe(graph.dispatches - 2);
      for (const t of [graph, net, x]) t.dispose();
    } finally {
      forceVariant('conv2d', null);
    }
  });

  it('keeps its buffers until disposed, then gives them back', async () => {
    const { net, opt, x, y } = setup();
    tidy(() => keep(step(net, opt, x, y))).dispose();
    const before = memory();
    const graph = captureGraph(() => step(net, opt, x, y));
    expect(graph.bytes).toBeGreaterThan(0);
    // The graph's intermediates are its own: live, not pooled, while it lives.
    expect(memory().liveBytes).toBeGreaterThan(before.liveBytes);
    for (const t of [net, opt, x, y]) t.dispose();
    // Its weights and inputs too: disposing them leaves the graph working.
    graph.replay();
    expect(Number.isFinite(await graph.outputs.item())).toBe(true);
    const held = memory().liveBytes;
    graph.dispose();
    expect(graph.isDisposed).toBe(true);
    expect(memory().liveBytes).toBeLessThan(held);
    expect(() => graph.replay()).toThrow(/Graph.replay: the graph was disposed/);
  });

  it('host steps and host tensors run again at each replay, in order; rand without a seed draws anew', async () => {
    const seen: number[] = [];
    let n = 0;
    const graph = captureGraph(() => {
      hostStep(() => seen.push(n));
      const t = hostTensor(() => [++n, n * 10], [2]);
      return t.add(randn([2]).mul(0));
    });
    expect(await graph.outputs.data()).toEqual(new Float32Array([1, 10]));
    graph.replay();
    expect(await graph.outputs.data()).toEqual(new Float32Array([2, 20]));
    graph.replay();
    expect(await graph.outputs.data()).toEqual(new Float32Array([3, 30]));
    expect(seen).toEqual([0, 1, 2]);
    // Random numbers: each replay draws the next seed, as the eager call would.
    manualSeed(9);
    const noise = captureGraph(() => randn([4]));
    const drawn = [Array.from(await noise.outputs.data())];
    noise.replay();
    drawn.push(Array.from(await noise.outputs.data()));
    manualSeed(9);
    const eagerDraws: number[][] = [];
    for (let k = 0; k < 2; k++) {
      const r = randn([4]);
      eagerDraws.push(Array.from(await r.data()));
      r.dispose();
    }
    expect(drawn).toEqual(eagerDraws);
    expect(drawn[0]).not.toEqual(drawn[1]);
    graph.dispose();
    noise.dispose();
    expect(() => captureGraph(() => hostStep(() => full([1], 2).dispose()))).toThrow(/hostStep: the function dispatched GPU work/);
  });

  it('refuses what a replay could not repeat, with errors that name it, and leaves eager work usable', async () => {
    const { net, opt, x, y } = setup();
    // A first optimizer step makes the moments: a replay would make them again. Here one eager step
    // leaves the last parameter out, so only it has no state; the refusal counts no other's step.
    tidy(() => {
      mseLoss(net.forward(x), y).backward();
      const last = opt.paramGroups[0]!.params.at(-1)!;
      last.grad!.dispose();
      last.grad = null;
      opt.step();
      opt.zeroGrad();
    });
    expect(() => captureGraph(() => step(net, opt, x, y))).toThrow(/Adam.step: a \[3\] parameter's state would be made inside captureGraph.*run one step before capturing/);
    const counted = opt.stateDict();
    expect(Object.values(counted.state).map((st) => st.step)).toEqual(Array(opt.paramGroups[0]!.params.length - 1).fill(1));
    for (const st of Object.values(counted.state)) for (const t of Object.values(st.tensors)) t.dispose();
    opt.zeroGrad();
    expect(() => captureGraph(() => void sync().catch(() => {}))).toThrow(/captureGraph: sync inside captureGraph/);
    expect(() => captureGraph(() => void x.data().catch(() => {}))).toThrow(/captureGraph: reading a tensor back inside captureGraph/);
    expect(() => captureGraph(() => dropout(x, 0.5))).toThrow(/dropout: p = 0.5 without a seed inside captureGraph/);
    expect(() => captureGraph(() => captureGraph(() => x.add(1)))).toThrow(/already capturing/);
    expect(() => captureGraph(() => Promise.resolve(x) as unknown as Tensor)).toThrow(/captureGraph: fn must be synchronous/);
    // Eager work after the refusals runs and reads back as usual.
    tidy(() => keep(step(net, opt, x, y))).dispose();
    const graph = captureGraph(() => step(net, opt, x, y));
    opt.paramGroups[0]!.betas = [0.8, 0.999];
    expect(() => graph.replay()).toThrow(/Adam: group 0's hyper-parameters other than lr changed after captureGraph/);
    opt.paramGroups[0]!.betas = [0.9, 0.999];
    await sync();
    const after = x.add(1);
    expect((await after.data()).length).toBe(N * C * H * W);
    after.dispose();
    for (const t of [graph, net, opt, x, y]) t.dispose();
  });

  it('copy_ writes host values or a tensor, in place, with clear errors', async () => {
    const t = tensor([0, 0, 0, 0], [2, 2]);
    t.copy_([1, 2, 3, 4]);
    expect(await t.data()).toEqual(new Float32Array([1, 2, 3, 4]));
    const src = tidy(() => tensor([5, 6, 7, 8], [2, 2]).to('float16'));
    t.copy_(src);
    expect(await t.data()).toEqual(new Float32Array([5, 6, 7, 8]));
    // A strided view is written element by element.
    const col = t.slice(1, 1, 2);
    col.copy_([0, 0]);
    expect(await t.data()).toEqual(new Float32Array([5, 0, 7, 0]));
    expect(() => t.copy_([1, 2, 3])).toThrow(/copy_: 3 values for a \[2, 2\] tensor \(4 elements\)/);
    expect(() => tidy(() => t.copy_(tensor([1, 2])))).toThrow(/copy_: source shape \[2\] differs from \[2, 2\]/);
    for (const x of [t, src, col]) x.dispose();
  });
});
