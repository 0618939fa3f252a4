// Neural-network building blocks (torch.nn).
export { Module, type AnyModule, type LoadResult } from './module.js';
export { Linear, type LinearOptions } from './linear.js';
export { LayerNorm, type LayerNormOptions } from './layernorm.js';
export { GELU, ReLU } from './activation.js';
export { Dropout } from './dropout.js';
export { Sequential } from './sequential.js';
export { Conv2d, type Conv2dModuleOptions } from './conv2d.js';
export { BatchNorm2d, foldBatchNorm, type BatchNorm2dOptions } from './batchnorm.js';
