// Helpers for ops that work row by row over the last axis of a contiguous tensor.
import type { Tensor } from '../tensor.js';
import { contiguous } from './copy.js';

/** x itself when contiguous, else a contiguous copy; `done()` disposes the copy. */
export function asContiguous(x: Tensor): { t: Tensor; done: () => void } {
  if (x.isContiguous) return { t: x, done: () => {} };
  const t = contiguous(x);
  return { t, done: () => t.dispose() };
}
