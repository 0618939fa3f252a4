// The public surface of @tmpose/tensor.
export { init, type DeviceInfo, type InitOptions } from './device.js';
export type { DType } from './dtype.js';
import './methods.js';
export { Tensor } from './tensor.js';
export { noGrad, isGradEnabled } from './autograd.js';
export { tidy, keep, memory, type MemoryInfo } from './scope.js';
export { sync, emptyCache, runtimeStats, kernelsOf, timeCompile } from './runtime/queue.js';
export type { Kernel } from './runtime/pipelines.js';
export { setTuning } from './runtime/tune.js';
export { setMemoryBudget, resetPeakMemory } from './runtime/pool.js';
export { tensor, zeros, ones, full, zerosLike, onesLike, arange, rand, randn, manualSeed } from './ops/create.js';
export {
  add, sub, mul, div, pow, neg, abs, exp, log, sqrt, relu, gelu, sigmoid, tanh,
  maximum, minimum, eq, ne, lt, le, gt, ge,
} from './ops/elementwise.js';
export { sum, mean, max, min } from './ops/reduce.js';
export { reshape, flatten, permute, transpose, expand, slice, squeeze, unsqueeze } from './ops/view.js';
export { contiguous, concat } from './ops/copy.js';
export { clamp, stack } from './ops/combine.js';
export { matmul, linear } from './ops/matmul.js';
export { softmax, logSoftmax } from './ops/softmax.js';
export { layerNorm } from './ops/layernorm.js';
export { mseLoss, type Reduction } from './ops/loss.js';
export { dropout, type DropoutOptions } from './ops/dropout.js';
export { gatherTokens } from './ops/gather.js';
export {
  warpAffineCrops, warpOffsets, invertAffine, normalizeTable, imageChannels, IMAGENET_MEAN, IMAGENET_STD,
  type Affine2x3, type ImagePixels, type WarpAffineCropsOptions,
} from './ops/image.js';
export * as io from './io/index.js';
export { conv2d, type Conv2dOptions } from './ops/conv2d.js';
export * as optim from './optim/index.js';
export { batchNorm2d, type BatchNormOptions } from './ops/batchnorm.js';
export { upsampleNearest } from './ops/upsample.js';
export { scaledDotProductAttention, type AttentionOptions } from './ops/attention.js';
export * as nn from './nn/index.js';
