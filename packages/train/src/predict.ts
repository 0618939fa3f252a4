// Top-down inference over a dataset: crops from the loader, heatmaps from the model (optionally with
// the flip test), DARK decoding, and the inverse affine back to image pixels.
import { COCO_FLIP_PAIRS, MPII_FLIP_PAIRS, type TMPose, flipTestAverage, getFinalPreds } from '@tmpose/model';
import { noGrad, tensor, tidy } from '@tmpose/tensor';
import type { PoseDataset } from './data/dataset.js';
import { DataLoader } from './data/loader.js';
import type { TopDownPrediction } from './eval/rescore.js';

export interface PredictOptions {
  batchSize?: number;
  /** Average with the horizontally flipped input (the official FLIP_TEST). */
  flip?: boolean;
  workers?: number;
  /** Masking at inference (off unless given; spec §10): keep ratio and seed. */
  keep?: number;
  seed?: number;
  onBatch?: (done: number, total: number) => void;
}

/** Reverses the last axis of [B, C, H, W] host images. */
export function flipImages(images: Float32Array, [B, C, H, W]: readonly number[]): Float32Array {
  const out = new Float32Array(images.length);
  for (let p = 0; p < B! * C! * H!; p++) {
    const row = p * W!;
    for (let x = 0; x < W!; x++) out[row + x] = images[row + W! - 1 - x]!;
  }
  return out;
}

async function heatmapsOf(model: TMPose, images: Float32Array, shape: [number, number, number, number], options: PredictOptions) {
  const out = noGrad(() =>
    tidy(() => model.forward(tensor(images, shape), { keep: options.keep, seed: options.seed })),
  );
  const data = await out.data();
  const hmShape = out.shape as [number, number, number, number];
  out.dispose();
  return { data, hmShape };
}

export async function predictDataset(model: TMPose, dataset: PoseDataset, options: PredictOptions = {}): Promise<TopDownPrediction[]> {
  const [H, W] = model.config.imageSize;
  const loader = new DataLoader(dataset, {
    batchSize: options.batchSize ?? 16,
    train: false,
    workers: options.workers,
    inputSize: [W, H],
    heatmapSize: [model.config.heatmapSize[1], model.config.heatmapSize[0]],
  });
  const pairs = dataset.kind === 'mpii' ? MPII_FLIP_PAIRS : COCO_FLIP_PAIRS;
  const preds: TopDownPrediction[] = [];
  const wasTraining = model.training;
  model.eval();
  try {
    let done = 0;
    for await (const batch of loader.epoch(0)) {
      const plain = await heatmapsOf(model, batch.images, batch.imageShape, options);
      let hm = plain.data;
      if (options.flip) {
        const flipped = await heatmapsOf(model, flipImages(batch.images, batch.imageShape), batch.imageShape, options);
        hm = flipTestAverage(plain.data, flipped.data, plain.hmShape, pairs);
      }
      const { preds: coords, maxvals } = getFinalPreds(hm, plain.hmShape, batch.meta.map((m) => m.center), batch.meta.map((m) => m.scale));
      const J = plain.hmShape[1];
      batch.meta.forEach((m, b) => {
        const keypoints: number[] = [];
        for (let j = 0; j < J; j++) keypoints.push(coords[(b * J + j) * 2]!, coords[(b * J + j) * 2 + 1]!, maxvals[b * J + j]!);
        preds.push({ imageId: m.imageId, keypoints, center: m.center, scale: m.scale, boxScore: m.score });
      });
      done += batch.size;
      options.onBatch?.(done, dataset.length);
    }
  } finally {
    await loader.close();
    if (wasTraining) model.train();
  }
  return preds;
}
