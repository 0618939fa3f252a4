// Nearest-neighbour upsampling by an integer factor (HRNet's fuse layers), and its backward: each
// input pixel sums its factor x factor block of the gradient (in f32, for float16 too).
import { record } from '../autograd.js';
import { type DTypeInfo, commonDType, dtypes } from '../dtype.js';
import { linearEntry } from '../runtime/pipelines.js';
import { dispatch, grid } from '../runtime/queue.js';
import { uniforms } from '../runtime/uniforms.js';
import { fmt } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { asContiguous } from './rows.js';

const WG = 256;

// H, W are the input's; `offset` is the source's element offset; `total` counts the threads' items.
const U = uniforms({ total: 'u32', H: 'u32', W: 'u32', f: 'u32', offset: 'u32' });

const forward = (E: DTypeInfo['wgsl']) => ({
  name: 'upsampleNearest',
  key: E,
  uniforms: U,
  bindings: [
    { name: 'X', type: E, access: 'read' as const },
    { name: 'O', type: E, access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG, 'i', 'u.total')}
  let H = u.H; let W = u.W; let f = u.f;
  let ow = i % (W * f);
  let oh = (i / (W * f)) % (H * f);
  let plane = i / (W * f * H * f);
  O[i] = X[u.offset + (plane * H + oh / f) * W + ow / f];
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

/** `F.interpolate(x, scale_factor=factor, mode='nearest')` for [.., H, W] and an integer factor. */
export function upsampleNearest(x: Tensor, factor: number): Tensor {
  x.assertAlive('upsampleNearest');
  if (x.rank < 2 || !Number.isInteger(factor) || factor < 1) {
    throw new Error(`upsampleNearest: needs [.., H, W] and an integer factor >= 1, got ${fmt(x.shape)}, factor ${factor}`);
  }
  const E = dtypes[commonDType('upsampleNearest', [x])].wgsl;
  const H = x.shape[x.rank - 2]!;
  const W = x.shape[x.rank - 1]!;
  const hx = asContiguous(x);
  const out = empty([...x.shape.slice(0, -2), H * factor, W * factor], x.dtype);
  dispatch(forward(E), [hx.t.storage, out.storage], U.pack({ total: out.size, H, W, f: factor, offset: hx.t.offset }), grid(Math.ceil(out.size / WG)));
  hx.done();
  return record(out, 'upsampleNearest', [x], [], (g) => {
    const cg = asContiguous(g);
    const dx = empty(x.shape, x.dtype);
    dispatch(backward(E), [cg.t.storage, dx.storage], U.pack({ total: dx.size, H, W, f: factor, offset: cg.t.offset }), grid(Math.ceil(dx.size / WG)));
    cg.done();
    return [dx];
  });
}
