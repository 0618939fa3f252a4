// Losses. mseLoss with a mean or sum runs as one kernel each way: the forward writes f32 partial sums
// of w·(x − t)² (then summed in a fixed order, as every reduction here: same bits run to run), the
// backward writes 2·w·(x − t)·g·scale in one pass — instead of a sub, squares, a reduction and their
// backward ops, each a pass over the heatmaps.
import { record } from '../autograd.js';
import { commonDType, dtypes } from '../dtype.js';
import { dispatch, grid } from '../runtime/queue.js';
import { type Shape, contiguousStrides, fmt, sameShape } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { to } from './cast.js';
import { mul, sub } from './elementwise.js';
import { sum, sumTo } from './reduce.js';
import { collapse, offsetsWgsl, stridedUniforms } from './strided.js';

export type Reduction = 'mean' | 'sum' | 'none';

export interface MseLossOptions {
  /** Multiplies each squared difference (as `torch.nn.functional.mse_loss`'s `weight`); broadcast to the input's shape. */
  weight?: Tensor;
}

const WG = 64;
// Threads of the forward's first pass, each summing every P-th element (neighbouring threads read
// neighbouring elements): at most 1024, so that their sum is one more pass (reduce.ts splits longer rows).
const MAX_PARTIALS = 1024;

/** The strides that read `t` (broadcast, right-aligned) at every index of `shape`. */
function broadcastStrides(op: string, t: Tensor, shape: Shape): number[] {
  const pad = shape.length - t.rank;
  if (pad < 0 || t.shape.some((d, i) => d !== 1 && d !== shape[i + pad])) {
    throw new Error(`${op}: weight ${fmt(t.shape)} does not broadcast to input ${fmt(shape)}`);
  }
  return shape.map((_, i) => (i < pad || t.shape[i - pad] === 1 ? 0 : t.strides[i - pad]!));
}

/**
 * One kernel over w·(x − t)² (w = 1 without a weight): `partials` mode writes the sum of every P-th
 * element per thread, times `scale`; `grad` mode writes dx = 2·w·(x − t)·g[0]·scale elementwise.
 */
function squaredErrorKernel(mode: 'partials' | 'grad', x: Tensor, t: Tensor, w: Tensor | undefined, g: Tensor | null, scale: number, out: Tensor, threads: number): void {
  const operands = w ? [x, t, w] : [x, t];
  const strides = [x.strides, t.strides, ...(w ? [broadcastStrides('mseLoss', w, x.shape)] : [])];
  const c = collapse(x.shape, strides);
  const contiguous = c.strides.map((s) => sameShape(s, contiguousStrides(c.shape)));
  const rank = c.shape.length;
  const U = stridedUniforms({ n: 'u32', threads: 'u32', scale: 'f32', gOffset: 'u32' }, rank, operands.length);
  const S = dtypes[x.dtype].wgsl;
  const term = `let d = f32(X[o0]) - f32(T[o1]); let w = ${w ? 'f32(W[o2])' : '1.0'};`;
  const perElement = (body: string) => `
  for (var i = tid; i < u.n; i += u.threads) {
    ${offsetsWgsl(rank, contiguous)}
    ${term}
    ${body}
  }`;
  dispatch(
    {
      name: `mseLoss_${mode}`,
      key: `${S}${w ? 'w' : ''}r${rank}${contiguous.map((k) => (k ? 'c' : 'x')).join('')}`,
      uniforms: U.uniforms,
      bindings: [
        { name: 'X', type: S, access: 'read' as const },
        { name: 'T', type: S, access: 'read' as const },
        ...(w ? [{ name: 'W', type: S, access: 'read' as const }] : []),
        ...(mode === 'grad' ? [{ name: 'G', type: S, access: 'read' as const }] : []),
        { name: 'O', type: mode === 'grad' ? S : 'f32', access: 'read_write' as const },
      ],
      body: () => `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let tid = groupIndex(wg, nwg) * ${WG}u + li;
  if (tid >= u.threads) { return; }
${mode === 'partials'
  ? `  var acc = 0.0;${perElement('acc += w * d * d;')}
  O[tid] = acc * u.scale;`
  : `  let k = 2.0 * u.scale * f32(G[u.gOffset]);${perElement(`O[i] = ${S}(k * w * d);`)}`}
}`,
    },
    [...operands.map((o) => o.storage), ...(g ? [g.storage] : []), out.storage],
    U.pack({ n: x.size, threads, scale, gOffset: g?.offset ?? 0 }, c.shape, operands.map((o) => o.offset), c.strides),
    grid(Math.ceil(threads / WG)),
  );
}

/**
 * `torch.nn.functional.mse_loss(input, target, reduction, weight)`: the (weighted) squared differences,
 * their mean, sum, or each ('none'). Shapes must match (broadcasting input and target is almost always
 * a bug); a weight broadcasts to them. float16 accumulates in f32 and rounds the result once.
 */
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean', options: MseLossOptions = {}): Tensor {
  const { weight } = options;
  for (const t of [input, target, ...(weight ? [weight] : [])]) t.assertAlive('mseLoss');
  commonDType('mseLoss', weight ? [input, target, weight] : [input, target]);
  if (!sameShape(input.shape, target.shape)) {
    throw new Error(`mseLoss: input ${fmt(input.shape)} and target ${fmt(target.shape)} must have the same shape`);
  }
  if (weight) broadcastStrides('mseLoss', weight, input.shape);
  if (reduction === 'none') {
    // Elementwise ops: float16 differences and squares round as PyTorch's f16 mse_loss does.
    const d = sub(input, target);
    const sq = mul(d, d);
    d.dispose();
    if (!weight) return sq;
    const wsq = mul(sq, weight);
    sq.dispose();
    return wsq;
  }
  if (input.size === 0) throw new Error(`mseLoss: input ${fmt(input.shape)} is empty`);
  const scale = reduction === 'mean' ? 1 / input.size : 1;
  const threads = Math.min(MAX_PARTIALS, Math.ceil(input.size / WG) * WG);
  const partials = empty([threads]);
  squaredErrorKernel('partials', input, target, weight, null, scale, partials, threads);
  const total = sum(partials);
  partials.dispose();
  const out = input.dtype === 'float32' ? total : to(total, input.dtype);
  if (out !== total) total.dispose();
  const inputs = [input, target, ...(weight ? [weight] : [])];
  return record(out, 'mseLoss', inputs, inputs, (g, [x, t, w]) => {
    const dx = empty(x!.shape, x!.dtype);
    squaredErrorKernel('grad', x!, t!, w, g, scale, dx, Math.min(65536, Math.ceil(x!.size / WG) * WG));
    const dt = target.requiresGrad ? mul(dx, -1) : null;
    // The weight's gradient is rare (weights are data): composed from elementwise ops.
    let dw: Tensor | null = null;
    if (weight?.requiresGrad) {
      const d = sub(x!, t!);
      const sq = mul(d, d);
      const scaled = mul(sq, mul(g, scale));
      dw = sumTo(scaled, weight.shape);
      for (const z of [d, sq, scaled]) if (z !== dw) z.dispose();
    }
    if (!input.requiresGrad) dx.dispose();
    return [input.requiresGrad ? dx : null, dt, ...(weight ? [dw] : [])];
  });
}
