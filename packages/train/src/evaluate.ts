// COCO keypoint evaluation of a model the way the paper does it: top-down crops from ground-truth or
// detected boxes, optional flip test, DARK decoding, rescoring and OKS-NMS, then pycocotools' AP.
import type { TMPose } from '@tmpose/model';
import { readFile } from 'node:fs/promises';
import type { PoseDataset } from './data/dataset.js';
import { type CocoKeypointStats, evaluateCocoKeypoints, formatCocoKeypointSummary } from './eval/coco.js';
import { type TopDownCocoResult, rescoreAndOksNms } from './eval/rescore.js';
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
  const preds = await predictDataset(model, dataset, options);
  const results = rescoreAndOksNms(preds);
  const gt = JSON.parse(await readFile(annotationFile, 'utf8')) as unknown;
  const evaluation = evaluateCocoKeypoints(gt, results);
  return { stats: evaluation.stats, summary: formatCocoKeypointSummary(evaluation.stats), results };
}
