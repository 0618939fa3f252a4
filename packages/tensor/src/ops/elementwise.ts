// Unary and binary elementwise ops with PyTorch broadcasting over strided views. One kernel per
// (op, dtype, collapsed rank, which operands are contiguous or scalars); sizes are uniforms. float16
// operands are loaded as f32, computed in f32 (erf, exp, pow keep their precision) and stored as f16.
import { record } from '../autograd.js';
import { type DType, FLOAT_DTYPES, commonDType, dtypes } from '../dtype.js';
import { linearEntry } from '../runtime/pipelines.js';
import { dispatch, grid } from '../runtime/queue.js';
import type { UniformDecl } from '../runtime/uniforms.js';
import { broadcastShapes, contiguousStrides, fmt, sameShape } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { sumTo } from './reduce.js';
import { collapse, offsetsWgsl, stridedUniforms } from './strided.js';

const WG = 256;

// Exact erf to ~1.5e-7 (Abramowitz & Stegun 7.1.26), for GELU without the tanh approximation.
const ERF = `
fn erf_(x: f32) -> f32 {
  let s = sign(x); let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return s * y;
}`;

// pow with PyTorch's sign rules for negative bases and integral exponents.
const POW = `
fn powf_(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  var special = 0x7f800000u; // +inf; a var, since WGSL rejects infinite constants
  if (a == 0.0) { return select(0.0, bitcast<f32>(special), b < 0.0); }
  let r = exp2(b * log2(abs(a)));
  if (a > 0.0) { return r; }
  special = 0x7fc00000u; // NaN
  if (fract(b) != 0.0) { return bitcast<f32>(special); }
  return select(r, -r, fract(b * 0.5) != 0.0);
}`;

/** WGSL expressions of `a` (and `b`). Float-only ops are marked. */
const UNARY = {
  neg: { expr: '-a' },
  abs: { expr: 'abs(a)' },
  exp: { expr: 'exp(a)', float: true },
  log: { expr: 'log(a)', float: true },
  sqrt: { expr: 'sqrt(a)', float: true },
  relu: { expr: 'max(a, T(0))' },
  gelu: { expr: '0.5 * a * (1.0 + erf_(a * 0.7071067811865476))', float: true },
  sigmoid: { expr: '1.0 / (1.0 + exp(-a))', float: true },
  tanh: { expr: 'tanh(clamp(a, -15.0, 15.0))', float: true },
  sign: { expr: 'sign(a)' },
} as const satisfies Record<string, { expr: string; float?: boolean }>;

const BINARY = {
  add: { expr: 'a + b' },
  sub: { expr: 'a - b' },
  mul: { expr: 'a * b' },
  div: { expr: 'a / b' },
  pow: { expr: 'powf_(a, b)', float: true },
  maximum: { expr: 'max(a, b)' },
  minimum: { expr: 'min(a, b)' },
  eq: { expr: 'select(T(0), T(1), a == b)' },
  ne: { expr: 'select(T(0), T(1), a != b)' },
  lt: { expr: 'select(T(0), T(1), a < b)' },
  le: { expr: 'select(T(0), T(1), a <= b)' },
  gt: { expr: 'select(T(0), T(1), a > b)' },
  ge: { expr: 'select(T(0), T(1), a >= b)' },
  // The share of maximum(a, b)'s gradient that goes to a (torch's rule): none where a < b, half on a
  // tie, all of it otherwise (NaN included, where both sides get it all). minimum(a, b) gives a the
  // share tieShare(b, a).
  tieShare: { expr: 'select(select(T(1), T(0.5), a == b), T(0), a < b)', float: true },
  // Backward helpers: a is the saved input (or output), b the incoming gradient.
  reluGrad: { expr: 'select(0.0, b, a > 0.0)', float: true },
  geluGrad: {
    expr: 'b * (0.5 * (1.0 + erf_(a * 0.7071067811865476)) + a * 0.3989422804014327 * exp(-0.5 * a * a))',
    float: true,
  },
  sigmoidGrad: { expr: 'b * a * (1.0 - a)', float: true },
  tanhGrad: { expr: 'b * (1.0 - a * a)', float: true },
} as const satisfies Record<string, { expr: string; float?: boolean }>;

/** WGSL gelu_(a) and geluGrad_(a, b) (b times gelu'(a)): gelu's formulas, for kernels that fuse them in a store. */
export const GELU_WGSL = `${ERF}
fn gelu_(a: f32) -> f32 { return ${UNARY.gelu.expr}; }
fn geluGrad_(a: f32, b: f32) -> f32 { return ${BINARY.geluGrad.expr}; }`;

type UnaryName = keyof typeof UNARY;
type BinaryName = keyof typeof BINARY;
export type Operand = Tensor | number;

const ANY: readonly DType[] = [...FLOAT_DTYPES, 'int32'];

function checkFloat(op: string, t: Tensor, float: boolean | undefined): void {
  if (float && !FLOAT_DTYPES.includes(t.dtype)) throw new Error(`${op}: needs a float tensor, got ${t.dtype} ${fmt(t.shape)}`);
}

/** Launches `out[i] = expr(a[i], b[i])` where a or b may be a uniform scalar. */
function launch(
  op: string,
  expr: string,
  dtype: DType,
  outDtype: DType,
  operands: (Tensor | number)[],
  outShape: number[],
): Tensor {
  const out = empty(outShape, outDtype);
  const n = out.size;
  if (n === 0) return out;
  const tensors = operands.filter((o): o is Tensor => typeof o !== 'number');
  const rankOut = outShape.length;
  const stridesOf = (t: Tensor) => {
    const pad = rankOut - t.rank;
    return outShape.map((_, i) => (i < pad || t.shape[i - pad] === 1 ? 0 : t.strides[i - pad]!));
  };
  const c = collapse(outShape, tensors.map(stridesOf));
  const contiguous = c.strides.map((s) => sameShape(s, contiguousStrides(c.shape)));
  const rank = c.shape.length;
  // S is the storage type, T (in the expressions) the type they compute in.
  const S = dtypes[dtype].wgsl;
  const T = dtypes[dtype].compute;
  const names = ['A', 'B'];
  let k = 0;
  const reads: string[] = [];
  // A number operand (at most one: the other is a tensor) is the uniform `scalar`, in the compute type.
  let scalar: number | undefined;
  operands.forEach((o, j) => {
    const v = j === 0 ? 'a' : 'b';
    if (typeof o === 'number') {
      reads.push(`let ${v} = u.scalar;`);
      scalar = T === 'f32' ? o : o | 0;
    } else {
      reads.push(`let ${v} = T(${names[k]}[o${k}]);`);
      k++;
    }
  });
  const OT = dtypes[outDtype].wgsl;
  const prelude = `alias T = ${T};\n${expr.includes('erf_') ? ERF : ''}${expr.includes('powf_') ? POW : ''}`;
  const head: UniformDecl = scalar === undefined ? { n: 'u32' } : { n: 'u32', scalar: T };
  const sizes = (count: number): Record<string, number> => (scalar === undefined ? { n: count } : { n: count, scalar });
  const entry = linearEntry(WG, 'i', 'u.n');
  // Dense operands (the common case): four elements per thread through vec4 loads and stores.
  const dense = rank <= 1 && contiguous.every(Boolean) && n % 4 === 0 && tensors.every((t) => t.offset % 4 === 0);
  if (dense) {
    // Most expressions apply to vec4s as written (with T a vec4); the rest run per lane.
    const vectorForm = !/erf_|powf_|\d\.\d/.test(expr) || /^1\.0 \/ \(1\.0 \+ exp\(-a\)\)$/.test(expr);
    let next = 0;
    const slots = operands.map((o) => (typeof o === 'number' ? -1 : next++));
    const scalarRead = 'u.scalar';
    const operandVec = (j: number) => {
      const slot = slots[j];
      return slot === undefined ? 'T(0)' : slot < 0 ? `vec4<${T}>(${scalarRead})` : `v${slot}`;
    };
    const operandLane = (j: number, c: string) => {
      const slot = slots[j];
      return slot === undefined ? `${T}(0)` : slot < 0 ? scalarRead : `v${slot}.${c}`;
    };
    // Offsets in vec4s.
    const U = stridedUniforms(head, 0, tensors.length);
    const kernel = {
      name: `elementwise_${op}`,
      key: `${S}${OT}v4${operands.map((o) => (typeof o === 'number' ? 's' : 'c')).join('')}`,
      uniforms: U.uniforms,
      bindings: [
        ...tensors.map((_, i) => ({ name: names[i]!, type: `vec4<${S}>`, access: 'read' as const })),
        { name: 'O', type: `vec4<${OT}>`, access: 'read_write' as const },
      ],
      body: () => `${vectorForm ? `alias T = vec4<${T}>;` : prelude}
${entry}
  ${tensors.map((_, k) => `let v${k} = vec4<${T}>(${names[k]}[u.offset${k} + i]);`).join('\n  ')}
  ${vectorForm ? `let a = ${operandVec(0)}; let b = ${operandVec(1)};\n  O[i] = vec4<${OT}>(${expr});` : `var r: vec4<${OT}>;
  ${['x', 'y', 'z', 'w'].map((c) => `{ let a = ${operandLane(0, c)}; let b = ${operandLane(1, c)}; r.${c} = ${OT}(${expr}); }`).join('\n  ')}
  O[i] = r;`}
}`,
    };
    const params = U.pack(sizes(n / 4), [], tensors.map((t) => t.offset / 4), []);
    dispatch(kernel, [...tensors.map((t) => t.storage), out.storage], params, grid(Math.ceil(n / 4 / WG)));
    return out;
  }
  const U = stridedUniforms(head, rank, tensors.length);
  const kernel = {
    name: `elementwise_${op}`,
    uniforms: U.uniforms,
    key: `${S}${OT}r${rank}${operands.map((o, j) => (typeof o === 'number' ? 's' : contiguous[operands.slice(0, j).filter((p) => typeof p !== 'number').length] ? 'c' : 'x')).join('')}`,
    bindings: [
      ...tensors.map((_, i) => ({ name: names[i]!, type: S, access: 'read' as const })),
      { name: 'O', type: OT, access: 'read_write' as const },
    ],
    body: () => `${prelude}
${entry}
  ${offsetsWgsl(rank, contiguous)}
  ${reads.join('\n  ')}
  O[i] = ${OT}(${expr});
}`,
  };
  const params = U.pack(sizes(n), c.shape, tensors.map((t) => t.offset), c.strides);
  dispatch(kernel, [...tensors.map((t) => t.storage), out.storage], params, grid(Math.ceil(n / WG)));
  return out;
}

function unary(op: UnaryName, x: Tensor): Tensor {
  x.assertAlive(op);
  commonDType(op, [x], ANY);
  checkFloat(op, x, (UNARY[op] as { float?: boolean }).float ?? false);
  return launch(op, UNARY[op].expr, x.dtype, x.dtype, [x], [...x.shape]);
}

function binaryRaw(op: BinaryName, a: Operand, b: Operand): Tensor {
  const ta = typeof a === 'number' ? null : a.assertAlive(op);
  const tb = typeof b === 'number' ? null : b.assertAlive(op);
  if (!ta && !tb) throw new Error(`${op}: at least one operand must be a tensor`);
  const dtype = commonDType(op, [ta, tb].filter((t): t is Tensor => t !== null), ANY);
  const spec = BINARY[op];
  if ('float' in spec && spec.float) checkFloat(op, (ta ?? tb)!, true);
  const shape = ta && tb ? broadcastShapes(op, ta.shape, tb.shape) : [...(ta ?? tb)!.shape];
  return launch(op, spec.expr, dtype, dtype, [a, b], shape);
}

const isT = (x: Operand): x is Tensor => typeof x !== 'number';
const gradOf = (x: Operand, g: () => Tensor): Tensor | null => (isT(x) && x.requiresGrad ? g() : null);
const inputs = (...xs: Operand[]) => xs.filter(isT);

function binaryWithGrad(
  op: BinaryName,
  a: Operand,
  b: Operand,
  save: (out: Tensor) => Tensor[],
  rule: (g: Tensor, saved: Tensor[]) => [Tensor | null, Tensor | null],
): Tensor {
  const out = binaryRaw(op, a, b);
  const ins = inputs(a, b);
  return record(out, op, ins, save(out), (g, saved) => {
    const [ga, gb] = rule(g, saved);
    const result: (Tensor | null)[] = [];
    if (isT(a)) result.push(ga && sumTo(ga, a.shape));
    if (isT(b)) result.push(gb && sumTo(gb, b.shape));
    return result;
  });
}

export function add(a: Operand, b: Operand): Tensor {
  return binaryWithGrad('add', a, b, () => [], (g) => [gradOf(a, () => g), gradOf(b, () => g)]);
}

export function sub(a: Operand, b: Operand): Tensor {
  return binaryWithGrad('sub', a, b, () => [], (g) => [gradOf(a, () => g), gradOf(b, () => neg(g))]);
}

export function mul(a: Operand, b: Operand): Tensor {
  return binaryWithGrad('mul', a, b, () => inputs(a, b), (g, s) => {
    const [sa, sb] = isT(a) ? [s[0]!, s[1]] : [undefined, s[0]];
    return [gradOf(a, () => mul(g, sb ?? (b as number))), gradOf(b, () => mul(g, sa ?? (a as number)))];
  });
}

export function div(a: Operand, b: Operand): Tensor {
  return binaryWithGrad('div', a, b, (out) => [...inputs(b), out], (g, s) => {
    const sb = isT(b) ? s[0]! : (b as number);
    const out = s[s.length - 1]!;
    return [gradOf(a, () => div(g, sb)), gradOf(b, () => neg(div(mul(g, out), sb)))];
  });
}

export function pow(a: Operand, b: Operand): Tensor {
  return binaryWithGrad('pow', a, b, (out) => [...inputs(a, b), out], (g, s) => {
    const sa = isT(a) ? s[0]! : (a as number);
    const sb = isT(b) ? s[isT(a) ? 1 : 0]! : (b as number);
    const out = s[s.length - 1]!;
    return [
      gradOf(a, () => mul(g, mul(sb, pow(sa, typeof sb === 'number' ? sb - 1 : sub(sb, 1))))),
      gradOf(b, () => mul(g, mul(out, typeof sa === 'number' ? Math.log(sa) : log(sa)))),
    ];
  });
}

/**
 * `torch.maximum`: on a tie (a == b) each side gets half of the gradient, as in PyTorch (whose
 * derivative is `where(a == b, g / 2, g).masked_fill_(a < b, 0)` for a, and the mirror for b).
 */
export function maximum(a: Tensor, b: Tensor): Tensor {
  return binaryWithGrad('maximum', a, b, () => [a, b], (g, [sa, sb]) => [
    gradOf(a, () => mul(g, binaryRaw('tieShare', sa!, sb!))),
    gradOf(b, () => mul(g, binaryRaw('tieShare', sb!, sa!))),
  ]);
}

/** `torch.minimum`: on a tie each side gets half of the gradient, as `maximum`. */
export function minimum(a: Tensor, b: Tensor): Tensor {
  return binaryWithGrad('minimum', a, b, () => [a, b], (g, [sa, sb]) => [
    gradOf(a, () => mul(g, binaryRaw('tieShare', sb!, sa!))),
    gradOf(b, () => mul(g, binaryRaw('tieShare', sa!, sb!))),
  ]);
}

/** Comparisons give 1 or 0 in the inputs' dtype; they have no gradient. */
export const eq = (a: Operand, b: Operand) => binaryRaw('eq', a, b);
export const ne = (a: Operand, b: Operand) => binaryRaw('ne', a, b);
export const lt = (a: Operand, b: Operand) => binaryRaw('lt', a, b);
export const le = (a: Operand, b: Operand) => binaryRaw('le', a, b);
export const gt = (a: Operand, b: Operand) => binaryRaw('gt', a, b);
export const ge = (a: Operand, b: Operand) => binaryRaw('ge', a, b);

function unaryWithGrad(op: UnaryName, x: Tensor, saveOut: boolean, rule: (g: Tensor, saved: Tensor) => Tensor): Tensor {
  const out = unary(op, x);
  return record(out, op, [x], [saveOut ? out : x], (g, [s]) => [rule(g, s!)]);
}

export const neg = (x: Tensor): Tensor => unaryWithGrad('neg', x, false, (g) => neg(g));
export const abs = (x: Tensor) => unaryWithGrad('abs', x, false, (g, s) => mul(g, unary('sign', s)));
export const exp = (x: Tensor) => unaryWithGrad('exp', x, true, (g, out) => mul(g, out));
export const log = (x: Tensor) => unaryWithGrad('log', x, false, (g, s) => div(g, s));
export const sqrt = (x: Tensor) => unaryWithGrad('sqrt', x, true, (g, out) => div(mul(g, 0.5), out));
export const relu = (x: Tensor) => unaryWithGrad('relu', x, false, (g, s) => binaryRaw('reluGrad', s, g));
/** GELU with the exact erf, as `torch.nn.functional.gelu` by default. */
export const gelu = (x: Tensor) => unaryWithGrad('gelu', x, false, (g, s) => binaryRaw('geluGrad', s, g));
export const sigmoid = (x: Tensor) => unaryWithGrad('sigmoid', x, true, (g, out) => binaryRaw('sigmoidGrad', out, g));
export const tanh = (x: Tensor) => unaryWithGrad('tanh', x, true, (g, out) => binaryRaw('tanhGrad', out, g));
