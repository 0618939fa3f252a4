// Linear: y = x Wᵀ + b (torch.nn.Linear), initialised as PyTorch does.
import { rand } from '../ops/create.js';
import { linear } from '../amp/ops.js';
import type { LinearOptions as ForwardOptions } from '../ops/matmul.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export interface LinearOptions {
  bias?: boolean;
  /** Fixes the initial values (the bias uses seed + 1); without it the global generator supplies them. */
  seed?: number;
}

export class Linear extends Module {
  /** [outFeatures, inFeatures]. */
  readonly weight: Tensor;
  /** [outFeatures], or null with bias: false. */
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    for (const [name, n] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(n) || n < 0) throw new Error(`Linear: ${name} must be a non-negative integer, got ${n}`);
    }
    // kaiming_uniform_(a=√5) on [out, in] is U(-1/√in, 1/√in); PyTorch draws the bias from the same range.
    const bound = inFeatures > 0 ? 1 / Math.sqrt(inFeatures) : 0;
    const seed = options.seed;
    this.weight = this.registerParameter('weight', rand([outFeatures, inFeatures], { low: -bound, high: bound, seed }));
    this.bias =
      (options.bias ?? true)
        ? this.registerParameter('bias', rand([outFeatures], { low: -bound, high: bound, seed: seed === undefined ? undefined : seed + 1 }))
        : null;
  }

  /** `options.residual` is added in the product's store (see the functional linear). */
  forward(x: Tensor, options?: ForwardOptions): Tensor {
    return linear(x, this.weight, this.bias ?? undefined, options);
  }
}
