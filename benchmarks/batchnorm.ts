// Batch norm in training mode on NCHW [32, 32, 64, 48] (3.1M elements), forward and forward +
// backward, ours vs tfjs-webgpu (NHWC, tf.moments + tf.batchNorm) and jax-js, one process, one
// adapter. GB/s counts the minimum traffic (forward: read x twice, write y). `pnpm bench batchnorm`.
import * as ours from './lib/kernels.js';
import { type Case, type Row, type TimingOptions, measure, printTable } from './lib/timing.js';
import * as jax from './peers/jax.js';
import * as tfjs from './peers/tfjs.js';

export async function main(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  await ours.initEngines();
  const options: TimingOptions = quick ? { warmup: 1, iters: 3 } : { warmup: 2, iters: 9, budgetMs: 10000 };
  const [N, C, H, W] = [32, 32, 64, 48];
  const rows: Row[] = [];
  const mine: number[] = [];
  for (const backward of [false, true]) {
    const op = backward ? 'batch norm train fwd+bwd' : 'batch norm train fwd';
    const shape = `${N}×${C}×${H}×${W}`;
    const engines: [string, () => Case | Promise<Case>][] = [
      ['ours', () => ours.batchNorm(N, C, H, W, backward)],
      ['tfjs', () => tfjs.batchNorm({ N, C, H, W }, backward)],
      ['jax-js', () => jax.batchNorm({ N, C, H, W }, backward)],
    ];
    for (const [engine, setup] of engines) {
      const row = await measure(op, shape, engine, setup, options);
      rows.push(row);
      if (engine === 'ours') mine.push(row.ms ?? Number.NaN);
    }
  }
  printTable(rows);
  console.log(`\nours forward+backward / forward: ${(mine[1]! / mine[0]!).toFixed(2)}× (goal ≤ 3×)`);
}
