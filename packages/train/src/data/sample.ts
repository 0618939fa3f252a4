// One top-down sample through the whole pipeline (`JointsDataset.__getitem__`): augmentation (training
// only), the input affine and warp, the heatmap-space affine for the joints, the DARK targets.
// Shared by the loader's workers and its in-process mode.

import { type AffineMatrix, affinePoint, getAffineTransform, normalizeTable, sourceRowsNeeded, warpAffine } from '@tmpose/model';
import type { PoseDataset } from './dataset.js';
import type { DecodedImage } from './image.js';
import { Rng } from './rng.js';
import { generateTarget } from './targets.js';
import { augment, type AugmentConfig, type SampleState } from './transforms.js';

export interface PipelineConfig {
  /** Apply the training augmentation. */
  train: boolean;
  /** Network input [width, height]: [192, 256] (COCO), [256, 256] (MPII). */
  inputSize: [number, number];
  /** Heatmap [width, height]: [48, 64] (COCO), [64, 64] (MPII). */
  heatmapSize: [number, number];
  /** Gaussian σ of the targets. */
  sigma: number;
  augment: AugmentConfig;
  /** Normalisation (default ImageNet). */
  mean?: [number, number, number];
  std?: [number, number, number];
}

/** What the loader reports per sample next to the arrays. */
export interface SampleMeta {
  /** Index of the sample in the dataset. */
  index: number;
  /** Position of the sample in its epoch (drives its random stream). */
  position: number;
  imageId: number;
  imagePath: string;
  /** Size of the decoded image. */
  imageWidth: number;
  imageHeight: number;
  /** Centre and scale after augmentation (the crop actually used). */
  center: [number, number];
  scale: [number, number];
  /** Degrees. */
  rotation: number;
  flipped: boolean;
  halfBody: boolean;
  /** Box score (1 for GT boxes). */
  score: number;
  /** COCO annotation id, −1 where there is none. */
  annId: number;
  /** GT segmentation area (COCO), 0 where unknown. */
  area: number;
  /** Joints in input-image coordinates after augmentation, [J·2] (only visible joints are mapped). */
  joints: number[];
  /** Visibility after augmentation (flip swaps pairs). */
  jointsVis: number[];
}

/** Where a batch is written: [B,3,H,W], [B,J,h,w], [B,J]. */
export interface BatchArrays {
  images: Float32Array;
  targets: Float32Array;
  targetWeights: Float32Array;
}

export function allocBatch(batchSize: number, numJoints: number, cfg: PipelineConfig): BatchArrays {
  const [iw, ih] = cfg.inputSize;
  const [hw, hh] = cfg.heatmapSize;
  return {
    images: new Float32Array(batchSize * 3 * ih * iw),
    targets: new Float32Array(batchSize * numJoints * hh * hw),
    targetWeights: new Float32Array(batchSize * numJoints),
  };
}

/** Per-thread reusable buffers. */
export class SampleWorkspace {
  readonly table: Float32Array;
  scratch = new Uint8Array(0);
  constructor(cfg: PipelineConfig) {
    this.table = normalizeTable(cfg.mean, cfg.std);
  }
}

/** The geometric part of a sample: the augmented state and the two crop matrices. */
export interface SamplePlan {
  state: SampleState;
  /** Source image → network input. */
  trans: AffineMatrix;
  /** Source image → heatmap. */
  transHm: AffineMatrix;
}

/**
 * Augments sample `index` (training only; `seed`/`epoch`/`position` select its random stream) and
 * builds its input and heatmap affines. Needs only the image width (the flip mirrors about it).
 */
export function planSample(
  ds: PoseDataset,
  index: number,
  imageWidth: number,
  cfg: PipelineConfig,
  seed: number,
  epoch: number,
  position: number,
): SamplePlan {
  const J = ds.numJoints;
  const state: SampleState = {
    center: [ds.centers[2 * index]!, ds.centers[2 * index + 1]!],
    scale: [ds.scales[2 * index]!, ds.scales[2 * index + 1]!],
    rotation: 0,
    flipped: false,
    halfBody: false,
    joints: ds.joints.slice(index * J * 2, (index + 1) * J * 2),
    jointsVis: ds.jointsVis.slice(index * J, (index + 1) * J),
  };
  if (cfg.train) {
    const rng = new Rng(seed, 'sample', epoch, position);
    augment(state, cfg.augment, ds.flipPairs, ds.upperBodyIds, imageWidth, rng);
  }
  return {
    state,
    trans: getAffineTransform(state.center, state.scale, state.rotation, cfg.inputSize),
    transHm: getAffineTransform(state.center, state.scale, state.rotation, cfg.heatmapSize),
  };
}

/** How many top rows of the image `plan`'s warp reads (decode only those). */
export function planRowsNeeded(plan: SamplePlan, cfg: PipelineConfig, imageHeight: number): number {
  return sourceRowsNeeded(plan.trans, cfg.inputSize[0], cfg.inputSize[1], imageHeight);
}

/**
 * Warps the image, maps the joints and writes the targets of a planned sample into slot `slot` of `out`.
 * `image` may hold only the top `planRowsNeeded` rows.
 */
export function renderSample(
  ds: PoseDataset,
  index: number,
  plan: SamplePlan,
  image: DecodedImage,
  cfg: PipelineConfig,
  position: number,
  out: BatchArrays,
  slot: number,
  ws: SampleWorkspace,
): SampleMeta {
  const J = ds.numJoints;
  const [iw, ih] = cfg.inputSize;
  const [hw, hh] = cfg.heatmapSize;
  const { state, trans, transHm } = plan;
  if (ws.scratch.length < iw * ih * 3) ws.scratch = new Uint8Array(iw * ih * 3);
  warpAffine(image.data, image.width, image.height, trans, iw, ih, {
    flip: state.flipped,
    table: ws.table,
    out: out.images,
    outOffset: slot * 3 * ih * iw,
    scratch: ws.scratch,
  });
  const jointsIn = new Array<number>(J * 2);
  const jointsHm = new Float64Array(J * 2);
  const vis = state.jointsVis;
  for (let j = 0; j < J; j++) {
    const x = state.joints[2 * j]!;
    const y = state.joints[2 * j + 1]!;
    if (vis[j]! > 0) {
      const [ax, ay] = affinePoint(trans, x, y);
      const [hx, hy] = affinePoint(transHm, x, y);
      jointsIn[2 * j] = ax;
      jointsIn[2 * j + 1] = ay;
      jointsHm[2 * j] = hx;
      jointsHm[2 * j + 1] = hy;
    } else {
      jointsIn[2 * j] = x;
      jointsIn[2 * j + 1] = y;
      jointsHm[2 * j] = x;
      jointsHm[2 * j + 1] = y;
    }
  }
  generateTarget(
    jointsHm,
    vis,
    { heatmapSize: cfg.heatmapSize, sigma: cfg.sigma },
    out.targets,
    slot * J * hh * hw,
    out.targetWeights,
    slot * J,
  );
  const im = ds.images[ds.imageIndex[index]!]!;
  return {
    index,
    position,
    imageId: im.id,
    imagePath: im.path,
    imageWidth: image.width,
    imageHeight: image.height,
    center: state.center,
    scale: state.scale,
    rotation: state.rotation,
    flipped: state.flipped,
    halfBody: state.halfBody,
    score: ds.scores[index]!,
    annId: ds.annIds[index]!,
    area: ds.areas[index]!,
    joints: jointsIn,
    jointsVis: Array.from(vis),
  };
}

/**
 * Runs sample `index` of `ds` (its image fully decoded) through the whole pipeline and writes it into
 * slot `slot` of `out`. `seed`/`epoch`/`position` select the sample's random stream (training only).
 */
export function processSample(
  ds: PoseDataset,
  index: number,
  image: DecodedImage,
  cfg: PipelineConfig,
  seed: number,
  epoch: number,
  position: number,
  out: BatchArrays,
  slot: number,
  ws: SampleWorkspace,
): SampleMeta {
  const plan = planSample(ds, index, image.width, cfg, seed, epoch, position);
  return renderSample(ds, index, plan, image, cfg, position, out, slot, ws);
}
