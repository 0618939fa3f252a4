// Addressing strided views inside kernels: one linear output index -> an element offset per operand.
import type { Shape } from '../shape.js';

/**
 * Merges adjacent dims that every operand walks contiguously (or broadcasts together), so that
 * kernels see the smallest rank: [N, C, H, W] + [N, C, H, W] collapses to [N*C*H*W].
 */
export function collapse(shape: Shape, strides: Shape[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    const last = outShape.length - 1;
    const mergeable =
      last >= 0 && strides.every((s, k) => outStrides[k]![last] === s[d]! * size);
    if (mergeable) {
      outShape[last]! *= size;
      strides.forEach((s, k) => (outStrides[k]![last] = s[d]!));
    } else {
      outShape.push(size);
      strides.forEach((s, k) => outStrides[k]!.push(s[d]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * WGSL that sets `var o<k>: u32` to the element offset of operand k for linear index `i`.
 * Params: shape at word `shapeAt`, operand k's offset at `offsetAt + k`, its strides at
 * `stridesAt + k * rank`. Operands marked contiguous skip the arithmetic.
 */
export function offsetsWgsl(rank: number, contiguous: boolean[], shapeAt: number, offsetAt: number, stridesAt: number): string {
  const lines = contiguous.map((c, k) => `var o${k}: u32 = pu(${offsetAt + k}u)${c ? ' + i' : ''};`);
  if (rank > 0 && contiguous.some((c) => !c)) {
    lines.push('var rem = i;');
    for (let d = rank - 1; d >= 0; d--) {
      lines.push(`{ let s = pu(${shapeAt + d}u); let c = rem % s; rem = rem / s;`);
      contiguous.forEach((c, k) => {
        if (!c) lines.push(`  o${k} += c * pu(${stridesAt + k * rank + d}u);`);
      });
      lines.push('}');
    }
  }
  return lines.join('\n  ');
}

/** Params for offsetsWgsl: [shape..., offsets..., strides of operand 0..., strides of operand 1..., ...]. */
export function offsetParams(shape: Shape, offsets: number[], strides: Shape[]): number[] {
  return [...shape, ...offsets, ...strides.flat()];
}
