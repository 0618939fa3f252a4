// Nearest-neighbour upsampling by an integer factor (HRNet's fuse layers), and its backward: each
// input pixel sums its factor x factor block of the gradient (in f32, for float16 too). A fused form adds
// the upsampled tensor to another in its store (the fuse layers' sums), that addend's gradient being the
// output's own: no add kernel either way; it may also apply a ReLU (row 0 of a fuse layer), whose
// gradient the backward applies as it reads.
import { record } from '../autograd.js';
import { type DTypeInfo, commonDType, dtypes } from '../dtype.js';
import { linearEntry } from '../runtime/pipelines.js';
import { dispatch, grid } from '../runtime/queue.js';
import { uniforms } from '../runtime/uniforms.js';
import { fmt, sameShape } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { asContiguous } from './rows.js';

const WG = 256;

// H, W are the input's; `offset` is the source's element offset, `addendOffset` the addend's; `total`
// counts the threads' items.
const U = uniforms({ total: 'u32', H: 'u32', W: 'u32', f: 'u32', offset: 'u32', addendOffset: 'u32' });

// With an addend A (key letter 'a'): O = A + upsampled X, as the engine's add would compute it; with
// `relu` ('r'), then max(., 0) as the engine's relu would.
const forward = (E: DTypeInfo['wgsl'], addend: boolean, relu: boolean) => ({
  name: 'upsampleNearest',
  key: `${E}${addend ? 'a' : ''}${relu ? 'r' : ''}`,
  uniforms: U,
  bindings: [
    { name: 'X', type: E, access: 'read' as const },
    ...(addend ? [{ name: 'A', type: E, access: 'read' as const }] : []),
    { name: 'O', type: E, access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG, 'i', 'u.total')}
  let H = u.H; let W = u.W; let f = u.f;
  let ow = i % (W * f);
  let oh = (i / (W * f)) % (H * f);
  let plane = i / (W * f * H * f);
  let v = ${addend ? 'A[u.addendOffset + i] + ' : ''}X[u.offset + (plane * H + oh / f) * W + ow / f];
  O[i] = ${relu ? `max(v, ${E}(0))` : 'v'};
}`,
});

// Each input pixel sums its block of the output gradient G. After a fused ReLU ('r') the gradient is
// first masked where the output O is not positive, as the engine's reluGrad would; the masked values
// are also the addend's gradient, written to DA ('a') where it needs one (DX where x does: 'x').
const backward = (E: DTypeInfo['wgsl'], relu: { dx: boolean; da: boolean } | null) => ({
  name: 'upsampleNearestBackward',
  key: `${E}${relu ? `r${relu.dx ? 'x' : ''}${relu.da ? 'a' : ''}` : ''}`,
  uniforms: U,
  bindings: [
    { name: 'G', type: E, access: 'read' as const },
    ...(relu ? [{ name: 'O', type: E, access: 'read' as const }] : []),
    ...(!relu || relu.dx ? [{ name: 'DX', type: E, access: 'read_write' as const }] : []),
    ...(relu?.da ? [{ name: 'DA', type: E, access: 'read_write' as const }] : []),
  ],
  body: () => `
${linearEntry(WG, 'i', 'u.total')}
  let H = u.H; let W = u.W; let f = u.f;
  let w = i % W;
  let h = (i / W) % H;
  let plane = i / (W * H);
  var s = 0.0;
  for (var dy = 0u; dy < f; dy++) {
    let row = ((plane * H + h) * f + dy) * W * f + w * f;
    for (var dx = 0u; dx < f; dx++) {
      ${relu ? `let g = select(${E}(0), G[u.offset + row + dx], O[row + dx] > ${E}(0));${relu.da ? ' DA[row + dx] = g;' : ''}` : 'let g = G[u.offset + row + dx];'}
      s += f32(g);
    }
  }
  ${!relu || relu.dx ? `DX[i] = ${E}(s);` : ''}
}`,
});

export interface UpsampleOptions {
  /** A ReLU on the result, in the same pass (HRNet's fuse layers: relu(sum + upsampled x)). */
  relu?: boolean;
}

/**
 * `F.interpolate(x, scale_factor=factor, mode='nearest')` for [.., H, W] and an integer factor. With
 * `addend` (the result's shape and dtype), `addend + F.interpolate(x, ...)` in one pass; with `relu`,
 * a ReLU on that, in the same pass (and its gradient in the backward's).
 */
export function upsampleNearest(x: Tensor, factor: number, addend?: Tensor, options: UpsampleOptions = {}): Tensor {
  x.assertAlive('upsampleNearest');
  if (x.rank < 2 || !Number.isInteger(factor) || factor < 1) {
    throw new Error(`upsampleNearest: needs [.., H, W] and an integer factor >= 1, got ${fmt(x.shape)}, factor ${factor}`);
  }
  const E = dtypes[commonDType('upsampleNearest', addend ? [x, addend.assertAlive('upsampleNearest')] : [x])].wgsl;
  const H = x.shape[x.rank - 2]!;
  const W = x.shape[x.rank - 1]!;
  const shape = [...x.shape.slice(0, -2), H * factor, W * factor];
  if (addend && !sameShape(addend.shape, shape)) {
    throw new Error(`upsampleNearest: addend ${fmt(addend.shape)} must have the upsampled shape ${fmt(shape)}`);
  }
  const relu = !!options.relu;
  const hx = asContiguous(x);
  const ha = addend && asContiguous(addend);
  const out = empty(shape, x.dtype);
  const words = U.pack({ total: out.size, H, W, f: factor, offset: hx.t.offset, addendOffset: ha ? ha.t.offset : 0 });
  dispatch(forward(E, !!ha, relu), [hx.t.storage, ...(ha ? [ha.t.storage] : []), out.storage], words, grid(Math.ceil(out.size / WG)));
  hx.done();
  ha?.done();
  const inputs = addend ? [x, addend] : [x];
  return record(out, 'upsampleNearest', inputs, relu ? [out] : [], (g, [so]) => {
    const needs = { dx: x.requiresGrad, da: !!addend?.requiresGrad };
    const cg = asContiguous(g);
    const params = U.pack({ total: x.size, H, W, f: factor, offset: cg.t.offset, addendOffset: 0 });
    let dx: Tensor | null = null;
    let da: Tensor | null = null;
    if (relu && (needs.dx || needs.da)) {
      dx = needs.dx ? empty(x.shape, x.dtype) : null;
      da = needs.da ? empty(shape, x.dtype) : null;
      dispatch(backward(E, needs), [cg.t.storage, so!.storage, ...(dx ? [dx.storage] : []), ...(da ? [da.storage] : [])], params, grid(Math.ceil(x.size / WG)));
    } else if (needs.dx) {
      dx = empty(x.shape, x.dtype);
      dispatch(backward(E, null), [cg.t.storage, dx.storage], params, grid(Math.ceil(x.size / WG)));
    }
    cg.done();
    // Without a ReLU the addend's gradient is the output's own.
    return addend ? [dx, relu ? da : needs.da ? g : null] : [dx];
  });
}
