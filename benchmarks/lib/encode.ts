// `pnpm bench train --encode [--config tmpose-b] [--batch 1] [--steps 8]`: the CPU time to encode one
// training step (forward, JointsMSE, backward, Adam), split into its forward, backward and optimizer
// parts, with the dispatches and bind groups each step creates. Submits are held back until the step is
// encoded (setDispatchesPerSubmit(Infinity)): on a CPU adapter the driver would otherwise compute beside
// the encoding on the same cores, so this times the JavaScript and Dawn's encoding alone, as on a GPU
// machine. The first step (pipeline compiles) is left out of the medians. Then the same step is
// captured once (captureGraph) and replayed: a replay's CPU time is the driver's encoding alone.
import { type ConfigName, createModel, getConfig } from '@tmpose/model';
import { captureGraph, init, keep, noGrad, optim, randn, runtimeStats, setDispatchesPerSubmit, sync, tensor, tidy } from '@tmpose/tensor';
import { jointsMseLoss, trainingStep } from '@tmpose/train';

function option(args: string[], name: string, fallback: string): string {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1]! : fallback;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function encode(args: string[]): Promise<void> {
  const name = option(args, '--config', 'tmpose-b') as ConfigName;
  const batch = Number(option(args, '--batch', '1'));
  const steps = Number(option(args, '--steps', '8'));
  const info = await init();
  setDispatchesPerSubmit(Infinity);
  const config = getConfig(name);
  const [H, W] = config.imageSize;
  const [h, w] = config.heatmapSize;
  const model = createModel(config, { seed: 1 });
  model.train().flattenParameters();
  const opt = new optim.Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
  const images = randn([batch, 3, H, W]);
  const targets = randn([batch, 17, h, w]);
  const weights = tensor(new Float32Array(batch * 17).fill(1), [batch, 17]);
  const rows: { forward: number; backward: number; optimizer: number; dispatches: number; bindGroups: number }[] = [];
  for (let s = 0; s < steps; s++) {
    const before = runtimeStats();
    const t0 = performance.now();
    let t1 = 0;
    let t2 = 0;
    const loss = tidy(() => {
      const l = jointsMseLoss(model.forward(images), targets, weights);
      t1 = performance.now();
      l.backward();
      t2 = performance.now();
      opt.step();
      opt.zeroGrad();
      return keep(l.detach());
    });
    const t3 = performance.now();
    const after = runtimeStats();
    await sync();
    loss.dispose();
    rows.push({ forward: t1 - t0, backward: t2 - t1, optimizer: t3 - t2, dispatches: after.dispatches - before.dispatches, bindGroups: after.bindGroupsCreated - before.bindGroupsCreated });
  }
  // The same step captured once and replayed (captureGraph): the CPU time of a replay is Dawn's encoding alone.
  const c0 = performance.now();
  const graph = captureGraph(() => trainingStep(model, opt, images, targets, weights));
  const captureMs = performance.now() - c0;
  await sync();
  const [replays, submits]: [number[], number[]] = [[], []];
  for (let s = 0; s < steps; s++) {
    const [t0, before] = [performance.now(), runtimeStats().submitMs];
    graph.replay();
    replays.push(performance.now() - t0);
    submits.push(runtimeStats().submitMs - before);
    await sync();
  }
  const graphDispatches = graph.dispatches;
  const loss = await graph.outputs.item();
  graph.dispose();
  // Inference: an eval forward's encode, eager and replayed (as CapturedForwards runs a camera's frames).
  model.eval();
  const forward = () => noGrad(() => model.forward(images));
  const eagerForwards: number[] = [];
  for (let s = 0; s <= steps; s++) {
    const t0 = performance.now();
    const out = tidy(forward);
    eagerForwards.push(performance.now() - t0);
    await sync();
    out.dispose();
  }
  const inference = captureGraph(forward);
  await sync();
  const replayedForwards: number[] = [];
  for (let s = 0; s < steps; s++) {
    const [t0, before] = [performance.now(), runtimeStats().submitMs];
    inference.replay();
    replayedForwards.push(performance.now() - t0 - (runtimeStats().submitMs - before));
    await sync();
  }
  const forwardDispatches = inference.dispatches;
  inference.dispose();
  for (const t of [images, targets, weights, model, opt]) t.dispose();
  const steady = rows.slice(1);
  const ms = (k: 'forward' | 'backward' | 'optimizer') => median(steady.map((r) => r[k]));
  const total = median(steady.map((r) => r.forward + r.backward + r.optimizer));
  const last = rows.at(-1)!;
  console.log(`adapter: ${info.description}`);
  console.log(`${name} training step at batch ${batch}, CPU encode per step (median of ${steady.length} steps after the first):`);
  console.log(`  forward ${ms('forward').toFixed(1)} ms, backward ${ms('backward').toFixed(1)} ms, optimizer ${ms('optimizer').toFixed(1)} ms; total ${total.toFixed(1)} ms`);
  console.log(`  ${last.dispatches} dispatches (${((total * 1000) / last.dispatches).toFixed(1)} µs each), ${last.bindGroups} new bind groups in the last step`);
  // A replay submits at its end (the eager step's submit waits for the sync, outside its encode time).
  const encodeOnly = median(replays.map((r, i) => r - submits[i]!));
  console.log(`captured (captureGraph, ${captureMs.toFixed(0)} ms to capture) and replayed, CPU time per replay (median of ${replays.length}):`);
  console.log(`  encode ${encodeOnly.toFixed(1)} ms for ${graphDispatches} dispatches (${((encodeOnly * 1000) / graphDispatches).toFixed(1)} µs each; ×${(total / encodeOnly).toFixed(1)} less than eager), with its submit ${median(replays).toFixed(1)} ms; last loss ${loss.toPrecision(6)}`);
  const [eagerForward, replayedForward] = [median(eagerForwards.slice(1)), median(replayedForwards)];
  console.log(`eval forward (${forwardDispatches} dispatches), CPU encode: eager ${eagerForward.toFixed(1)} ms, replayed ${replayedForward.toFixed(1)} ms (×${(eagerForward / replayedForward).toFixed(1)})`);
}
