// Cold compile times. `pnpm bench compile [--quick]` runs two measurements, each in a child process with
// an empty Mesa shader cache (MESA_SHADER_CACHE_DIR) and an empty tune table (TMPOSE_TUNE_FILE), as on
// a new machine:
//  - kernels: every kernel a tmpose-b training step (batch 1: forward, loss, backward, Adam) dispatches,
//    plus every variant the tuner may pick for its problems, each compiled alone and timed to the end
//    of its first (empty) dispatch, since lavapipe compiles at the first dispatch, not at creation;
//  - first step: the time from init() to the loss of the first tmpose-b training step read back (what a
//    user waits for), with tuning as it runs by default and with tuning off, then a warm step.
// `--quick` uses the `tiny` configuration. `--half` instead times the float16 kernels of conv2d (HRNet's
// 1x1, 3x3 and strided 3x3), batch norm (plain, ReLU, residual + ReLU), attention (head dims 24 to 128),
// upsample and dropout, forward and backward, with every tuned variant, and the kernels they call.
import { type ConfigName, createModel, getConfig } from '@tmpose/model';
import * as T from '@tmpose/tensor';
import { type Kernel, init, kernelsOf, ones, optim, setTuning, timeCompile, zeros } from '@tmpose/tensor';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainingStep as stepOf } from './lib/step.js';

const SLOW_MS = 2000;

/** A training step on constant inputs: forward, JointsMSE loss, backward, Adam, returning the loss. */
function trainingStep(name: ConfigName) {
  const config = getConfig(name);
  const [H, W] = config.imageSize;
  const [hh, hw] = config.heatmapSize;
  const J = config.numJoints;
  const model = createModel(config, { seed: 1 });
  model.train();
  const opt = new optim.Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
  const images = zeros([1, 3, H, W]);
  const targets = zeros([1, J, hh, hw]);
  const weights = ones([1, J]);
  return () => stepOf(model, opt, images, targets, weights);
}

/** The float16 feature-map and attention ops, forward and backward (see the top of the file). */
function halfOps(): void {
  const leaf = (shape: number[], seed: number) => {
    const t = T.randn(shape, { seed }).to('float16');
    t.requiresGrad = true;
    return t;
  };
  T.tidy(() => {
    const x = leaf([1, 32, 64, 48], 1);
    const outs = [1, 3].map((k) => T.conv2d(x, leaf([32, 32, k, k], k), leaf([32], 2), { padding: (k - 1) / 2 }));
    outs.push(T.upsampleNearest(T.conv2d(x, leaf([64, 32, 3, 3], 4), undefined, { stride: 2, padding: 1 }), 2).slice(1, 0, 32));
    outs.push(T.batchNorm2d(x, null, null, null, null), T.batchNorm2d(x, null, null, null, null, { relu: true }));
    outs.push(T.dropout(T.batchNorm2d(x, null, null, null, null, { relu: true, residual: x }), 0.1));
    const loss = outs.reduce((a, b) => a.add(b)).sum();
    const tokens = [24, 32, 64, 128].map((D) => {
      const q = leaf([1, 8, 17, D], D);
      return T.scaledDotProductAttention(q, q, q).sum();
    });
    tokens.reduce((a, b) => a.add(b), loss).backward();
  });
}

async function kernels(name: ConfigName | 'half'): Promise<void> {
  const info = await init();
  let run = halfOps;
  if (name !== 'half') {
    const step = trainingStep(name);
    run = () => void step();
  }
  const all = kernelsOf(run, { everyVariant: true });
  const rows: [string, number][] = [];
  for (const k of all) rows.push([`${k.name}|${k.key}`, await timeCompile(k as Kernel)]);
  rows.sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((s, r) => s + r[1], 0);
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log(`adapter: ${info.description}`);
  console.log(`${rows.length} kernels of ${name === 'half' ? 'the float16 ops' : `a ${name} training step`} and every tuned variant, cold compile ms:`);
  for (const [k, ms] of rows) console.log(`  ${k.padEnd(width)}  ${ms.toFixed(0).padStart(6)}${ms > SLOW_MS ? '  (slow)' : ''}`);
  const byFamily = new Map<string, number[]>();
  for (const [k, ms] of rows) byFamily.set(k.split('|')[0]!, [...(byFamily.get(k.split('|')[0]!) ?? []), ms]);
  console.log('per family: kernels, total ms, slowest ms');
  for (const [f, ms] of [...byFamily].sort((a, b) => Math.max(...b[1]) - Math.max(...a[1]))) {
    console.log(`  ${f.padEnd(28)} ${`${ms.length}`.padStart(3)} ${ms.reduce((a, b) => a + b, 0).toFixed(0).padStart(7)} ${Math.max(...ms).toFixed(0).padStart(7)}`);
  }
  console.log(`total ${(total / 1000).toFixed(1)} s, slowest ${rows[0]![1].toFixed(0)} ms, ${rows.filter((r) => r[1] > SLOW_MS).length} over ${SLOW_MS} ms`);
}

async function firstStep(name: ConfigName, tuning: boolean): Promise<void> {
  const t0 = performance.now();
  await init();
  setTuning(tuning);
  const step = trainingStep(name);
  const first = step();
  const value = await first.item();
  const t1 = performance.now();
  first.dispose();
  const warm = step();
  await warm.item();
  const t2 = performance.now();
  console.log(`${name} first training step from a cold cache, tuning ${tuning ? 'on' : 'off'}: ${((t1 - t0) / 1000).toFixed(1)} s to the loss (${value.toExponential(3)}); the next step ${((t2 - t1) / 1000).toFixed(1)} s`);
}

/** Runs this benchmark again in a child process on empty caches. */
function cold(args: string[]): void {
  const cache = mkdtempSync(join(tmpdir(), 'tmpose-cold-'));
  try {
    const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, 'compile', ...args], {
      stdio: 'inherit',
      env: { ...process.env, MESA_SHADER_CACHE_DIR: cache, TMPOSE_TUNE_FILE: join(cache, 'tune.json') },
    });
    if (r.status !== 0) throw new Error(`bench compile ${args.join(' ')}: the child process failed (${r.status ?? r.signal})`);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

export async function main(args: string[]): Promise<void> {
  const name: ConfigName = args.includes('--quick') ? 'tiny' : 'tmpose-b';
  const child = args.indexOf('--child');
  if (child >= 0) {
    const what = args[child + 1];
    if (what === 'kernels') return kernels(args.includes('--half') ? 'half' : name);
    return firstStep(name, what === 'step');
  }
  if (args.includes('--half')) return cold(['--child', 'kernels', '--half']);
  const quick = args.includes('--quick') ? ['--quick'] : [];
  cold(['--child', 'kernels', ...quick]);
  cold(['--child', 'step', ...quick]);
  cold(['--child', 'step-untuned', ...quick]);
}
