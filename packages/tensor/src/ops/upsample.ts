// Nearest-neighbour upsampling by an integer factor (HRNet's fuse layers), and its backward: each
// input pixel sums its factor x factor block of the gradient (in f32, for float16 too). A fused form adds
// the upsampled tensor to another in its store (the fuse layers' sums), that addend's gradient being the
// output's own: no add kernel either way.
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

// With an addend A (key letter 'a'): O = A + upsampled X, as the engine's add would compute it.
const forward = (E: DTypeInfo['wgsl'], addend: boolean) => ({
  name: 'upsampleNearest',
  key: `${E}${addend ? 'a' : ''}`,
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
  O[i] = ${addend ? 'A[u.addendOffset + i] + ' : ''}X[u.offset + (plane * H + oh / f) * W + ow / f];
}`,
});

const backward = (E: DTypeInfo['wgsl']) => ({
  name: 'upsampleNearestBackward',
  key: E,
  uniforms: U,
  bindings: [
    { name: 'G', type: E, access: 'read' as const },
    { name: 'DX', type: E, access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG, 'i', 'u.total')}
  let H = u.H; let W = u.W; let f = u.f;
  let w = i % W;
  let h = (i / W) % H;
  let plane = i / (W * H);
  var s = 0.0;
  for (var dy = 0u; dy < f; dy++) {
    let row = u.offset + ((plane * H + h) * f + dy) * W * f + w * f;
    for (var dx = 0u; dx < f; dx++) { s += f32(G[row + dx]); }
  }
  DX[i] = ${E}(s);
}`,
});

/**
 * `F.interpolate(x, scale_factor=factor, mode='nearest')` for [.., H, W] and an integer factor. With
 * `addend` (the result's shape and dtype), `addend + F.interpolate(x, ...)` in one pass.
 */
export function upsampleNearest(x: Tensor, factor: number, addend?: Tensor): Tensor {
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
  const hx = asContiguous(x);
  const ha = addend && asContiguous(addend);
  const out = empty(shape, x.dtype);
  const words = U.pack({ total: out.size, H, W, f: factor, offset: hx.t.offset, addendOffset: ha ? ha.t.offset : 0 });
  dispatch(forward(E, !!ha), [hx.t.storage, ...(ha ? [ha.t.storage] : []), out.storage], words, grid(Math.ceil(out.size / WG)));
  hx.done();
  ha?.done();
  return record(out, 'upsampleNearest', addend ? [x, addend] : [x], [], (g) => {
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      const cg = asContiguous(g);
      dx = empty(x.shape, x.dtype);
      dispatch(backward(E), [cg.t.storage, dx.storage], U.pack({ total: dx.size, H, W, f: factor, offset: cg.t.offset, addendOffset: 0 }), grid(Math.ceil(dx.size / WG)));
      cg.done();
    }
    return addend ? [dx, addend.requiresGrad ? g : null] : [dx];
  });
}
