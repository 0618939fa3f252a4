// BatchNorm2d (torch.nn.BatchNorm2d) and folding a BatchNorm into the convolution before it.
//
// State-dict names are PyTorch's: `weight`, `bias` (parameters, with affine), `running_mean`,
// `running_var`, `num_batches_tracked` (buffers, with trackRunningStats), so official checkpoints load.
//
// `num_batches_tracked` is an int32 tensor of shape [] (0-d). PyTorch stores it as a 0-d int64 tensor;
// io.loadPth turns that into an int32 [] tensor, which loadStateDict accepts as is (shape and dtype
// equal). It counts the forward passes made in training mode (with trackRunningStats). Only a numeric
// momentum is supported (PyTorch's momentum=None, a cumulative average, is not).
import { noGrad } from '../autograd.js';
import { batchNorm2d } from '../amp/ops.js';
import type { BatchNormOptions } from '../ops/batchnorm.js';
import { copyInto } from '../ops/copy.js';
import { full, ones, tensor, zeros } from '../ops/create.js';
import { add, div, mul, sqrt, sub } from '../ops/elementwise.js';
import { reshape } from '../ops/view.js';
import { tidy } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { Conv2d } from './conv2d.js';
import { Module } from './module.js';

export interface BatchNorm2dOptions {
  eps?: number;
  /** running <- (1 - momentum)·running + momentum·batch (unbiased batch variance). */
  momentum?: number;
  /** Learn a per-channel scale `weight` (γ, starts at 1) and shift `bias` (β, starts at 0). */
  affine?: boolean;
  /** Keep running statistics (and use them in eval mode); without, batch statistics are used in both modes. */
  trackRunningStats?: boolean;
}

export class BatchNorm2d extends Module {
  readonly eps: number;
  readonly momentum: number;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly running_mean: Tensor | null;
  readonly running_var: Tensor | null;
  /** int32 [], the number of training-mode forward passes. */
  readonly num_batches_tracked: Tensor | null;

  constructor(
    readonly numFeatures: number,
    options: BatchNorm2dOptions = {},
  ) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) throw new Error(`BatchNorm2d: numFeatures must be a positive integer, got ${numFeatures}`);
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    if (!(this.eps > 0)) throw new Error(`BatchNorm2d: eps must be positive, got ${this.eps}`);
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new Error(`BatchNorm2d: momentum must be in [0, 1], got ${this.momentum}`);
    const affine = options.affine ?? true;
    const track = options.trackRunningStats ?? true;
    this.weight = affine ? this.registerParameter('weight', ones([numFeatures])) : null;
    this.bias = affine ? this.registerParameter('bias', zeros([numFeatures])) : null;
    this.running_mean = track ? this.registerBuffer('running_mean', zeros([numFeatures])) : null;
    this.running_var = track ? this.registerBuffer('running_var', ones([numFeatures])) : null;
    this.num_batches_tracked = track ? this.registerBuffer('num_batches_tracked', tensor(new Int32Array([0]), [], { dtype: 'int32' })) : null;
  }

  get affine(): boolean {
    return this.weight !== null;
  }

  get trackRunningStats(): boolean {
    return this.running_mean !== null;
  }

  forward(x: Tensor): Tensor {
    return this.normalize(x, {});
  }

  /** `relu(this.forward(x))`, or `relu(this.forward(x) + residual)`, in one pass over memory. */
  forwardReLU(x: Tensor, residual?: Tensor): Tensor {
    return this.normalize(x, { relu: true, residual });
  }

  private normalize(x: Tensor, epilogue: Pick<BatchNormOptions, 'relu' | 'residual'>): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.numFeatures) {
      throw new Error(`BatchNorm2d(${this.numFeatures}): input must be [N, ${this.numFeatures}, H, W], got [${x.shape.join(', ')}]`);
    }
    const useBatchStats = this.training || !this.trackRunningStats;
    return batchNorm2d(x, this.weight, this.bias, this.running_mean, this.running_var, {
      training: useBatchStats,
      momentum: this.momentum,
      eps: this.eps,
      numBatchesTracked: this.training ? this.num_batches_tracked ?? undefined : undefined,
      ...epilogue,
    });
  }
}

/**
 * A new Conv2d (with bias) that computes, at inference, what `conv` followed by `bn` in eval mode
 * computes: W' = W·γ/√(var+eps) per output channel, b' = (b − mean)·γ/√(var+eps) + β. The inputs are
 * left untouched. `bn` must track running statistics.
 */
export function foldBatchNorm(conv: Conv2d, bn: BatchNorm2d): Conv2d {
  if (!bn.running_mean || !bn.running_var) throw new Error('foldBatchNorm: the BatchNorm2d has no running statistics (trackRunningStats: false)');
  if (bn.numFeatures !== conv.outChannels) {
    throw new Error(`foldBatchNorm: BatchNorm2d(${bn.numFeatures}) does not follow a conv with ${conv.outChannels} output channels`);
  }
  const [kh, kw] = conv.kernelSize;
  const folded = new Conv2d(conv.inChannels, conv.outChannels, [kh, kw], {
    stride: conv.stride,
    padding: [conv.padding[0], conv.padding[1]],
    groups: conv.groups,
    bias: true,
    seed: 0, // overwritten below; a fixed seed leaves the global generator alone
  });
  const F = conv.outChannels;
  tidy(() => noGrad(() => {
    const scale = div(bn.weight ?? full([F], 1), sqrt(add(bn.running_var!, bn.eps)));
    const w = mul(conv.weight, reshape(scale, [F, 1, 1, 1]));
    const b = add(mul(sub(conv.bias ?? full([F], 0), bn.running_mean!), scale), bn.bias ?? full([F], 0));
    copyInto(folded.weight, w);
    copyInto(folded.bias!, b);
  }));
  return folded;
}
