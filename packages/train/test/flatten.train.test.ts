// Module.flattenParameters() changes where the weights live, not what training computes: a seeded `tiny`
// trained a few Adam steps with its parameters flattened (one buffer, each a view at an offset, and Adam
// binding that buffer once for many parameters) gives the same losses and weights, bit for bit, as with a
// buffer per parameter. So every kernel the model runs, forward and backward, honours weight offsets.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, keep, optim, randn, tensor, tidy } from '@tmpose/tensor';
import { createModel, getConfig } from '@tmpose/model';
import { jointsMseLoss } from '@tmpose/train';

beforeAll(async () => {
  await init();
});

/** Losses of 3 steps of batch 2 and the final weights of a seed-1 tiny, its parameters flattened or not. */
async function run(flatten: boolean): Promise<{ losses: number[]; weights: number[][] }> {
  const config = getConfig('tiny');
  const [H, W] = config.imageSize;
  const [h, w] = config.heatmapSize;
  const model = createModel(config, { seed: 1 }).train();
  if (flatten) model.flattenParameters();
  const params = model.parameters().filter((p) => p.requiresGrad);
  if (flatten) expect(new Set(params.map((p) => p.storage)).size).toBe(1);
  const opt = new optim.AdamW(params, { lr: 1e-2 });
  const losses: number[] = [];
  for (let step = 0; step < 3; step++) {
    const loss = tidy(() => {
      const images = randn([2, 3, H, W], { seed: step });
      const targets = randn([2, 17, h, w], { seed: 10 + step });
      const weights = tensor(new Float32Array(2 * 17).fill(1), [2, 17]);
      const l = jointsMseLoss(model.forward(images, { seed: step }), targets, weights);
      l.backward();
      opt.step();
      opt.zeroGrad();
      return keep(l.detach());
    });
    losses.push((await loss.data())[0]!);
    loss.dispose();
  }
  const weights = await Promise.all(model.parameters().map(async (p) => Array.from(await p.data())));
  opt.dispose();
  model.dispose();
  return { losses, weights };
}

describe('flattenParameters', () => {
  // float32 only: a cold shader cache compiles tiny's kernels in ~40 s on lavapipe, float16's as many again.
  it('tiny trained 3 steps gives the same losses and weights, bit for bit, flattened or not', async () => {
    const plain = await run(false);
    const flat = await run(true);
    expect(flat.losses).toEqual(plain.losses);
    expect(plain.losses.every(Number.isFinite)).toBe(true);
    flat.weights.forEach((w, i) => expect(w, `parameter ${i}`).toEqual(plain.weights[i]));
  });
});
