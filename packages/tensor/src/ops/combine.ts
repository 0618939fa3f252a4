// Small ops composed from the others (their gradients come from the parts): clamp and stack.
import { normalizeAxis } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { concat } from './copy.js';
import { maximum, minimum } from './elementwise.js';
import { full } from './create.js';
import { unsqueeze } from './view.js';

/** `torch.clamp(x, min, max)`: either bound may be omitted; the gradient passes where x is inside. */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  x.assertAlive('clamp');
  if (min === undefined && max === undefined) throw new Error('clamp: give min, max or both');
  if (min !== undefined && max !== undefined && min > max) throw new Error(`clamp: min ${min} is greater than max ${max}`);
  let out = x;
  for (const [bound, op] of [[min, maximum], [max, minimum]] as const) {
    if (bound === undefined) continue;
    const b = full([], bound, { dtype: x.dtype });
    const next = op(out, b);
    b.dispose();
    if (out !== x) out.dispose();
    out = next;
  }
  return out;
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
