// Attention at TokenPose-B shapes: B=32, H=8, D=24, L=273 (keep 1.0: 256 + 17 tokens) and L=170 (keep
// 0.6: 153 + 17), forward and forward + backward: our fused kernel (float32, and float16 with f32
// statistics), our composed version (matmul + softmax + matmul), tfjs-webgpu and jax-js (both composed),
// one process, one adapter; the tiled forward forced beside them, and each variant's threads launched
// and workgroup memory.
// `pnpm bench attention [--quick]`.
import * as T from '@tmpose/tensor';
import * as ours from './lib/kernels.js';
import { printOccupancy } from './lib/occupancy.js';
import { type Case, type Row, type TimingOptions, measure, printTable } from './lib/timing.js';
import * as tfjs from './peers/tfjs.js';
import * as jax from './peers/jax.js';

export async function main(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  await ours.initEngines();
  const options: TimingOptions = quick ? { warmup: 1, iters: 1, minIters: 1 } : { warmup: 1, iters: 5, budgetMs: 20000 };
  const [B, H, D] = [32, 8, 24];
  const rows: Row[] = [];
  const fused: Record<string, number> = {};
  for (const L of [273, 170]) {
    for (const backward of [false, true]) {
      const op = backward ? 'attention fwd+bwd' : 'attention fwd';
      const shape = `B${B} H${H} L${L} D${D}`;
      const engines: [string, () => Case | Promise<Case>][] = [
        ['ours', () => ours.attention(B, H, L, D, backward, 'fused')],
        // float16 q, k, v, O and gradients; f32 softmax statistics and accumulators.
        ['ours f16', () => ours.attention(B, H, L, D, backward, 'fused', 'float16')],
        // The tiled forward (for GPUs) forced; on a CPU adapter the tuned choice keeps the row kernels.
        ...T.ATTENTION_VARIANTS.filter((l) => l.startsWith('tile')).flatMap((label): [string, () => Case][] => [
          [`ours ${label}`, () => ours.attention(B, H, L, D, backward, 'fused', 'float32', label)],
          [`ours f16 ${label}`, () => ours.attention(B, H, L, D, backward, 'fused', 'float16', label)],
        ]),
        ['ours composed', () => ours.attention(B, H, L, D, backward, 'composed')],
        ['tfjs', () => tfjs.attention({ B, H, L, D }, backward)],
        ['jax-js', () => jax.attention({ B, H, L, D }, backward)],
      ];
      for (const [engine, setup] of engines) {
        const row = await measure(op, shape, engine, setup, options);
        rows.push(row);
        if (engine === 'ours') fused[`${L}${backward}`] = row.ms ?? Number.NaN;
      }
    }
  }
  printTable(rows);
  for (const L of [273, 170]) {
    const inputs = () => [0, 1, 2].map(() => T.zeros([B, H, L, D], { requiresGrad: true })) as [T.Tensor, T.Tensor, T.Tensor];
    printOccupancy(`attention B${B} H${H} L${L} D${D}, forward`, 'attention', [...T.ATTENTION_VARIANTS], () => {
      const [q, k, v] = inputs();
      return () => T.scaledDotProductAttention(q, k, v);
    });
    printOccupancy(`attention B${B} H${H} L${L} D${D}, forward + backward`, 'attentionBackward', [...T.ATTENTION_VARIANTS], () => {
      const [q, k, v] = inputs();
      const dy = T.zeros([B, H, L, D]);
      return () => T.scaledDotProductAttention(q, k, v).backward(dy);
    });
  }
  const ratio = (bwd: boolean) => (fused[`170${bwd}`]! / fused[`273${bwd}`]!).toFixed(2);
  console.log(`\nours L=170 / L=273 time: forward ${ratio(false)}, forward+backward ${ratio(true)} (the FLOP ratio is ${((170 * 170) / (273 * 273)).toFixed(2)})`);
}
