// batchNorm2d with PyTorch semantics. Forward: one workgroup per channel computes the batch
// statistics (sums shifted by the channel's first element, so a large mean doesn't swallow a small
// variance in f32), updates the running estimates and leaves a per-channel scale and shift; a second
// kernel applies them. Backward: one workgroup per channel reduces dy and dy*xhat into three
// coefficients and the weight and bias gradients; a second kernel writes dx = k1*dy + k2*x + k3.
//
// Few channels over many values (HRNet's 32-channel branch: 32 workgroups) leave a GPU mostly idle, so
// either reduction can also run split: workgroups over (chunk of N*H*W, channel) write two f32 partial
// sums each, and the per-unit pass finishes them: each of its workgroups adds its channel's few
// partials in a fixed order (no atomics: the same bits every run, and in every workgroup) before it
// applies, and the first workgroup of the channel also writes what the per-channel kernel would (running
// statistics, the saved statistics, the weight and bias gradients). Two dispatches, as 'channel'. The
// partial sums are the same shifted sums in f32 (the shift is the channel's first element for every
// chunk), each over fewer terms than one workgroup's loop, so the split is no less accurate.
//
// Small planes go the other way ('fused'): the channel's workgroup reduces and then applies, in one
// dispatch (forward: statistics then y; backward: the sums then dx), the same arithmetic as the two
// kernels of 'channel' and the same bits. A tmpose-b training step at batch 1 has 155 batch norms of at
// most 3,072 values per channel: 310 dispatches, and the barrier between each pair, go. The tuner picks
// per problem; untuned, a CPU (whose few threads the channels keep busy) and a GPU on small planes fuse,
// a GPU splits when the channels alone would not fill it. In eval mode there is nothing to reduce, and
// the choice is between 'channel' (scale and shift per channel, then y) and 'fused' (both in one).
//
// A split-K conv leaves its output (and its input gradient) as partials with a held sum
// (runtime/sums.ts); the pass that reads it first (the per-channel or fused reduction, the split
// variant's partials) takes that sum over and makes its input itself, so the conv's sum pass goes.
//
// float16 input (and residual, output, dx) is widened on load: the statistics, the per-channel
// coefficients and every sum are f32, and each result is rounded to half once, on store. The weight,
// bias and running statistics have a dtype of their own (float32 for mixed precision, where master
// weights stay float32; float16 too), and so do their gradients.
import { record } from '../autograd.js';
import { type DType, type DTypeInfo, commonDType, dtypes } from '../dtype.js';
import { getDevice } from '../device.js';
import type { Kernel } from '../runtime/pipelines.js';
import { type Storage, allocate, release } from '../runtime/pool.js';
import { dispatch, flushNumber } from '../runtime/queue.js';
import { type HeldSum, takeSum } from '../runtime/sums.js';
import { choose, sizeClass, worthTuning } from '../runtime/tune.js';
import { uniforms } from '../runtime/uniforms.js';
import { fmt } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { to } from './cast.js';
import { full } from './create.js';
import { asContiguous } from './rows.js';

const WG = 256;

type Elem = DTypeInfo['wgsl'];
/** WGSL for a unit of `width` elements (4 when a plane's size allows vec4s), and the sum of its lanes. */
const unit = (width: 1 | 4, E: Elem = 'f32') => (width === 4 ? `vec4<${E}>` : E);
/** A stored unit widened to f32. */
const load = (width: 1 | 4, v: string) => `${unit(width)}(${v})`;
const laneSum = (v: string, width: 1 | 4) => (width === 4 ? `${v}.x + ${v}.y + ${v}.z + ${v}.w` : v);
const zero = (width: 1 | 4) => (width === 4 ? 'vec4<f32>()' : '0.0');

/** How a per-channel reduction runs: one workgroup per channel, or split into partials and combined. */
export type BatchNormVariant = 'channel' | 'split' | 'fused';
export const BATCH_NORM_VARIANTS: readonly BatchNormVariant[] = ['channel', 'split', 'fused'];
/** Eval mode's variants (forceVariant family 'batchNormEval'): no batch statistics to split. */
export const EVAL_VARIANTS: readonly BatchNormVariant[] = ['channel', 'fused'];
/** A term of the reduction: adds to a1 and a2 for the unit at index `i` of the channel's plane. */
type Term = (i: string) => string;

// The per-channel kernels (one workgroup per channel, c = wg.x) and the split pass's (c = wg.y) reduce
// two sums with TREE_SUM.
const CHANNEL_ENTRY = `
var<workgroup> shared0: array<f32, ${WG}>;
var<workgroup> shared1: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {`;

const TREE_SUM = (names: string[]) => `
  ${names.map((n, i) => `shared${i}[li] = ${n};`).join(' ')}
  workgroupBarrier();
  for (var step = ${WG / 2}u; step > 0u; step = step >> 1u) {
    if (li < step) { ${names.map((_, i) => `shared${i}[li] += shared${i}[li + step];`).join(' ')} }
    workgroupBarrier();
  }`;

/** The channel's two sums into shared0[0] and shared1[0], from its own loop over the N planes. */
const channelSums = (width: 1 | 4, term: Term) => `
  var a1 = ${zero(width)}; var a2 = a1;
  for (var n = 0u; n < N; n++) {
    let base = (n * C + c) * HW;
    for (var e = li; e < HW; e += ${WG}u) { ${term('base + e')} }
  }
  let s1 = ${laneSum('a1', width)};
  let s2 = ${laneSum('a2', width)};
  ${TREE_SUM(['s1', 's2'])}`;

/** The channel's two sums s1 and s2 from its partials, added in order (every thread the same). */
const PARTIAL_SUMS = `
  var s1 = 0.0; var s2 = 0.0;
  for (var k = 0u; k < u.chunks; k++) {
    let p = 2u * (c * u.chunks + k);
    s1 += Part[p]; s2 += Part[p + 1u];
  }`;

const PART = { name: 'Part', type: 'f32', access: 'read' as const };

/**
 * Training statistics from the channel's two sums of x - shift0 (its M = N * HW units of `width`):
 * `mean` and `varB` (declared before), and the running estimates updated where `writer` holds.
 */
const trainingStats = (width: 1 | 4, P: Elem, s1: string, s2: string, writer: string) => `
    let M = f32(N * HW * ${width}u);
    let m1 = ${s1} / M;
    mean = shift0 + m1;
    varB = max(${s2} / M - m1 * m1, 0.0);
    if (${writer} && u.hasRunning == 1u) {
      let mom = u.momentum;
      let rm = u.rmOffset + c;
      let rv = u.rvOffset + c;
      RM[rm] = ${P}((1.0 - mom) * f32(RM[rm]) + mom * mean);
      RV[rv] = ${P}((1.0 - mom) * f32(RV[rv]) + mom * varB * M / max(M - 1.0, 1.0));
    }`;

/** The normalisation's invstd, scale and shift from mean and varB, saved to Stats where `writer` holds. */
const normalization = (writer: string) => `
  let invstd = inverseSqrt(varB + u.eps);
  let scale = f32(Wt[u.wOffset + c]) * invstd;
  let shift = f32(Bs[u.bOffset + c]) - mean * scale;
  if (${writer}) {
    Stats[4u * c] = mean;
    Stats[4u * c + 1u] = invstd;
    Stats[4u * c + 2u] = scale;
    Stats[4u * c + 3u] = shift;
  }`;

/** A fused kernel's second pass: `body(i)` for each unit i of the channel's N planes, this thread's share. */
const overChannel = (body: (i: string) => string) => `
  for (var n = 0u; n < N; n++) {
    let base = (n * C + c) * HW;
    for (var e = li; e < HW; e += ${WG}u) { let i = base + e; ${body('i')} }
  }`;

// A held sum taken over (runtime/sums.ts): the kernel first makes its units of the input from the
// partials Part (splits of pStride units), added in the held sum's order (and, for a sum that
// accumulates, added to the value already there), stores them rounded as the sum pass would, and then
// reads them back as stored, after a barrier, as if the sum pass had run before it. The per-channel
// kernels make their channel; the split pass, its chunk (the per-unit pass after it reads them stored).
const makeUnit = (E: Elem, width: 1 | 4, target: 'X' | 'DY', i: string, accumulate: boolean) => `{
      var v = ${zero(width)};
      for (var s = 0u; s < u.splits; s++) { v += Part[s * u.pStride + ${i}]; }
      ${target}[${i}] = ${unit(width, E)}(${accumulate ? `${load(width, `${target}[${i}]`)} + v` : 'v'});
    }`;
const MAKE_FROM_PARTS = (E: Elem, width: 1 | 4, target: 'X' | 'DY', offset: string, accumulate: boolean) => `
  for (var n = 0u; n < N; n++) {
    let base = ${offset} + (n * C + c) * HW;
    for (var e = li; e < HW; e += ${WG}u) ${makeUnit(E, width, target, 'base + e', accumulate)}
  }
  storageBarrier();`;
const partsBinding = (width: 1 | 4) => ({ name: 'Part', type: unit(width), access: 'read' as const });

// The split pass: workgroup (k, c) sums the units j in [k * chunk, (k + 1) * chunk) of channel c's
// N * HW (j = n * HW + e, in units of width elements; offsets too) into Part[2 * (c * chunks + k)] and
// the next word. dyOffset is unused by the statistics; the statistics' pass also counts the batch
// (countOffset) when counting. The pass may take over its input's held sum (parts; 'add': one adding
// to dy's values): it makes its chunk of x or dy first. The statistics' shift is the channel's first
// element, which another workgroup makes: each works it out from the partials too, the same f32 sum
// (float32 only: a float16 x would be rounded in a register here and in memory there, and the two
// passes' shifts must be the same bits).
const PARTIALS = uniforms({ N: 'u32', C: 'u32', HW: 'u32', xOffset: 'u32', dyOffset: 'u32', chunk: 'u32', chunks: 'u32', countOffset: 'u32', splits: 'u32', pStride: 'u32' });
const partials = (E: Elem, width: 1 | 4, pass: 'stats' | BatchNormEpilogue, counting = false, parts: 'sum' | 'add' | null = null) => ({
  name: 'batchNormPartials',
  key: `${E}${width}${pass}${counting ? 'c' : ''}${parts ? `p${parts}` : ''}`,
  uniforms: PARTIALS,
  bindings: [
    { name: 'X', type: unit(width, E), access: parts && pass === 'stats' ? ('read_write' as const) : ('read' as const) },
    ...(pass === 'stats'
      ? []
      : [
          { name: 'DY', type: unit(width, E), access: parts ? ('read_write' as const) : ('read' as const) },
          { name: 'Stats', type: 'f32', access: 'read' as const },
          ...(pass === 'none' ? [] : [{ name: 'Y', type: unit(width, E), access: 'read' as const }]),
        ]),
    { name: 'Out', type: 'f32', access: 'read_write' as const },
    ...(counting ? [{ name: 'Count', type: 'i32', access: 'read_write' as const }] : []),
    ...(parts ? [partsBinding(width)] : []),
  ],
  body: () => `${CHANNEL_ENTRY}
  let N = u.N; let C = u.C; let HW = u.HW; let xo = u.xOffset; let go = u.dyOffset;
  let c = wg.y;
  ${counting ? 'if (wg.x == 0u && c == 0u && li == 0u) { Count[u.countOffset] += 1; }' : ''}
  let end = min((wg.x + 1u) * u.chunk, N * HW);
  let dn = ${WG}u / HW; let de = ${WG}u % HW;
  // (n, e) of unit j, stepped without dividing in the loop.
  ${parts ? `{
    var j = wg.x * u.chunk + li;
    var n = j / HW; var e = j % HW;
    for (; j < end; j += ${WG}u) {
      ${pass === 'stats' ? makeUnit(E, width, 'X', 'xo + (n * C + c) * HW + e', false) : makeUnit(E, width, 'DY', 'go + (n * C + c) * HW + e', parts === 'add')}
      n += dn; e += de;
      if (e >= HW) { e -= HW; n += 1u; }
    }
    storageBarrier();
  }` : ''}
  ${pass !== 'stats' ? 'let mean = Stats[4u * c];' : parts ? `var first = ${zero(width)};
  for (var s = 0u; s < u.splits; s++) { first += Part[s * u.pStride + xo + c * HW]; }
  let shift0 = first${width === 4 ? '.x' : ''};` : `let shift0 = f32(X[xo + c * HW]${width === 4 ? '.x' : ''});`}
  var j = wg.x * u.chunk + li;
  var n = j / HW; var e = j % HW;
  var a1 = ${zero(width)}; var a2 = a1;
  for (; j < end; j += ${WG}u) {
    let i = (n * C + c) * HW + e;
    ${pass === 'stats' ? STATS_TERM(width)('i') : BACKWARD_TERM(width, pass)('i')}
    n += dn; e += de;
    if (e >= HW) { e -= HW; n += 1u; }
  }
  let s1 = ${laneSum('a1', width)};
  let s2 = ${laneSum('a2', width)};
  ${TREE_SUM(['s1', 's2'])}
  if (li == 0u) {
    let p = 2u * (c * u.chunks + wg.x);
    Out[p] = shared0[0]; Out[p + 1u] = shared1[0];
  }
}`,
});

const STATS_TERM = (width: 1 | 4): Term => (i) => `let v = ${load(width, `X[xo + ${i}]`)} - shift0; a1 += v; a2 += v * v;`;

// training and hasRunning are 0 or 1; HW and xOffset count units of `width` elements; the parameters'
// offsets (they may be views into larger buffers) count elements, and so does that of the batch counter
// (nn.BatchNorm2d's num_batches_tracked: counted here rather than in two more dispatches) when counting.
// rOffset (in units) is the residual's, read by the fused variant's addRelu epilogue.
const STATS = uniforms({
  N: 'u32', C: 'u32', HW: 'u32', eps: 'f32', momentum: 'f32', training: 'u32', xOffset: 'u32',
  hasRunning: 'u32', wOffset: 'u32', bOffset: 'u32', rmOffset: 'u32', rvOffset: 'u32', countOffset: 'u32', rOffset: 'u32',
  splits: 'u32', pStride: 'u32',
});
/**
 * What every kernel that finishes the statistics binds: x, weight, bias, the running estimates, the saved
 * statistics. x is written by a kernel that makes it from a held sum's partials (fromParts).
 */
const statsBindings = (E: Elem, P: Elem, width: 1 | 4, writesX = false) => [
  { name: 'X', type: unit(width, E), access: writesX ? ('read_write' as const) : ('read' as const) },
  { name: 'Wt', type: P, access: 'read' as const },
  { name: 'Bs', type: P, access: 'read' as const },
  { name: 'RM', type: P, access: 'read_write' as const },
  { name: 'RV', type: P, access: 'read_write' as const },
  { name: 'Stats', type: 'f32', access: 'read_write' as const },
];
/** The residual (addRelu) and y of a kernel that also applies. */
const yBindings = (E: Elem, width: 1 | 4, epilogue: BatchNormEpilogue) => [
  ...(epilogue === 'addRelu' ? [{ name: 'R', type: unit(width, E), access: 'read' as const }] : []),
  { name: 'Y', type: unit(width, E), access: 'read_write' as const },
];

// The fused variant also applies, as `apply` does: its bindings go on with R (addRelu) and Y. With
// `fromParts`, x is a held sum that the kernel makes first (MAKE_FROM_PARTS).
const stats = (E: Elem, P: Elem, width: 1 | 4, counting: boolean, variant: 'channel' | 'fused', epilogue: BatchNormEpilogue = 'none', fromParts = false) => ({
  name: 'batchNormStats',
  key: `${E}${P}${width}${counting ? 'c' : ''}${variant === 'fused' ? `f${epilogue}` : ''}${fromParts ? 'p' : ''}`,
  uniforms: STATS,
  bindings: [
    ...statsBindings(E, P, width, fromParts),
    ...(counting ? [{ name: 'Count', type: 'i32', access: 'read_write' as const }] : []),
    ...(variant === 'fused' ? yBindings(E, width, epilogue) : []),
    ...(fromParts ? [partsBinding(width)] : []),
  ],
  body: () => `${CHANNEL_ENTRY}
  // HW and xo count in units of ${width} elements.
  ${counting ? 'if (wg.x == 0u && li == 0u) { Count[u.countOffset] += 1; }' : ''}
  let N = u.N; let C = u.C; let HW = u.HW; let xo = u.xOffset;
  let c = wg.x;${fromParts ? MAKE_FROM_PARTS(E, width, 'X', 'xo', false) : ''}
  var mean: f32; var varB: f32;
  if (u.training == 1u) {
    let shift0 = f32(X[xo + c * HW]${width === 4 ? '.x' : ''});
    ${channelSums(width, STATS_TERM(width))}
    ${trainingStats(width, P, 'shared0[0]', 'shared1[0]', 'li == 0u')}
  } else {
    mean = f32(RM[u.rmOffset + c]);
    varB = f32(RV[u.rvOffset + c]);
  }${normalization('li == 0u')}${variant === 'fused' ? overChannel((i) => applyUnit(E, width, epilogue, `X[xo + ${i}]`, 'scale', 'shift', `R[u.rOffset + ${i}]`, `Y[${i}]`)) : ''}
}`,
});

// The per-unit kernels: workgroups run along one (n, c) plane (y = plane), so the channel c is
// uniform per workgroup and no thread divides; i is the unit's index. Their uniforms start with the
// plane's units (HW) and C.
const PLANE_ENTRY = `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let e = wg.x * ${WG}u + li;
  let HW = u.HW;
  if (e >= HW) { return; }
  let c = wg.y % u.C;
  let i = wg.y * HW + e;`;

/**
 * What follows the normalisation in the same pass: nothing, a ReLU, or a residual added and then a
 * ReLU (HRNet's blocks: relu(bn(conv(x))) and relu(bn(conv(y)) + x)). The fused forms save the
 * passes over memory (and the dispatches) of the add, the ReLU and the ReLU's gradient.
 */
export type BatchNormEpilogue = 'none' | 'relu' | 'addRelu';

/** y = x * scale + shift (+ r, then max(0, .)) for one unit, stored; shared by apply and the fused statistics. */
const applyUnit = (E: Elem, width: 1 | 4, epilogue: BatchNormEpilogue, x: string, scale: string, shift: string, r: string, y: string) => `
  var y = ${load(width, x)} * ${scale} + ${shift};
  ${epilogue === 'addRelu' ? `y += ${load(width, r)};` : ''}
  ${epilogue === 'none' ? '' : `y = max(y, ${unit(width)}());`}
  ${y} = ${unit(width, E)}(y);`;

// y = x * scale[c] + shift[c] (+ r, then max(0, .)), in units of `width` elements (offsets too).
const APPLY = uniforms({ HW: 'u32', C: 'u32', xOffset: 'u32', rOffset: 'u32' });
const apply = (E: Elem, width: 1 | 4, epilogue: BatchNormEpilogue) => ({
  name: 'batchNormApply',
  key: `${E}${width}${epilogue}`,
  uniforms: APPLY,
  bindings: [
    { name: 'X', type: unit(width, E), access: 'read' as const },
    { name: 'Stats', type: 'f32', access: 'read' as const },
    ...(epilogue === 'addRelu' ? [{ name: 'R', type: unit(width, E), access: 'read' as const }] : []),
    { name: 'Y', type: unit(width, E), access: 'read_write' as const },
  ],
  body: () => `${PLANE_ENTRY}${applyUnit(E, width, epilogue, 'X[u.xOffset + i]', 'Stats[4u * c + 2u]', 'Stats[4u * c + 3u]', 'R[u.rOffset + i]', 'Y[i]')}
}`,
});

// The split forward's per-unit pass: the statistics from the partials, then y as apply. The first
// workgroup of channel c (plane n = 0, wg.x = 0) updates the running estimates and saves Stats.
const APPLY_SPLIT = uniforms({
  N: 'u32', C: 'u32', HW: 'u32', eps: 'f32', momentum: 'f32', xOffset: 'u32', rOffset: 'u32',
  hasRunning: 'u32', wOffset: 'u32', bOffset: 'u32', rmOffset: 'u32', rvOffset: 'u32', chunks: 'u32',
});
const FIRST_OF_CHANNEL = 'wg.y == c && wg.x == 0u && li == 0u';
const applySplit = (E: Elem, P: Elem, width: 1 | 4, epilogue: BatchNormEpilogue) => ({
  name: 'batchNormApply',
  key: `${E}${P}${width}${epilogue}s`,
  uniforms: APPLY_SPLIT,
  bindings: [PART, ...statsBindings(E, P, width), ...yBindings(E, width, epilogue)],
  body: () => `${PLANE_ENTRY}
  let N = u.N;
  let shift0 = f32(X[u.xOffset + c * HW]${width === 4 ? '.x' : ''});
  ${PARTIAL_SUMS}
  var mean: f32; var varB: f32;
  ${trainingStats(width, P, 's1', 's2', FIRST_OF_CHANNEL)}
  ${normalization(FIRST_OF_CHANNEL)}
  ${applyUnit(E, width, epilogue, 'X[u.xOffset + i]', 'scale', 'shift', 'R[u.rOffset + i]', 'Y[i]')}
}`,
});

/** The gradient reaching the normalisation: dy itself, or masked where the fused ReLU's output was 0. */
const maskedDy = (width: 1 | 4, epilogue: BatchNormEpilogue, dy: string, y: string) =>
  epilogue === 'none' ? load(width, dy) : `select(${unit(width)}(), ${load(width, dy)}, ${load(width, y)} > ${unit(width)}())`;

// Per channel: dw = sum(dy * xhat), db = sum(dy), and dx = k1*dy + k2*x + k3. HW and the x and dy
// offsets count units; the weight's offset counts elements.
const BACKWARD_TERM = (width: 1 | 4, epilogue: BatchNormEpilogue): Term => (i) =>
  `let dy = ${maskedDy(width, epilogue, `DY[go + ${i}]`, `Y[${i}]`)}; a1 += dy; a2 += dy * (${load(width, `X[xo + ${i}]`)} - mean);`;

/**
 * dx's coefficients k1, k2, k3 from the channel's sums of dy (s1) and dy * (x - mean) (s2), and its
 * weight and bias gradients, written to Coef where `writer` holds.
 */
const backwardCoefficients = (width: 1 | 4, s1: string, s2: string, writer: string) => `
  let M = f32(N * HW * ${width}u);
  let db = ${s1};
  let dw = ${s2} * invstd;
  let k1 = f32(Wt[u.wOffset + c]) * invstd;
  var k2 = 0.0; var k3 = 0.0;
  if (u.training == 1u) {
    // dx = k1 * (dy - db/M - xhat * dw/M), xhat = (x - mean) * invstd
    k2 = -k1 * invstd * dw / M;
    k3 = -k1 * db / M - k2 * mean;
  }
  if (${writer}) {
    // One row per coefficient (row j at j * C): dw and db are contiguous [C] views, gradients as they are.
    Coef[c] = k1; Coef[C + c] = k2; Coef[2u * C + c] = k3;
    Coef[3u * C + c] = dw; Coef[4u * C + c] = db;
  }`;

// The fused variant also writes dx (and a fused residual's gradient) as backwardApply does: bindings DX, DR.
// With `fromParts`, dy is a held sum that the kernel makes first (MAKE_FROM_PARTS; 'add': one that adds
// to the gradient already in dy's buffer).
const BACKWARD_REDUCE = uniforms({ N: 'u32', C: 'u32', HW: 'u32', training: 'u32', xOffset: 'u32', dyOffset: 'u32', wOffset: 'u32', splits: 'u32', pStride: 'u32' });
const backwardReduce = (E: Elem, P: Elem, width: 1 | 4, epilogue: BatchNormEpilogue, variant: 'channel' | 'fused', fromParts: 'sum' | 'add' | null = null) => ({
  name: 'batchNormBackwardReduce',
  key: `${E}${P}${width}${variant === 'fused' ? `f${epilogue}` : epilogue === 'none' ? '' : 'relu'}${fromParts ? `p${fromParts}` : ''}`,
  uniforms: BACKWARD_REDUCE,
  bindings: [
    { name: 'X', type: unit(width, E), access: 'read' as const },
    { name: 'DY', type: unit(width, E), access: fromParts ? ('read_write' as const) : ('read' as const) },
    { name: 'Wt', type: P, access: 'read' as const },
    { name: 'Stats', type: 'f32', access: 'read' as const },
    ...(epilogue === 'none' ? [] : [{ name: 'Y', type: unit(width, E), access: 'read' as const }]),
    { name: 'Coef', type: 'f32', access: 'read_write' as const },
    ...(variant === 'fused' ? dxBindings(E, width, epilogue) : []),
    ...(fromParts ? [partsBinding(width)] : []),
  ],
  body: () => `${CHANNEL_ENTRY}
  let N = u.N; let C = u.C; let HW = u.HW; let xo = u.xOffset; let go = u.dyOffset;
  let c = wg.x;${fromParts ? MAKE_FROM_PARTS(E, width, 'DY', 'go', fromParts === 'add') : ''}
  let mean = Stats[4u * c];
  let invstd = Stats[4u * c + 1u];
  ${channelSums(width, BACKWARD_TERM(width, epilogue))}
  ${backwardCoefficients(width, 'shared0[0]', 'shared1[0]', 'li == 0u')}${variant === 'fused' ? overChannel((i) => dxUnit(E, width, epilogue, `DY[go + ${i}]`, `X[xo + ${i}]`, i, 'k1', 'k2', 'k3')) : ''}
}`,
});

/** The outputs of dx's pass: DX, and after a fused residual its gradient DR. */
const dxBindings = (E: Elem, width: 1 | 4, epilogue: BatchNormEpilogue) => [
  { name: 'DX', type: unit(width, E), access: 'read_write' as const },
  ...(epilogue === 'addRelu' ? [{ name: 'DR', type: unit(width, E), access: 'read_write' as const }] : []),
];

/** dx = k1*dy + k2*x + k3 for the unit at i (masked dy after a fused ReLU), and DR = dy after a residual. */
const dxUnit = (E: Elem, width: 1 | 4, epilogue: BatchNormEpilogue, dy: string, x: string, i: string, k1: string, k2: string, k3: string) => `
  let dy = ${maskedDy(width, epilogue, dy, `Y[${i}]`)};
  DX[${i}] = ${unit(width, E)}(${k1} * dy + ${k2} * ${load(width, x)} + ${k3});
  ${epilogue === 'addRelu' ? `DR[${i}] = ${unit(width, E)}(dy);` : ''}`;

// dx = k1*dy + k2*x + k3 (and, after a fused residual, its gradient: the masked dy), in units of
// `width` elements (offsets too), one (n, c) plane per workgroup row as in apply.
const BACKWARD_APPLY = uniforms({ HW: 'u32', C: 'u32', xOffset: 'u32', dyOffset: 'u32' });
const backwardApply = (E: Elem, width: 1 | 4, epilogue: BatchNormEpilogue) => ({
  name: 'batchNormBackwardApply',
  key: `${E}${width}${epilogue}`,
  uniforms: BACKWARD_APPLY,
  bindings: [
    { name: 'X', type: unit(width, E), access: 'read' as const },
    { name: 'DY', type: unit(width, E), access: 'read' as const },
    { name: 'Coef', type: 'f32', access: 'read' as const },
    ...(epilogue === 'none' ? [] : [{ name: 'Y', type: unit(width, E), access: 'read' as const }]),
    ...dxBindings(E, width, epilogue),
  ],
  body: () => `${PLANE_ENTRY}
  let C = u.C;${dxUnit(E, width, epilogue, 'DY[u.dyOffset + i]', 'X[u.xOffset + i]', 'i', 'Coef[c]', 'Coef[C + c]', 'Coef[2u * C + c]')}
}`,
});

// The split backward's per-unit pass: dx's coefficients from the partials, then dx as backwardApply;
// the first workgroup of channel c writes the coefficients (the weight and bias gradients among them).
const BACKWARD_APPLY_SPLIT = uniforms({ N: 'u32', C: 'u32', HW: 'u32', training: 'u32', xOffset: 'u32', dyOffset: 'u32', wOffset: 'u32', chunks: 'u32' });
const backwardApplySplit = (E: Elem, P: Elem, width: 1 | 4, epilogue: BatchNormEpilogue) => ({
  name: 'batchNormBackwardApply',
  key: `${E}${P}${width}${epilogue}s`,
  uniforms: BACKWARD_APPLY_SPLIT,
  bindings: [
    PART,
    { name: 'X', type: unit(width, E), access: 'read' as const },
    { name: 'DY', type: unit(width, E), access: 'read' as const },
    { name: 'Wt', type: P, access: 'read' as const },
    { name: 'Stats', type: 'f32', access: 'read' as const },
    ...(epilogue === 'none' ? [] : [{ name: 'Y', type: unit(width, E), access: 'read' as const }]),
    { name: 'Coef', type: 'f32', access: 'read_write' as const },
    ...dxBindings(E, width, epilogue),
  ],
  body: () => `${PLANE_ENTRY}
  let N = u.N; let C = u.C;
  let mean = Stats[4u * c];
  let invstd = Stats[4u * c + 1u];
  ${PARTIAL_SUMS}
  ${backwardCoefficients(width, 's1', 's2', FIRST_OF_CHANNEL)}
  ${dxUnit(E, width, epilogue, 'DY[u.dyOffset + i]', 'X[u.xOffset + i]', 'i', 'k1', 'k2', 'k3')}
}`,
});

/** Row j of the [5, C] float32 coefficients as a new tensor of `dtype`. */
function rowAs(coef: Tensor, j: number, C: number, dtype: DType): Tensor {
  const view = coef.view([C], [1], j * C);
  const out = to(view, dtype);
  view.dispose();
  return out;
}

/** What of a held input (runtime/sums.ts) a pass can take over: its elements, dtype and offset. */
interface Takeable {
  at: number;
  elements: number;
  dtype: DType;
  offset: number;
  /** Whether a sum that adds to the buffer's values may be taken (the pass then adds them too). */
  accumulating: boolean;
}

/**
 * Dispatches `kernelOf(null)` on `bufs`, or, when bufs[take.at] is still a held sum that the pass can
 * make itself, `kernelOf('sum' | 'add')` with the sum's partials bound last and `wordsOf` given it. The
 * pass can when the input is all of its buffer (from offset 0), bound once (it becomes writable), and
 * the kernel with the partials fits the adapter's bindings.
 */
function dispatchTakingHeld(bufs: Storage[], take: Takeable | null, kernelOf: (parts: 'sum' | 'add' | null) => Kernel, wordsOf: (held: HeldSum | null) => number[], grid: [number, number?]): void {
  const input = take && bufs[take.at]!;
  const fits = () => kernelOf('sum').bindings.length <= getDevice().info.limits.maxStorageBuffersPerShaderStage;
  const takeable = !!input?.pending && take!.offset === 0 && bufs.indexOf(input) === take!.at && bufs.lastIndexOf(input) === take!.at && fits();
  const held = takeable ? takeSum(input!, take!.elements, take!.dtype, take!.accumulating) : null;
  if (!held) return dispatch(kernelOf(null), bufs, wordsOf(null), grid);
  dispatch(kernelOf(held.accumulate ? 'add' : 'sum'), [...bufs, held.part], wordsOf(held), grid);
  release(held.part, flushNumber());
}

/** Workgroups along a plane (x) for every plane (y). */
function planeGrid(planeUnits: number, planes: number): [number, number] {
  const maxWg = getDevice().info.limits.maxComputeWorkgroupsPerDimension;
  if (planes > maxWg) throw new Error(`batchNorm2d: ${planes} (N x C) planes exceed ${maxWg} workgroups per dimension`);
  return [Math.ceil(planeUnits / WG), planes];
}

// The split pass aims at this many workgroups in all, each over at least MIN_CHUNK units.
const TARGET_WORKGROUPS = 512;
const MIN_CHUNK = 4 * WG;

/** Partials per channel of the split pass: at least 1, at most one per unit. */
function chunksOf(C: number, units: number): { chunk: number; chunks: number } {
  const want = Math.max(1, Math.min(Math.ceil(units / MIN_CHUNK), Math.ceil(TARGET_WORKGROUPS / C)));
  const chunk = Math.ceil(units / want);
  return { chunk, chunks: Math.ceil(units / chunk) };
}

// Per channel, at most this many values go through one workgroup's two passes when a GPU runs untuned.
const FUSED_MAX_VALUES = 4096;
// The most storage bindings a batch norm kernel takes (the fused statistics with a batch counter and a
// residual; the split variant's finishing passes); WebGPU's default limit is 8. Taking over a held sum
// binds one more, done only where the adapter has it.
export const MOST_BINDINGS = 9;

/** The kernels of one per-channel reduction and the per-unit pass that uses it (y, or dx), per variant. */
interface ChannelPasses {
  /** 'channel' and 'fused': one workgroup per channel reduces, and (fused) applies too. */
  reduce(variant: 'channel' | 'fused', buffers: Storage[]): void;
  /** The per-unit pass after 'channel'. */
  apply(buffers: Storage[]): void;
  /** 'split': the partial sums, then the per-unit pass that finishes them. */
  partials(buffers: Storage[], part: Storage, chunk: number, chunks: number): void;
  finish(buffers: Storage[], part: Storage, chunks: number): void;
  /** The storage bindings of each variant's largest kernel: a variant over the adapter's limit is not run. */
  bindings(): Record<BatchNormVariant, number>;
}

/**
 * One per-channel reduction (the statistics, or the backward's sums) and its per-unit pass, on `buffers`
 * (the callbacks' own layout), with the variant chosen per adapter and problem by measurement.
 */
function reduceChannels(problem: string, C: number, units: number, elements: number, buffers: Storage[], passes: ChannelPasses, family = 'batchNorm', variants = BATCH_NORM_VARIANTS): void {
  const { chunk, chunks } = chunksOf(C, units);
  const run = (variant: BatchNormVariant, bufs: Storage[]) => {
    if (variant !== 'split') {
      passes.reduce(variant, bufs);
      if (variant === 'channel') passes.apply(bufs);
      return;
    }
    const part = empty([C * chunks * 2]);
    passes.partials(bufs, part.storage, chunk, chunks);
    passes.finish(bufs, part.storage, chunks);
    part.dispose();
  };
  const { isCpu, limits } = getDevice().info;
  // Every kernel here takes at most MOST_BINDINGS: only a smaller limit needs them counted.
  const fit = limits.maxStorageBuffersPerShaderStage >= MOST_BINDINGS ? null : passes.bindings();
  const candidates = variants.filter((v) => !fit || fit[v] <= limits.maxStorageBuffersPerShaderStage);
  // A CPU's few threads are busy with the channels alone; a GPU's are when each channel's values are
  // few, and not when chunks would be many.
  const preferred: BatchNormVariant = isCpu || elements / C <= FUSED_MAX_VALUES ? 'fused' : chunks >= 4 ? 'split' : 'channel';
  const variant = choose<BatchNormVariant>({
    problem: `${family}|${problem}|C${sizeClass(C)}|M${sizeClass(units)}`,
    candidates,
    label: (v) => v,
    fallback: candidates.includes(preferred) ? preferred : 'channel',
    // Bandwidth-bound: an element read costs about as much time as 50 flops.
    worthTuning: worthTuning(50 * elements),
    prepare: () => {
      const scratch = buffers.map((b) => allocate(b.byteSize));
      return { run: (v) => run(v, scratch), dispose: () => scratch.forEach((st) => release(st, flushNumber())) };
    },
  });
  run(variant, buffers);
}

export interface BatchNormOptions {
  /** Batch statistics (and running-stat updates) when true; running statistics when false. */
  training?: boolean;
  momentum?: number;
  eps?: number;
  /** An int32 scalar incremented in place by the call (nn.BatchNorm2d's `num_batches_tracked`). */
  numBatchesTracked?: Tensor;
  /** A ReLU applied in the same pass: `relu(bn(x))`, or with `residual`, `relu(bn(x) + residual)`. */
  relu?: boolean;
  /** Added to the output before the ReLU (needs `relu`), shaped like x. */
  residual?: Tensor;
}

/**
 * `torch.nn.functional.batch_norm` for NCHW input (any rank >= 2: channels on axis 1). In training
 * mode the running mean and variance (when given) are updated in place:
 * running <- (1 - momentum) * running + momentum * batch (unbiased variance).
 */
export function batchNorm2d(
  x: Tensor,
  weight: Tensor | null | undefined,
  bias: Tensor | null | undefined,
  runningMean: Tensor | null | undefined,
  runningVar: Tensor | null | undefined,
  options: BatchNormOptions = {},
): Tensor {
  x.assertAlive('batchNorm2d');
  const training = options.training ?? true;
  const counter = options.numBatchesTracked;
  if (counter && (counter.assertAlive('batchNorm2d').dtype !== 'int32' || counter.size !== 1)) {
    throw new Error(`batchNorm2d: numBatchesTracked must be an int32 scalar, got ${counter.dtype} ${fmt(counter.shape)}`);
  }
  if (x.rank < 2) throw new Error(`batchNorm2d: input must be [N, C, ...], got ${fmt(x.shape)}`);
  const E = dtypes[commonDType('batchNorm2d', [x])].wgsl;
  const N = x.shape[0]!;
  const C = x.shape[1]!;
  const HW = x.size / Math.max(N * C, 1);
  const params = [['weight', weight], ['bias', bias], ['runningMean', runningMean], ['runningVar', runningVar]] as const;
  for (const [name, t] of params) {
    if (t && (t.assertAlive('batchNorm2d').size !== C || !t.isContiguous)) {
      throw new Error(`batchNorm2d: ${name} ${fmt(t.shape)} must be a contiguous [${C}] for input ${fmt(x.shape)}`);
    }
  }
  // The parameters and statistics share one dtype: float32, or float16 with a float16 input.
  const given = params.flatMap(([, t]) => (t ? [t] : []));
  const pdtype: DType = given.length ? commonDType('batchNorm2d', given) : 'float32';
  if (pdtype === 'float16' && x.dtype !== 'float16') {
    throw new Error(`batchNorm2d: float16 weight, bias or statistics need a float16 input, got ${x.dtype} ${fmt(x.shape)}`);
  }
  if (!training && (!runningMean || !runningVar)) throw new Error('batchNorm2d: eval mode needs runningMean and runningVar');
  const residual = options.residual;
  if (residual && (!options.relu || residual.assertAlive('batchNorm2d').shape.join() !== x.shape.join())) {
    throw new Error(`batchNorm2d: residual ${fmt(residual.shape)} must be shaped like input ${fmt(x.shape)}, and needs relu: true`);
  }
  if (residual) commonDType('batchNorm2d', [x, residual]);
  const P = dtypes[pdtype].wgsl;
  const epilogue: BatchNormEpilogue = residual ? 'addRelu' : options.relu ? 'relu' : 'none';
  if (training && N * HW <= 1) throw new Error(`batchNorm2d: training needs more than one value per channel, input ${fmt(x.shape)}`);
  const w = weight ?? full([C], 1, { dtype: pdtype });
  const b = bias ?? full([C], 0, { dtype: pdtype });
  const rm = runningMean ?? full([C], 0, { dtype: pdtype });
  const rv = runningVar ?? full([C], 1, { dtype: pdtype });
  const hx = asContiguous(x);
  const hr = residual ? asContiguous(residual) : null;
  const statsOut = empty([C, 4]);
  // Planes a multiple of 4 long (HRNet's always are) go through vec4 loads.
  const width = HW % 4 === 0 && hx.t.offset % 4 === 0 && (hr?.t.offset ?? 0) % 4 === 0 ? 4 : 1;
  const xOffset = hx.t.offset / width;
  const rOffset = (hr?.t.offset ?? 0) / width;
  const running = { eps: options.eps ?? 1e-5, momentum: options.momentum ?? 0.1, hasRunning: runningMean ? 1 : 0, wOffset: w.offset, bOffset: b.offset, rmOffset: rm.offset, rvOffset: rv.offset };
  const words = (splits = 0, pStride = 0) => STATS.pack({ N, C, HW: HW / width, training: training ? 1 : 0, xOffset, countOffset: counter?.offset ?? 0, rOffset, ...running, splits, pStride });
  const takeX: Takeable = { at: 0, elements: x.size, dtype: x.dtype, offset: xOffset, accumulating: false };
  const y = empty(x.shape, x.dtype);
  // Buffers: x, w, b, rm, rv, the statistics, the counter; the residual; y.
  const statsCount = counter ? 7 : 6;
  const rest = [...(hr ? [hr.t.storage] : []), y.storage];
  const buffers = [hx.t.storage, w.storage, b.storage, rm.storage, rv.storage, statsOut.storage, ...(counter ? [counter.storage] : []), ...rest];
  const passes: ChannelPasses = {
    // x still a held sum (a split-K conv's output): the pass that reads it first makes it (the split
    // statistics pass for float32 only, see partials).
    reduce: (v, bufs) =>
      dispatchTakingHeld(v === 'fused' ? bufs : bufs.slice(0, statsCount), takeX, (p) => stats(E, P, width, !!counter, v, epilogue, !!p), (h) => words(h?.splits, (h?.stride ?? 0) / width), [C]),
    apply: (bufs) => dispatch(apply(E, width, epilogue), [bufs[0]!, bufs[5]!, ...bufs.slice(statsCount)], APPLY.pack({ HW: HW / width, C, xOffset, rOffset }), planeGrid(HW / width, N * C)),
    partials: (bufs, part, chunk, chunks) =>
      dispatchTakingHeld([bufs[0]!, part, ...bufs.slice(6, statsCount)], E === 'f32' ? takeX : null, (p) => partials(E, width, 'stats', !!counter, p), (h) =>
        PARTIALS.pack({ N, C, HW: HW / width, xOffset, dyOffset: 0, chunk, chunks, countOffset: counter?.offset ?? 0, splits: h?.splits ?? 0, pStride: (h?.stride ?? 0) / width }), [chunks, C]),
    finish: (bufs, part, chunks) =>
      dispatch(applySplit(E, P, width, epilogue), [part, ...bufs.slice(0, 6), ...bufs.slice(statsCount)], APPLY_SPLIT.pack({ N, C, HW: HW / width, xOffset, rOffset, chunks, ...running }), planeGrid(HW / width, N * C)),
    bindings: () => ({
      channel: Math.max(stats(E, P, width, !!counter, 'channel').bindings.length, apply(E, width, epilogue).bindings.length),
      fused: stats(E, P, width, !!counter, 'fused', epilogue).bindings.length,
      split: Math.max(partials(E, width, 'stats', !!counter).bindings.length, applySplit(E, P, width, epilogue).bindings.length),
    }),
  };
  if (!training) {
    // The running statistics need no reduction: the channel's scale and shift, then y, in one dispatch
    // ('fused', the same arithmetic) or two. Its own family: forcing a training variant leaves it be.
    reduceChannels(`${E}|eval${epilogue}`, C, (N * HW) / width, N * C * HW, buffers, passes, 'batchNormEval', EVAL_VARIANTS);
  } else {
    reduceChannels(`${E}|stats${epilogue}`, C, (N * HW) / width, N * C * HW, buffers, passes);
  }
  hx.done();
  hr?.done();
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  // A fused ReLU's gradient mask is read off the output.
  const saved = [x, w, statsOut, ...(epilogue === 'none' ? [] : [y])];
  const out = record(y, 'batchNorm2d', inputs, saved, (dy, [sx, sw, st, sy]) => {
    const cx = asContiguous(sx!);
    const cdy = asContiguous(dy);
    const coef = empty([5, C]);
    const w4 = HW % 4 === 0 && cx.t.offset % 4 === 0 && cdy.t.offset % 4 === 0 ? 4 : 1;
    const m = sy ? 1 : 0;
    const [xo, go] = [cx.t.offset / w4, cdy.t.offset / w4];
    const dx = empty(x.shape, x.dtype);
    const dr = residual ? empty(x.shape, x.dtype) : null;
    // Buffers: x, dy, the statistics, y when masked; the weight; the coefficients; dx, and dr after a
    // residual. The fused and split variants write dx whether or not it is needed.
    const training01 = training ? 1 : 0;
    // dy still a held sum (a split-K conv's input gradient, maybe added to a pending one): the pass that
    // reads it first makes it.
    const takeDy: Takeable = { at: 1, elements: x.size, dtype: x.dtype, offset: go, accumulating: true };
    const passes: ChannelPasses = {
      reduce: (v, bufs) => {
        const [bx, bdy, bst] = bufs;
        const [bw, bcoef] = bufs.slice(3 + m, 5 + m);
        const own = [bx!, bdy!, bw!, bst!, ...bufs.slice(3, 3 + m), bcoef!, ...(v === 'fused' ? bufs.slice(5 + m) : [])];
        dispatchTakingHeld(own, takeDy, (p) => backwardReduce(E, P, w4, epilogue, v, p), (h) =>
          BACKWARD_REDUCE.pack({ N, C, HW: HW / w4, training: training01, xOffset: xo, dyOffset: go, wOffset: sw!.offset, splits: h?.splits ?? 0, pStride: (h?.stride ?? 0) / w4 }), [C]);
      },
      apply: (bufs) => {
        if (!x.requiresGrad && !dr) return;
        dispatch(backwardApply(E, w4, epilogue), [bufs[0]!, bufs[1]!, bufs[4 + m]!, ...bufs.slice(3, 3 + m), ...bufs.slice(5 + m)], BACKWARD_APPLY.pack({ HW: HW / w4, C, xOffset: xo, dyOffset: go }), planeGrid(HW / w4, N * C));
      },
      partials: (bufs, part, chunk, chunks) =>
        dispatchTakingHeld([...bufs.slice(0, 3 + m), part], takeDy, (p) => partials(E, w4, epilogue === 'none' ? 'none' : 'relu', false, p), (h) =>
          PARTIALS.pack({ N, C, HW: HW / w4, xOffset: xo, dyOffset: go, chunk, chunks, countOffset: 0, splits: h?.splits ?? 0, pStride: (h?.stride ?? 0) / w4 }), [chunks, C]),
      finish: (bufs, part, chunks) => {
        const [bx, bdy, bst] = bufs;
        const [bw, bcoef] = bufs.slice(3 + m, 5 + m);
        dispatch(backwardApplySplit(E, P, w4, epilogue), [part, bx!, bdy!, bw!, bst!, ...bufs.slice(3, 3 + m), bcoef!, ...bufs.slice(5 + m)], BACKWARD_APPLY_SPLIT.pack({ N, C, HW: HW / w4, training: training01, xOffset: xo, dyOffset: go, wOffset: sw!.offset, chunks }), planeGrid(HW / w4, N * C));
      },
      bindings: () => ({
        channel: Math.max(backwardReduce(E, P, w4, epilogue, 'channel').bindings.length, backwardApply(E, w4, epilogue).bindings.length),
        fused: backwardReduce(E, P, w4, epilogue, 'fused').bindings.length,
        split: Math.max(partials(E, w4, epilogue === 'none' ? 'none' : 'relu').bindings.length, backwardApplySplit(E, P, w4, epilogue).bindings.length),
      }),
    };
    reduceChannels(
      `${E}${P}|backward${epilogue}`, C, (N * HW) / w4, N * C * HW,
      [cx.t.storage, cdy.t.storage, st!.storage, ...(sy ? [sy.storage] : []), sw!.storage, coef.storage, dx.storage, ...(dr ? [dr.storage] : [])],
      passes,
    );
    cx.done();
    cdy.done();
    // dweight and dbias in the parameters' dtype (rounded once when that is float16).
    const row = (j: number) => (pdtype === 'float32' ? coef.view([C], [1], j * C) : rowAs(coef, j, C, pdtype));
    const grads = [
      x.requiresGrad ? dx : null,
      ...(weight ? [weight.requiresGrad ? row(3) : null] : []),
      ...(bias ? [bias.requiresGrad ? row(4) : null] : []),
      ...(residual ? [residual.requiresGrad ? dr : (dr!.dispose(), null)] : []),
    ];
    if (!x.requiresGrad) dx.dispose();
    coef.dispose();
    return grads;
  });
  if (!weight) w.dispose();
  if (!bias) b.dispose();
  if (!runningMean) rm.dispose();
  if (!runningVar) rv.dispose();
  statsOut.dispose();
  return out;
}
