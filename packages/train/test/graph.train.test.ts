// A captured training step (captureGraph) replayed trains `tiny` exactly as running the step's code
// does: the same losses, weights, batch norm statistics and Adam state, bit for bit. The masks are drawn
// from the model's own generator at each replay, as an eager step draws them, and the inputs reach the
// graph through copy_. Captured eval forwards (alone, and in predictDataset) give the eager heatmaps.
import { beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, captureGraph, init, keep, noGrad, optim, randn, tensor, tidy } from '@tmpose/tensor';
import { createModel, getConfig } from '@tmpose/model';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { type HeatmapSource, flipImages, loadCoco, predictDataset, predictFromHeatmaps, trainingStep } from '@tmpose/train';

const data = fileURLToPath(new URL('../../../data/coco-mini', import.meta.url));

beforeAll(async () => {
  await init();
});

const STEPS = 4;
const B = 2;

async function run(captureAt: number | null): Promise<{ losses: number[]; state: number[][]; indices: unknown[]; step: number }> {
  const config = getConfig('tiny');
  const [H, W] = config.imageSize;
  const [h, w] = config.heatmapSize;
  const model = createModel(config, { seed: 1 }).train().flattenParameters();
  model.maskRng.seed(3);
  const opt = new optim.Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
  const [x, target, weight] = [randn([B, 3, H, W], { seed: 0 }), randn([B, 17, h, w], { seed: 0 }), randn([B, 17], { seed: 0 })];
  const step = () => trainingStep(model, opt, x, target, weight);
  const losses: number[] = [];
  const indices: unknown[] = [];
  let graph: ReturnType<typeof captureGraph<Tensor>> | null = null;
  for (let s = 0; s < STEPS; s++) {
    // New inputs each step, written in place.
    tidy(() => {
      x.copy_(randn([B, 3, H, W], { seed: 10 + s }));
      target.copy_(randn([B, 17, h, w], { seed: 20 + s }));
      weight.copy_(randn([B, 17], { seed: 30 + s }).abs());
    });
    if (s === captureAt) graph = captureGraph(step);
    else if (graph) graph.replay();
    if (graph) losses.push(await graph.outputs.item());
    else {
      const l = tidy(() => keep(step()));
      losses.push(await l.item());
      l.dispose();
    }
    indices.push(structuredClone(model.lastIndices));
  }
  const dict = model.stateDict();
  const state = await Promise.all(Object.values(dict).map(async (t) => Array.from(await t.data())));
  for (const t of Object.values(dict)) t.dispose();
  const optState = opt.stateDict();
  const step0 = optState.state[0]!.step;
  const moments = await Promise.all(Object.values(optState.state).flatMap((s) => Object.values(s.tensors)).map(async (t) => {
    const v = Array.from(await t.data());
    t.dispose();
    return v;
  }));
  for (const t of [graph, x, target, weight, opt, model]) t?.dispose();
  return { losses, state: [...state, ...moments], indices, step: step0 };
}

describe('captureGraph on tiny', () => {
  it('steps replayed from the second on give the losses, weights, statistics and moments of eager steps, bit for bit, with masks drawn anew', async () => {
    const eager = await run(null);
    const replayed = await run(1);
    expect(replayed.losses).toEqual(eager.losses);
    expect(eager.losses.every(Number.isFinite)).toBe(true);
    expect(replayed.indices).toEqual(eager.indices);
    // tiny keeps 0.6 of its tokens, drawn at random: the masks differ from step to step.
    expect(eager.indices[1]).not.toEqual(eager.indices[2]);
    expect(replayed.step).toBe(STEPS);
    replayed.state.forEach((v, i) => expect(v, `state tensor ${i}`).toEqual(eager.state[i]));
  });

  it('an eval forward captured and replayed on new images gives the eager heatmaps, bit for bit', async () => {
    const config = getConfig('tiny');
    const [H, W] = config.imageSize;
    const model = createModel(config, { seed: 2 }).eval();
    const x = randn([B, 3, H, W], { seed: 40 });
    const graph = captureGraph(() => noGrad(() => model.forward(x)));
    for (const seed of [41, 42]) {
      tidy(() => x.copy_(randn([B, 3, H, W], { seed })));
      graph.replay();
      const replayed = Array.from(await graph.outputs.data());
      const eager = tidy(() => noGrad(() => model.forward(x)));
      expect(replayed).toEqual(Array.from(await eager.data()));
      eager.dispose();
    }
    for (const t of [graph, x, model]) t.dispose();
  });

  it('predictDataset (forwards captured per batch shape and replayed) predicts what eager forwards predict, flip test included', async () => {
    const dataset = await loadCoco({ annotationFile: join(data, 'test_coco.json'), imageRoot: data });
    const model = createModel('tiny', { seed: 3 }).eval();
    const eagerSource: HeatmapSource = async (batch, flipped) => {
      const out = tidy(() => noGrad(() => model.forward(tensor(flipped ? flipImages(batch.images, batch.imageShape) : batch.images, batch.imageShape))));
      const data = (await out.data()) as Float32Array;
      out.dispose();
      return { data, shape: out.shape as [number, number, number, number] };
    };
    // 12 people in batches of 5: the first batch eager, its flipped half captured, then replays, and
    // the last batch of 2 (another shape) eager, then captured for its flipped half.
    const options = { batchSize: 5, flip: true, workers: 0 };
    const captured = await predictDataset(model, dataset, options);
    const eager = await predictFromHeatmaps(dataset, eagerSource, { ...options, imageSize: model.config.imageSize, heatmapSize: model.config.heatmapSize });
    expect(captured).toHaveLength(12);
    expect(captured).toEqual(eager);
    model.dispose();
  });
});
