// Small ops composed from the others: clamp and stack (stack's gradient comes from its parts).
import { noGrad, record } from '../autograd.js';
import { FLOAT_DTYPES, requireDType } from '../dtype.js';
import { normalizeAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { concat } from './copy.js';
import { ge, le, maximum, minimum, mul } from './elementwise.js';
import { full } from './create.js';
import { unsqueeze } from './view.js';

/**
 * `torch.clamp(x, min, max)`: either bound may be omitted. The gradient passes where min <= x <= max,
 * bounds included, as PyTorch's `clamp_backward` (not maximum / minimum's rule, which would halve it
 * where x equals a bound).
 */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  x.assertAlive('clamp');
  requireDType('clamp', x, [...FLOAT_DTYPES, 'int32']);
  if (min === undefined && max === undefined) throw new Error('clamp: give min, max or both');
  if (min !== undefined && max !== undefined && min > max) throw new Error(`clamp: min ${min} is greater than max ${max}`);
  const out = noGrad(() => {
    let y = x;
    for (const [bound, op] of [[min, maximum], [max, minimum]] as const) {
      if (bound === undefined) continue;
      const b = full([], bound, { dtype: x.dtype });
      const next = op(y, b);
      b.dispose();
      if (y !== x) y.dispose();
      y = next;
    }
    return y;
  });
  return record(out, 'clamp', [x], [x], (g, [sx]) => {
    const lo = min === undefined ? null : ge(sx!, min);
    const hi = max === undefined ? null : le(sx!, max);
    return [mul(g, lo && hi ? mul(lo, hi) : (lo ?? hi)!)];
  });
}

/** `torch.stack`: joins tensors of one shape along a new axis. */
export function stack(tensors: Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('stack: needs at least one tensor');
  const ax = normalizeAxis('stack', axis, tensors[0]!.rank + 1);
  const parts = tensors.map((t) => unsqueeze(t, ax));
  const out = concat(parts, ax);
  for (const p of parts) p.dispose();
  return out;
}
