// layerNorm over the trailing dims: a forward kernel per row that also keeps mean and 1/std, and a
// fused backward: one kernel (each row on a thread, a workgroup or subgroups: rowlanes.ts, the tuner
// picks) writes dx per row and, reading the same g and x, the weight and bias gradients' partial sums per
// column over chunks of 16 rows; one sum of the partials, held back until the gradients are used
// (runtime/sums.ts), then gives both gradients. Mean,
// variance and every sum are f32, and so are the saved statistics and the partials, whatever the dtypes:
// a float16 input may come with float16 or float32 (master) weight and bias; y takes the input's dtype
// or the one asked for (a float32 residual stream's norm written as float16 for the float16 products that
// read it, under autocast: no cast pass either way), dx the input's, the weight and bias gradients the
// parameter's.
import { record } from '../autograd.js';
import { type DType, commonDType, dtypes } from '../dtype.js';
import type { Kernel } from '../runtime/pipelines.js';
import { type UniformBlock, uniforms } from '../runtime/uniforms.js';
import { contiguousStrides, fmt, sameShape, sizeOf } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { to } from './cast.js';
import { contiguous } from './copy.js';
import { full } from './create.js';
import { holdSum } from '../runtime/sums.js';
import { type RowLanes, type RowVariant, WG, dispatchRows, rowLanes } from './rowlanes.js';
import { asContiguous } from './rows.js';

type Binding = [name: string, dtype: DType, written: boolean];

/**
 * A row kernel (rows spread as `variant` says, see rowlanes.ts) over `bindings`, `flags` telling its
 * forms apart in the key. The body reads every binding through f32(...) and writes through its storage
 * type, `<name>T`; `functions` are WGSL functions it calls.
 */
function rowKernel(name: string, U: UniformBlock, variant: RowVariant, bindings: Binding[], flags: string, body: (l: RowLanes) => string, functions = ''): Kernel {
  const types = bindings.map(([, d]) => dtypes[d].wgsl);
  const lanes = rowLanes(variant);
  return {
    name,
    key: `${types.join('')}${variant}${flags}`,
    uniforms: U,
    bindings: bindings.map(([n, , write], i) => ({ name: n, type: types[i]!, access: write ? ('read_write' as const) : ('read' as const) })),
    body: () => `${bindings.map(([n], i) => `alias ${n}T = ${types[i]};`).join('\n')}${functions}
${lanes.entry}
  ${body(lanes)}
}`,
  };
}

// Rows of D elements; xOffset, gOffset, wOffset and bOffset are the element offsets of X, G, W and Bias
// (parameters may be views into a larger buffer: Module.flattenParameters).
const FORWARD_U = uniforms({ rows: 'u32', D: 'u32', eps: 'f32', xOffset: 'u32', wOffset: 'u32', bOffset: 'u32' });
const FORWARD = (l: RowLanes) => `
  let i = row;
  let D = u.D;
  let xb = u.xOffset + i * D;
  var m = 0.0;
  ${l.loop('d', 'D')} { m += f32(X[xb + d]); }
  m = ${l.add('m')} / f32(D);
  var v = 0.0;
  ${l.loop('d', 'D')} { let c = f32(X[xb + d]) - m; v += c * c; }
  let rstd = inverseSqrt(${l.add('v')} / f32(D) + u.eps);
  ${l.loop('d', 'D')} { Y[i * D + d] = YT((f32(X[xb + d]) - m) * rstd * f32(W[u.wOffset + d]) + f32(Bias[u.bOffset + d])); }
  if (${l.lead}) {
    Stats[2u * i] = m;
    Stats[2u * i + 1u] = rstd;
  }`;

/** What the backward kernel writes: dx (or dx added to the pending gradient DX holds, or none) and the partials or not. */
interface BackwardForm {
  dx: 'write' | 'accumulate' | 'none';
  partials: boolean;
}

// Rows go in chunks of CHUNK: a lane variant's workgroup takes one chunk, row after row; the thread
// variant's, 64 rows (a thread each), so 64 / CHUNK chunks. Row i: dx = rstd * (dxhat - mean(dxhat) -
// xhat * mean(dxhat * xhat)), dxhat = g * w; with 'accumulate', added to the gradient DX already holds
// (autograd's pending one). Partials: the sums of g * xhat and g over chunk c's rows go to P[c, 0, column]
// and P[c, 1, column], so that one sum over chunks gives both gradients as the rows of a [2, D]; each is
// summed by one lane in row order (the same order in every variant).
const CHUNK = 16;
const BACKWARD_U = uniforms({ rows: 'u32', D: 'u32', xOffset: 'u32', gOffset: 'u32', wOffset: 'u32' });
const PARTIAL = `
fn partial(c: u32, d: u32) {
  let D = u.D;
  var sw = 0.0;
  var sb = 0.0;
  for (var r = c * ${CHUNK}u; r < min(u.rows, (c + 1u) * ${CHUNK}u); r++) {
    let g = f32(G[u.gOffset + r * D + d]);
    sw += g * (f32(X[u.xOffset + r * D + d]) - Stats[2u * r]) * Stats[2u * r + 1u];
    sb += g;
  }
  P[2u * c * D + d] = sw;
  P[(2u * c + 1u) * D + d] = sb;
}`;
const BACKWARD = (variant: RowVariant, form: BackwardForm) => (l: RowLanes) => {
  const dxRow = `
    let xb = u.xOffset + i * D;
    let gb = u.gOffset + i * D;
    let m = Stats[2u * i];
    let rstd = Stats[2u * i + 1u];
    var a = 0.0;
    var b = 0.0;
    ${l.loop('d', 'D')} {
      let dh = f32(G[gb + d]) * f32(W[u.wOffset + d]);
      a += dh;
      b += dh * (f32(X[xb + d]) - m) * rstd;
    }
    a = ${l.add('a')} / f32(D);
    b = ${l.add('b')} / f32(D);
    ${l.loop('d', 'D')} {
      let xh = (f32(X[xb + d]) - m) * rstd;
      DX[i * D + d] = DXT(${form.dx === 'accumulate' ? 'f32(DX[i * D + d]) + ' : ''}rstd * (f32(G[gb + d]) * f32(W[u.wOffset + d]) - a - xh * b));
    }`;
  if (variant === 'thread') {
    // The workgroup's threads (one per row, up to the last row) share its chunks' (chunk, column) pairs.
    return `let D = u.D;${form.dx === 'none' ? '' : `
  { let i = row;${dxRow}
  }`}${form.partials ? `
  let first = row - li;
  let lanes = min(u.rows - first, ${WG}u);
  let pairs = (lanes + ${CHUNK - 1}u) / ${CHUNK}u * D;
  for (var j = li; j < pairs; j += lanes) { partial(first / ${CHUNK}u + j / D, j % D); }` : ''}`;
  }
  // A lane variant's row is its workgroup's index, its chunk's (a grid folded into y may run past the
  // last chunk); its lanes share the chunk's columns.
  return `let D = u.D;
  let c = row;
  if (c * ${CHUNK}u >= u.rows) { return; }${form.dx === 'none' ? '' : `
  for (var i = c * ${CHUNK}u; i < min(u.rows, (c + 1u) * ${CHUNK}u); i++) {${dxRow}
  }`}${form.partials ? `
  for (var d = li; d < D; d += ${WG}u) { partial(c, d); }` : ''}`;
};

/**
 * `torch.nn.functional.layer_norm`: normalises over the trailing `normalizedShape` dims, then scales
 * by weight and shifts by bias (each optional, shaped like normalizedShape). `dtype`: the output's
 * (default: the input's); the statistics and sums are float32 either way.
 */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor, bias?: Tensor, eps = 1e-5, options: { dtype?: 'float32' | 'float16' } = {}): Tensor {
  x.assertAlive('layerNorm');
  const k = normalizedShape.length;
  const dtype = commonDType('layerNorm', [x]);
  const yDtype = options.dtype ?? dtype;
  if (yDtype !== 'float32' && yDtype !== 'float16') throw new Error(`layerNorm: the output dtype must be float32 or float16, got ${String(yDtype)}`);
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
  // Read at their offsets with unit stride: a strided view is copied first (its gradient still reaches it).
  const ones = weight ? (weight.isContiguous ? weight : contiguous(weight)) : full([D], 1);
  const zeros = bias ? (bias.isContiguous ? bias : contiguous(bias)) : full([D], 0);
  const hx = asContiguous(x);
  const y = empty(x.shape, yDtype);
  const stats = empty([rows, 2]);
  const forwardBindings: Binding[] = [['X', dtype, false], ['W', ones.dtype, false], ['Bias', zeros.dtype, false], ['Y', yDtype, true], ['Stats', 'float32', true]];
  const forwardOf = (v: RowVariant) => rowKernel('layerNorm', FORWARD_U, v, forwardBindings, '', FORWARD);
  dispatchRows(`layerNorm|${dtype},${ones.dtype},${zeros.dtype},${yDtype}`, rows, D, [hx.t.storage, ones.storage, zeros.storage, y.storage, stats.storage], forwardOf, FORWARD_U.pack({ rows, D, eps, xOffset: hx.t.offset, wOffset: ones.offset, bOffset: zeros.offset }));
  hx.done();
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const out = record(y, 'layerNorm', inputs, [x, ones, stats], (g, [sx, sw, st], pending) => {
    const cx = asContiguous(sx!);
    const cg = asContiguous(g);
    // Added in place to x's pending gradient when there is one to take (in float16 rounded once,
    // where the engine's add would round dx and then the sum).
    const into = x.requiresGrad ? pending.take(0, dtype) : null;
    const dx = x.requiresGrad ? (into ?? empty(x.shape, dtype)) : null;
    const form: BackwardForm = { dx: dx === null ? 'none' : into ? 'accumulate' : 'write', partials: !!(weight?.requiresGrad || bias?.requiresGrad) };
    const part = form.partials ? empty([Math.ceil(rows / CHUNK), 2, D]) : null;
    const bindings: Binding[] = [['X', dtype, false], ['G', g.dtype, false], ['W', sw!.dtype, false], ['Stats', 'float32', false]];
    const buffers = [cx.t.storage, cg.t.storage, sw!.storage, st!.storage];
    if (dx) {
      bindings.push(['DX', dtype, true]);
      buffers.push(dx.storage);
    }
    if (part) {
      bindings.push(['P', 'float32', true]);
      buffers.push(part.storage);
    }
    const flags = `${form.partials ? 'p' : ''}${form.dx === 'accumulate' ? 'a' : form.dx === 'none' ? 'n' : ''}`;
    const kernelOf = (v: RowVariant) => rowKernel('layerNormBackward', BACKWARD_U, v, bindings, flags, BACKWARD(v, form), form.partials ? PARTIAL : '');
    dispatchRows(`layerNormBackward|${dtype},${g.dtype},${sw!.dtype},${flags}`, rows, D, buffers, kernelOf, BACKWARD_U.pack({ rows, D, xOffset: cx.t.offset, gOffset: cg.t.offset, wOffset: sw!.offset }), CHUNK);
    const grads: (Tensor | null)[] = [dx];
    if (part) {
      // Both summed in f32 by one sum over the chunks (none for a single chunk), held back until the
      // gradients are used (runtime/sums.ts: the optimizer's step sums several at once), rounded once
      // to the parameters' dtype (or cast after, for a weight and bias of two dtypes).
      const chunks = part.shape[0]!;
      const dtypesOf = [weight, bias].flatMap((p) => (p?.requiresGrad ? [p.dtype] : []));
      const sumDtype = dtypesOf.every((d) => d === dtypesOf[0]) ? dtypesOf[0]! : 'float32';
      const sums = chunks === 1 ? part : empty([2, D], sumDtype);
      if (sums !== part) holdSum({ part: part.storage, partOffset: 0, stride: 2 * D, splits: chunks, n: 2 * D, out: sums.storage, outOffset: 0, dtype: sumDtype });
      const gradOf = (p: Tensor, row: number) => {
        const g = sums.view(normalizedShape, contiguousStrides(normalizedShape), row * D);
        if (p.dtype === sums.dtype) return g;
        const r = to(g, p.dtype);
        g.dispose();
        return r;
      };
      if (weight) grads.push(weight.requiresGrad ? gradOf(weight, 0) : null);
      if (bias) grads.push(bias.requiresGrad ? gradOf(bias, 1) : null);
      if (sums !== part) sums.dispose();
      part.dispose();
    } else {
      if (weight) grads.push(null);
      if (bias) grads.push(null);
    }
    cx.done();
    cg.done();
    return grads;
  });
  if (ones !== weight) ones.dispose();
  if (zeros !== bias) zeros.dispose();
  stats.dispose();
  return out;
}
