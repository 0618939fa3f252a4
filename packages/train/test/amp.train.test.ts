// Mixed-precision training of `tiny` on the bundled sample (data/coco-mini): the float16 run (autocast +
// GradScaler on float32 master weights) follows the float32 loss curve, loss scaling recovers from
// overflows forced mid-run (a scale that doubles every 3 good steps from 2^20 until the float16 backward
// overflows), and the checkpoint carries the scaler's state.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { GradScaler, init, optim } from '@tmpose/tensor';
import { createModel } from '@tmpose/model';
import { type TrainOptions, loadCheckpoint, train } from '@tmpose/train';
import { tempDirs } from './disk.js';

const data = fileURLToPath(new URL('../../../data/coco-mini', import.meta.url));
const tempDir = tempDirs('amp');

beforeAll(async () => {
  await init();
});

// 40 steps of batch 4 (5 epochs of 32 samples), as `pnpm demo` trains but shorter.
const base = (out: string): TrainOptions => ({
  config: 'tiny', data, out, epochs: 5, batchSize: 4, samplesPerEpoch: 32, workers: 0, logEvery: 1, evalEvery: 0, quiet: true, lr: 5e-3,
  milestones: [100], seed: 0, augment: { rotationProb: 0.3, rotationFactor: 20, halfBodyProb: 0, scaleFactor: 0.2 },
});

interface StepRecord { type: string; step: number; loss: number; scale?: number; skipped?: number }
const stepsOf = (out: string) =>
  readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepRecord).filter((r) => r.type === 'step');
/** The mean of the last 5 logged losses (one batch of 4 is noisy). */
const finalLoss = (steps: StepRecord[]) => steps.slice(-5).reduce((s, r) => s + r.loss, 0) / 5;

describe('mixed-precision training of tiny on the bundled sample', () => {
  it('follows the float32 loss curve (final loss within 10%) and recovers from overflows forced mid-run', async () => {
    const f32Out = tempDir();
    const f16Out = tempDir();
    const t0 = performance.now();
    const f32 = await train(base(f32Out));
    const t1 = performance.now();
    const f16 = await train({ ...base(f16Out), precision: 'float16', gradScaler: { initScale: 2 ** 20, growthInterval: 3 } });
    const t2 = performance.now();
    expect([f32.precision, f16.precision]).toEqual(['float32', 'float16']);
    const a = stepsOf(f32Out);
    const b = stepsOf(f16Out);
    expect(a).toHaveLength(40);
    expect(b).toHaveLength(40);
    expect(a[0]!.scale).toBeUndefined();
    const [la, lb] = [finalLoss(a), finalLoss(b)];
    console.log(
      `tiny, 40 steps of batch 4: float32 loss ${a[0]!.loss.toExponential(3)} -> ${la.toExponential(3)} (${((t1 - t0) / 1000).toFixed(1)} s), ` +
        `float16 ${b[0]!.loss.toExponential(3)} -> ${lb.toExponential(3)} (${((t2 - t1) / 1000).toFixed(1)} s), ` +
        `${f16.skippedSteps} steps skipped, scales ${b.map((r) => Math.log2(r.scale!)).join(' ')} (log2)`,
    );
    expect(la).toBeLessThan(0.7 * a[0]!.loss);
    expect(Math.abs(lb - la)).toBeLessThanOrEqual(0.1 * la);
    // Overflows happened after good steps (the scale grew first), each skipped, halving the scale, and
    // training went on: the last steps were taken at a scale below the largest reached.
    const firstSkip = b.findIndex((r, i) => r.skipped! > (b[i - 1]?.skipped ?? 0));
    expect(firstSkip).toBeGreaterThan(3);
    expect(f16.skippedSteps).toBe(b.at(-1)!.skipped);
    expect(f16.skippedSteps).toBeGreaterThan(0);
    expect(f16.skippedSteps).toBeLessThan(10);
    expect(b.at(-1)!.scale!).toBeLessThan(Math.max(...b.map((r) => r.scale!)));
    // The checkpoint holds the scaler's state; a GradScaler restored from it continues the run's scale.
    const ckpt = await loadCheckpoint(f16.checkpoint);
    try {
      const scaler = new GradScaler();
      expect(ckpt.restoreScaler(scaler)).toBe(true);
      expect(scaler.getScale()).toBe(b.at(-1)!.scale);
      expect(scaler.skippedSteps).toBe(f16.skippedSteps);
      // The weights (master weights) stay float32 in the checkpoint, with Adam's float32 state.
      expect(Object.values(ckpt.model).every((t) => t.dtype !== 'float16')).toBe(true);
      const model = createModel('tiny');
      const adam = new optim.Adam(model.parameters());
      ckpt.restoreOptimizer(adam as unknown as optim.Optimizer<optim.Hyper>);
      adam.dispose();
      model.dispose();
    } finally {
      ckpt.dispose();
    }
    // A float32 checkpoint has no scaler state.
    const plain = await loadCheckpoint(f32.checkpoint);
    expect(plain.restoreScaler(new GradScaler())).toBe(false);
    plain.dispose();
  }, 600_000);
});
