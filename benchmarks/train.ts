// Images/s of a full training step — data (the real loader on data/coco-mini, augmentation included),
// forward, backward, Adam — for `tiny` at batch 8 and 32 and TMPose-B at batch 8 (and 32 with --full),
// plus the loader alone. `pnpm bench train [--quick] [--full] [--precision f16]`: with --precision f16
// each configuration runs in float32 and then in mixed precision (autocast + GradScaler). Each precision
// also runs with the step captured and replayed (CapturedSteps, as `tmpose train` trains; --no-graph
// leaves those rows out). On lavapipe TMPose-B takes minutes.
// `pnpm bench train --soak [--steps N] [--run]`: memory over a long run instead (see lib/soak.ts).
// `pnpm bench train --dispatches [--config C] [--batch N]`: a step's dispatches per kernel (lib/dispatches.ts).
// `pnpm bench train --losses [...]`: a tmpose-b run's per-step losses on fixed data (lib/losses.ts).
// `pnpm bench train --encode [--config C] [--batch N] [--steps N]`: a step's CPU encode time (lib/encode.ts).
import { type ConfigName, createModel, getConfig } from '@tmpose/model';
import { GradScaler, type Tensor, init, optim, runtimeStats, sync, tensor, tidy } from '@tmpose/tensor';
import { CapturedSteps, DataLoader, loadCoco } from '@tmpose/train';
import { fileURLToPath } from 'node:url';
import { dispatches } from './lib/dispatches.js';
import { encode } from './lib/encode.js';
import { losses } from './lib/losses.js';
import { soak } from './lib/soak.js';
import { mixedBackward, trainingStep } from './lib/step.js';
import { median } from './lib/timing.js';

const data = fileURLToPath(new URL('../data/coco-mini/', import.meta.url));

export async function main(args: string[]): Promise<void> {
  if (args.includes('--soak')) return soak(args);
  if (args.includes('--dispatches')) return dispatches(args);
  if (args.includes('--losses')) return losses(args);
  if (args.includes('--encode')) return encode(args);
  const quick = args.includes('--quick');
  const full = args.includes('--full');
  const precisionAt = args.indexOf('--precision');
  const precision = precisionAt >= 0 ? args[precisionAt + 1] : 'f32';
  if (precision !== 'f32' && precision !== 'f16') throw new Error(`bench train: --precision must be f32 or f16, got '${precision}'`);
  // Each precision eager, then captured and replayed (as `tmpose train` trains) unless --no-graph.
  const base = precision === 'f16' ? (['f32', 'f16'] as const) : (['f32'] as const);
  const precisions = [...base, ...(args.includes('--no-graph') ? [] : base.map((p) => `${p} graph` as const))];
  const info = await init();
  console.log(`adapter: ${info.description}`);
  const runs: [ConfigName, number, number][] = [
    ['tiny', 8, quick ? 3 : 8],
    ['tiny', 32, quick ? 2 : 4],
    ...(quick ? [] : ([['tmpose-b', 8, 2]] as [ConfigName, number, number][])),
    ...(full ? ([['tmpose-b', 32, 2]] as [ConfigName, number, number][]) : []),
  ];
  const rows: string[][] = [[
    'config', 'batch', 'precision', 'step ms (median)', 'images/s', 'loader alone samples/s',
    'dispatches/step', 'new bind groups/step', 'new uniform buffers/step', 'CPU encode ms/step (median)',
  ]];
  for (const [name, batch, steps] of runs) for (const prec of precisions) {
    const config = getConfig(name);
    const [H, W] = config.imageSize;
    const dataset = await loadCoco({ annotationFile: `${data}test_coco.json`, imageRoot: data, aspectRatio: W / H });
    const loader = new DataLoader(dataset, {
      batchSize: batch,
      seed: 1,
      dropLast: true,
        // A graph run's first step is eager and its second the capture: two replays at least are timed.
      samplesPerEpoch: batch * ((prec.endsWith('graph') ? Math.max(steps, 3) : steps) + 1),
      cacheImages: true,
      inputSize: [W, H],
      heatmapSize: [config.heatmapSize[1], config.heatmapSize[0]],
    });
    // The loader alone first (its own epoch), then the same loader feeding training steps.
    let t0 = performance.now();
    let n = 0;
    for await (const b of loader.epoch(0)) n += b.size;
    const loaderRate = (n * 1000) / (performance.now() - t0);
    const model = createModel(config, { seed: 1 });
    model.train().flattenParameters();
    const opt = new optim.Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
    const scaler = prec.startsWith('f16') ? new GradScaler() : null;
    const captured = prec.endsWith('graph') ? new CapturedSteps(model, opt, scaler) : null;
    const times: number[] = [];
    const perStep: { dispatches: number; bindGroups: number; uniforms: number; encodeMs: number }[] = [];
    t0 = performance.now();
    for await (const b of loader.epoch(1)) {
      const before = runtimeStats();
      const e0 = performance.now();
      let loss: Tensor;
      // A graph row's first step runs eagerly (the optimizer makes its state); CapturedSteps captures the
      // second and replays the rest, mixed precision's overflow readback included in its encode time.
      const replayed = captured !== null && times.length > 0;
      if (replayed) loss = await captured.step(b);
      else {
        loss = tidy(() => {
          const inputs = [tensor(b.images, b.imageShape), tensor(b.targets, b.targetShape), tensor(b.targetWeights, b.weightShape)] as const;
          return scaler ? mixedBackward(model, scaler, ...inputs) : trainingStep(model, opt, ...inputs);
        });
      }
      const encodeMs = performance.now() - e0;
      if (scaler && !replayed) {
        // The overflow flag's readback (one per step), then Adam unless a gradient overflowed.
        await scaler.step(opt);
        scaler.update();
        opt.zeroGrad();
      }
      const after = runtimeStats();
      perStep.push({
        dispatches: after.dispatches - before.dispatches,
        bindGroups: after.bindGroupsCreated - before.bindGroupsCreated,
        uniforms: after.uniformsCreated - before.uniformsCreated,
        encodeMs,
      });
      await sync();
      if (!replayed) loss.dispose();
      const t1 = performance.now();
      times.push(t1 - t0);
      t0 = t1;
    }
    await loader.close();
    captured?.dispose();
    model.dispose();
    // The first step compiles pipelines; a graph's second is its capture.
    const skip = prec.endsWith('graph') ? 2 : 1;
    const ms = median(times.slice(skip));
    const steady = perStep.slice(skip);
    const last = steady.at(-1) ?? perStep[0]!;
    rows.push([
      name, `${batch}`, prec, ms.toFixed(0), ((batch * 1000) / ms).toFixed(1), loaderRate.toFixed(0),
      // A captured mixed-precision step waits for its overflow flag between its two graphs: no CPU-only time.
      `${last.dispatches}`, `${last.bindGroups}`, `${last.uniforms}`, prec === 'f16 graph' ? '-' : median(steady.map((p) => p.encodeMs)).toFixed(1),
    ]);
    console.log(rows.at(-1)!.join('  '));
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  console.log(`\n${rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n')}`);
  console.log('\nA step = data (waited for, prefetched) + forward + backward + Adam; the first step (pipeline compilation) is excluded.');
  console.log('f16: autocast (matmul, conv, attention in float16 with f32 accumulation) + GradScaler on float32 master weights; its CPU encode excludes the overflow readback.');
  console.log('Dispatches, bind groups and uniform buffers created are those of the last step; CPU encode is the time to encode a step before waiting for the GPU.');
  console.log('graph: the same step captured at the second batch and replayed (CapturedSteps); its CPU encode is the replay, submit included (f16: not measured, the step waits for its overflow flag between its two graphs).');
}
