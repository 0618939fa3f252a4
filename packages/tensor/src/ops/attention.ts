// Fused scaled dot-product attention on [B, H, L, D]. The forward pass is flash-style: each thread
// owns a few query rows and streams every key and value once with an online softmax, so the L x L
// score matrix never exists in memory; it keeps the log-sum-exp of each row. The backward pass is
// FlashAttention-2's: one kernel in which each thread owns a few queries and accumulates dQ over all
// keys (working out delta = rowsum(dO * O) of its rows on the way, FlashAttention-2's prepass), then one
// in which each thread owns a few keys and accumulates their dK and dV over all queries. Probabilities are recomputed from the saved
// log-sum-exp. These row kernels use no shared memory or barriers; for GPUs, attentiontiles.ts has a
// forward with a workgroup per block of queries and keys staged in workgroup memory (same outputs), and
// attentiontilesbackward.ts a backward with a workgroup per block of keys (dK, dV) or queries (dQ).
// Every kernel reads and writes its tensors through strides (see ROWS), so multiHeadAttention runs
// straight on a packed qkv projection and writes the heads merged, with no permute copies.
//
// Compile time shapes the code: a thread's rows are unrolled, but every loop over the head dim runs a
// trip count read from a uniform, over rows kept in private arrays, so the compiler keeps it rolled.
// Fully unrolled D x rows tiles took 3-77 s each to compile cold on lavapipe; these take about a
// second. The backward kernels stay fully unrolled where the tile is small (D / 4 x rows <= 12, e.g.
// TMPose's D = 24 at 2 rows): about 2x faster there, and still under 2 s to compile.
//
// float16 q, k, v, dO (and O, dq, dk, dv) are widened to f32 on load and rounded once on store: the
// scores, the online-softmax statistics m and l, the log-sum-exp, delta and every accumulator are f32.
// Their vec4s of halves are read and written as pairs of words (unpack2x16float / pack2x16float, core
// WGSL): the kernels then compute in f32 only, and compile about as fast as the float32 ones on lavapipe.
import { record } from '../autograd.js';
import { type DTypeInfo, commonDType, dtypes } from '../dtype.js';
import { type Access, type Binding, linearEntry } from '../runtime/pipelines.js';
import type { Kernel } from '../runtime/pipelines.js';
import { type Storage, allocate, release } from '../runtime/pool.js';
import { dispatch, flushNumber, grid } from '../runtime/queue.js';
import { getDevice } from '../device.js';
import { choose, sizeClass, worthTuning } from '../runtime/tune.js';
import { uniforms } from '../runtime/uniforms.js';
import { fmt, sameShape } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { ATTENTION_TILES, forwardTiled } from './attentiontiles.js';
import { backwardKVTiled, backwardQTiled } from './attentiontilesbackward.js';
import { contiguous } from './copy.js';
import { LIMITS } from './wgsl.js';

const WG = 64;
/** The rows-per-thread variants of every attention kernel. */
export const ATTENTION_ROWS = [1, 2, 4];
export const NEG = LIMITS.f32.lowest;

/** A kernel variant: the row kernels' rows per thread, or the tiled forward's queries per workgroup. */
type Variant = { rows: number } | { tile: number };
const variantLabel = (v: Variant) => ('rows' in v ? `${v.rows}` : `tile${v.tile}`);
const ROW_VARIANTS: Variant[] = ATTENTION_ROWS.map((rows) => ({ rows }));
const TILE_VARIANTS: Variant[] = ATTENTION_TILES.map((tile) => ({ tile }));
/** The labels forceVariant takes, for the forward ('attention') and the backward ('attentionBackward'). */
export const ATTENTION_VARIANTS = [...ROW_VARIANTS, ...TILE_VARIANTS].map(variantLabel);

/**
 * The forward's variant (family 'attention') or a backward pass's (family 'attentionBackward'), chosen
 * per adapter and problem by measurement. Rows per thread: enough to reuse each loaded key/value row
 * several times, few enough for registers. A CPU adapter times the row kernels only (the tiles are
 * forced only); a GPU starts from the 32-row tiles, whose threads keep far fewer floats.
 */
function variantFor(E: Elem, pass: string, B: number, H: number, L: number, D: number, buffers: Storage[], encode: (v: Variant, scratch: Storage[]) => void): Variant {
  const { isCpu } = getDevice().info;
  return choose<Variant>({
    problem: `${pass === 'fwd' ? 'attention' : 'attentionBackward'}|${E}|${pass}|d${D}|L${sizeClass(L)}|BH${sizeClass(B * H)}`,
    candidates: isCpu ? ROW_VARIANTS : [...ROW_VARIANTS, ...TILE_VARIANTS],
    forceOnly: isCpu ? TILE_VARIANTS : [],
    label: variantLabel,
    fallback: isCpu ? ROW_VARIANTS[1]! : TILE_VARIANTS[0]!,
    // q kᵀ and p v: 2 · L · L · D flops each, per head.
    worthTuning: worthTuning(4 * B * H * L * L * D),
    prepare: () => {
      const scratch = buffers.map((b) => allocate(b.byteSize));
      return { run: (r) => encode(r, scratch), dispose: () => scratch.forEach((st) => release(st, flushNumber())) };
    },
  });
}

const range = (n: number) => [...Array(n).keys()];
const sumOf = (terms: string[]) => terms.join(' + ');
/** Private rows hold the head dim rounded up to a power of two (in vec4s): one compile serves several D. */
export const headDimClass = (D: number) => sizeClass(D / 4);

// Every tensor a kernel reads or writes row by row is a [B, H, L, D] view with its last axis contiguous,
// addressed through its offset and b, h and row strides: q, k, v, the output o, its gradient g (dO) and
// dq, dk, dv. That is how q, k and v come straight from a packed qkv projection, and the output and
// the gradients go straight into the layouts the neighbouring linears use, without permute copies.
const OPERANDS = ['q', 'k', 'v', 'o', 'g', 'dq', 'dk', 'dv'] as const;
type Operand = (typeof OPERANDS)[number];
// The uniforms of every attention kernel: B, H, L, scale, each operand's offset and b, h and row
// strides (in vec4s; 0 for those a pass does not touch), then the head dim in vec4s.
export const ROWS = uniforms({
  B: 'u32', H: 'u32', L: 'u32', scale: 'f32',
  qOffset: 'u32', qB: 'u32', qH: 'u32', qL: 'u32',
  kOffset: 'u32', kB: 'u32', kH: 'u32', kL: 'u32',
  vOffset: 'u32', vB: 'u32', vH: 'u32', vL: 'u32',
  oOffset: 'u32', oB: 'u32', oH: 'u32', oL: 'u32',
  gOffset: 'u32', gB: 'u32', gH: 'u32', gL: 'u32',
  dqOffset: 'u32', dqB: 'u32', dqH: 'u32', dqL: 'u32',
  dkOffset: 'u32', dkB: 'u32', dkH: 'u32', dkL: 'u32',
  dvOffset: 'u32', dvB: 'u32', dvH: 'u32', dvL: 'u32',
  D4: 'u32',
});
/** The index (in vec4s) of row `row` of head (b, h) of an operand. */
export const rowAddr = (name: Operand, row: string) => `(u.${name}Offset + b * u.${name}B + h * u.${name}H + (${row}) * u.${name}L)`;

export type Elem = DTypeInfo['wgsl'];
/** A storage array of vec4s of the tensors' element type E (halves: two words each); read through `ld`, written through `st`. */
export const vec4 = (E: Elem, name: string, access: Access = 'read'): Binding => ({ name, type: E === 'f16' ? 'vec2<u32>' : `vec4<${E}>`, access });
export const f32 = (name: string, access: Access = 'read'): Binding => ({ name, type: 'f32', access });
export const ld = (E: Elem, v: string) => (E === 'f16' ? `h4(${v})` : v);
export const st = (E: Elem, v: string) => (E === 'f16' ? `p4(${v})` : v);
/** The (un)packing of four halves, for kernels of float16 tensors. */
export const halves = (E: Elem) => (E === 'f16' ? `
fn h4(w: vec2<u32>) -> vec4<f32> { return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y)); }
fn p4(v: vec4<f32>) -> vec2<u32> { return vec2<u32>(pack2x16float(v.xy), pack2x16float(v.zw)); }` : '');
export const QKV = (E: Elem) => [vec4(E, 'Q'), vec4(E, 'K'), vec4(E, 'V')];
/** What the dK, dV kernels read: q, k, v, dO and the (lse, delta) pairs the dQ kernel wrote. */
export const backwardInputs = (E: Elem) => [...QKV(E), vec4(E, 'DO'), f32('Stats')];
/**
 * The dQ kernels' bindings: q, k, v, dO, O and the log-sum-exps; the (lse, delta) pairs they write for
 * the dK, dV pass after them; dq.
 */
export const backwardQBindings = (E: Elem) => [...QKV(E), vec4(E, 'DO'), vec4(E, 'O'), f32('LSE'), f32('Stats', 'read_write'), vec4(E, 'DQ', 'read_write')];
/**
 * WGSL: delta = sum(dO[row] * O[row]) for the rows at ga (dO) and oa (O), f32, and the function that
 * saves a row's (lse, delta) pair for the dK, dV pass. The dQ kernels call both for their own rows.
 */
export const rowDelta = (E: Elem) => `
fn rowDelta(ga: u32, oa: u32) -> f32 {
  var s = vec4<f32>();
  for (var d = 0u; d < u.D4; d++) { s += ${ld(E, 'DO[ga + d]')} * ${ld(E, 'O[oa + d]')}; }
  return s.x + s.y + s.z + s.w;
}
fn saveStats(row: u32, lse: f32, delta: f32) { Stats[2u * row] = lse; Stats[2u * row + 1u] = delta; }`;
/** What the dK, dV kernels write: dk and dv lie in one buffer (WebGPU forbids two writable bindings of one buffer). */
export const DKV = (E: Elem) => vec4(E, 'DKV', 'read_write');

/** The entry of the kernels in which thread t owns `perThread` consecutive rows of one (b, h); rowOut + i indexes LSE and Stats. */
const ENTRY = (perThread: number) => `${linearEntry(WG, 't')}
  let B = u.B; let H = u.H; let L = u.L; let scale = u.scale;
  let tilesPerHead = (L + ${perThread - 1}u) / ${perThread}u;
  let bh = t / tilesPerHead;
  if (bh >= B * H) { return; }
  let b = bh / H; let h = bh % H;
  let r0 = (t % tilesPerHead) * ${perThread}u;
  let rowOut = bh * L;
  // The head dim in vec4s, from a uniform so that the compiler keeps the loops over it rolled.
  let D4 = u.D4;`;

function forwardKernel(E: Elem, D: number, RQ: number) {
  const D4 = headDimClass(D);
  const rs = range(RQ);
  const cs = range(4);
  const each = (f: (r: number) => string, sep = ' ') => rs.map(f).join(sep);
  return {
    name: 'attentionForward',
    key: `${E}d${4 * D4}r${RQ}`,
    uniforms: ROWS,
    bindings: [...QKV(E), vec4(E, 'O', 'read_write'), f32('LSE', 'read_write')],
    body: () => `${halves(E)}${ENTRY(RQ)}
  ${each((r) => `var q${r}: array<vec4<f32>, ${D4}>; var a${r}: array<vec4<f32>, ${D4}>; var m${r} = ${NEG}; var l${r} = 0.0;
  let qa${r} = ${rowAddr('q', `min(r0 + ${r}u, L - 1u)`)};`, '\n  ')}
  for (var d = 0u; d < D4; d++) { ${each((r) => `q${r}[d] = ${ld(E, `Q[qa${r} + d]`)} * scale; a${r}[d] = vec4<f32>();`)} }
  let one = vec4<f32>(1.0);
  // Four keys at a time: their scores form one vec4, and the running max is corrected once per block.
  for (var j = 0u; j < L; j += 4u) {
    ${cs.map((c) => `let ka${c} = ${rowAddr('k', `min(j + ${c}u, L - 1u)`)}; let va${c} = ${rowAddr('v', `min(j + ${c}u, L - 1u)`)};`).join('\n    ')}
    let valid = vec4<bool>(j < L, j + 1u < L, j + 2u < L, j + 3u < L);
    ${each((r) => cs.map((c) => `var s${r}_${c} = vec4<f32>();`).join(' '))}
    for (var d = 0u; d < D4; d++) {
      ${cs.map((c) => `let k${c} = ${ld(E, `K[ka${c} + d]`)};`).join(' ')}
      ${each((r) => `let q${r}d = q${r}[d]; ${cs.map((c) => `s${r}_${c} += q${r}d * k${c};`).join(' ')}`, '\n      ')}
    }
    ${each((r) => `let sc${r} = select(vec4<f32>(${NEG}), vec4<f32>(${cs.map((c) => `dot(s${r}_${c}, one)`).join(', ')}), valid);
    let mNew${r} = max(m${r}, max(max(sc${r}.x, sc${r}.y), max(sc${r}.z, sc${r}.w)));
    let corr${r} = exp(m${r} - mNew${r});
    let p${r} = exp(sc${r} - vec4<f32>(mNew${r}));
    l${r} = l${r} * corr${r} + p${r}.x + p${r}.y + p${r}.z + p${r}.w;
    m${r} = mNew${r};`, '\n    ')}
    for (var d = 0u; d < D4; d++) {
      ${cs.map((c) => `let v${c} = ${ld(E, `V[va${c} + d]`)};`).join(' ')}
      ${each((r) => `a${r}[d] = a${r}[d] * corr${r} + p${r}.x * v0 + p${r}.y * v1 + p${r}.z * v2 + p${r}.w * v3;`, '\n      ')}
    }
  }
  ${each((r) => `if (r0 + ${r}u < L) {
    let inv = 1.0 / l${r};
    let oa = ${rowAddr('o', `r0 + ${r}u`)};
    for (var d = 0u; d < D4; d++) { O[oa + d] = ${st(E, `a${r}[d] * inv`)}; }
    LSE[rowOut + r0 + ${r}u] = m${r} + log(l${r});
  }`, '\n  ')}
}`,
  };
}

/** dK and dV: each thread owns RK keys and walks the queries four at a time. */
function backwardKVKernel(E: Elem, D: number, RK: number) {
  const D4 = headDimClass(D);
  const each = (f: (c: number) => string, sep = ' ') => range(RK).map(f).join(sep);
  const four = (f: (i: number) => string, sep = ' ') => range(4).map(f).join(sep);
  return {
    name: 'attentionBackwardKV',
    key: `${E}d${4 * D4}r${RK}`,
    uniforms: ROWS,
    bindings: [...backwardInputs(E), DKV(E)],
    body: () => `${halves(E)}${ENTRY(RK)}
  ${each((c) => `var k${c}: array<vec4<f32>, ${D4}>; var v${c}: array<vec4<f32>, ${D4}>;
  var dk${c}: array<vec4<f32>, ${D4}>; var dv${c}: array<vec4<f32>, ${D4}>;
  let ka${c} = ${rowAddr('k', `min(r0 + ${c}u, L - 1u)`)}; let va${c} = ${rowAddr('v', `min(r0 + ${c}u, L - 1u)`)};`, '\n  ')}
  for (var d = 0u; d < D4; d++) {
    ${each((c) => `k${c}[d] = ${ld(E, `K[ka${c} + d]`)} * scale; v${c}[d] = ${ld(E, `V[va${c} + d]`)}; dk${c}[d] = vec4<f32>(); dv${c}[d] = vec4<f32>();`, '\n    ')}
  }
  let one = vec4<f32>(1.0);
  // The block's query and dO rows, loaded once and read again by the second pass.
  ${four((n) => `var qb${n}: array<vec4<f32>, ${D4}>; var gb${n}: array<vec4<f32>, ${D4}>;`)}
  for (var i = 0u; i < L; i += 4u) {
    ${four((n) => `let qi${n} = min(i + ${n}u, L - 1u); let row${n} = rowOut + qi${n}; let qa${n} = ${rowAddr('q', `qi${n}`)}; let ga${n} = ${rowAddr('g', `qi${n}`)};`, '\n    ')}
    let valid = vec4<bool>(i < L, i + 1u < L, i + 2u < L, i + 3u < L);
    let lse = vec4<f32>(${four((n) => `Stats[2u * row${n}]`, ', ')});
    let delta = vec4<f32>(${four((n) => `Stats[2u * row${n} + 1u]`, ', ')});
    ${each((c) => `${four((n) => `var s${c}_${n} = vec4<f32>(); var t${c}_${n} = vec4<f32>();`)}`, '\n    ')}
    for (var d = 0u; d < D4; d++) {
      ${four((n) => `let q${n} = ${ld(E, `Q[qa${n} + d]`)}; let g${n} = ${ld(E, `DO[ga${n} + d]`)}; qb${n}[d] = q${n}; gb${n}[d] = g${n};`)}
      ${each((c) => `let kc${c} = k${c}[d]; let vc${c} = v${c}[d]; ${four((n) => `s${c}_${n} += q${n} * kc${c}; t${c}_${n} += g${n} * vc${c};`)}`, '\n      ')}
    }
    ${each((c) => `let p${c} = select(vec4<f32>(), exp(vec4<f32>(${four((n) => `dot(s${c}_${n}, one)`, ', ')}) - lse), valid);
    let ds${c} = p${c} * (vec4<f32>(${four((n) => `dot(t${c}_${n}, one)`, ', ')}) - delta) * scale;`, '\n    ')}
    for (var d = 0u; d < D4; d++) {
      ${four((n) => `let q${n} = qb${n}[d]; let g${n} = gb${n}[d];`)}
      ${each((c) => `dv${c}[d] += p${c}.x * g0 + p${c}.y * g1 + p${c}.z * g2 + p${c}.w * g3;
      dk${c}[d] += ds${c}.x * q0 + ds${c}.y * q1 + ds${c}.z * q2 + ds${c}.w * q3;`, '\n      ')}
    }
  }
  ${each((c) => `if (r0 + ${c}u < L) {
    let dka = ${rowAddr('dk', `r0 + ${c}u`)}; let dva = ${rowAddr('dv', `r0 + ${c}u`)};
    for (var d = 0u; d < D4; d++) { DKV[dka + d] = ${st(E, `dk${c}[d]`)}; DKV[dva + d] = ${st(E, `dv${c}[d]`)}; }
  }`, '\n  ')}
}`,
  };
}

/** dQ: each thread owns RQ queries and walks the keys four at a time. */
function backwardQKernel(E: Elem, D: number, RQ: number) {
  const D4 = headDimClass(D);
  const each = (f: (r: number) => string, sep = ' ') => range(RQ).map(f).join(sep);
  const four = (f: (c: number) => string, sep = ' ') => range(4).map(f).join(sep);
  return {
    name: 'attentionBackwardQ',
    key: `${E}d${4 * D4}r${RQ}`,
    uniforms: ROWS,
    bindings: backwardQBindings(E),
    body: () => `${halves(E)}${rowDelta(E)}${ENTRY(RQ)}
  ${each((r) => `var q${r}: array<vec4<f32>, ${D4}>; var g${r}: array<vec4<f32>, ${D4}>; var dq${r}: array<vec4<f32>, ${D4}>;
  let row${r} = rowOut + min(r0 + ${r}u, L - 1u);
  let qa${r} = ${rowAddr('q', `min(r0 + ${r}u, L - 1u)`)}; let ga${r} = ${rowAddr('g', `min(r0 + ${r}u, L - 1u)`)};
  let lse${r} = LSE[row${r}]; let delta${r} = rowDelta(ga${r}, ${rowAddr('o', `min(r0 + ${r}u, L - 1u)`)});`, '\n  ')}
  for (var d = 0u; d < D4; d++) {
    ${each((r) => `q${r}[d] = ${ld(E, `Q[qa${r} + d]`)} * scale; g${r}[d] = ${ld(E, `DO[ga${r} + d]`)}; dq${r}[d] = vec4<f32>();`, '\n    ')}
  }
  let one = vec4<f32>(1.0);
  // The block's key rows, loaded once and read again by the second pass.
  ${four((c) => `var kb${c}: array<vec4<f32>, ${D4}>;`)}
  for (var j = 0u; j < L; j += 4u) {
    ${four((c) => `let ka${c} = ${rowAddr('k', `min(j + ${c}u, L - 1u)`)}; let va${c} = ${rowAddr('v', `min(j + ${c}u, L - 1u)`)};`, '\n    ')}
    let valid = vec4<bool>(j < L, j + 1u < L, j + 2u < L, j + 3u < L);
    ${each((r) => `${four((c) => `var s${r}_${c} = vec4<f32>(); var t${r}_${c} = vec4<f32>();`)}`, '\n    ')}
    for (var d = 0u; d < D4; d++) {
      ${four((c) => `let k${c} = ${ld(E, `K[ka${c} + d]`)}; let v${c} = ${ld(E, `V[va${c} + d]`)}; kb${c}[d] = k${c};`)}
      ${each((r) => `let qr${r} = q${r}[d]; let gr${r} = g${r}[d]; ${four((c) => `s${r}_${c} += qr${r} * k${c}; t${r}_${c} += gr${r} * v${c};`)}`, '\n      ')}
    }
    ${each((r) => `let ds${r} = select(vec4<f32>(), exp(vec4<f32>(${four((c) => `dot(s${r}_${c}, one)`, ', ')}) - vec4<f32>(lse${r}))
      * (vec4<f32>(${four((c) => `dot(t${r}_${c}, one)`, ', ')}) - vec4<f32>(delta${r})), valid);`, '\n    ')}
    for (var d = 0u; d < D4; d++) {
      ${four((c) => `let k${c} = kb${c}[d];`)}
      ${each((r) => `dq${r}[d] += ds${r}.x * k0 + ds${r}.y * k1 + ds${r}.z * k2 + ds${r}.w * k3;`, '\n      ')}
    }
  }
  ${each((r) => `if (r0 + ${r}u < L) {
    let dqa = ${rowAddr('dq', `r0 + ${r}u`)};
    for (var d = 0u; d < D4; d++) { DQ[dqa + d] = ${st(E, `dq${r}[d] * scale`)}; }
    saveStats(row${r}, lse${r}, delta${r});
  }`, '\n  ')}
}`,
  };
}

/** dK and dV, unrolled: each thread owns RK keys and walks every query, all rows in registers. */
function backwardKVUnrolled(E: Elem, D: number, RK: number) {
  const D4 = D / 4;
  const ds = range(D4);
  return {
    name: 'attentionBackwardKV',
    key: `${E}d${D}r${RK}u`,
    uniforms: ROWS,
    bindings: [...backwardInputs(E), DKV(E)],
    body: () => `${halves(E)}${ENTRY(RK)}
  ${range(RK).map((c) => `
  let ka${c} = ${rowAddr('k', `min(r0 + ${c}u, L - 1u)`)};
  let va${c} = ${rowAddr('v', `min(r0 + ${c}u, L - 1u)`)};
  ${ds.map((d) => `let k${c}_${d} = ${ld(E, `K[ka${c} + ${d}u]`)}; let v${c}_${d} = ${ld(E, `V[va${c} + ${d}u]`)};`).join(' ')}
  ${ds.map((d) => `var dk${c}_${d} = vec4<f32>(); var dv${c}_${d} = vec4<f32>();`).join(' ')}`).join('')}
  for (var i = 0u; i < L; i++) {
    let qa = ${rowAddr('q', 'i')};
    let ga = ${rowAddr('g', 'i')};
    ${ds.map((d) => `let q_${d} = ${ld(E, `Q[qa + ${d}u]`)} * scale; let g_${d} = ${ld(E, `DO[ga + ${d}u]`)};`).join('\n    ')}
    let lse = Stats[2u * (rowOut + i)];
    let delta = Stats[2u * (rowOut + i) + 1u];
    ${range(RK).map((c) => `{
      let p = exp(dot(${sumOf(ds.map((d) => `q_${d} * k${c}_${d}`))}, vec4<f32>(1.0)) - lse);
      let dp = dot(${sumOf(ds.map((d) => `g_${d} * v${c}_${d}`))}, vec4<f32>(1.0));
      let dsc = p * (dp - delta);
      ${ds.map((d) => `dv${c}_${d} += p * g_${d}; dk${c}_${d} += dsc * q_${d};`).join('\n      ')}
    }`).join('\n    ')}
  }
  ${range(RK).map((c) => `if (r0 + ${c}u < L) {
    let dka = ${rowAddr('dk', `r0 + ${c}u`)}; let dva = ${rowAddr('dv', `r0 + ${c}u`)};
    ${ds.map((d) => `DKV[dka + ${d}u] = ${st(E, `dk${c}_${d}`)}; DKV[dva + ${d}u] = ${st(E, `dv${c}_${d}`)};`).join(' ')}
  }`).join('\n  ')}
}`,
  };
}

/** dQ, unrolled: each thread owns RQ queries and walks every key, all rows in registers. */
function backwardQUnrolled(E: Elem, D: number, RQ: number) {
  const D4 = D / 4;
  const ds = range(D4);
  return {
    name: 'attentionBackwardQ',
    key: `${E}d${D}r${RQ}u`,
    uniforms: ROWS,
    bindings: backwardQBindings(E),
    body: () => `${halves(E)}${rowDelta(E)}${ENTRY(RQ)}
  ${range(RQ).map((r) => `
  let row${r} = rowOut + min(r0 + ${r}u, L - 1u);
  let qa${r} = ${rowAddr('q', `min(r0 + ${r}u, L - 1u)`)}; let ga${r} = ${rowAddr('g', `min(r0 + ${r}u, L - 1u)`)};
  ${ds.map((d) => `let q${r}_${d} = ${ld(E, `Q[qa${r} + ${d}u]`)} * scale; let g${r}_${d} = ${ld(E, `DO[ga${r} + ${d}u]`)}; var dq${r}_${d} = vec4<f32>();`).join('\n  ')}
  let lse${r} = LSE[row${r}];
  let delta${r} = rowDelta(ga${r}, ${rowAddr('o', `min(r0 + ${r}u, L - 1u)`)});`).join('')}
  for (var j = 0u; j < L; j++) {
    let ka = ${rowAddr('k', 'j')};
    let va = ${rowAddr('v', 'j')};
    ${ds.map((d) => `let k_${d} = ${ld(E, `K[ka + ${d}u]`)}; let v_${d} = ${ld(E, `V[va + ${d}u]`)};`).join('\n    ')}
    ${range(RQ).map((r) => `{
      let p = exp(dot(${sumOf(ds.map((d) => `q${r}_${d} * k_${d}`))}, vec4<f32>(1.0)) - lse${r});
      let dp = dot(${sumOf(ds.map((d) => `g${r}_${d} * v_${d}`))}, vec4<f32>(1.0));
      let dsc = p * (dp - delta${r});
      ${ds.map((d) => `dq${r}_${d} += dsc * k_${d};`).join(' ')}
    }`).join('\n    ')}
  }
  ${range(RQ).map((r) => `if (r0 + ${r}u < L) {
    let dqa = ${rowAddr('dq', `r0 + ${r}u`)};
    ${ds.map((d) => `DQ[dqa + ${d}u] = ${st(E, `dq${r}_${d} * scale`)};`).join(' ')}
    saveStats(row${r}, lse${r}, delta${r});
  }`).join('\n  ')}
}`,
  };
}

// Small head dims x rows fully unrolled run the backward about twice as fast on lavapipe and still
// compile in under 2 s there; larger tiles keep the rolled loops.
const UNROLLED_VECTORS = 12;
const backwardKV = (E: Elem, D: number, rows: number) => ((D / 4) * rows <= UNROLLED_VECTORS ? backwardKVUnrolled(E, D, rows) : backwardKVKernel(E, D, rows));
const backwardQ = (E: Elem, D: number, rows: number) => ((D / 4) * rows <= UNROLLED_VECTORS ? backwardQUnrolled(E, D, rows) : backwardQKernel(E, D, rows));

/** Whether the kernels can read t through its strides: last axis contiguous, rows on vec4 boundaries. */
const vec4Rows = (t: Tensor) => t.strides.at(-1) === 1 && [t.offset, ...t.strides.slice(0, -1)].every((s) => s % 4 === 0);
/** t as a view the kernels can read (a copy only when its layout forbids it). */
const readable = (t: Tensor): Tensor => (vec4Rows(t) ? t.view(t.shape, t.strides, t.offset) : contiguous(t));

/** The uniforms of one attention over [B, H, L, D] views (each readable) of the operands a pass touches. */
function rowUniforms(scale: number, views: { q: Tensor } & Partial<Record<Operand, Tensor>>): number[] {
  const [B, H, L, D] = views.q.shape as [number, number, number, number];
  const words: Record<string, number> = { B, H, L, scale, D4: D / 4 };
  for (const name of OPERANDS) {
    const t = views[name];
    const [offset, b, h, row] = t ? [t.offset, t.strides[0]!, t.strides[1]!, t.strides[2]!] : [0, 0, 0, 0];
    Object.assign(words, { [`${name}Offset`]: offset / 4, [`${name}B`]: b / 4, [`${name}H`]: h / 4, [`${name}L`]: row / 4 });
  }
  return ROWS.pack(words as Parameters<typeof ROWS.pack>[0]);
}

/** Encodes one pass over the B·H heads of L rows, with the variant chosen for this adapter and problem. */
function runPass(E: Elem, pass: 'fwd' | 'dkdv' | 'dq', q: Tensor, kernel: (v: Variant) => Kernel, params: number[], buffers: Storage[]): void {
  const [B, H, L, D] = q.shape as [number, number, number, number];
  // A row kernel runs a thread per `rows` rows in workgroups of WG; a tile, a workgroup per tile of rows.
  const groups = (v: Variant) => grid('rows' in v ? Math.ceil((B * H * Math.ceil(L / v.rows)) / WG) : B * H * Math.ceil(L / v.tile));
  const encode = (v: Variant, bufs: Storage[]) => dispatch(kernel(v), bufs, params, groups(v));
  encode(variantFor(E, pass, B, H, L, D, buffers, encode), buffers);
}

/** The [B, H, L, D] views one attention reads (q, k, v) and writes (o), each readable. */
interface Heads {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  o: Tensor;
}

/** o = softmax(q kᵀ scale) v, and each row's log-sum-exp into lse [B, H, L] (contiguous, float32). */
function attend(E: Elem, { q, k, v, o }: Heads, lse: Tensor, scale: number): void {
  const D = q.shape[3]!;
  const kernel = (x: Variant) => ('rows' in x ? forwardKernel(E, D, x.rows) : forwardTiled(E, D, x.tile));
  runPass(E, 'fwd', q, kernel, rowUniforms(scale, { q, k, v, o }), [q.storage, k.storage, v.storage, o.storage, lse.storage]);
}

/**
 * The backward of `attend`: writes dq, dk, dv (readable [B, H, L, D] views; dk and dv of one buffer)
 * from g, the gradient of o (a readable view too).
 */
function attendBackward(E: Elem, { q, k, v, o }: Heads, lse: Tensor, g: Tensor, dq: Tensor, dk: Tensor, dv: Tensor, scale: number): void {
  const [B, H, L, D] = q.shape as [number, number, number, number];
  const params = rowUniforms(scale, { q, k, v, o, g, dq, dk, dv });
  // The dQ pass also works out each row's delta (it reads the row's dO anyway) and saves it with the
  // row's lse for the dK, dV pass: FlashAttention-2's prepass for delta, without a dispatch of its own.
  const stats = empty([B * H * L, 2]);
  const qkvg = [q.storage, k.storage, v.storage, g.storage];
  runPass(E, 'dq', q, (x) => ('rows' in x ? backwardQ(E, D, x.rows) : backwardQTiled(E, D, x.tile)), params, [...qkvg, o.storage, lse.storage, stats.storage, dq.storage]);
  runPass(E, 'dkdv', q, (x) => ('rows' in x ? backwardKV(E, D, x.rows) : backwardKVTiled(E, D, x.tile)), params, [...qkvg, stats.storage, dk.storage]);
  stats.dispose();
}

export interface AttentionOptions {
  /** Multiplies q·k; default 1/sqrt(D). */
  scale?: number;
}

/**
 * `F.scaled_dot_product_attention(q, k, v)` on [B, H, L, D] without a mask: softmax(q kᵀ scale) v.
 * Views whose last axis is contiguous (permuted or sliced heads) are read through their strides, and
 * so is the gradient of the output.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  for (const t of [q, k, v]) t.assertAlive('scaledDotProductAttention');
  if (q.rank !== 4 || !sameShape(q.shape, k.shape) || !sameShape(q.shape, v.shape)) {
    throw new Error(`scaledDotProductAttention: q ${fmt(q.shape)}, k ${fmt(k.shape)}, v ${fmt(v.shape)} must be [B, H, L, D] of one shape`);
  }
  const E = dtypes[commonDType('scaledDotProductAttention', [q, k, v])].wgsl;
  const [B, H, L, D] = q.shape as [number, number, number, number];
  if (D % 4 !== 0 || D > 128) throw new Error(`scaledDotProductAttention: q, k, v ${fmt(q.shape)}: head dim ${D} must be a multiple of 4, at most 128`);
  const scale = options.scale ?? 1 / Math.sqrt(D);
  const heads: Heads = { q: readable(q), k: readable(k), v: readable(v), o: empty([B, H, L, D], q.dtype) };
  const lse = empty([B, H, L]);
  attend(E, heads, lse, scale);
  const result = record(heads.o, 'scaledDotProductAttention', [q, k, v], [heads.q, heads.k, heads.v, heads.o, lse], (g, [sq, sk, sv, so, sl]) => {
    const dO = readable(g);
    // dq, dk, dv in one buffer: the dK, dV kernel writes both through one binding.
    const grads = empty([3, B, H, L, D], q.dtype);
    const [dq, dk, dv] = [0, 1, 2].map((i) => grads.view([B, H, L, D], grads.strides.slice(1), i * B * H * L * D)) as [Tensor, Tensor, Tensor];
    attendBackward(E, { q: sq!, k: sk!, v: sv!, o: so! }, sl!, dO, dq, dk, dv, scale);
    grads.dispose();
    dO.dispose();
    return [dq, dk, dv].map((d, i) => ([q, k, v][i]!.requiresGrad ? d : (d.dispose(), null)));
  });
  for (const t of [heads.q, heads.k, heads.v]) t.dispose();
  lse.dispose();
  return result;
}

/** Part `part` of t [B, L, parts·H·hd], laid out [B, L, parts, H, hd] with rows readable, as a [B, H, L, hd] view. */
function headsOf(t: Tensor, part: number, H: number, hd: number): Tensor {
  const [B, L] = t.shape as [number, number];
  return t.view([B, H, L, hd], [t.strides[0]!, hd, t.strides[1]!, 1], t.offset + part * H * hd);
}

/**
 * Multi-head self-attention straight from a packed projection: qkv [B, L, 3·H·hd], laid out
 * [B, L, 3, H, hd] (what a Linear to 3·dim gives, as TokenPose's to_qkv), to softmax(q kᵀ scale) v per
 * head, with the heads merged: [B, L, H·hd] (what to_out reads). q, k and v are read through strides and
 * the output written in place, with no permute copies; one autograd node, whose backward writes dq, dk
 * and dv into one [B, L, 3·H·hd] gradient. Scale defaults to 1/sqrt(hd).
 */
export function multiHeadAttention(qkv: Tensor, heads: number, options: AttentionOptions = {}): Tensor {
  qkv.assertAlive('multiHeadAttention');
  const E = dtypes[commonDType('multiHeadAttention', [qkv])].wgsl;
  if (qkv.rank !== 3 || !Number.isInteger(heads) || heads < 1 || qkv.shape[2]! % (3 * heads) !== 0) {
    throw new Error(`multiHeadAttention: qkv ${fmt(qkv.shape)} must be [B, L, 3·H·hd] for H = ${heads} heads`);
  }
  const [B, L, C] = qkv.shape as [number, number, number];
  const hd = C / (3 * heads);
  if (hd % 4 !== 0 || hd > 128) throw new Error(`multiHeadAttention: qkv ${fmt(qkv.shape)}, ${heads} heads: head dim ${hd} must be a multiple of 4, at most 128`);
  const scale = options.scale ?? 1 / Math.sqrt(hd);
  const src = vec4Rows(qkv) ? qkv : contiguous(qkv);
  const out = empty([B, L, C / 3], qkv.dtype);
  const views: Heads = { q: headsOf(src, 0, heads, hd), k: headsOf(src, 1, heads, hd), v: headsOf(src, 2, heads, hd), o: headsOf(out, 0, heads, hd) };
  const lse = empty([B, heads, L]);
  attend(E, views, lse, scale);
  const result = record(out, 'multiHeadAttention', [qkv], [views.q, views.k, views.v, views.o, lse], (g, [sq, sk, sv, so, sl]) => {
    const dO = readable(g);
    const grad = empty([B, L, C], qkv.dtype);
    const [gHeads, dq, dk, dv] = [headsOf(dO, 0, heads, hd), ...[0, 1, 2].map((i) => headsOf(grad, i, heads, hd))] as [Tensor, Tensor, Tensor, Tensor];
    attendBackward(E, { q: sq!, k: sk!, v: sv!, o: so! }, sl!, gHeads, dq, dk, dv, scale);
    for (const t of [dO, gHeads, dq, dk, dv]) t.dispose();
    return [grad];
  });
  for (const t of Object.values(views)) t.dispose();
  if (src !== qkv) src.dispose();
  lse.dispose();
  return result;
}
