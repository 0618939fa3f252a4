// Seeded dropout. The mask is a hash of (seed, element index), so the backward pass recomputes it
// instead of storing it: the same kernel with the same seed applied to the gradient. float16 values are
// scaled in f32 and rounded once.
import { record } from '../autograd.js';
import { type DTypeInfo, commonDType, dtypes } from '../dtype.js';
import { linearEntry } from '../runtime/pipelines.js';
import { capturing, dispatch, grid } from '../runtime/queue.js';
import { RANDOM_WGSL } from '../runtime/random.js';
import { uniforms } from '../runtime/uniforms.js';
import { type Tensor, empty } from '../tensor.js';
import { nextSeed } from './create.js';
import { asContiguous } from './rows.js';

const WG = 256;
// `scale` is 1 / (1 - p); `offset` the input's element offset.
const U = uniforms({ n: 'u32', seed: 'u32', p: 'f32', scale: 'f32', offset: 'u32' });

const kernel = (E: DTypeInfo['wgsl']) => ({
  name: 'dropout',
  key: E,
  uniforms: U,
  bindings: [
    { name: 'X', type: E, access: 'read' as const },
    { name: 'O', type: E, access: 'read_write' as const },
  ],
  body: () => `${RANDOM_WGSL}
${linearEntry(WG, 'i', 'u.n')}
  let keep = rand01(i, u.seed, 0u) >= u.p;
  O[i] = ${E}(select(0.0, f32(X[u.offset + i]) * u.scale, keep));
}`,
});

function apply(x: Tensor, p: number, seed: number): Tensor {
  const h = asContiguous(x);
  const out = empty(x.shape, x.dtype);
  const n = out.size;
  dispatch(kernel(dtypes[x.dtype].wgsl), [h.t.storage, out.storage], U.pack({ n, seed, p, scale: 1 / (1 - p), offset: h.t.offset }), grid(Math.ceil(n / WG)));
  h.done();
  return out;
}

export interface DropoutOptions {
  /** Off in eval mode: then dropout is the identity. Default true, as `F.dropout`. */
  training?: boolean;
  /** Fixes the mask; without it the global generator (`manualSeed`) supplies one. */
  seed?: number;
}

/** Zeroes each element with probability p and scales the rest by 1/(1-p). */
export function dropout(x: Tensor, p = 0.5, options: DropoutOptions = {}): Tensor {
  x.assertAlive('dropout');
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p must be in [0, 1], got ${p}`);
  commonDType('dropout', [x]);
  if (!(options.training ?? true) || p === 0) {
    const same = x.view(x.shape, x.strides, x.offset);
    return record(same, 'dropout', [x], [], (g) => [g]);
  }
  if (p === 1) {
    const zero = apply(x, 1, 0);
    return record(zero, 'dropout', [x], [], (g) => [apply(g, 1, 0)]);
  }
  // The seed is a uniform of the kernel: a replay would draw the captured mask again.
  if (options.seed === undefined && capturing()) {
    throw new Error(`dropout: p = ${p} without a seed inside captureGraph would give every replay the same mask; pass a seed, or p = 0`);
  }
  const seed = options.seed ?? nextSeed();
  const out = apply(x, p, seed);
  return record(out, 'dropout', [x], [], (g) => [apply(g, p, seed)]);
}
