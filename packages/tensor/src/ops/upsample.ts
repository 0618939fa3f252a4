// Nearest-neighbour upsampling by an integer factor (HRNet's fuse layers), and its backward: each
// input pixel sums its factor x factor block of the gradient (in f32, for float16 too).
import { record } from '../autograd.js';
import { type DTypeInfo, commonDType, dtypes } from '../dtype.js';
import { linearEntry } from '../runtime/pipelines.js';
import { dispatch, grid } from '../runtime/queue.js';
import { fmt } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { asContiguous } from './rows.js';

const WG = 256;

// Params: total, H, W (input), factor, source offset.
const forward = (E: DTypeInfo['wgsl']) => ({
  name: 'upsampleNearest',
  key: E,
  bindings: [
    { name: 'X', type: E, access: 'read' as const },
    { name: 'O', type: E, access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG)}
  if (i >= pu(0u)) { return; }
  let H = pu(1u); let W = pu(2u); let f = pu(3u);
  let ow = i % (W * f);
  let oh = (i / (W * f)) % (H * f);
  let plane = i / (W * f * H * f);
  O[i] = X[pu(4u) + (plane * H + oh / f) * W + ow / f];
}`,
});

const backward = (E: DTypeInfo['wgsl']) => ({
  name: 'upsampleNearestBackward',
  key: E,
  bindings: [
    { name: 'G', type: E, access: 'read' as const },
    { name: 'DX', type: E, access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG)}
  if (i >= pu(0u)) { return; }
  let H = pu(1u); let W = pu(2u); let f = pu(3u);
  let w = i % W;
  let h = (i / W) % H;
  let plane = i / (W * H);
  var s = 0.0;
  for (var dy = 0u; dy < f; dy++) {
    let row = pu(4u) + ((plane * H + h) * f + dy) * W * f + w * f;
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
  dispatch(forward(E), [hx.t.storage, out.storage], [out.size, H, W, factor, hx.t.offset], grid(Math.ceil(out.size / WG)));
  hx.done();
  return record(out, 'upsampleNearest', [x], [], (g) => {
    const cg = asContiguous(g);
    const dx = empty(x.shape, x.dtype);
    dispatch(backward(E), [cg.t.storage, dx.storage], [dx.size, H, W, factor, cg.t.offset], grid(Math.ceil(dx.size / WG)));
    cg.done();
    return [dx];
  });
}
