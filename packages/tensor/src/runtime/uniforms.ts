// Named uniforms: a kernel declares its parameters once, `uniforms({ N: 'u32', padH: 'i32', scale: 'f32' })`,
// and gets both sides from that one declaration: the WGSL (a struct read as `u.N`, `u.padH`, `u.scale`)
// and the host packing (`U.pack({ N, padH, scale })`, keys checked by the compiler). The packed words go to
// `dispatch` as before, so uniform buffers stay keyed by their contents and bind groups stay cached.

export type UniformType = 'u32' | 'i32' | 'f32';
export type UniformDecl = Readonly<Record<string, UniformType>>;

/** What a kernel needs of its uniforms: the WGSL that declares them, and how many words they take. */
export interface UniformBlock {
  /** `struct Uniforms { ... }` and its binding, `var<uniform> u: Uniforms`. */
  readonly wgsl: string;
  readonly words: number;
}

export interface Uniforms<D extends UniformDecl> extends UniformBlock {
  /** The declaration: field names and types, in layout order. */
  readonly decl: D;
  /** The 32-bit words of one dispatch, in declaration order (floats as their bits, i32 in two's complement). */
  pack(values: { readonly [K in keyof D]: number }): number[];
}

/** The words a uniform buffer holds: every kernel's binding 0 is a buffer of this many words. */
export const PARAM_WORDS = 128;

/** Bits of a float, for a uniform word. */
export function f32bits(x: number): number {
  f32scratch[0] = x;
  return u32scratch[0]!;
}
const f32scratch = new Float32Array(1);
const u32scratch = new Uint32Array(f32scratch.buffer);

const IDENT = /^[A-Za-z][A-Za-z0-9_]*$/;
/** The values an integer field holds: [lowest, past the highest]. */
const INTEGER_RANGE = { u32: [0, 2 ** 32], i32: [-(2 ** 31), 2 ** 31] } as const;

/** Declares a kernel's uniforms; the order of the keys is the layout. */
export function uniforms<const D extends UniformDecl>(decl: D): Uniforms<D> {
  const names = Object.keys(decl);
  const bad = names.find((n) => !IDENT.test(n));
  if (bad !== undefined) throw new Error(`uniforms: '${bad}' is not a WGSL identifier`);
  if (names.length === 0) throw new Error('uniforms: a declaration needs at least one field');
  if (names.length > PARAM_WORDS) throw new Error(`uniforms: ${names.length} fields exceed ${PARAM_WORDS} words`);
  // Scalars of 4 bytes have no padding between them, so field k is word k.
  const wgsl = `struct Uniforms {\n${names.map((n) => `  ${n}: ${decl[n]},`).join('\n')}\n}
@group(0) @binding(0) var<uniform> u: Uniforms;`;
  return {
    decl,
    wgsl,
    words: names.length,
    pack(values) {
      const words = new Array<number>(names.length);
      for (let k = 0; k < names.length; k++) {
        const name = names[k]!;
        const v = (values as Record<string, number>)[name];
        const type = decl[name]!;
        if (typeof v !== 'number') throw new Error(`uniforms: no number for '${name}' (${type})`);
        if (type === 'f32') {
          words[k] = f32bits(v);
          continue;
        }
        const [lo, hi] = INTEGER_RANGE[type];
        if (!Number.isInteger(v) || v < lo || v >= hi) throw new Error(`uniforms: '${name}' = ${v} is not a ${type}`);
        words[k] = v;
      }
      return words;
    },
  };
}
