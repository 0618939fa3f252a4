// Addressing strided views inside kernels: one linear output index -> an element offset per operand.
import { type UniformBlock, type UniformDecl, uniforms } from '../runtime/uniforms.js';
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

/** The uniforms of a kernel over strided operands, and their packing. */
export interface StridedLayout {
  /** The kernel's own `head` fields, then `shape<d>`, `offset<k>`, `stride<k>_<d>` (what offsetsWgsl reads). */
  uniforms: UniformBlock;
  /** The head's values (checked as uniforms() checks them), then the shape, each operand's offset and strides. */
  pack(head: Readonly<Record<string, number>>, shape: Shape, offsets: readonly number[], strides: readonly Shape[]): number[];
}

const layouts = new Map<string, StridedLayout>();

/**
 * The layout for `operands` operands of `rank` dims after `head`, one object per layout. Its packing
 * appends the shape, offsets and strides in the declared order without looking their names up: it runs
 * at every elementwise dispatch.
 */
export function stridedUniforms(head: UniformDecl, rank: number, operands: number): StridedLayout {
  let key = `${rank}|${operands}`;
  for (const name in head) key += `|${name}:${head[name]}`;
  let layout = layouts.get(key);
  if (!layout) {
    const decl: Record<string, 'u32' | 'i32' | 'f32'> = { ...head };
    for (let d = 0; d < rank; d++) decl[`shape${d}`] = 'u32';
    for (let k = 0; k < operands; k++) decl[`offset${k}`] = 'u32';
    for (let k = 0; k < operands; k++) for (let d = 0; d < rank; d++) decl[`stride${k}_${d}`] = 'u32';
    const headOnly = uniforms(head);
    layout = {
      uniforms: uniforms(decl),
      pack: (values, shape, offsets, strides) => {
        const words = headOnly.pack(values);
        words.push(...shape, ...offsets);
        for (const s of strides) words.push(...s);
        return words;
      },
    };
    layouts.set(key, layout);
  }
  return layout;
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
