// layerNorm over the trailing dims: a forward kernel per row that also keeps mean and 1/std, and a
// fused backward: one kernel for dx per row (each row on a thread, a workgroup or subgroups: rowlanes.ts,
// the tuner picks), one for the weight and bias gradients per column
// (partial sums over chunks of rows, then one reduction). Mean, variance and every sum are f32, and so
// are the saved statistics and the weight-gradient partials, whatever the dtypes: a float16 input may come
// with float16 or float32 (master) weight and bias; y and dx take the input's dtype, the weight and bias
// gradients the parameter's.
import { record } from '../autograd.js';
import { type DType, commonDType, dtypes } from '../dtype.js';
import { type Kernel, linearEntry } from '../runtime/pipelines.js';
import { dispatch, grid } from '../runtime/queue.js';
import { type UniformBlock, uniforms } from '../runtime/uniforms.js';
import { contiguousStrides, fmt, sameShape, sizeOf } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { to } from './cast.js';
import { full } from './create.js';
import { sum } from './reduce.js';
import { type RowLanes, type RowVariant, dispatchRows, rowLanes } from './rowlanes.js';
import { asContiguous } from './rows.js';

const WG = 64;

/**
 * A kernel over bindings [name, written] with uniforms U; `dtypesIn` gives each binding's dtype, in order.
 * The body reads every binding through f32(...) and writes through its storage type, `<name>T`.
 */
const kernel = (name: string, U: UniformBlock, bindings: [string, boolean][], body: string) => (...dtypesIn: DType[]): Kernel => {
  const types = dtypesIn.map((d) => dtypes[d].wgsl);
  return {
    name,
    key: types.join(''),
    uniforms: U,
    bindings: bindings.map(([n, write], i) => ({ name: n, type: types[i]!, access: write ? ('read_write' as const) : ('read' as const) })),
    body: () => `${bindings.map(([n], i) => `alias ${n}T = ${types[i]};`).join('\n')}
${linearEntry(WG)}
  ${body}
}`,
  };
};

/**
 * A row kernel (one row per `row`, see rowlanes.ts) over bindings [name, written] with uniforms U, the
 * bindings' dtypes in order; `accumulate` (key letter 'a'): the body adds its result to what DX holds.
 */
const rowKernel = (name: string, U: UniformBlock, bindings: [string, boolean][], body: (l: RowLanes, accumulate: boolean) => string) => (variant: RowVariant, dtypesIn: DType[], accumulate = false): Kernel => {
  const types = dtypesIn.map((d) => dtypes[d].wgsl);
  const lanes = rowLanes(variant);
  return {
    name,
    key: `${types.join('')}${variant}${accumulate ? 'a' : ''}`,
    uniforms: U,
    bindings: bindings.map(([n, write], i) => ({ name: n, type: types[i]!, access: write ? ('read_write' as const) : ('read' as const) })),
    body: () => `${bindings.map(([n], i) => `alias ${n}T = ${types[i]};`).join('\n')}
${lanes.entry}
  ${body(lanes, accumulate)}
}`,
  };
};

// Rows of D elements; xOffset and gOffset are the element offsets of X and G.
const FORWARD_U = uniforms({ rows: 'u32', D: 'u32', eps: 'f32', xOffset: 'u32' });
const FORWARD = rowKernel('layerNorm', FORWARD_U, [['X', false], ['W', false], ['Bias', false], ['Y', true], ['Stats', true]], (l) => `
  let i = row;
  let D = u.D;
  let xb = u.xOffset + i * D;
  var m = 0.0;
  ${l.loop('d', 'D')} { m += f32(X[xb + d]); }
  m = ${l.add('m')} / f32(D);
  var v = 0.0;
  ${l.loop('d', 'D')} { let c = f32(X[xb + d]) - m; v += c * c; }
  let rstd = inverseSqrt(${l.add('v')} / f32(D) + u.eps);
  ${l.loop('d', 'D')} { Y[i * D + d] = YT((f32(X[xb + d]) - m) * rstd * f32(W[d]) + f32(Bias[d])); }
  if (${l.lead}) {
    Stats[2u * i] = m;
    Stats[2u * i + 1u] = rstd;
  }`);

// dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), dxhat = g * w; with `accumulate`,
// added to the gradient DX already holds (autograd's pending one).
const BACKWARD_X_U = uniforms({ rows: 'u32', D: 'u32', xOffset: 'u32', gOffset: 'u32' });
const BACKWARD_X = rowKernel('layerNormBackwardX', BACKWARD_X_U, [['X', false], ['G', false], ['W', false], ['Stats', false], ['DX', true]], (l, accumulate) => `
  let i = row;
  let D = u.D;
  let xb = u.xOffset + i * D;
  let gb = u.gOffset + i * D;
  let m = Stats[2u * i];
  let rstd = Stats[2u * i + 1u];
  var a = 0.0;
  var b = 0.0;
  ${l.loop('d', 'D')} {
    let dh = f32(G[gb + d]) * f32(W[d]);
    a += dh;
    b += dh * (f32(X[xb + d]) - m) * rstd;
  }
  a = ${l.add('a')} / f32(D);
  b = ${l.add('b')} / f32(D);
  ${l.loop('d', 'D')} {
    let xh = (f32(X[xb + d]) - m) * rstd;
    DX[i * D + d] = DXT(${accumulate ? 'f32(DX[i * D + d]) + ' : ''}rstd * (f32(G[gb + d]) * f32(W[d]) - a - xh * b));
  }`);

// Partial sums of g * xhat and g over chunks of rows: thread (chunk, column) writes P[chunk, 0, column]
// and P[chunk, 1, column], so that one sum over chunks gives both gradients as the rows of a [2, D].
const BACKWARD_W_U = uniforms({ rows: 'u32', D: 'u32', xOffset: 'u32', gOffset: 'u32', chunks: 'u32', chunk: 'u32' });
const BACKWARD_W = kernel('layerNormBackwardW', BACKWARD_W_U, [['X', false], ['G', false], ['Stats', false], ['P', true]], `
  let D = u.D;
  let chunks = u.chunks;
  if (i >= chunks * D) { return; }
  let c = i / D;
  let d = i % D;
  let start = c * u.chunk;
  let end = min(u.rows, start + u.chunk);
  var sw = 0.0;
  var sb = 0.0;
  for (var r = start; r < end; r++) {
    let g = f32(G[u.gOffset + r * D + d]);
    sw += g * (f32(X[u.xOffset + r * D + d]) - Stats[2u * r]) * Stats[2u * r + 1u];
    sb += g;
  }
  P[2u * c * D + d] = sw;
  P[(2u * c + 1u) * D + d] = sb;`);

/**
 * `torch.nn.functional.layer_norm`: normalises over the trailing `normalizedShape` dims, then scales
 * by weight and shifts by bias (each optional, shaped like normalizedShape).
 */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor, bias?: Tensor, eps = 1e-5): Tensor {
  x.assertAlive('layerNorm');
  const k = normalizedShape.length;
  const dtype = commonDType('layerNorm', [x]);
  if (k === 0 || !sameShape(x.shape.slice(x.rank - k), normalizedShape)) {
    throw new Error(`layerNorm: input ${fmt(x.shape)} ${x.dtype} does not end with normalizedShape ${fmt(normalizedShape)}`);
  }
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p && !sameShape(p.assertAlive('layerNorm').shape, normalizedShape)) {
      throw new Error(`layerNorm: ${name} ${fmt(p.shape)} must have shape ${fmt(normalizedShape)}`);
    }
    // float32 parameters (master weights) go with any float input; otherwise the input's dtype.
    if (p && p.dtype !== 'float32' && p.dtype !== dtype) {
      throw new Error(`layerNorm: ${name} ${p.dtype} ${fmt(p.shape)} must be float32 or the input's dtype (input ${dtype} ${fmt(x.shape)})`);
    }
  }
  const D = sizeOf(normalizedShape);
  const rows = D === 0 ? 0 : x.size / D;
  const ones = weight ?? full([D], 1);
  const zeros = bias ?? full([D], 0);
  const hx = asContiguous(x);
  const y = empty(x.shape, dtype);
  const stats = empty([rows, 2]);
  dispatchRows(`layerNorm|${dtype},${ones.dtype},${zeros.dtype}`, rows, D, [hx.t.storage, ones.storage, zeros.storage, y.storage, stats.storage], (v) => FORWARD(v, [dtype, ones.dtype, zeros.dtype, dtype, 'float32']), FORWARD_U.pack({ rows, D, eps, xOffset: hx.t.offset }));
  hx.done();
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const out = record(y, 'layerNorm', inputs, [x, ones, stats], (g, [sx, sw, st], pending) => {
    const cx = asContiguous(sx!);
    const cg = asContiguous(g);
    const grads: (Tensor | null)[] = [];
    if (x.requiresGrad) {
      // Added in place to x's pending gradient when there is one to take (in float16 rounded once,
      // where the engine's add would round dx and then the sum).
      const into = pending.take(0, dtype);
      const dx = into ?? empty(x.shape, dtype);
      const buffers = [cx.t.storage, cg.t.storage, sw!.storage, st!.storage, dx.storage];
      const kernelOf = (v: RowVariant) => BACKWARD_X(v, [dtype, g.dtype, sw!.dtype, 'float32', dtype], into !== null);
      dispatchRows(`layerNormBackwardX|${dtype},${g.dtype},${sw!.dtype}`, rows, D, buffers, kernelOf, BACKWARD_X_U.pack({ rows, D, xOffset: cx.t.offset, gOffset: cg.t.offset }));
      grads.push(dx);
    } else {
      grads.push(null);
    }
    if (weight?.requiresGrad || bias?.requiresGrad) {
      const chunk = Math.max(16, Math.ceil((rows * D) / 65536));
      const chunks = Math.ceil(rows / chunk);
      const part = empty([chunks, 2, D]);
      dispatch(BACKWARD_W(dtype, g.dtype, 'float32', 'float32'), [cx.t.storage, cg.t.storage, st!.storage, part.storage], BACKWARD_W_U.pack({ rows, D, xOffset: cx.t.offset, gOffset: cg.t.offset, chunks, chunk }), grid(Math.ceil((chunks * D) / WG)));
      // Both summed in f32 by one reduction, each then rounded once to its parameter's dtype.
      const sums = sum(part, 0);
      const gradOf = (p: Tensor, row: number) => {
        const g32 = sums.view(normalizedShape, contiguousStrides(normalizedShape), row * D);
        if (p.dtype === 'float32') return g32;
        const r = to(g32, p.dtype);
        g32.dispose();
        return r;
      };
      if (weight) grads.push(weight.requiresGrad ? gradOf(weight, 0) : null);
      if (bias) grads.push(bias.requiresGrad ? gradOf(bias, 1) : null);
      part.dispose();
      sums.dispose();
    } else {
      if (weight) grads.push(null);
      if (bias) grads.push(null);
    }
    cx.done();
    cg.done();
    return grads;
  });
  if (!weight) ones.dispose();
  if (!bias) zeros.dispose();
  stats.dispose();
  return out;
}
