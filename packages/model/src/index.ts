// The public surface of @tmpose/model.
export { HRNetS, type HRNetSOptions } from './hrnet.js';
// TMPose / TokenPose model (tokenizer, maskers, Transformer, heads, configs, counters, decoding).
export { sinePositionTable, sinePositionEmbedding } from './positional.js';
export {
  RandomState,
  SAMPLERS,
  type Sampler,
  nKeep,
  keptCount,
  randomIndices,
  uniformIndices,
  blockIndices,
  sampleIndices,
} from './maskers.js';
export { patchify, patchGrid, type PatchGrid } from './tokenizer.js';
export { Attention, FeedForward, PreNorm, Residual, Transformer, type TransformerOptions } from './transformer.js';
export { makeHead, hiddenHeatmapDim, usesMultiHead, type HeadKind } from './head.js';
export {
  CONFIGS,
  CONFIG_NAMES,
  getConfig,
  validateConfig,
  type BackboneConfig,
  type ConfigName,
  type ModelConfig,
  type PosEmbeddingMode,
} from './configs.js';
export {
  TMPose,
  PoseTransformer,
  createModel,
  initTransformerWeights,
  type ForwardOptions,
  type PoseTransformerOptions,
  type TokenIndices,
} from './tmpose.js';
export { countParams, paramBreakdown, type ParamConvention, type ParamCountOptions } from './params.js';
export {
  countFlops,
  flopTable,
  printFlopTable,
  hrnetArch,
  hrnetConvLayers,
  hrnetConvMacs,
  hrnetParamCount,
  backboneArch,
  type FlopConvention,
  type FlopCount,
  type FlopOptions,
  type HRNetArch,
} from './flops.js';
export {
  COCO_FLIP_PAIRS,
  MPII_FLIP_PAIRS,
  decodeHeatmaps,
  flipBack,
  flipTestAverage,
  gaussianBlur,
  gaussianKernel,
  getFinalPreds,
  getMaxPreds,
  taylorStep,
  type DecodeOptions,
  type HeatmapShape,
} from './decode.js';
export { affinePoint, getAffineTransform, solveAffine, transformPreds, type AffineMatrix, type AffineOptions } from './affine.js';
// Pose estimation on pictures, the same in Node and browsers: crops, loading, estimating, drawing.
export {
  PIXEL_STD,
  xywhToCenterScale,
  sourceRowsNeeded,
  warpAffineU8,
  warpAffine,
  type WarpOptions,
  type WarpAffineOptions,
} from './pose/crop.js';
export { IMAGENET_MEAN, IMAGENET_STD, invertAffine, normalizeTable } from '@tmpose/tensor';
export {
  CHECKPOINT_KEY,
  CHECKPOINT_FORMAT,
  WEIGHTS_KEY,
  WEIGHTS_FORMAT,
  NotACheckpointError,
  parseCheckpointMeta,
  assertFinite,
  weightsMetadata,
  exportedConfig,
  type CheckpointMeta,
  type TrainingState,
} from './pose/formats.js';
export {
  loadModel,
  readWeights,
  modelWithWeights,
  type FileWeights,
  type HostWeights,
  type LoadModelOptions,
  type ModelSource,
} from './pose/load.js';
export { sourcePixels, type PoseSource, type RawImage } from './pose/source.js';
export {
  estimatePoses,
  tokenGridOf,
  type Box,
  type EstimateOptions,
  type Person,
  type PoseResult,
  type TokenGrid,
} from './pose/estimate.js';
export { CapturedForwards } from './pose/forwards.js';
export {
  COCO_SKELETON,
  MPII_SKELETON,
  PERSON_COLORS,
  poseGraphics,
  strokeWidth,
  type DrawnPerson,
  type Graphic,
  type PoseGraphicsOptions,
} from './pose/graphics.js';
export { keptTokenRects, resultTokenRects, tokenGraphics, type CropOf, type TokenRect, type TokenGraphicsOptions } from './pose/tokens.js';
export { drawGraphics, drawPoses, drawKeptTokens, type Canvas2D } from './pose/canvas.js';
