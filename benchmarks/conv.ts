// 3×3 convolution, stride 1, padding 1, batch 32, at TokenPose-B's HRNet shapes: 32→32 at 64×48 and
// 64→64 at 32×24, forward and forward + backward (dx and dw), ours (NCHW; float32, and float16 with f32
// accumulation) vs tfjs-webgpu (NHWC, its native layout) and jax-js, one process, one adapter.
// `pnpm bench conv [--quick]`.
import * as T from '@tmpose/tensor';
import * as ours from './lib/kernels.js';
import { printOccupancy } from './lib/occupancy.js';
import { type Case, type Row, type TimingOptions, measure, printTable } from './lib/timing.js';
import * as jax from './peers/jax.js';
import * as tfjs from './peers/tfjs.js';

export async function main(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  await ours.initEngines();
  const options: TimingOptions = quick ? { warmup: 1, iters: 1, minIters: 1 } : { warmup: 1, iters: 5, budgetMs: 20000 };
  const rows: Row[] = [];
  for (const [C, H, W] of [[32, 64, 48], [64, 32, 24]] as const) {
    for (const backward of [false, true]) {
      const op = backward ? 'conv3×3 fwd+bwd' : 'conv3×3 fwd';
      const shape = `N32 ${C}→${C} ${H}×${W}`;
      const s = { N: 32, Cin: C, Cout: C, H, W };
      const engines: [string, () => Case | Promise<Case>][] = [
        ['ours', () => ours.conv2d(32, C, C, H, W, backward)],
        // float16 storage, f32 accumulation: half the bytes; on lavapipe (a CPU) not faster.
        ['ours f16', () => ours.conv2d(32, C, C, H, W, backward, 'float16')],
        ['tfjs', () => tfjs.conv2d(s, backward)],
        ['jax-js', () => jax.conv2d(s, backward)],
      ];
      for (const [engine, setup] of engines) rows.push(await measure(op, shape, engine, setup, options));
    }
  }
  printTable(rows);
  // Forward, input gradient and weight gradient of each conv above, and HRNet's 1×1 and stride-2 convs.
  const convs: [string, number, number, number, number, number, number][] = [
    ['3×3 N32 32→32 64×48', 32, 32, 64, 48, 3, 1],
    ['3×3 N32 64→64 32×24', 64, 64, 32, 24, 3, 1],
    ['3×3 stride 2 N32 32→64 64×48', 32, 64, 64, 48, 3, 2],
    ['1×1 N32 64→32 32×24', 64, 32, 32, 24, 1, 1],
  ];
  for (const [title, C, F, H, W, k, stride] of convs) {
    printOccupancy(`conv ${title}, forward + backward`, 'conv2d', [...T.CONV_VARIANTS], () => {
      const pad = (k - 1) / 2;
      const x = T.zeros([32, C, H, W], { requiresGrad: true });
      const w = T.zeros([F, C, k, k], { requiresGrad: true });
      const dy = T.zeros([32, F, Math.floor((H + 2 * pad - k) / stride) + 1, Math.floor((W + 2 * pad - k) / stride) + 1]);
      return () => T.conv2d(x, w, undefined, { stride, padding: pad }).backward(dy);
    });
  }
}
