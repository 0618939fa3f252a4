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
