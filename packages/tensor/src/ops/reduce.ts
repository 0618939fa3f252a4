// Reductions over any set of axes. The input is seen as a strided [M, R] matrix (kept x reduced),
// copied only when the axes can't be expressed that way. Each thread reduces a run of one row, with
// no barriers (they are very expensive on CPU drivers); long rows over few outputs split into chunks
// reduced by a second pass. float16 is summed in f32, and the partial sums between passes stay f32.
import { record } from '../autograd.js';
import { type DType, FLOAT_DTYPES, commonDType, dtypes } from '../dtype.js';
import { linearEntry } from '../runtime/pipelines.js';
import { dispatch, grid } from '../runtime/queue.js';
import { uniforms } from '../runtime/uniforms.js';
import { type Shape, contiguousStrides, fmt, normalizeAxes, sameShape, sizeOf } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { contiguous } from './copy.js';
import { full } from './create.js';
import { div, eq, mul } from './elementwise.js';
import { expand, permute, reshape } from './view.js';
import { LIMITS } from './wgsl.js';

const WG = 64;
type ReduceOp = 'sum' | 'max' | 'min';
const INIT = {
  f32: { sum: '0', max: LIMITS.f32.lowest, min: LIMITS.f32.highest },
  i32: { sum: '0', max: LIMITS.i32.lowest, min: LIMITS.i32.highest },
} as const;
// Rows m < M of R elements at X[offset + m * sM + r * sR], each split into `chunks` runs of `chunk`; a
// sum is multiplied by `scale` (mean's 1 / R).
const U = uniforms({ M: 'u32', R: 'u32', sM: 'u32', sR: 'u32', offset: 'u32', scale: 'f32', chunks: 'u32', chunk: 'u32' });
const COMBINE = { sum: 'acc + v', max: 'max(acc, v)', min: 'min(acc, v)' } as const;

/** Collapses a group of dims to one (size, stride) if the strides allow it. */
function group(shape: number[], strides: number[]): [number, number] | null {
  let size = 1;
  let stride = 0;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] === 1) continue;
    if (size === 1) stride = strides[i]!;
    else if (strides[i] !== stride * size) return null;
    size *= shape[i]!;
  }
  return [size, stride];
}

function launchRows(op: ReduceOp, x: Tensor, outDtype: DType, M: number, R: number, sM: number, sR: number, offset: number, scale: number): Tensor {
  const A = dtypes[x.dtype].compute;
  // Split long rows when there are too few rows to keep every core busy.
  let chunks = 1;
  if (M < 2048 && R > 1024) chunks = Math.min(Math.ceil(R / 256), Math.ceil(8192 / M));
  const chunk = Math.ceil(R / chunks);
  chunks = Math.ceil(R / chunk);
  // Partial sums keep the accumulator's type (float16 rows give f32 partials).
  const out = empty([M * chunks], chunks > 1 ? (A === 'f32' ? 'float32' : 'int32') : outDtype);
  const [S, OS] = [dtypes[x.dtype].wgsl, dtypes[out.dtype].wgsl];
  const kernel = {
    name: `reduce_${op}`,
    key: `${S}${OS}`,
    uniforms: U,
    bindings: [
      { name: 'X', type: S, access: 'read' as const },
      { name: 'O', type: OS, access: 'read_write' as const },
    ],
    body: () => `
${linearEntry(WG, 'o')}
  let chunks = u.chunks;
  if (o >= u.M * chunks) { return; }
  let m = o / chunks;
  let c = o % chunks;
  let R = u.R;
  let sR = u.sR;
  let start = c * u.chunk;
  let end = min(R, start + u.chunk);
  var p = u.offset + m * u.sM + start * sR;
  var acc = ${A}(${INIT[A][op]});
  for (var r = start; r < end; r++) {
    let v = ${A}(X[p]);
    acc = ${COMBINE[op]};
    p += sR;
  }
  ${op === 'sum' && A === 'f32' ? 'acc = acc * u.scale;' : ''}
  O[o] = ${OS}(acc);
}`,
  };
  const s = chunks > 1 ? 1 : scale;
  dispatch(kernel, [x.storage, out.storage], U.pack({ M, R, sM, sR, offset, scale: s, chunks, chunk }), grid(Math.ceil((M * chunks) / WG)));
  if (chunks === 1) return out;
  const final = launchRows(op, out, outDtype, M, chunks, chunks, 1, 0, scale);
  out.dispose();
  return final;
}

function reduceRaw(op: ReduceOp, x: Tensor, axes: number[], keepdim: boolean, scale = 1): Tensor {
  commonDType(op, [x], [...FLOAT_DTYPES, 'int32']);
  const keptAxes = [...x.shape.keys()].filter((a) => !axes.includes(a));
  const outShape = keepdim ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : keptAxes.map((a) => x.shape[a]!);
  const R = sizeOf(axes.map((a) => x.shape[a]!));
  const M = sizeOf(keptAxes.map((a) => x.shape[a]!));
  if (R === 0) {
    if (op !== 'sum') throw new Error(`${op}: cannot reduce over an empty axis of ${fmt(x.shape)}`);
    return full(outShape, 0, { dtype: x.dtype });
  }
  let src = x;
  let kept = group(keptAxes.map((a) => x.shape[a]!), keptAxes.map((a) => x.strides[a]!));
  let red = group(axes.map((a) => x.shape[a]!), axes.map((a) => x.strides[a]!));
  if (!kept || !red) {
    const p = permute(x, [...keptAxes, ...axes]);
    src = contiguous(p);
    p.dispose();
    kept = [M, R];
    red = [R, 1];
  }
  const flat = launchRows(op, src, x.dtype, M, R, kept[1], red[1], src.offset, scale);
  if (src !== x) src.dispose();
  const out = flat.view(outShape, contiguousStrides(outShape), 0);
  flat.dispose();
  return out;
}

export interface ReduceOptions {
  keepdim?: boolean;
}

function keepShape(x: Tensor, axes: number[]): number[] {
  return x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** `torch.sum(x, axes, keepdim)`; all axes when `axis` is omitted. */
export function sum(x: Tensor, axis?: number | number[], options: ReduceOptions = {}): Tensor {
  x.assertAlive('sum');
  const axes = normalizeAxes('sum', axis, x.rank);
  const out = reduceRaw('sum', x, axes, options.keepdim ?? false);
  return record(out, 'sum', [x], [], (g) => [expand(reshape(g, keepShape(x, axes)), x.shape)]);
}

export function mean(x: Tensor, axis?: number | number[], options: ReduceOptions = {}): Tensor {
  x.assertAlive('mean');
  commonDType('mean', [x]);
  const axes = normalizeAxes('mean', axis, x.rank);
  const count = sizeOf(axes.map((a) => x.shape[a]!));
  const out = reduceRaw('sum', x, axes, options.keepdim ?? false, 1 / count);
  return record(out, 'mean', [x], [], (g) => [expand(reshape(mul(g, 1 / count), keepShape(x, axes)), x.shape)]);
}

function extreme(op: 'max' | 'min', x: Tensor, axis: number | number[] | undefined, options: ReduceOptions): Tensor {
  x.assertAlive(op);
  const axes = normalizeAxes(op, axis, x.rank);
  const out = reduceRaw(op, x, axes, options.keepdim ?? false);
  // The gradient is shared evenly among tied extremes, as torch.amax / amin do.
  return record(out, op, [x], [x, out], (g, [sx, sout]) => {
    const ks = keepShape(x, axes);
    const mask = eq(sx!, reshape(sout!, ks));
    const count = reduceRaw('sum', mask, axes, true);
    return [mul(div(mask, count), reshape(g, ks))];
  });
}

/**
 * Largest element over the axes: `torch.amax(x, axes, keepdim)` (all axes when omitted, as `x.max()`),
 * values only. Tied maxima share the gradient evenly, as amax's (and `x.max()`'s) backward does; there
 * is no `torch.max(x, dim)` form here, whose gradient goes to the one element its index names.
 */
export const max = (x: Tensor, axis?: number | number[], options: ReduceOptions = {}) => extreme('max', x, axis, options);
/** Smallest element over the axes: `torch.amin`, ties handled as in `max`. */
export const min = (x: Tensor, axis?: number | number[], options: ReduceOptions = {}) => extreme('min', x, axis, options);

/** Sums a broadcast gradient back down to `shape`. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const pad = g.rank - shape.length;
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    if (i < pad || (shape[i - pad] === 1 && d !== 1)) axes.push(i);
  });
  const summed = sum(g, axes, { keepdim: true });
  return reshape(summed, shape);
}
