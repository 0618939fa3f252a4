// `train()` captures the step from the second on and replays it (`graph`, the default; `tmpose train
// --no-graph` turns it off), and the run is the eager run, bit for bit: the same logged losses across
// epochs (masks reseeded per epoch, a learning-rate milestone between them) and the same checkpoint; in
// mixed precision too, through overflows and scale changes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { init } from '@tmpose/tensor';
import { type TrainOptions, loadCheckpoint, train } from '@tmpose/train';
import { tempDirs } from './disk.js';

const data = fileURLToPath(new URL('../../../data/coco-mini', import.meta.url));
const tempDir = tempDirs('graph');

beforeAll(async () => {
  await init();
});

// 3 epochs of 3 steps of batch 2; the rate drops after epoch 1.
const base = (out: string): TrainOptions => ({
  config: 'tiny', data, out, epochs: 3, batchSize: 2, samplesPerEpoch: 6, workers: 0, logEvery: 1, evalEvery: 0, quiet: true, lr: 5e-3,
  milestones: [1], seed: 0,
});

interface StepRecord { type: string; loss: number; lr: number; scale?: number; skipped?: number; time: string; imagesPerSec: number }
const stepsOf = (out: string) =>
  readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as StepRecord).filter((r) => r.type === 'step');

/** The two runs' last checkpoints hold the same weights and training state, bit for bit. */
async function expectSameCheckpoints(aOut: string, bOut: string): Promise<void> {
  const [ca, cb] = [await loadCheckpoint(join(aOut, 'last.safetensors')), await loadCheckpoint(join(bOut, 'last.safetensors'))];
  try {
    expect(Object.keys(cb.model)).toEqual(Object.keys(ca.model));
    for (const [name, t] of Object.entries(ca.model)) expect(Array.from(await cb.model[name]!.data()), name).toEqual(Array.from(await t.data()));
    expect(cb.state).toEqual(ca.state);
  } finally {
    ca.dispose();
    cb.dispose();
  }
}

describe('train with a captured step', () => {
  it('logs the losses and writes the checkpoint of the eager run, bit for bit', async () => {
    const [eagerOut, graphOut] = [tempDir(), tempDir()];
    await train({ ...base(eagerOut), graph: false });
    await train(base(graphOut));
    const [a, b] = [stepsOf(eagerOut), stepsOf(graphOut)];
    expect(a).toHaveLength(9);
    expect(b.map((r) => r.loss)).toEqual(a.map((r) => r.loss));
    expect(b.map((r) => r.lr)).toEqual(a.map((r) => r.lr));
    expect(new Set(a.map((r) => r.lr)).size).toBe(2);
    await expectSameCheckpoints(eagerOut, graphOut);
  });

  it('in mixed precision (the backward captured per scale, the update after a good step) logs the eager run, overflows and scale changes included', async () => {
    // A scale that starts high and doubles every 2 good steps: overflows, backoffs and growth, each
    // a new scale and so a new capture.
    const mixed = (out: string): TrainOptions => ({ ...base(out), precision: 'float16', gradScaler: { initScale: 2 ** 31, growthInterval: 2 } });
    const [eagerOut, graphOut] = [tempDir(), tempDir()];
    const eager = await train({ ...mixed(eagerOut), graph: false });
    const replayed = await train(mixed(graphOut));
    const [a, b] = [stepsOf(eagerOut), stepsOf(graphOut)];
    expect(a).toHaveLength(9);
    expect(b).toEqual(a.map((r, i) => ({ ...r, time: b[i]!.time, imagesPerSec: b[i]!.imagesPerSec })));
    expect(eager.skippedSteps).toBeGreaterThan(0);
    expect(new Set(a.map((r) => r.scale)).size).toBeGreaterThan(2);
    expect(replayed.skippedSteps).toBe(eager.skippedSteps);
    await expectSameCheckpoints(eagerOut, graphOut);
  });
});
