// Addressing strided views inside kernels: one linear output index -> an element offset per operand.
import { type UniformDecl, type Uniforms, uniforms } from '../runtime/uniforms.js';
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

const layouts = new Map<string, Uniforms<UniformDecl>>();

/**
 * The uniforms of a kernel over strided operands: its own `head` fields, then what offsetsWgsl reads
 * for `operands` operands of `rank` dims: `shape<d>`, `offset<k>`, `stride<k>_<d>`. One object per layout.
 */
export function stridedUniforms(head: UniformDecl, rank: number, operands: number): Uniforms<UniformDecl> {
  const key = `${JSON.stringify(head)}|${rank}|${operands}`;
  let layout = layouts.get(key);
  if (!layout) {
    const decl: Record<string, 'u32' | 'i32' | 'f32'> = { ...head };
    for (let d = 0; d < rank; d++) decl[`shape${d}`] = 'u32';
    for (let k = 0; k < operands; k++) decl[`offset${k}`] = 'u32';
    for (let k = 0; k < operands; k++) for (let d = 0; d < rank; d++) decl[`stride${k}_${d}`] = 'u32';
    layout = uniforms(decl);
    layouts.set(key, layout);
  }
  return layout;
}

/** The values of stridedUniforms' own fields: the (collapsed) shape, each operand's offset and strides. */
export function stridedValues(shape: Shape, offsets: number[], strides: Shape[]): Record<string, number> {
  const values: Record<string, number> = {};
  shape.forEach((s, d) => (values[`shape${d}`] = s));
  offsets.forEach((o, k) => (values[`offset${k}`] = o));
  strides.forEach((st, k) => st.forEach((s, d) => (values[`stride${k}_${d}`] = s)));
  return values;
}

/**
 * WGSL that sets `var o<k>: u32` to the element offset of operand k for linear index `i`, from the
 * fields of stridedUniforms. Operands marked contiguous skip the arithmetic.
 */
export function offsetsWgsl(rank: number, contiguous: boolean[]): string {
  const lines = contiguous.map((c, k) => `var o${k}: u32 = u.offset${k}${c ? ' + i' : ''};`);
  if (rank > 0 && contiguous.some((c) => !c)) {
    lines.push('var rem = i;');
    for (let d = rank - 1; d >= 0; d--) {
      lines.push(`{ let s = u.shape${d}; let c = rem % s; rem = rem / s;`);
      contiguous.forEach((c, k) => {
        if (!c) lines.push(`  o${k} += c * u.stride${k}_${d};`);
      });
      lines.push('}');
    }
  }
  return lines.join('\n  ');
}
