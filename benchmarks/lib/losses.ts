// `pnpm bench train --losses [--steps 20] [--batch 2] [--sgd] [--weights FILE] [--save-weights FILE] [--json FILE]`:
// a tmpose-b training run on fixed data (forward with seeded token masks, JointsMSE, backward, Adam lr
// 1e-3 — or with --sgd SGD lr 1e-2 momentum 0.9, whose steps scale with the gradient: Adam's first steps
// move every weight by about lr whatever its gradient's size, so rounding-level gradient differences
// become lr-sized weight differences and the runs part at ~1e-3 within a few steps),
// printing each step's loss, to hold one engine version against another: the data come from a
// host-side generator and the initial weights from a file (--weights), so that two checkouts with
// different random initialisers train the same model on the same numbers. --save-weights writes this
// version's seed-1 initial weights first; --variant FAMILY:LABEL forces a kernel variant (the same sums
// in another order: how far that alone moves the losses is the yardstick for two versions); --json writes the losses; --against FILE (such a JSON) prints
// each step's relative difference from it. benchmarks/data/tmpose-b-losses-89ec830.json holds the losses of
// 89ec830 (the engine before issue 10's fused optimizer and kernels) from this version's seed-1 weights.
import { createModel, getConfig } from '@tmpose/model';
import { forceVariant, init, io, optim, sync, tensor, tidy } from '@tmpose/tensor';
import { jointsMseLoss } from '@tmpose/train';
import { readFileSync, writeFileSync } from 'node:fs';

function option(args: string[], name: string): string | undefined {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
}

/** Deterministic values in [-1, 1) from (seed, index): a 32-bit integer hash, the same on every engine version. */
function hashValues(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => {
    let h = Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(seed + 1, 0x85ebca77);
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
    return ((h ^ (h >>> 15)) >>> 0) / 2147483648 - 1;
  });
}

/** Heatmap targets: one Gaussian (sigma 2) per (sample, joint) at a hashed position, weights 1 or 0. */
function targets(batch: number, joints: number, h: number, w: number, step: number): { heatmaps: Float32Array; weights: Float32Array } {
  const where = hashValues(batch * joints * 3, 1000 + step);
  const heatmaps = new Float32Array(batch * joints * h * w);
  const weights = new Float32Array(batch * joints);
  for (let k = 0; k < batch * joints; k++) {
    const cx = ((where[3 * k]! + 1) / 2) * (w - 1);
    const cy = ((where[3 * k + 1]! + 1) / 2) * (h - 1);
    weights[k] = where[3 * k + 2]! > -0.8 ? 1 : 0;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) heatmaps[(k * h + y) * w + x] = Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 8);
  }
  return { heatmaps, weights };
}

export async function losses(args: string[]): Promise<void> {
  const steps = Number(option(args, '--steps') ?? 20);
  const batch = Number(option(args, '--batch') ?? 2);
  const info = await init();
  console.log(`adapter: ${info.description}`);
  const variant = option(args, '--variant');
  if (variant) forceVariant(variant.split(':')[0]!, variant.split(':')[1]!);
  const config = getConfig('tmpose-b');
  const [H, W] = config.imageSize;
  const [h, w] = config.heatmapSize;
  const model = createModel(config, { seed: 1 });
  const save = option(args, '--save-weights');
  if (save) {
    await io.saveSafetensors(save, model.stateDict());
    console.log(`wrote the seed-1 initial weights to ${save}`);
  }
  const weightsFile = option(args, '--weights');
  if (weightsFile) {
    const dict = await io.loadSafetensors(weightsFile);
    model.loadStateDict(dict);
    for (const t of Object.values(dict)) t.dispose();
  }
  model.train().flattenParameters();
  const trained = model.parameters().filter((p) => p.requiresGrad);
  const opt = args.includes('--sgd') ? new optim.SGD(trained, { lr: 1e-2, momentum: 0.9 }) : new optim.Adam(trained, { lr: 1e-3 });
  const out: number[] = [];
  for (let step = 0; step < steps; step++) {
    const t0 = performance.now();
    const { heatmaps, weights } = targets(batch, 17, h, w, step);
    const loss = tidy(() => {
      const images = tensor(hashValues(batch * 3 * H * W, step), [batch, 3, H, W]);
      const l = jointsMseLoss(model.forward(images, { seed: step }), tensor(heatmaps, [batch, 17, h, w]), tensor(weights, [batch, 17]));
      l.backward();
      opt.step();
      opt.zeroGrad();
      return l.detach();
    });
    out.push((await loss.data())[0]!);
    loss.dispose();
    await sync();
    console.log(`step ${step + 1}: loss ${out.at(-1)!.toExponential(8)} (${(performance.now() - t0).toFixed(0)} ms)`);
  }
  const against = option(args, '--against');
  if (against) {
    const reference = (JSON.parse(readFileSync(against, 'utf8')) as { losses: number[] }).losses;
    const rel = out.map((l, i) => Math.abs(l - reference[i]!) / Math.abs(reference[i]!));
    console.log(`relative difference from ${against}, per step: ${rel.map((r) => r.toExponential(1)).join(' ')}`);
    console.log(`largest: ${Math.max(...rel).toExponential(2)} at step ${rel.indexOf(Math.max(...rel)) + 1}`);
  }
  const json = option(args, '--json');
  if (json) writeFileSync(json, `${JSON.stringify({ adapter: info.description, steps, batch, losses: out })}\n`);
}
