// Evaluating a model the way the paper does: COCO — top-down crops from ground-truth or detected boxes,
// optional flip test, DARK decoding, rescoring and OKS-NMS, then pycocotools' AP; MPII — PCKh@0.5.
import type { TMPose } from '@tmpose/model';
import type { PoseDataset } from './data/dataset.js';
import type { MpiiGroundTruth } from './data/mpii.js';
import { type CocoKeypointStats, evaluateCocoKeypoints, formatCocoKeypointSummary } from './eval/coco.js';
import { type PckhResult, evaluatePckProxy, evaluatePckh, formatPckhTable } from './eval/pckh.js';
import { type TopDownCocoResult, type TopDownPrediction, rescoreAndOksNms } from './eval/rescore.js';
import { readFile } from './node.js';
import { type PredictOptions, predictDataset } from './predict.js';

export interface CocoEvaluation {
  stats: CocoKeypointStats;
  /** pycocotools' ten-line summary. */
  summary: string;
  results: TopDownCocoResult[];
}

/** Runs the model over `dataset` (built from `annotationFile`) and scores it against that file. */
export async function evaluateModelOnCoco(
  model: TMPose,
  dataset: PoseDataset,
  annotationFile: string,
  options: PredictOptions = {},
): Promise<CocoEvaluation> {
  return evaluateCocoPredictions(await predictDataset(model, dataset, options), annotationFile);
}

/**
 * The part of `evaluateModelOnCoco` after the heatmaps: rescoring and OKS-NMS of the top-down
 * predictions (from `predictDataset` or `predictFromHeatmaps`), then COCO keypoint AP against the file.
 */
export async function evaluateCocoPredictions(preds: readonly TopDownPrediction[], annotationFile: string): Promise<CocoEvaluation> {
  const results = rescoreAndOksNms(preds);
  const gt = JSON.parse(await readFile(annotationFile, 'utf8')) as unknown;
  const evaluation = evaluateCocoKeypoints(gt, results);
  return { stats: evaluation.stats, summary: formatCocoKeypointSummary(evaluation.stats), results };
}

export interface MpiiEvaluation {
  result: PckhResult;
  /** The official table (or the labelled proxy when the annotations carry no head boxes). */
  table: string;
}

/**
 * MPII evaluation: PCKh@0.5 against `groundTruth` (the official `gt_valid.mat`, `loadMpiiGroundTruth`)
 * when given; else with the head boxes of the annotation file when it has them; else a PCK proxy
 * normalised by the person scale·200, labelled as such. Predictions come back in sample order (the
 * evaluation loader neither shuffles nor drops).
 */
export async function evaluateModelOnMpii(
  model: TMPose,
  dataset: PoseDataset,
  options: PredictOptions = {},
  groundTruth?: MpiiGroundTruth,
): Promise<MpiiEvaluation> {
  return evaluateMpiiPredictions(await predictDataset(model, dataset, options), dataset, groundTruth);
}

/**
 * The part of `evaluateModelOnMpii` after the heatmaps, on one prediction per sample of `dataset` (in
 * sample order). As the official `MPIIDataset.evaluate`: the predictions + 1 (in float32) against the
 * 1-based ground truth: `groundTruth`'s `pos_gt_src`, 1 − `jnt_missing` and `headboxes_src` when given
 * (person i of gt_valid.mat is sample i of valid.json), else the dataset's 0-based joints + 1 (the
 * annotation file's values), visibility from `joints_vis`, head boxes as given.
 */
export function evaluateMpiiPredictions(preds: readonly TopDownPrediction[], dataset: PoseDataset, groundTruth?: MpiiGroundTruth): MpiiEvaluation {
  if (preds.length !== dataset.length) throw new Error(`evaluateMpiiPredictions: ${preds.length} predictions for ${dataset.length} samples`);
  const J = dataset.numJoints;
  if (groundTruth) {
    if (groundTruth.joints.length !== preds.length) {
      throw new Error(`evaluateMpiiPredictions: the ground truth (gt_valid.mat) has ${groundTruth.joints.length} people, the validation set ${preds.length}`);
    }
    const result = evaluatePckh({ preds: preds.map((p) => points(p.keypoints, 3, 0, 0, J)), ...groundTruth });
    return { result, table: formatPckhTable(result) };
  }
  const base = {
    preds: preds.map((p) => points(p.keypoints, 3, 0, 0, J)),
    joints: preds.map((_, i) => points(dataset.joints, 2, i, 1, J)),
    visible: preds.map((_, i) => dataset.jointsVis.subarray(i * J, (i + 1) * J)),
  };
  const boxes = dataset.headBoxes;
  const result =
    boxes && !Array.from(boxes).some(Number.isNaN)
      ? evaluatePckh({ ...base, headBoxes: preds.map((_, i) => boxes.subarray(i * 4, i * 4 + 4)) })
      : evaluatePckProxy({ ...base, sizes: preds.map((_, i) => dataset.scales[2 * i + 1]! * 200) }, { sizeLabel: 'the person scale·200' });
  return { result, table: formatPckhTable(result) };
}

/** Person i's J points (x, y) + offset out of a flat array with `stride` numbers per joint. */
function points(flat: ArrayLike<number>, stride: number, i: number, offset: number, J: number): [number, number][] {
  return Array.from({ length: J }, (_, j) => [flat[(i * J + j) * stride]! + offset, flat[(i * J + j) * stride + 1]! + offset]);
}
