// Losses, composed from differentiable ops.
import { commonDType } from '../dtype.js';
import { fmt, sameShape } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { mul, sub } from './elementwise.js';
import { mean, sum } from './reduce.js';

export type Reduction = 'mean' | 'sum' | 'none';

/** `torch.nn.functional.mse_loss` (shapes must match: broadcasting here is almost always a bug). */
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  input.assertAlive('mseLoss');
  target.assertAlive('mseLoss');
  // float16 differences and squares are rounded to f16 elementwise (as PyTorch's f16 mse_loss); the mean or sum accumulates in f32.
  commonDType('mseLoss', [input, target]);
  if (!sameShape(input.shape, target.shape)) {
    throw new Error(`mseLoss: input ${fmt(input.shape)} and target ${fmt(target.shape)} must have the same shape`);
  }
  const d = sub(input, target);
  const sq = mul(d, d);
  d.dispose();
  if (reduction === 'none') return sq;
  const out = reduction === 'mean' ? mean(sq) : sum(sq);
  sq.dispose();
  return out;
}
