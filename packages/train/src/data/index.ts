// The data pipeline: COCO/MPII readers, the cv2-exact warp of the DarkPose crop, the training
// augmentation, DARK targets and the worker-thread DataLoader.
export type { DatasetKind, ImageInfo, PoseDataset, PoseSample } from './dataset.js';
export { getSample, subsetDataset } from './dataset.js';
export {
  COCO_FLIP_PAIRS, COCO_UPPER_BODY_IDS, COCO_KEYPOINT_NAMES, PIXEL_STD,
  xywhToCenterScale, sanitizeBox, cocoFromJson, loadCoco, blankJsonValues,
  type CocoOptions, type LoadCocoOptions,
} from './coco.js';
export {
  MPII_FLIP_PAIRS, MPII_UPPER_BODY_IDS, MPII_GT_JOINT_NAMES, mpiiFromJson, loadMpii, loadMpiiGroundTruth,
  type MpiiOptions, type LoadMpiiOptions, type MpiiGroundTruth,
} from './mpii.js';
export { parseMat, loadMat, type MatArray, type MatNumericClass } from './mat.js';
export {
  invertAffine, warpAffineU8, warpAffine, normalizeTable, sourceRowsNeeded,
  IMAGENET_MEAN, IMAGENET_STD, type WarpOptions, type WarpAffineOptions,
} from '@tmpose/model';
export {
  augment, halfBodyTransform, fliplrJoints, COCO_AUGMENT, MPII_AUGMENT, type AugmentConfig, type SampleState,
} from './transforms.js';
export { generateTarget, type TargetOptions } from './targets.js';
export { Rng, permutation, hashKeys } from './rng.js';
export {
  decodeImageBuffer, readImage, readImageFile, imageBufferSize, jpegSize, inspectImageFile, ImageCache,
  type DecodedImage, type DecodeOptions, type ImageFileInfo,
} from './image.js';
export { checkDatasetImages, checkCocoGroundTruth, imageCheckWarnings, type ImageCheck } from './check.js';
export {
  processSample, planSample, renderSample, planRowsNeeded, allocBatch, SampleWorkspace,
  type PipelineConfig, type SampleMeta, type SamplePlan, type BatchArrays,
} from './sample.js';
export { BatchBuilder, type BatchTask, type BatchResult } from './batch.js';
export { DataLoader, type DataLoaderOptions, type Batch } from './loader.js';
export { runLoaderWorker } from './worker.js';
