// The public surface of @tmpose/tensor.
export { init, type DeviceInfo, type InitOptions } from './device.js';
export type { DType } from './dtype.js';
import './methods.js';
export { Tensor } from './tensor.js';
export { noGrad, isGradEnabled } from './autograd.js';
export { autocast, isAutocastEnabled, clearAutocastCache, type AutocastDType, type AutocastOptions } from './amp/autocast.js';
export { GradScaler, type GradScalerOptions, type GradScalerState } from './amp/gradscaler.js';
export { resolvePrecision, type Precision } from './amp/precision.js';
export { tidy, keep, memory, type MemoryInfo } from './scope.js';
export { sync, emptyCache, runtimeStats, kernelsOf, launchesOf, type Launch, timeCompile, setDispatchesPerSubmit, hostStep } from './runtime/queue.js';
export { captureGraph, Graph } from './graph.js';
export type { Kernel } from './runtime/pipelines.js';
export { warmup, type WarmupOptions, type WarmupReport } from './runtime/warmup.js';
export { setTuning, forceVariant, forgetTuning, takeTuneRecords, type TuneRecord, type Measurement } from './runtime/tune.js';
export { setMemoryBudget, resetPeakMemory } from './runtime/pool.js';
export { tensor, hostTensor, zeros, ones, full, zerosLike, onesLike, arange, rand, randn, manualSeed } from './ops/create.js';
// The ops autocast casts come from amp/ops.ts (each the op of ops/ with its autocast policy).
export {
  add, sub, mul, div, pow, exp, log, maximum, minimum, eq, ne, lt, le, gt, ge, sum, mean, concat, stack,
  matmul, linear, softmax, logSoftmax, layerNorm, mseLoss, conv2d, batchNorm2d, scaledDotProductAttention,
  multiHeadAttention, feedForward,
} from './amp/ops.js';
export { neg, abs, sqrt, relu, gelu, sigmoid, tanh } from './ops/elementwise.js';
export { max, min, type ReduceOptions, type SumOptions } from './ops/reduce.js';
export { reshape, flatten, permute, transpose, expand, slice, squeeze, unsqueeze } from './ops/view.js';
export { contiguous } from './ops/copy.js';
export { clamp } from './ops/combine.js';
export type { Reduction, MseLossOptions } from './ops/loss.js';
export { dropout, type DropoutOptions } from './ops/dropout.js';
export { gatherTokens } from './ops/gather.js';
export {
  warpAffineCrops, warpOffsets, invertAffine, normalizeTable, imageChannels, IMAGENET_MEAN, IMAGENET_STD,
  type Affine2x3, type ImagePixels, type WarpAffineCropsOptions,
} from './ops/image.js';
export * as io from './io/index.js';
export { type Conv2dOptions, CONV_VARIANTS } from './ops/conv2d.js';
export { matmulVariantLabels, type LinearOptions } from './ops/matmul.js';
export * as optim from './optim/index.js';
export type { BatchNormOptions } from './ops/batchnorm.js';
export { upsampleNearest, type UpsampleOptions } from './ops/upsample.js';
export { type AttentionOptions, ATTENTION_VARIANTS } from './ops/attention.js';
export * as nn from './nn/index.js';
