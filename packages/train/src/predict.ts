// Top-down inference over a dataset: crops from the loader, heatmaps from the model (optionally with
// the flip test), DARK decoding, and the inverse affine back to image pixels. The heatmaps come through
// a `HeatmapSource`, so the same pipeline runs on heatmaps made elsewhere (the tests feed it heatmaps
// rendered from the ground truth).
import { COCO_FLIP_PAIRS, CapturedForwards, MPII_FLIP_PAIRS, type TMPose, flipTestAverage, getFinalPreds } from '@tmpose/model';
import type { PoseDataset } from './data/dataset.js';
import { type Batch, DataLoader } from './data/loader.js';
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

/** The heatmaps of a batch of crops: [B, J, h, w], row-major. */
export interface Heatmaps {
  data: Float32Array;
  shape: [number, number, number, number];
}

/**
 * Where the heatmaps of a batch come from: the model (`predictDataset`), or anything else that can
 * answer for the loader's batch, such as heatmaps rendered from the ground truth (the end-to-end tests
 * of the evaluation). With `flipped` it gives the heatmaps of the horizontally mirrored crops (the flip
 * test), in the mirrored picture's joint order, as the model would.
 */
export type HeatmapSource = (batch: Batch, flipped: boolean) => Promise<Heatmaps>;

export interface HeatmapPredictOptions {
  batchSize?: number;
  /** Average with the heatmaps of the mirrored crops (the official FLIP_TEST). */
  flip?: boolean;
  workers?: number;
  onBatch?: (done: number, total: number) => void;
  /** Network input [H, W] (the model config's `imageSize`). */
  imageSize: readonly [number, number];
  /** Heatmap [h, w] (the model config's `heatmapSize`). */
  heatmapSize: readonly [number, number];
}

/**
 * Top-down inference given a heatmap source: crops from the evaluation loader (no augmentation, in
 * dataset order), heatmaps from `source` (flip-averaged with the mirrored crops' when `flip`), DARK
 * decoding and the inverse crop affine back to image pixels. Returns one prediction per sample.
 */
export async function predictFromHeatmaps(dataset: PoseDataset, source: HeatmapSource, options: HeatmapPredictOptions): Promise<TopDownPrediction[]> {
  const [H, W] = options.imageSize;
  const [h, w] = options.heatmapSize;
  const loader = new DataLoader(dataset, {
    batchSize: options.batchSize ?? 16,
    train: false,
    workers: options.workers,
    inputSize: [W, H],
    heatmapSize: [w, h],
  });
  const pairs = dataset.kind === 'mpii' ? MPII_FLIP_PAIRS : COCO_FLIP_PAIRS;
  const preds: TopDownPrediction[] = [];
  try {
    let done = 0;
    for await (const batch of loader.epoch(0)) {
      const plain = await source(batch, false);
      let hm = plain.data;
      if (options.flip) {
        const flipped = await source(batch, true);
        hm = flipTestAverage(plain.data, flipped.data, plain.shape, pairs);
      }
      const { preds: coords, maxvals } = getFinalPreds(hm, plain.shape, batch.meta.map((m) => m.center), batch.meta.map((m) => m.scale));
      const J = plain.shape[1];
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
  }
  return preds;
}

/**
 * The model as a heatmap source (eval mode is the caller's business): the flipped crops are the mirrored
 * input. Batches of one shape run one forward captured at the shape's second batch and replayed
 * (CapturedForwards): the same heatmaps, a fraction of the CPU time per batch. `dispose()` frees them.
 */
export function modelHeatmaps(model: TMPose, options: Pick<PredictOptions, 'keep' | 'seed'> = {}): HeatmapSource & { dispose(): void } {
  const forwards = new CapturedForwards(model);
  const source = async (batch: Batch, flipped: boolean): Promise<Heatmaps> => {
    const images = flipped ? flipImages(batch.images, batch.imageShape) : batch.images;
    const { data, shape } = await forwards.heatmaps(images, batch.imageShape, { keep: options.keep, seed: options.seed });
    return { data, shape: shape as Heatmaps['shape'] };
  };
  return Object.assign(source, { dispose: () => forwards.dispose() });
}

/** Runs `model` (in eval mode) over `dataset`: `predictFromHeatmaps` with the model's heatmaps. */
export async function predictDataset(model: TMPose, dataset: PoseDataset, options: PredictOptions = {}): Promise<TopDownPrediction[]> {
  const wasTraining = model.training;
  model.eval();
  const source = modelHeatmaps(model, options);
  try {
    return await predictFromHeatmaps(dataset, source, {
      ...options,
      imageSize: model.config.imageSize,
      heatmapSize: model.config.heatmapSize,
    });
  } finally {
    source.dispose();
    if (wasTraining) model.train();
  }
}
