// Top-down pose estimation on one picture, the same code in Node (the CLI) and in browsers (the web
// app): each person box (default the whole picture) becomes the official centre/scale crop, cut and
// normalised on the GPU by `warpAffineCrops` (bit for bit the cv2 warp the training data went
// through), the model runs in eval mode (flip-averaged with `flip`, masked with `keep`), and DARK
// decoding maps the heatmaps back to picture pixels.
import { type ImagePixels, type Tensor, noGrad, sync, tidy, warpAffineCrops } from '@tmpose/tensor';
import { getAffineTransform } from '../affine.js';
import { COCO_FLIP_PAIRS, MPII_FLIP_PAIRS, flipTestAverage, getFinalPreds } from '../decode.js';
import type { Sampler } from '../maskers.js';
import type { ForwardOptions, TMPose } from '../tmpose.js';
import { xywhToCenterScale } from './crop.js';
import type { CapturedForwards } from './forwards.js';
import { type PoseSource, sourcePixels } from './source.js';

/** A person box in pixels: [x, y, width, height]. */
export type Box = [number, number, number, number];

export interface EstimateOptions {
  /** Person boxes; default the whole picture as one person. */
  boxes?: readonly (readonly [number, number, number, number])[];
  /** Average with the mirrored crops' heatmaps (the official flip test). */
  flip?: boolean;
  /** Keep ratio of the visual tokens (TMPose's masking); default the model's eval default, all tokens. */
  keep?: number;
  /** The sampler of the kept tokens; default the model config's. */
  sampler?: Sampler;
  /** Seeds the sampler for this call (else the model's own generator advances). */
  seed?: number;
  /** Crops per forward (default 32). */
  batchSize?: number;
  /** People whose score (their keypoints' mean score) is below this are left out (default: none). */
  scoreThreshold?: number;
  /**
   * Run the model through these captured forwards (of the same model): for a stream of pictures, such
   * as a camera's frames, each batch shape's forward is captured once and replayed. The same results.
   */
  forwards?: CapturedForwards;
}

export interface Person {
  /** [J][x, y, score] in picture pixels; score is the heatmap peak. */
  keypoints: [number, number, number][];
  /** The mean keypoint score. */
  score: number;
  box: Box;
  /** The crop: centre in pixels and scale (box size / 200, padded ×1.25), as the official code. */
  center: [number, number];
  scale: [number, number];
}

/** The token grid of the model's input crop: rows × cols patches of `patch` = [h, w] input pixels. */
export interface TokenGrid {
  rows: number;
  cols: number;
  patch: [number, number];
}

export interface PoseResult {
  people: Person[];
  /**
   * Milliseconds: reading the pixels, the GPU crops (waited for), the model (forwards and the heatmap
   * readback), decoding, and the whole call.
   */
  timings: { pixelsMs: number; cropMs: number; modelMs: number; decodeMs: number; totalMs: number };
  /** The kept token ids per person (null when the model saw every token). */
  keptTokens: number[][] | null;
  tokenGrid: TokenGrid;
  /** The model's input [height, width] (the crop size). */
  inputSize: [number, number];
}

/** The token grid of `model`'s crops. */
export function tokenGridOf(model: TMPose): TokenGrid {
  const [H, W] = model.config.imageSize;
  const { gh, gw } = model.transformer.grid;
  return { rows: gh, cols: gw, patch: [H / gh, W / gw] };
}

interface Heatmaps {
  data: Float32Array;
  shape: [number, number, number, number];
  /** The forward's kept token ids (`model.lastIndices`). */
  kept: number[] | number[][] | null;
}

/** The heatmaps of a batch of crops [B, 3, H, W], read back. */
async function heatmaps(model: TMPose, crops: Tensor, options: ForwardOptions, forwards: CapturedForwards | undefined): Promise<Heatmaps> {
  if (forwards) {
    const { data, shape } = await forwards.heatmaps(crops, crops.shape, options);
    return { data, shape: shape as [number, number, number, number], kept: model.lastIndices };
  }
  const y = noGrad(() => tidy(() => model.forward(crops, options)));
  try {
    const data = (await y.data()) as Float32Array;
    return { data, shape: y.shape as [number, number, number, number], kept: model.lastIndices };
  } finally {
    y.dispose();
  }
}

/**
 * The heatmaps of the crops `matrices` of `image` (averaged with the mirrored crops' when `flip`), with
 * the plain forward's kept token ids; adds the crop and model milliseconds to `timings`.
 */
async function cropHeatmaps(
  model: TMPose,
  image: ImagePixels,
  matrices: readonly Float64Array[],
  flip: boolean,
  forward: ForwardOptions,
  timings: PoseResult['timings'],
  forwards: CapturedForwards | undefined,
): Promise<Heatmaps> {
  const [H, W] = model.config.imageSize;
  const inputs: Tensor[] = [];
  try {
    let t = performance.now();
    inputs.push(warpAffineCrops(image, matrices, [H, W]));
    if (flip) inputs.push(warpAffineCrops(image, matrices, [H, W], { mirror: true }));
    await sync();
    timings.cropMs += performance.now() - t;
    t = performance.now();
    const plain = await heatmaps(model, inputs[0]!, forward, forwards);
    if (flip) {
      const pairs = model.config.numJoints === 16 ? MPII_FLIP_PAIRS : COCO_FLIP_PAIRS;
      plain.data = flipTestAverage(plain.data, (await heatmaps(model, inputs[1]!, forward, forwards)).data, plain.shape, pairs);
    }
    timings.modelMs += performance.now() - t;
    return plain;
  } finally {
    for (const x of inputs) x.dispose();
  }
}

/** Estimates the poses of the people in `source` (see the file's header). */
export async function estimatePoses(model: TMPose, source: PoseSource, options: EstimateOptions = {}): Promise<PoseResult> {
  const start = performance.now();
  const image = sourcePixels(source);
  const timings = { pixelsMs: performance.now() - start, cropMs: 0, modelMs: 0, decodeMs: 0, totalMs: 0 };
  const [H, W] = model.config.imageSize;
  const boxes: Box[] = (options.boxes ?? [[0, 0, image.width, image.height]]).map((b, i) => {
    if (b.length !== 4 || !b.every(Number.isFinite)) throw new Error(`estimatePoses: box ${i} must be [x, y, width, height], got [${b.join(', ')}]`);
    // A box without area has no crop (its affine map is singular).
    if (!(b[2] > 0 && b[3] > 0)) throw new Error(`estimatePoses: box ${i} [${b.join(', ')}] has no area; width and height must be positive`);
    return [b[0], b[1], b[2], b[3]];
  });
  const chunk = options.batchSize ?? 32;
  if (!Number.isInteger(chunk) || chunk < 1) throw new Error(`estimatePoses: batchSize must be a positive integer, got ${chunk}`);
  const forward: ForwardOptions = { keep: options.keep, sampler: options.sampler, seed: options.seed };
  const people: Person[] = [];
  const kept: (number[] | null)[] = [];
  const forwards = options.forwards;
  if (forwards && forwards.model !== model) throw new Error('estimatePoses: options.forwards were made for another model');
  const wasTraining = model.training;
  model.eval();
  try {
    for (let first = 0; first < boxes.length; first += chunk) {
      const batch = boxes.slice(first, first + chunk);
      const crops = batch.map(([x, y, w, h]) => xywhToCenterScale(x, y, w, h, W / H));
      const matrices = crops.map((c) => getAffineTransform(c.center, c.scale, 0, [W, H]));
      const plain = await cropHeatmaps(model, image, matrices, options.flip === true, forward, timings, forwards);
      const t = performance.now();
      const { preds, maxvals } = getFinalPreds(plain.data, plain.shape, crops.map((c) => c.center), crops.map((c) => c.scale));
      const J = plain.shape[1];
      crops.forEach((c, b) => {
        const keypoints = Array.from({ length: J }, (_, j) => [preds[(b * J + j) * 2]!, preds[(b * J + j) * 2 + 1]!, maxvals[b * J + j]!] as [number, number, number]);
        const score = keypoints.reduce((s, k) => s + k[2], 0) / J;
        people.push({ keypoints, score, box: batch[b]!, center: c.center, scale: c.scale });
        const ids = plain.kept;
        kept.push(ids === null ? null : typeof ids[0] === 'number' ? (ids as number[]) : (ids as number[][])[b]!);
      });
      timings.decodeMs += performance.now() - t;
    }
  } finally {
    if (wasTraining) model.train();
  }
  const threshold = options.scoreThreshold ?? -Infinity;
  const shown = people.map((_, i) => i).filter((i) => people[i]!.score >= threshold);
  timings.totalMs = performance.now() - start;
  return {
    people: shown.map((i) => people[i]!),
    timings,
    keptTokens: kept.some((k) => k === null) ? null : shown.map((i) => kept[i]!),
    tokenGrid: tokenGridOf(model),
    inputSize: [H, W],
  };
}
