// Row reductions on [4096, 256] (1M elements, f32, forward): softmax and layerNorm over the last axis,
// a sum over the last (contiguous) axis and a mean over the first (strided) one. Ours as tuned, ours
// with a thread per row or chunk forced (the kernels before the tuned variants: the CPU's fallback),
// tfjs-webgpu and jax-js, one process, one adapter. `pnpm bench norm`.
import * as ours from './lib/kernels.js';
import { type Row, type TimingOptions, measure, printTable } from './lib/timing.js';
import * as jax from './peers/jax.js';
import * as tfjs from './peers/tfjs.js';

export async function main(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  await ours.initEngines();
  const options: TimingOptions = quick ? { warmup: 1, iters: 3 } : { warmup: 3, iters: 9, budgetMs: 8000 };
  const [rows, R] = [4096, 256];
  const out: Row[] = [];
  for (const op of ['softmax', 'layerNorm', 'sum', 'mean'] as const) {
    const shape = `${rows}×${R}`;
    out.push(await measure(op, shape, 'ours', () => ours.rowOp(op, rows, R), options));
    out.push(await measure(op, shape, 'ours thread', () => ours.rowOp(op, rows, R, 'thread'), options));
    out.push(await measure(op, shape, 'tfjs', () => tfjs.rowOp(op, rows, R), options));
    out.push(await measure(op, shape, 'jax-js', () => jax.rowOp(op, rows, R), options));
  }
  printTable(out);
}
