// TokenPose-B against TMPose-B (keep 0.6 and 0.4): forward, and forward + backward + Adam step, at
// batch 1 and 8, for the whole model and for the Transformer part alone (on fixed backbone features);
// ms, images/s, and the measured speed-up next to the one the FLOP counter predicts.
// `pnpm bench model [--batches 1,8] [--transformer-only] [--quick]`. On lavapipe the full model is slow:
// expect minutes (--transformer-only skips the whole-model rows).
import { type ModelConfig, countFlops, createModel, getConfig } from '@tmpose/model';
import { init, mseLoss, noGrad, optim, randn, sync, tidy, type Tensor } from '@tmpose/tensor';
import { median } from './lib/timing.js';

interface Variant {
  label: string;
  config: ModelConfig;
  keep: number;
}

async function timeIt(run: () => void, iters: number): Promise<number> {
  run();
  await sync();
  const samples: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    run();
    await sync();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

function step(forward: () => Tensor, target: Tensor, opt: optim.Adam): void {
  tidy(() => {
    const loss = mseLoss(forward(), target);
    loss.backward();
    opt.step();
    opt.zeroGrad();
  });
}

export async function main(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const batchArg = args[args.indexOf('--batches') + 1];
  const batches = args.includes('--batches') && batchArg ? batchArg.split(',').map(Number) : quick ? [1] : [1, 8];
  const iters = quick ? 1 : 3;
  const wholeModel = !args.includes('--transformer-only');
  const info = await init();
  console.log(`adapter: ${info.description}`);
  const variants: Variant[] = [
    { label: 'TokenPose-B', config: getConfig('tokenpose-b'), keep: 1 },
    { label: 'TMPose-B keep 0.6', config: getConfig('tmpose-b'), keep: 0.6 },
    { label: 'TMPose-B keep 0.4', config: getConfig('tmpose-b'), keep: 0.4 },
  ];
  const rows: string[][] = [];
  const base: Record<string, number> = {};
  for (const B of batches) {
    for (const v of variants) {
      const model = createModel(v.config, { seed: 1 });
      model.train().flattenParameters();
      const [H, W] = v.config.imageSize;
      const images = randn([B, 3, H, W], { seed: 2 });
      const target = randn([B, v.config.numJoints, ...v.config.heatmapSize], { seed: 3 });
      const features = noGrad(() => model.features(images));
      const opt = new optim.Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-4 });
      const opts = { keep: v.keep, seed: 5 };
      const whole = wholeModel
        ? {
            fwd: await timeIt(() => noGrad(() => tidy(() => void model.forward(images, opts))), iters),
            step: await timeIt(() => step(() => model.forward(images, opts), target, opt), iters),
          }
        : { fwd: Number.NaN, step: Number.NaN };
      const trans = {
        fwd: await timeIt(() => noGrad(() => tidy(() => void model.forwardFeatures(features, opts))), iters),
        step: await timeIt(() => step(() => model.forwardFeatures(features, opts), target, opt), iters),
      };
      const macs = countFlops(v.config, { keep: v.keep, convention: 'macs' });
      const key = (k: string) => `${B}|${k}`;
      if (v.keep === 1) {
        base[key('wf')] = whole.fwd;
        base[key('ws')] = whole.step;
        base[key('tf')] = trans.fwd;
        base[key('ts')] = trans.step;
        base[key('macsT')] = macs.transformer;
        base[key('macs')] = macs.total;
      }
      const speed = (k: string, ms: number) => (base[key(k)]! / ms).toFixed(2);
      const ms = (x: number, digits = 0) => (Number.isNaN(x) ? '—' : x.toFixed(digits));
      const rate = (x: number) => (Number.isNaN(x) ? '—' : ((B * 1000) / x).toFixed(2));
      rows.push([
        `${B}`,
        v.label,
        ms(whole.fwd),
        rate(whole.fwd),
        ms(whole.step),
        rate(whole.step),
        wholeModel ? `×${speed('wf', whole.fwd)} / ×${speed('ws', whole.step)} (FLOPs ×${(base[key('macs')]! / macs.total).toFixed(2)})` : '—',
        trans.fwd.toFixed(1),
        trans.step.toFixed(1),
        `×${speed('tf', trans.fwd)} / ×${speed('ts', trans.step)} (FLOPs ×${(base[key('macsT')]! / macs.transformer).toFixed(2)})`,
      ]);
      for (const t of [images, target, features]) t.dispose();
      model.dispose();
    }
  }
  const header = ['batch', 'model', 'fwd ms', 'fwd img/s', 'train step ms', 'step img/s', 'whole-model speed-up fwd / step', 'transformer fwd ms', 'transformer step ms', 'transformer speed-up fwd / step'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}`);
  console.log('\nSpeed-ups are against TokenPose-B at the same batch; FLOP ratios are true MACs (countFlops, convention macs).');
}
