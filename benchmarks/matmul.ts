// matmul throughput and per-op dispatch overhead: @tmpose/tensor vs tfjs-webgpu vs jax-js, one process,
// one Dawn adapter. `pnpm bench matmul [--quick]`.
import * as T from '@tmpose/tensor';
import { adapterDescription } from './lib/gpu.js';
import { printOccupancy } from './lib/occupancy.js';
import * as ours from './lib/ours.js';
import * as tfjs from './peers/tfjs.js';
import * as jax from './peers/jax.js';
import { type Case, type Row, type TimingOptions, measure, printTable } from './lib/timing.js';

const SHAPES: [number, number, number][] = [
  [8192, 192, 576],
  [8736, 192, 192],
  [1024, 1024, 1024],
];

export async function main(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  let description: string;
  try {
    description = await ours.init();
  } catch (err) {
    description = `${await adapterDescription()} (@tmpose/tensor init failed: ${(err as Error).message})`;
  }
  console.log(`adapter: ${description}`);
  await tfjs.init();
  await jax.init();
  console.log(`engines: ${ours.name}, ${tfjs.name}, ${jax.name}`);
  console.log(`timing: warm-up runs (first includes shader compilation), then the median of timed runs\n`);

  const engines: [string, { matmul(M: number, K: number, N: number): Case | Promise<Case> }][] = [
    ['ours', ours],
    // float16 storage, f32 accumulation: half the bytes; on lavapipe (a CPU) not faster.
    ['ours f16', { matmul: (M, K, N) => ours.matmul(M, K, N, 'float16') }],
    ['tfjs', tfjs],
    ['jax-js', jax],
  ];
  const mmOptions: TimingOptions = quick ? { warmup: 1, iters: 3 } : { warmup: 2, iters: 7, budgetMs: 4000 };
  const rows: Row[] = [];
  for (const [M, K, N] of SHAPES) {
    for (const [engine, impl] of engines) {
      rows.push(await measure('matmul', `${M}×${K}×${N}`, engine, () => impl.matmul(M, K, N), mmOptions));
    }
  }

  const chainOptions: TimingOptions = quick ? { warmup: 1, iters: 3 } : { warmup: 2, iters: 9, budgetMs: 3000 };
  const chain: [string, () => Case | Promise<Case>][] = [
    ['ours', () => ours.addChain(1000, 64)],
    ['tfjs', () => tfjs.addChain(1000, 64)],
    ['jax-js', () => jax.addChain(1000, 64)],
  ];
  for (const [engine, setup] of chain) rows.push(await measure('1000 × add', '[64]', engine, setup, chainOptions));

  printTable(rows);
  // The products of TokenPose-B's linears at batch 32: forward, and the weight gradient (gᵀ x, K = rows).
  for (const [M, K, N] of SHAPES) {
    printOccupancy(`matmul ${M}×${K}×${N}`, 'matmul', T.matmulVariantLabels(N), () => {
      const [a, b] = [T.zeros([M, K]), T.zeros([K, N])];
      return () => void T.matmul(a, b);
    });
    printOccupancy(`weight gradient ${N}×${K}, K = ${M}`, 'matmul', T.matmulVariantLabels(K), () => {
      const [g, x] = [T.zeros([M, N]), T.zeros([M, K])];
      return () => void T.matmul(T.transpose(g), x);
    });
  }
  console.log(`\nours, CPU cost alone (encoding 1000 dependent adds, before the one submit): ${(await ours.addChainEncodeMicros(1000, 64)).toFixed(1)} µs/op`);
  const leaks = [ours.liveTensors(), tfjs.liveTensors()];
  if (leaks.some((n) => n !== 0)) console.log(`\nwarning: live tensors after the run: ours ${leaks[0]}, tfjs ${leaks[1]}`);
}
