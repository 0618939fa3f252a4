// Views: new shapes and strides over the same buffer, no GPU work (reshape copies only when it must).
import { record } from '../autograd.js';
import { contiguousStrides, fmt, normalizeAxis, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { contiguous, copyInto } from './copy.js';
import { zeros } from './create.js';
import { sumTo } from './reduce.js';

/** `torch.reshape`: one dim may be -1. A view when x is contiguous, else a copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  x.assertAlive('reshape');
  const known = shape.filter((d) => d !== -1);
  const inferred = shape.length - known.length;
  const rest = sizeOf(known);
  if (inferred > 1 || known.some((d) => !Number.isInteger(d) || d < 0) || (inferred === 1 ? rest === 0 || x.size % rest !== 0 : rest !== x.size)) {
    throw new Error(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)}`);
  }
  const full = shape.map((d) => (d === -1 ? x.size / rest : d));
  const src = x.isContiguous ? x : contiguous(x);
  const out = src.view(full, contiguousStrides(full), src.offset);
  if (src !== x) src.dispose();
  return record(out, 'reshape', [x], [], (g) => [reshape(g, x.shape)]);
}

export function flatten(x: Tensor, startAxis = 0, endAxis = -1): Tensor {
  const s = normalizeAxis('flatten', startAxis, x.rank);
  const e = normalizeAxis('flatten', endAxis, x.rank);
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** `torch.permute`: dims is a permutation of the axes. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  x.assertAlive('permute');
  const axes = dims.map((d) => normalizeAxis('permute', d, x.rank));
  if (axes.length !== x.rank || new Set(axes).size !== x.rank) {
    throw new Error(`permute: ${JSON.stringify(dims)} is not a permutation of the axes of ${fmt(x.shape)}`);
  }
  const out = x.view(axes.map((a) => x.shape[a]!), axes.map((a) => x.strides[a]!), x.offset);
  const inverse = new Array<number>(axes.length);
  axes.forEach((a, i) => (inverse[a] = i));
  return record(out, 'permute', [x], [], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  const a = normalizeAxis('transpose', dim0, x.rank);
  const b = normalizeAxis('transpose', dim1, x.rank);
  const dims = [...x.shape.keys()];
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

/** `torch.Tensor.expand`: size-1 dims (and new leading dims) repeat without copying; -1 keeps a dim. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  x.assertAlive('expand');
  const pad = shape.length - x.rank;
  const bad = () => new Error(`expand: cannot expand ${fmt(x.shape)} to ${fmt(shape)}`);
  if (pad < 0) throw bad();
  const strides = shape.map((d, i) => {
    if (i < pad) return 0;
    const src = x.shape[i - pad]!;
    if (d === -1 || d === src) return x.strides[i - pad]!;
    if (src === 1) return 0;
    throw bad();
  });
  const full = shape.map((d, i) => (d === -1 ? x.shape[i - pad]! : d));
  const out = x.view(full, strides, x.offset);
  return record(out, 'expand', [x], [], (g) => [sumTo(g, x.shape)]);
}

/** Elements start..end-1 along one axis, as a view (negative indices count from the end). */
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor {
  x.assertAlive('slice');
  const ax = normalizeAxis('slice', axis, x.rank);
  const n = x.shape[ax]!;
  const s = Math.min(Math.max(start < 0 ? start + n : start, 0), n);
  const e = Math.min(Math.max(end === undefined ? n : end < 0 ? end + n : end, s), n);
  const shape = [...x.shape];
  shape[ax] = e - s;
  const out = x.view(shape, x.strides, x.offset + s * x.strides[ax]!);
  return record(out, 'slice', [x], [], (g) => {
    const gx = zeros(x.shape, { dtype: g.dtype });
    const window = slice(gx, ax, s, e);
    copyInto(window, g);
    window.dispose();
    return [gx];
  });
}

/** Inserts a size-1 axis. */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const ax = normalizeAxis('unsqueeze', axis, x.rank + 1);
  return reshape(x, [...x.shape.slice(0, ax), 1, ...x.shape.slice(ax)]);
}

/** Removes size-1 axes (all of them, or the one given). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const ax = normalizeAxis('squeeze', axis, x.rank);
  return x.shape[ax] === 1 ? reshape(x, x.shape.filter((_, i) => i !== ax)) : reshape(x, x.shape);
}
