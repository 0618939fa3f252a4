// The peers on the workloads of the training step: attention, 3×3 conv, batch norm (forward and
// forward + backward), plus the 1000-add chain. Peers only: our engine's rows belong in the suites that
// compare against it once the ops exist. `pnpm bench peers [attention] [conv] [bn] [add] [--nchw] [--quick]`
// (no group names: all groups; --nchw adds tfjs conv rows in NCHW, its non-native layout).
import { adapterDescription } from './lib/gpu.js';
import * as tfjs from './peers/tfjs.js';
import * as jax from './peers/jax.js';
import { type Case, type Row, type TimingOptions, measure, printTable } from './lib/timing.js';
import { fmtShape } from './lib/data.js';

type Setup = () => Case | Promise<Case>;

export async function main(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const groups = args.filter((a) => !a.startsWith('--'));
  const want = (g: string) => groups.length === 0 || groups.includes(g);
  console.log(`adapter: ${await adapterDescription()}`);
  await tfjs.init();
  await jax.init();
  console.log(`engines: ${tfjs.name}, ${jax.name}`);
  const heavy: TimingOptions = quick ? { warmup: 1, iters: 1, minIters: 1 } : { warmup: 1, iters: 5, minIters: 3, budgetMs: 8000 };
  const light: TimingOptions = quick ? { warmup: 1, iters: 3 } : { warmup: 2, iters: 7, budgetMs: 3000 };
  console.log(`timing: ${heavy.warmup} warm-up run(s), then the median of ${heavy.minIters}–${heavy.iters} runs\n`);

  const rows: Row[] = [];
  const add = async (op: string, shape: string, cases: [string, Setup][], options = heavy) => {
    for (const [engine, setup] of cases) rows.push(await measure(op, shape, engine, setup, options));
  };

  if (want('attention')) {
    for (const [s, backward] of [
      [{ B: 32, H: 8, L: 273, D: 24 }, false],
      [{ B: 32, H: 8, L: 273, D: 24 }, true],
      [{ B: 32, H: 8, L: 171, D: 24 }, true],
    ] as const) {
      await add(backward ? 'attention fwd+bwd' : 'attention fwd', fmtShape([s.B, s.H, s.L, s.D]), [
        ['tfjs', () => tfjs.attention(s, backward)],
        ['jax-js', () => jax.attention(s, backward)],
      ]);
    }
  }
  if (want('conv')) {
    for (const [s, backward] of [
      [{ N: 32, Cin: 32, Cout: 32, H: 64, W: 48 }, false],
      [{ N: 32, Cin: 32, Cout: 32, H: 64, W: 48 }, true],
      [{ N: 32, Cin: 64, Cout: 64, H: 32, W: 24 }, true],
    ] as const) {
      const cases: [string, Setup][] = [['tfjs', () => tfjs.conv2d(s, backward, 'NHWC')]];
      if (args.includes('--nchw')) cases.push(['tfjs NCHW', () => tfjs.conv2d(s, backward, 'NCHW')]);
      cases.push(['jax-js', () => jax.conv2d(s, backward)]);
      await add(backward ? 'conv3×3 fwd+bwd' : 'conv3×3 fwd', `N${s.N} ${s.Cin}→${s.Cout} ${s.H}×${s.W}`, cases);
    }
  }
  if (want('bn')) {
    const s = { N: 32, C: 32, H: 64, W: 48 };
    for (const backward of [false, true]) {
      await add(backward ? 'batch norm fwd+bwd' : 'batch norm fwd', fmtShape([s.N, s.C, s.H, s.W]), [
        ['tfjs', () => tfjs.batchNorm(s, backward)],
        ['jax-js', () => jax.batchNorm(s, backward)],
      ], light);
    }
  }
  if (want('add')) {
    await add('1000 × add', '[64]', [
      ['tfjs', () => tfjs.addChain(1000, 64)],
      ['jax-js', () => jax.addChain(1000, 64)],
    ], light);
  }
  printTable(rows);
  if (tfjs.liveTensors() !== 0) console.log(`\nwarning: ${tfjs.liveTensors()} tfjs tensors still live after the run`);
}
