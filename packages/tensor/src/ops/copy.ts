// Strided copies: materialising views (contiguous), writing into views, and concatenation.
import { record } from '../autograd.js';
import { dtypes } from '../dtype.js';
import { linearEntry } from '../runtime/pipelines.js';
import { dispatch, grid } from '../runtime/queue.js';
import { contiguousStrides, fmt, normalizeAxis, sameShape } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { collapse, offsetsWgsl, stridedUniforms } from './strided.js';
import { slice } from './view.js';

const WG = 256;

/** dst (a view, shape equal to src) <- src, both strided. */
export function copyInto(dst: Tensor, src: Tensor): void {
  if (!sameShape(dst.shape, src.shape)) throw new Error(`copyInto: shapes ${fmt(dst.shape)} and ${fmt(src.shape)} differ`);
  if (dst.dtype !== src.dtype) throw new Error(`copyInto: dtypes ${dst.dtype} and ${src.dtype} differ`);
  const n = src.size;
  if (n === 0) return;
  const c = collapse(src.shape, [src.strides, dst.strides]);
  const contiguous = c.strides.map((s) => sameShape(s, contiguousStrides(c.shape)));
  const rank = c.shape.length;
  const T = dtypes[src.dtype].wgsl;
  // Operand 0 is the source, 1 the destination.
  const U = stridedUniforms({ n: 'u32' }, rank, 2);
  const kernel = {
    name: 'copy',
    key: `${T}r${rank}${contiguous.map((x) => (x ? 'c' : 'x')).join('')}`,
    uniforms: U.uniforms,
    bindings: [
      { name: 'A', type: T, access: 'read' as const },
      { name: 'O', type: T, access: 'read_write' as const },
    ],
    body: () => `
${linearEntry(WG, 'i', 'u.n')}
  ${offsetsWgsl(rank, contiguous)}
  O[o1] = A[o0];
}`,
  };
  const params = U.pack({ n }, c.shape, [src.offset, dst.offset], c.strides);
  dispatch(kernel, [src.storage, dst.storage], params, grid(Math.ceil(n / WG)));
}

/** A contiguous copy of x, or x itself (a new handle) when it already is contiguous. */
export function contiguous(x: Tensor): Tensor {
  x.assertAlive('contiguous');
  if (x.isContiguous) return record(x.view(x.shape, contiguousStrides(x.shape), x.offset), 'contiguous', [x], [], (g) => [g]);
  const out = empty(x.shape, x.dtype);
  copyInto(out, x);
  return record(out, 'contiguous', [x], [], (g) => [g]);
}

/** Joins tensors along an axis (`torch.cat`). */
export function concat(tensors: Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new Error('concat: needs at least one tensor');
  const first = tensors[0]!.assertAlive('concat');
  const ax = normalizeAxis('concat', axis, first.rank);
  let total = 0;
  for (const t of tensors) {
    t.assertAlive('concat');
    const ok = t.rank === first.rank && t.dtype === first.dtype && t.shape.every((d, i) => i === ax || d === first.shape[i]);
    if (!ok) {
      throw new Error(`concat: shapes ${tensors.map((u) => `${fmt(u.shape)} ${u.dtype}`).join(', ')} differ outside axis ${ax}`);
    }
    total += t.shape[ax]!;
  }
  const shape = [...first.shape];
  shape[ax] = total;
  const out = empty(shape, first.dtype);
  let start = 0;
  const starts: number[] = [];
  for (const t of tensors) {
    starts.push(start);
    const window = slice(out, ax, start, start + t.shape[ax]!);
    copyInto(window, t);
    window.dispose();
    start += t.shape[ax]!;
  }
  return record(out, 'concat', tensors, [], (g) =>
    tensors.map((t, i) => (t.requiresGrad ? slice(g, ax, starts[i]!, starts[i]! + t.shape[ax]!) : null)),
  );
}
