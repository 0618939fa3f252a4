// `pnpm bench train --dispatches [--config tmpose-b] [--batch 1]`: what one training step (forward,
// JointsMSE, backward, Adam) dispatches, per kernel, with this adapter's kernel choices and with those of a
// GPU adapter (`isCpu` off: GEMM tiles, tiled attention, split reductions), both untuned (an empty tune
// table of its own: choices tuned for this adapter would mask a GPU's). Nothing runs:
// `launchesOf` records the dispatches without encoding them, so tmpose-b at batch 32 takes seconds.
import { type ConfigName, createModel, getConfig } from '@tmpose/model';
import { init, launchesOf, optim, randn, setTuning, tensor } from '@tmpose/tensor';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainingStep } from './step.js';

function option(args: string[], name: string, fallback: string): string {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1]! : fallback;
}

/** Dispatches per kernel name (specialisation stripped) of one training step. */
function countStep(name: ConfigName, batch: number): Map<string, number> {
  const config = getConfig(name);
  const [H, W] = config.imageSize;
  const [h, w] = config.heatmapSize;
  const model = createModel(config, { seed: 1 });
  model.train().flattenParameters(); // one buffer: Adam binds it once for many parameters
  const opt = new optim.Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
  const images = randn([batch, 3, H, W]);
  const targets = randn([batch, 17, h, w]);
  const weights = tensor(new Float32Array(batch * 17).fill(1), [batch, 17]);
  // Twice: the first step creates Adam's state (its zero fills are not a steady-state cost).
  launchesOf(() => trainingStep(model, opt, images, targets, weights).dispose());
  const launches = launchesOf(() => trainingStep(model, opt, images, targets, weights).dispose());
  for (const t of [images, targets, weights, model, opt]) t.dispose();
  const counts = new Map<string, number>();
  for (const l of launches) {
    const kernel = l.kernel.name.split('|')[0]!;
    counts.set(kernel, (counts.get(kernel) ?? 0) + 1);
  }
  return counts;
}

export async function dispatches(args: string[]): Promise<void> {
  const name = option(args, '--config', 'tmpose-b') as ConfigName;
  const batch = Number(option(args, '--batch', '1'));
  process.env.TMPOSE_TUNE_FILE = join(mkdtempSync(join(tmpdir(), 'tmpose-dispatches-')), 'tune.json');
  const info = await init();
  setTuning(false);
  const here = countStep(name, batch);
  const wasCpu = info.isCpu;
  info.isCpu = false;
  const gpu = countStep(name, batch);
  info.isCpu = wasCpu;
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const kernels = [...new Set([...here.keys(), ...gpu.keys()])].sort((a, b) => (gpu.get(b) ?? 0) + (here.get(b) ?? 0) - (gpu.get(a) ?? 0) - (here.get(a) ?? 0));
  const rows = [['kernel', `${info.description}`, 'as a GPU (isCpu off)'], ...kernels.map((k) => [k, `${here.get(k) ?? 0}`, `${gpu.get(k) ?? 0}`]), ['total', `${total(here)}`, `${total(gpu)}`]];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(`${name} training step at batch ${batch}: dispatches per kernel (steady state, untuned kernel choices)\n`);
  console.log(rows.map((r) => r.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')).join('\n'));
}
