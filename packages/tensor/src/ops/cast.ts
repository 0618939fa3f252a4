// Converting between dtypes (`x.to('float16')`, `x.to('float32')`, `x.to('int32')`). float32 <-> float16 is
// integer arithmetic on the bits, exact and the same on every adapter: round to nearest, ties to even,
// subnormals kept, overflow to ±Infinity, NaN to the quiet NaN 0x7e00 (as io/half.ts does on the host).
// WGSL's own f32 -> f16 conversion may round either way and leaves overflow to the implementation.
import { record } from '../autograd.js';
import { type DType, checkDType } from '../dtype.js';
import { type Kernel, linearEntry } from '../runtime/pipelines.js';
import { dispatch, grid } from '../runtime/queue.js';
import { uniforms } from '../runtime/uniforms.js';
import { type Tensor, empty } from '../tensor.js';
import { copyInto } from './copy.js';

const WG = 256;
// Every cast kernel: n elements, read from the input's element offset.
const U = uniforms({ n: 'u32', offset: 'u32' });

const TO_HALF = `
fn toHalf(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  let sign = (b >> 16u) & 0x8000u;
  let e = i32((b >> 23u) & 0xffu) - 112; // the exponent field rebiased from 127 to 15
  let m = b & 0x7fffffu;
  if (e == 143) { return select(sign | 0x7c00u, 0x7e00u, m != 0u); }
  if (e >= 31) { return sign | 0x7c00u; }
  if (e < -10) { return sign; }
  // A subnormal half keeps the 24-bit significand shifted right by 14 - e; a normal one drops 13 bits.
  var h = (u32(max(e, 0)) << 10u) | (m >> 13u);
  var shift = 13u;
  var kept = m;
  if (e <= 0) { shift = u32(14 - e); kept = m | 0x800000u; h = kept >> shift; }
  let rest = kept & ((1u << shift) - 1u);
  let tie = 1u << (shift - 1u);
  // A carry out of the mantissa moves to the next exponent, and out of the largest one to Infinity.
  return sign | (h + select(0u, 1u, rest > tie || (rest == tie && (h & 1u) == 1u)));
}`;

const FROM_HALF = `
fn fromHalf(h: u32) -> f32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return bitcast<f32>(sign | bitcast<u32>(ldexp(f32(m), -24))); }
  if (e == 31u) { return bitcast<f32>(sign | 0x7f800000u | (m << 13u)); }
  return bitcast<f32>(sign | ((e + 112u) << 23u) | (m << 13u));
}`;

// float32 -> float16: each thread writes one word of the output, two halves (the second 0 past the end).
const toHalfKernel = {
  name: 'cast',
  key: 'f32f16',
  uniforms: U,
  bindings: [
    { name: 'A', type: 'f32', access: 'read' as const },
    { name: 'O', type: 'u32', access: 'read_write' as const },
  ],
  body: () => `${TO_HALF}
${linearEntry(WG)}
  let n = u.n;
  let j = 2u * i;
  if (j >= n) { return; }
  let hi = select(0u, toHalf(A[u.offset + j + 1u]), j + 1u < n);
  O[i] = toHalf(A[u.offset + j]) | (hi << 16u);
}`,
};

// float16 -> float32: the input's halves are read out of its words, from any element offset.
const fromHalfKernel = {
  name: 'cast',
  key: 'f16f32',
  uniforms: U,
  bindings: [
    { name: 'A', type: 'u32', access: 'read' as const },
    { name: 'O', type: 'f32', access: 'read_write' as const },
  ],
  body: () => `${FROM_HALF}
${linearEntry(WG, 'i', 'u.n')}
  let k = u.offset + i;
  O[i] = fromHalf((A[k >> 1u] >> ((k & 1u) * 16u)) & 0xffffu);
}`,
};

// int32 <-> float32, as torch converts: to int32 rounds toward zero; out-of-range values saturate at
// the largest float32 inside int32 (WGSL's rule, where torch leaves it undefined).
const intFloatKernel = (from: 'i32' | 'f32', into: 'i32' | 'f32') => ({
  name: 'cast',
  key: `${from}${into}`,
  uniforms: U,
  bindings: [
    { name: 'A', type: from, access: 'read' as const },
    { name: 'O', type: into, access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG, 'i', 'u.n')}
  O[i] = ${into}(A[u.offset + i]);
}`,
});

const KERNELS: Record<string, { kernel: Kernel; perWord: number }> = {
  'float32 -> float16': { kernel: toHalfKernel, perWord: 2 },
  'float16 -> float32': { kernel: fromHalfKernel, perWord: 1 },
  'int32 -> float32': { kernel: intFloatKernel('i32', 'f32'), perWord: 1 },
  'float32 -> int32': { kernel: intFloatKernel('f32', 'i32'), perWord: 1 },
};

/**
 * `x.to(dtype)`: a copy of x in another dtype (float32 <-> float16, int32 <-> float32), or x itself (a
 * new handle) when it already has that dtype. The gradient of a float conversion is the incoming
 * gradient converted back; int32 results carry none, as in PyTorch.
 */
export function to<D extends DType>(x: Tensor, dtype: D): Tensor<D> {
  x.assertAlive('to');
  checkDType('to', dtype);
  if (x.dtype === dtype) return record(x.view(x.shape, x.strides, x.offset), 'to', [x], [], (g) => [g]) as Tensor<D>;
  const pair = `${x.dtype} -> ${dtype}`;
  const cast = KERNELS[pair];
  if (!cast) throw new Error(`to: ${pair} is not supported (the conversions are ${Object.keys(KERNELS).join(', ')})`);
  // The kernels read the input contiguously from its offset: a strided view is copied first.
  let src = x;
  if (!x.isContiguous) {
    src = empty(x.shape, x.dtype);
    copyInto(src, x);
  }
  const out = empty(x.shape, dtype);
  const n = out.size;
  if (n > 0) dispatch(cast.kernel, [src.storage, out.storage], U.pack({ n, offset: src.offset }), grid(Math.ceil(Math.ceil(n / cast.perWord) / WG)));
  if (src !== x) src.dispose();
  const from = x.dtype;
  if (dtype === 'int32' || from === 'int32') return out as Tensor<D>;
  return record(out, 'to', [x], [], (g) => [to(g, from)]);
}
