// @tmpose/train: training and evaluation for TMPose.

// ---- evaluation (COCO keypoint AP as pycocotools, top-down rescoring + OKS-NMS, MPII PCKh) ----
export * from './eval/index.js';

// ---- data pipeline (COCO/MPII readers, cv2-exact warp of the DarkPose crop, augmentation, DARK targets, DataLoader) ----
export * from './data/index.js';

// ---- training, inference, checkpoints, reports ----
export { train, drawLossCurve, modelFromCheckpoint, TrainingInterrupted, type TrainOptions, type TrainResult } from './loop.js';
export { prepareRunFolder, repairLog, truncateLogAfter, appendLogLine, readLog, RUN_FILES } from './runfolder.js';
export { jointsMseLoss, trainingStep } from './loss.js';
export { CapturedSteps } from './captured.js';
export { saveCheckpoint, loadCheckpoint, readCheckpointState, NonFiniteError, NotACheckpointError, type Checkpoint, type TrainingState } from './checkpoint.js';
export { PRETRAINED_LAYERS, loadPretrainedBackbone, selectPretrained, type PretrainedLoad } from './pretrained.js';
export {
  predictDataset,
  predictFromHeatmaps,
  modelHeatmaps,
  flipImages,
  type PredictOptions,
  type HeatmapPredictOptions,
  type HeatmapSource,
  type Heatmaps,
} from './predict.js';
export {
  evaluateModelOnCoco,
  evaluateCocoPredictions,
  evaluateModelOnMpii,
  evaluateMpiiPredictions,
  type CocoEvaluation,
  type MpiiEvaluation,
} from './evaluate.js';
export { estimatePosesInFile, drawPosesToFile } from './photo.js';
export {
  listImageFolder,
  listCocoImages,
  readDetections,
  predictImages,
  type ImageEntry,
  type PersonBox,
  type PredictImagesOptions,
  type PredictImagesResult,
} from './predict-images.js';
export { exportWeights, exportedConfig, type ExportOptions } from './weights.js';
export { Progress } from './report/progress.js';
export { resolveCocoLayout, resolveDataLayout, type CocoLayout, type DataLayout, type MpiiDataLayout } from './layout.js';
export { loadTrainingData, type TrainingData, type Validation } from './validation.js';
export { COCO_SKELETON, MPII_SKELETON, skeletonSvg, graphicsSvg, type Person } from './report/draw.js';
export { lineChartSvg, type Series } from './report/plot.js';
