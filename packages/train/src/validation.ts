// The data of a training run and its validation metric: COCO (train on the training annotations, COCO
// keypoint AP on the validation ones with ground-truth boxes) or MPII (train on annot/train.json, PCKh@0.5
// on annot/valid.json against annot/gt_valid.mat as the official code scores it; without that file, the
// head boxes of the records or the labelled PCK proxy).
import type { ModelConfig, TMPose } from '@tmpose/model';
import { loadCoco } from './data/coco.js';
import type { PoseDataset } from './data/dataset.js';
import { loadMpii, loadMpiiGroundTruth } from './data/mpii.js';
import { evaluateModelOnCoco, evaluateModelOnMpii } from './evaluate.js';
import type { DataLayout } from './layout.js';
import type { PredictOptions } from './predict.js';

export interface Validation {
  /** What `score` is: COCO AP, MPII PCKh@0.5 Mean, or the PCK proxy's Mean. */
  metric: 'AP' | 'PCKh' | 'PCK-proxy';
  /** The number that picks the best checkpoint. */
  score: number;
  /** Every number of the evaluation, for the log (COCO's ten stats, or the PCKh table). */
  stats: Record<string, number>;
  /** The printed summary (pycocotools' lines, or the official PCKh table). */
  summary: string;
}

export interface TrainingData {
  kind: 'coco' | 'mpii';
  /** What the validation scores: 'AP' (COCO), 'PCKh' (MPII with gt_valid.mat or head boxes), 'PCK-proxy' (without). */
  metric: Validation['metric'];
  trainSet: PoseDataset;
  /** The training annotation file, for messages. */
  trainFile: string;
  valSet: PoseDataset | null;
  /** The validation annotation file, for messages. */
  valFile: string;
  /** Scores `model` on the validation set (null when it was not loaded). */
  validate(model: TMPose, options: PredictOptions): Promise<Validation>;
}

/** The training and (when `withValidation`) validation sets of a COCO or MPII `layout` (resolveDataLayout), for `config`. */
export async function loadTrainingData(layout: DataLayout, config: ModelConfig, withValidation: boolean): Promise<TrainingData> {
  const [H, W] = config.imageSize;
  if (layout.kind === 'mpii') {
    if (config.numJoints !== 16) throw new Error(`${layout.trainAnnotationFile}: MPII data needs a 16-joint model (an -mpii config); ${config.name} has ${config.numJoints} joints`);
    const trainSet = await loadMpii({ annotationFile: layout.trainAnnotationFile, imageRoot: layout.imageRoot });
    const valSet = withValidation ? await loadMpii({ annotationFile: layout.annotationFile, imageRoot: layout.imageRoot }) : null;
    const groundTruth = withValidation && layout.gtValidFile ? await loadMpiiGroundTruth(layout.gtValidFile) : undefined;
    const headBoxes = valSet?.headBoxes && !Array.from(valSet.headBoxes).some(Number.isNaN);
    return {
      kind: 'mpii',
      metric: groundTruth || headBoxes ? 'PCKh' : 'PCK-proxy',
      trainSet,
      trainFile: layout.trainAnnotationFile,
      valSet,
      valFile: layout.annotationFile,
      async validate(model, options) {
        const { result, table } = await evaluateModelOnMpii(model, valSet!, options, groundTruth);
        return { metric: result.kind, score: result.table.Mean, stats: { ...result.table }, summary: table };
      },
    };
  }
  const { coco } = layout;
  const trainSet = await loadCoco({ annotationFile: coco.trainAnnotations, imageRoot: coco.trainImages, aspectRatio: W / H });
  const valSet = withValidation ? await loadCoco({ annotationFile: coco.valAnnotations, imageRoot: coco.valImages, aspectRatio: W / H }) : null;
  return {
    kind: 'coco',
    metric: 'AP',
    trainSet,
    trainFile: coco.trainAnnotations,
    valSet,
    valFile: coco.valAnnotations,
    async validate(model, options) {
      const evaluation = await evaluateModelOnCoco(model, valSet!, coco.valAnnotations, options);
      return { metric: 'AP', score: evaluation.stats.AP, stats: { ...evaluation.stats }, summary: evaluation.summary };
    },
  };
}
