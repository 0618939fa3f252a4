// LayerNorm over the trailing dims (torch.nn.LayerNorm): weight starts at 1, bias at 0.
import { ones, zeros } from '../ops/create.js';
import { layerNorm } from '../amp/ops.js';
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export interface LayerNormOptions {
  eps?: number;
  /** Learn a per-element scale (and shift, unless bias: false). */
  elementwiseAffine?: boolean;
  bias?: boolean;
}

export class LayerNorm extends Module {
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (this.normalizedShape.length === 0 || !this.normalizedShape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new Error(`LayerNorm: normalizedShape must be positive integers, got ${JSON.stringify(normalizedShape)}`);
    }
    this.eps = options.eps ?? 1e-5;
    const affine = options.elementwiseAffine ?? true;
    this.weight = affine ? this.registerParameter('weight', ones(this.normalizedShape)) : null;
    this.bias = affine && (options.bias ?? true) ? this.registerParameter('bias', zeros(this.normalizedShape)) : null;
  }

  /** `dtype`: the output's (default: the input's), as layerNorm's. */
  forward(x: Tensor, options: { dtype?: 'float32' | 'float16' } = {}): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight ?? undefined, this.bias ?? undefined, this.eps, options);
  }
}
