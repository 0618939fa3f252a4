// Cross-checks the engines' outputs on small shapes (not a timing): every case's untimed `values()`
// against jax-js, after undoing tfjs's NHWC / HWIO layouts. `pnpm bench check`. All engines get the same
// host inputs (lib/data.ts), so their outputs must agree to f32 rounding.
import * as ours from './lib/ours.js';
import * as tfjs from './peers/tfjs.js';
import * as jax from './peers/jax.js';
import { HWIO_TO_OIHW, NHWC_TO_NCHW, permute } from './lib/data.js';
import type { Case } from './lib/timing.js';

type Fix = (x: Float32Array) => Float32Array;
const id: Fix = (x) => x;

async function values(setup: () => Case | Promise<Case>): Promise<Float32Array[] | string> {
  let c: Case | undefined;
  try {
    c = await setup();
    return await c.values!();
  } catch (err) {
    return `failed: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    c?.dispose();
  }
}

function compare(got: Float32Array[] | string, want: Float32Array[] | string, fixes: Fix[] = []): string {
  if (typeof got === 'string') return got;
  if (typeof want === 'string') return `reference ${want}`;
  if (got.length !== want.length) return `MISMATCH: ${got.length} outputs, reference has ${want.length}`;
  let worst = 0;
  const parts = got.map((g, i) => {
    const x = (fixes[i] ?? id)(g);
    const y = want[i]!;
    if (x.length !== y.length) return `output ${i}: MISMATCH ${x.length} vs ${y.length} values`;
    let err = 0;
    let mag = 0;
    for (let j = 0; j < y.length; j++) {
      err = Math.max(err, Math.abs(x[j]! - y[j]!));
      mag = Math.max(mag, Math.abs(y[j]!));
    }
    worst = Math.max(worst, err / Math.max(mag, 1));
    return err.toExponential(1);
  });
  return `${worst < 1e-4 ? 'ok' : 'DIFFERS'}  max |Δ| per output: ${parts.join(', ')}`;
}

export async function main(): Promise<void> {
  await ours.init().catch(() => undefined);
  await tfjs.init();
  await jax.init();
  const att = { B: 2, H: 3, L: 17, D: 8 };
  const cs = { N: 2, Cin: 4, Cout: 5, H: 6, W: 7 };
  const bs = { N: 3, C: 4, H: 5, W: 6 };
  const nhwc = (n: number, c: number, h: number, w: number): Fix => (x) => permute(x, [n, h, w, c], NHWC_TO_NCHW);
  const hwio: Fix = (x) => permute(x, [3, 3, cs.Cin, cs.Cout], HWIO_TO_OIHW);
  const yFix = nhwc(cs.N, cs.Cout, cs.H, cs.W);
  const dxFix = nhwc(cs.N, cs.Cin, cs.H, cs.W);
  const bnFix = nhwc(bs.N, bs.C, bs.H, bs.W);

  const checks: [string, () => Case | Promise<Case>, () => Case | Promise<Case>, Fix[]?][] = [
    ['matmul 33×20×17: ours', () => ours.matmul(33, 20, 17), () => jax.matmul(33, 20, 17)],
    ['matmul 33×20×17: tfjs', () => tfjs.matmul(33, 20, 17), () => jax.matmul(33, 20, 17)],
    ['1000 × add: ours', () => ours.addChain(1000), () => jax.addChain(1000)],
    ['1000 × add: tfjs', () => tfjs.addChain(1000), () => jax.addChain(1000)],
    ['attention fwd: tfjs', () => tfjs.attention(att), () => jax.attention(att)],
    ['attention fwd+bwd: tfjs', () => tfjs.attention(att, true), () => jax.attention(att, true)],
    ['conv fwd: tfjs NHWC', () => tfjs.conv2d(cs), () => jax.conv2d(cs), [yFix]],
    ['conv fwd: tfjs NCHW', () => tfjs.conv2d(cs, false, 'NCHW'), () => jax.conv2d(cs)],
    ['conv fwd+bwd: tfjs NHWC', () => tfjs.conv2d(cs, true), () => jax.conv2d(cs, true), [dxFix, hwio]],
    ['conv fwd+bwd: tfjs NCHW', () => tfjs.conv2d(cs, true, 'NCHW'), () => jax.conv2d(cs, true), [id, hwio]],
    ['batch norm fwd: tfjs', () => tfjs.batchNorm(bs), () => jax.batchNorm(bs), [bnFix]],
    ['batch norm fwd+bwd: tfjs', () => tfjs.batchNorm(bs, true), () => jax.batchNorm(bs, true), [bnFix]],
  ];
  console.log('each engine against jax-js, on the same inputs:');
  for (const [name, got, want, fixes] of checks) {
    console.log(`  ${name.padEnd(26)} ${compare(await values(got), await values(want), fixes)}`);
  }
}
