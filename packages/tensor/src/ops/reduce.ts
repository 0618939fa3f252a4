// Reductions over any set of axes. The input is seen as a strided [M, R] matrix (kept x reduced),
// copied only when the axes can't be expressed that way. Each thread reduces a run of one row, with
// no barriers (they are very expensive on CPU drivers); long rows over few outputs split into chunks
// reduced by a second pass. float16 is summed in f32, and the partial sums between passes stay f32.
//
// Float sums (and means) have variants the tuner picks per adapter and problem ('reduce' family):
//  - thread: as above, the threads of one row's chunks side by side;
//  - columns: the same, the threads of one chunk's rows side by side, so that with the reduced axis
//    not contiguous (kept rows adjacent in memory) neighbouring threads read neighbouring elements;
//  - workgroup, subgroup: a row per workgroup, its lanes strided along it (coalesced when the reduced
//    axis is contiguous), reduced by a tree or by subgroups as in rowlanes.ts.
import { record } from '../autograd.js';
import { type DType, FLOAT_DTYPES, commonDType, dtypes } from '../dtype.js';
import { getDevice } from '../device.js';
import { type Kernel, linearEntry } from '../runtime/pipelines.js';
import { type Storage, allocate, release } from '../runtime/pool.js';
import { dispatch, flushNumber, grid } from '../runtime/queue.js';
import { choose, sizeClass, worthTuning } from '../runtime/tune.js';
import { uniforms } from '../runtime/uniforms.js';
import { type Shape, contiguousStrides, fmt, normalizeAxes, sameShape, sizeOf } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { to } from './cast.js';
import { contiguous } from './copy.js';
import { full } from './create.js';
import { div, eq, mul } from './elementwise.js';
import { rowLanes } from './rowlanes.js';
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

/** How a float sum runs (see the top of the file). */
export type ReduceVariant = 'thread' | 'columns' | 'workgroup' | 'subgroup';
export const REDUCE_VARIANTS: readonly ReduceVariant[] = ['thread', 'columns', 'workgroup', 'subgroup'];

/** The chunks each row splits into: many when there are too few rows to keep every core busy. */
function chunking(M: number, R: number): { chunks: number; chunk: number } {
  let chunks = 1;
  if (M < 2048 && R > 1024) chunks = Math.min(Math.ceil(R / 256), Math.ceil(8192 / M));
  const chunk = Math.ceil(R / chunks);
  return { chunks: Math.ceil(R / chunk), chunk };
}

/**
 * The thread kernel: thread o reduces chunk c of row m, o = m * chunks + c (rows) or c * M + m
 * (columns), into O[o].
 */
const threadKernel = (op: ReduceOp, A: 'f32' | 'i32', S: string, OS: string, columns: boolean): Kernel => ({
  name: `reduce_${op}`,
  key: `${S}${OS}${columns ? 'c' : ''}`,
  uniforms: U,
  bindings: [
    { name: 'X', type: S, access: 'read' as const },
    { name: 'O', type: OS, access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG, 'o')}
  let chunks = u.chunks;
  if (o >= u.M * chunks) { return; }
  ${columns ? 'let m = o % u.M; let c = o / u.M;' : 'let m = o / chunks; let c = o % chunks;'}
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
});

// A row per workgroup: rows < M of R at X[offset + row * sM + r * sR], the sum times scale.
const LANES_U = uniforms({ rows: 'u32', R: 'u32', sM: 'u32', sR: 'u32', offset: 'u32', scale: 'f32' });
const lanesKernel = (S: string, OS: string, variant: 'workgroup' | 'subgroup'): Kernel => {
  const l = rowLanes(variant);
  return {
    name: 'reduce_sum',
    key: `${S}${OS}${variant}`,
    uniforms: LANES_U,
    bindings: [
      { name: 'X', type: S, access: 'read' as const },
      { name: 'O', type: OS, access: 'read_write' as const },
    ],
    body: () => `
${l.entry}
  let p = u.offset + row * u.sM;
  var acc = 0.0;
  ${l.loop('r', 'u.R')} { acc += f32(X[p + r * u.sR]); }
  acc = ${l.add('acc')};
  if (${l.lead}) { O[row] = ${OS}(acc * u.scale); }
}`,
  };
};

/** Reduces the rows into `out` ([M] of outDtype) with the thread kernel, in one pass or two. */
function threadRows(op: ReduceOp, x: Storage, xDtype: DType, out: Storage, outDtype: DType, M: number, R: number, sM: number, sR: number, offset: number, scale: number, columns: boolean): void {
  const A = dtypes[xDtype].compute;
  const { chunks, chunk } = chunking(M, R);
  // Partial sums keep the accumulator's type (float16 rows give f32 partials).
  const part = chunks > 1 ? empty([M * chunks], A === 'f32' ? 'float32' : 'int32') : null;
  const [dst, dstDtype] = part ? [part.storage, part.dtype] : [out, outDtype];
  const kernel = threadKernel(op, A, dtypes[xDtype].wgsl, dtypes[dstDtype].wgsl, columns);
  dispatch(kernel, [x, dst], U.pack({ M, R, sM, sR, offset, scale: part ? 1 : scale, chunks, chunk }), grid(Math.ceil((M * chunks) / WG)));
  if (!part) return;
  // Row m's partials: at m * chunks + c (rows), or c * M + m (columns).
  threadRows(op, part.storage, part.dtype, out, outDtype, M, chunks, columns ? 1 : chunks, columns ? M : 1, 0, scale, columns);
  part.dispose();
}

function launchRows(op: ReduceOp, x: Tensor, outDtype: DType, M: number, R: number, sM: number, sR: number, offset: number, scale: number): Tensor {
  const out = empty([M], outDtype);
  const buffers = [x.storage, out.storage];
  if (op !== 'sum' || dtypes[x.dtype].compute !== 'f32') {
    threadRows(op, x.storage, x.dtype, out.storage, outDtype, M, R, sM, sR, offset, scale, false);
    return out;
  }
  const { isCpu, features } = getDevice().info;
  const encode = (v: ReduceVariant, [bx, bo]: Storage[]) => {
    if (v === 'thread' || v === 'columns') threadRows(op, bx!, x.dtype, bo!, outDtype, M, R, sM, sR, offset, scale, v === 'columns');
    else dispatch(lanesKernel(dtypes[x.dtype].wgsl, dtypes[outDtype].wgsl, v), [bx!, bo!], LANES_U.pack({ rows: M, R, sM, sR, offset, scale }), grid(M));
  };
  const contiguous = sR === 1;
  const variant = choose<ReduceVariant>({
    problem: `reduce|${x.dtype}|${contiguous ? 'rows' : 'strided'}|M${sizeClass(M)}|R${sizeClass(R)}`,
    candidates: REDUCE_VARIANTS.filter((v) => v !== 'subgroup' || features.subgroups),
    label: (v) => v,
    // A CPU keeps its threads; a GPU reads a contiguous axis with lanes per row, a strided one across rows.
    fallback: isCpu ? 'thread' : contiguous ? (R >= 32 ? (features.subgroups ? 'subgroup' : 'workgroup') : 'thread') : 'columns',
    // Bandwidth-bound: an element read costs about as much time as 50 flops.
    worthTuning: worthTuning(50 * M * R),
    prepare: () => {
      const scratch = buffers.map((b) => allocate(b.byteSize));
      return { run: (v) => encode(v, scratch), dispose: () => scratch.forEach((st) => release(st, flushNumber())) };
    },
  });
  encode(variant, buffers);
  return out;
}

function reduceRaw(op: ReduceOp, x: Tensor, axes: number[], keepdim: boolean, scale = 1, outDtype: DType = x.dtype): Tensor {
  commonDType(op, [x], [...FLOAT_DTYPES, 'int32']);
  const keptAxes = [...x.shape.keys()].filter((a) => !axes.includes(a));
  const outShape = keepdim ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : keptAxes.map((a) => x.shape[a]!);
  const R = sizeOf(axes.map((a) => x.shape[a]!));
  const M = sizeOf(keptAxes.map((a) => x.shape[a]!));
  if (R === 0) {
    if (op !== 'sum') throw new Error(`${op}: cannot reduce over an empty axis of ${fmt(x.shape)}`);
    return full(outShape, 0, { dtype: outDtype });
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
  const flat = launchRows(op, src, outDtype, M, R, kept[1], red[1], src.offset, scale);
  if (src !== x) src.dispose();
  const out = flat.view(outShape, contiguousStrides(outShape), 0);
  flat.dispose();
  return out;
}

export interface ReduceOptions {
  keepdim?: boolean;
}

export interface SumOptions extends ReduceOptions {
  /**
   * The result's dtype (`torch.sum(x, dtype=...)`), float to float: a float16 sum is accumulated in f32
   * anyway, so `dtype: 'float32'` keeps it unrounded (a float32 gradient of a float32 bias from float16
   * activations, with no cast after).
   */
  dtype?: DType;
}

function keepShape(x: Tensor, axes: number[]): number[] {
  return x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** `torch.sum(x, axes, keepdim, dtype)`; all axes when `axis` is omitted. */
export function sum(x: Tensor, axis?: number | number[], options: SumOptions = {}): Tensor {
  x.assertAlive('sum');
  const dtype = options.dtype ?? x.dtype;
  if (dtype !== x.dtype && !(FLOAT_DTYPES.includes(x.dtype) && FLOAT_DTYPES.includes(dtype))) {
    throw new Error(`sum: dtype ${dtype} for a ${x.dtype} ${fmt(x.shape)} tensor: a float sum can be float32 or float16, an int32 sum is int32`);
  }
  const axes = normalizeAxes('sum', axis, x.rank);
  const out = reduceRaw('sum', x, axes, options.keepdim ?? false, 1, dtype);
  return record(out, 'sum', [x], [], (g) => {
    const gx = expand(reshape(g, keepShape(x, axes)), x.shape);
    return [gx.dtype === x.dtype ? gx : to(gx, x.dtype)];
  });
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

/** Sums a broadcast gradient back down to `shape` (as `dtype`: see SumOptions). */
export function sumTo(g: Tensor, shape: Shape, dtype: DType = g.dtype): Tensor {
  if (sameShape(g.shape, shape)) return dtype === g.dtype ? g : to(g, dtype);
  const pad = g.rank - shape.length;
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    if (i < pad || (shape[i - pad] === 1 && d !== 1)) axes.push(i);
  });
  const summed = sum(g, axes, { keepdim: true, dtype });
  return reshape(summed, shape);
}
