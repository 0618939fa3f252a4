// conv2d on NCHW with PyTorch's (out, in/groups, kh, kw) weights, as implicit GEMMs: no im2col
// buffer. Each thread owns 8 channels x 4 neighbouring columns of one output row, so a row of input
// values loaded once serves every kernel column, and the weights arrive as vec4s from a small
// re-laid copy (channels fastest, padded to a multiple of 8). The three passes — forward, input
// gradient, weight gradient — have kernels of their own; the weight gradient splits the reduction
// over bands of output rows (of all images in turn) when the device needs the threads, and sums the
// partials once.
//
// float16 tensors run the same kernels with half storage: every load widens to f32, every sum runs in
// f32 (the weight gradient's partials are f32 too), and each result is rounded to half once, on store.
// A float16 input takes float32 weights and bias (mixed precision): the kernels read each operand in its
// own dtype, the output and input gradient are float16, the weight gradient float32 from the f32 sums.
//
// Those kernels are shaped for lavapipe (a CPU), and a CPU adapter keeps them. GPUs also get the three
// passes as implicit GEMMs of the tiled core (convgemm.ts, gemm.ts: workgroup-memory tiles, split-K for
// the weight gradient's small output and long reduction); the tuner picks per pass.
import { record } from '../autograd.js';
import { type DType, type DTypeInfo, dtypes } from '../dtype.js';
import { uniforms } from '../runtime/uniforms.js';
import { type Storage, allocate, release } from '../runtime/pool.js';
import { dispatch, flushNumber } from '../runtime/queue.js';
import { holdSum } from '../runtime/sums.js';
import { choose, sizeClass } from '../runtime/tune.js';
import { getDevice } from '../device.js';
import { type GemmTile, GEMM_TILES, elemsKey, gemm, gemmChoices, gemmHeld, gemmLabel, gemmPlan, gemmUnderfilled, productDTypes, splitPartials } from './gemm.js';
import { backwardDataOps, backwardWeightOps, forwardOps } from './convgemm.js';
import { laidWeights } from './convlayouts.js';
import { fmt } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { sum } from './reduce.js';
import { asContiguous } from './rows.js';
import { contiguous, copyInto } from './copy.js';
import { slice } from './view.js';

const WG = 64;
const CT = 8; // channels per thread
const pad8 = (n: number) => Math.ceil(n / CT) * CT;
/** The WGSL element type of a tensor's storage ('f32' or 'f16' here): part of every kernel key. */
type Elem = DTypeInfo['wgsl'];
const elem = (dtype: DType): Elem => dtypes[dtype].wgsl;

interface Geometry {
  dtype: DType; // of the input, the output and the input gradient
  wdtype: DType; // of the weight, the bias and their gradients
  N: number; C: number; H: number; W: number; // input
  F: number; KH: number; KW: number; // filters
  OH: number; OW: number;
  stride: number; padH: number; padW: number;
}

// The geometry every conv kernel reads (sizes are u32; the kernels index rows and columns as i32).
const GEOM = { N: 'u32', C: 'u32', H: 'u32', W: 'u32', F: 'u32', OH: 'u32', OW: 'u32', padH: 'i32', padW: 'i32' } as const;
const geom = (g: Geometry) => ({ N: g.N, C: g.C, H: g.H, W: g.W, F: g.F, OH: g.OH, OW: g.OW, padH: g.padH, padW: g.padW });
// Each kernel's own uniforms after the geometry: offsets of its inputs, the bias flag, the row bands.
const FORWARD = uniforms({ ...GEOM, xOff: 'u32', wOff: 'u32', hasBias: 'u32', biasOff: 'u32' });
const DATA = uniforms({ ...GEOM, dyOff: 'u32', wOff: 'u32' });
const WEIGHT = uniforms({ ...GEOM, xOff: 'u32', dyOff: 'u32', rows: 'u32', splits: 'u32' });
/** The entry of the tiled kernels, with the shared params read. */
const GEOM_ENTRY = `
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let N = u.N; let C = u.C; let H = i32(u.H); let W = i32(u.W); let F = u.F;
  let OH = i32(u.OH); let OW = i32(u.OW); let padH = u.padH; let padW = u.padW;`;

/** Forward: out[n, f, oh, ow] over a thread tile of 8 filters x 4 columns. */
/** E: the input's and output's element type; EW: the weights' and bias's. */
function forwardKernel(E: Elem, EW: Elem, KH: number, KW: number, S: number, TW: number) {
  const J = (TW - 1) * S + KW; // input columns one tile row touches
  const quads = [...Array(TW / 4).keys()];
  return {
    name: 'conv2d',
    key: `${elemsKey(E, EW)}${KH}x${KW}s${S}w${TW}`,
    uniforms: FORWARD,
    bindings: [
      { name: 'X', type: E, access: 'read' as const },
      { name: 'WT', type: `vec4<${EW}>`, access: 'read' as const },
      { name: 'Bias', type: EW, access: 'read' as const },
      { name: 'O', type: E, access: 'read_write' as const },
    ],
    body: () => `${GEOM_ENTRY}
  let tiles = u32((OW + ${TW - 1}) / ${TW});
  let s = wg.x * ${WG}u + li;
  if (s >= N * u32(OH) * tiles) { return; }
  let f0 = wg.y * ${CT}u;
  let ow0 = i32(s % tiles) * ${TW};
  let oh = i32((s / tiles) % u32(OH));
  let n = s / (tiles * u32(OH));
  let FPad = (F + ${CT - 1}u) / ${CT}u * ${CT}u;
  ${[...Array(CT).keys()].flatMap((c) => quads.map((q) => `var acc${c}_${q} = vec4<f32>();`)).join(' ')}
  for (var ci = 0u; ci < C; ci++) {
    for (var kh = 0; kh < ${KH}; kh++) {
      let ih = oh * ${S} - padH + kh;
      if (ih < 0 || ih >= H) { continue; }
      let rowBase = u.xOff + ((n * C + ci) * u32(H) + u32(ih)) * u32(W);
      let iw0 = ow0 * ${S} - padW;
      ${[...Array(J).keys()].map((j) => `let x${j} = select(0.0, f32(X[rowBase + u32(max(iw0 + ${j}, 0))]), iw0 + ${j} >= 0 && iw0 + ${j} < W);`).join('\n      ')}
      let kBase = u.wOff + ((ci * ${KH}u + u32(kh)) * ${KW}u) * FPad + f0;
      ${[...Array(KW).keys()].map((kw) => `{
        let wa = vec4<f32>(WT[(kBase + ${kw}u * FPad) >> 2u]);
        let wb = vec4<f32>(WT[((kBase + ${kw}u * FPad) >> 2u) + 1u]);
        ${quads.map((q) => `let xin${q} = vec4<f32>(${[0, 1, 2, 3].map((t) => `x${(4 * q + t) * S + kw}`).join(', ')});
        ${[0, 1, 2, 3].map((c) => `acc${c}_${q} += wa[${c}] * xin${q}; acc${c + 4}_${q} += wb[${c}] * xin${q};`).join(' ')}`).join('\n        ')}
      }`).join('\n      ')}
    }
  }
  let outRow = u32(oh) * u32(OW) + u32(ow0);
  ${[...Array(CT).keys()].map((c) => `if (f0 + ${c}u < F) {
    let b = select(0.0, f32(Bias[u.biasOff + f0 + ${c}u]), u.hasBias == 1u);
    let o = (n * F + f0 + ${c}u) * u32(OH * OW) + outRow;
    ${quads.map((q) => `for (var t = 0; t < 4; t++) { if (ow0 + ${4 * q} + t < OW) { O[o + ${4 * q}u + u32(t)] = ${E}(acc${c}_${q}[t] + b); } }`).join('\n    ')}
  }`).join('\n  ')}
}`,
  };
}

/** Input gradient: dx[n, c, ih, iw] over 8 input channels x 4 columns; with `accumulate`, added to DX's values. */
function backwardDataKernel(E: Elem, EW: Elem, KH: number, KW: number, S: number, TW: number, accumulate: boolean) {
  const J = TW - 1 + KW; // output-column candidates one tile row touches (before the stride test)
  const quads = [...Array(TW / 4).keys()];
  const plusPending = (at: string) => (accumulate ? `f32(DX[${at}]) + ` : '');
  return {
    name: 'conv2dBackwardData',
    key: `${elemsKey(E, EW)}${KH}x${KW}s${S}w${TW}${accumulate ? 'a' : ''}`,
    uniforms: DATA,
    bindings: [
      { name: 'DY', type: E, access: 'read' as const },
      { name: 'WD', type: `vec4<${EW}>`, access: 'read' as const },
      { name: 'DX', type: E, access: 'read_write' as const },
    ],
    body: () => `${GEOM_ENTRY}
  let tiles = u32((W + ${TW - 1}) / ${TW});
  let s = wg.x * ${WG}u + li;
  if (s >= N * u32(H) * tiles) { return; }
  let c0 = wg.y * ${CT}u;
  let iw0 = i32(s % tiles) * ${TW};
  let ih = i32((s / tiles) % u32(H));
  let n = s / (tiles * u32(H));
  let CPad = (C + ${CT - 1}u) / ${CT}u * ${CT}u;
  ${[...Array(CT).keys()].flatMap((c) => quads.map((q) => `var acc${c}_${q} = vec4<f32>();`)).join(' ')}
  for (var f = 0u; f < F; f++) {
    for (var kh = 0; kh < ${KH}; kh++) {
      let ohs = ih + padH - kh;
      if (ohs < 0 || ohs % ${S} != 0 || ohs / ${S} >= OH) { continue; }
      let rowBase = u.dyOff + ((n * F + f) * u32(OH) + u32(ohs / ${S})) * u32(OW);
      let ows0 = iw0 + padW - ${KW - 1};
      ${[...Array(J).keys()].map((j) => `let d${j} = select(0.0, f32(DY[rowBase + u32(max(ows0 + ${j}, 0) / ${S})]), ows0 + ${j} >= 0 && (ows0 + ${j}) % ${S} == 0 && (ows0 + ${j}) / ${S} < OW);`).join('\n      ')}
      let kBase = u.wOff + ((f * ${KH}u + u32(kh)) * ${KW}u) * CPad + c0;
      ${[...Array(KW).keys()].map((kw) => {
        // column t of the tile meets kernel column kw at output candidate j = t - kw + KW - 1
        const j = (t: number) => `d${t - kw + KW - 1}`;
        return `{
        let wa = vec4<f32>(WD[(kBase + ${kw}u * CPad) >> 2u]);
        let wb = vec4<f32>(WD[((kBase + ${kw}u * CPad) >> 2u) + 1u]);
        ${quads.map((q) => `let dyv${q} = vec4<f32>(${[0, 1, 2, 3].map((t) => j(4 * q + t)).join(', ')});
        ${[0, 1, 2, 3].map((c) => `acc${c}_${q} += wa[${c}] * dyv${q}; acc${c + 4}_${q} += wb[${c}] * dyv${q};`).join(' ')}`).join('\n        ')}
      }`;
      }).join('\n      ')}
    }
  }
  let row = u32(ih) * u32(W) + u32(iw0);
  ${[...Array(CT).keys()].map((c) => `if (c0 + ${c}u < C) {
    let o = (n * C + c0 + ${c}u) * u32(H * W) + row;
    ${quads.map((q) => `for (var t = 0; t < 4; t++) { if (iw0 + ${4 * q} + t < W) { DX[o + ${4 * q}u + u32(t)] = ${E}(${plusPending(`o + ${4 * q}u + u32(t)`)}acc${c}_${q}[t]); } }`).join('\n    ')}
  }`).join('\n  ')}
}`,
  };
}

/**
 * Weight gradient partials: part[split, f, c, kh, kw] for 8 filters x one (c, kh) x every kw, summed
 * over the output rows of one split: `rows` rows of the N * OH (image after image); with one split,
 * the weight gradient itself.
 */
function backwardWeightKernel(E: Elem, KH: number, KW: number, S: number, vecDy: boolean) {
  const J = 3 * S + KW;
  // With rows a multiple of 4 wide (and aligned), each filter's 4 gradient values are one vec4 load.
  const loadDy = (f: number) =>
    vecDy
      ? `let dy${f} = vec4<f32>(DY[(u.dyOff + ((n * F + min(f0 + ${f}u, F - 1u)) * u32(OH) + u32(oh)) * u32(OW) + u32(ow0)) >> 2u]);`
      : `let dy${f} = select(vec4<f32>(), vec4<f32>(${[0, 1, 2, 3].map((q) => `select(0.0, f32(DY[u.dyOff + ((n * F + min(f0 + ${f}u, F - 1u)) * u32(OH) + u32(oh)) * u32(OW) + u32(min(ow0 + ${q}, OW - 1))]), ow0 + ${q} < OW)`).join(', ')}), f0 + ${f}u < F);`;
  return {
    name: 'conv2dBackwardWeight',
    key: `${E}${KH}x${KW}s${S}${vecDy ? 'v' : ''}`,
    uniforms: WEIGHT,
    bindings: [
      { name: 'X', type: E, access: 'read' as const },
      { name: 'DY', type: vecDy ? `vec4<${E}>` : E, access: 'read' as const },
      { name: 'PART', type: 'f32', access: 'read_write' as const },
    ],
    body: () => `${GEOM_ENTRY}
  let t = wg.x * ${WG}u + li;
  if (t >= C * ${KH}u * u.splits) { return; }
  let ckh = t % (C * ${KH}u);
  let split = t / (C * ${KH}u);
  let c = ckh / ${KH}u;
  let kh = i32(ckh % ${KH}u);
  let rStart = split * u.rows;
  let rEnd = min(N * u32(OH), rStart + u.rows);
  let f0 = wg.y * ${CT}u;
  ${[...Array(CT).keys()].map((f) => `var acc${f}: array<f32, ${KW}>;`).join(' ')}
  for (var r = rStart; r < rEnd; r++) {
    let n = r / u32(OH);
    let oh = i32(r % u32(OH));
    let ih = oh * ${S} - padH + kh;
    if (ih < 0 || ih >= H) { continue; }
    let xRow = u.xOff + ((n * C + c) * u32(H) + u32(ih)) * u32(W);
    for (var ow0 = 0; ow0 < OW; ow0 += 4) {
      let iw0 = ow0 * ${S} - padW;
      ${[...Array(J).keys()].map((j) => `let x${j} = select(0.0, f32(X[xRow + u32(max(iw0 + ${j}, 0))]), iw0 + ${j} >= 0 && iw0 + ${j} < W);`).join('\n      ')}
      ${[...Array(CT).keys()].map(loadDy).join('\n      ')}
      ${[...Array(KW).keys()].map((kw) => `{
        let xin = vec4<f32>(x${kw}, x${S + kw}, x${2 * S + kw}, x${3 * S + kw});
        ${[...Array(CT).keys()].map((f) => `acc${f}[${kw}] += dot(dy${f}, xin);`).join(' ')}
      }`).join('\n      ')}
    }
  }
  ${[...Array(CT).keys()].map((f) => `if (f0 + ${f}u < F) {
    let o = ((split * F + f0 + ${f}u) * C + c) * ${KH * KW}u + u32(kh) * ${KW}u;
    ${[...Array(KW).keys()].map((kw) => `PART[o + ${kw}u] = acc${f}[${kw}];`).join(' ')}
  }`).join('\n  ')}
}`,
  };
}

export interface Conv2dOptions {
  stride?: number;
  padding?: number | [number, number];
  groups?: number;
}

function geometry(x: Tensor, w: Tensor, bias: Tensor | undefined, options: Conv2dOptions): Geometry & { groups: number } {
  const stride = options.stride ?? 1;
  const [padH, padW] = typeof options.padding === 'number' ? [options.padding, options.padding] : (options.padding ?? [0, 0]);
  const groups = options.groups ?? 1;
  const where = `conv2d: input ${fmt(x.shape)}, weight ${fmt(w.shape)}`;
  if (x.rank !== 4 || w.rank !== 4) throw new Error(`${where}: both must be 4-D (NCHW and [out, in/groups, kh, kw])`);
  const [dtype, wdtype] = productDTypes('conv2d', x, bias ? [w, bias] : [w]);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [F, Cg, KH, KW] = w.shape as [number, number, number, number];
  if (!Number.isInteger(groups) || groups < 1 || C % groups || F % groups || Cg * groups !== C) {
    throw new Error(`${where}: input channels ${C} don't match weight in-channels ${Cg} x groups ${groups} (or out channels ${F} not divisible)`);
  }
  if (!Number.isInteger(stride) || stride < 1 || padH < 0 || padW < 0) throw new Error(`${where}: bad stride ${stride} or padding ${padH}, ${padW}`);
  if (KW > 7 || KH > 7) throw new Error(`${where}: kernels up to 7x7 are supported`);
  const OH = Math.floor((H + 2 * padH - KH) / stride) + 1;
  const OW = Math.floor((W + 2 * padW - KW) / stride) + 1;
  if (OH < 1 || OW < 1) throw new Error(`${where}: padded input is smaller than the kernel`);
  return { dtype, wdtype, N, C: C / groups, H, W, F: F / groups, KH, KW, OH, OW, stride, padH, padW, groups };
}

/** The columns-per-thread variants of the forward and input-gradient kernels. */
export const CONV_COLUMNS = [4, 8];

/**
 * A pass's variant: columns per thread of the register kernel (the weight gradient's register kernel
 * has no such variants: both labels run it), or a tile of the GEMM core.
 */
type Variant = number | GemmTile;
const isTile = (v: Variant): v is GemmTile => typeof v !== 'number';
const label = (v: Variant) => (isTile(v) ? gemmLabel(v) : `${v}`);

/** Every label `forceVariant('conv2d', label)` takes (each pass of every conv has them all). */
export const CONV_VARIANTS = [...CONV_COLUMNS, ...GEMM_TILES].map(label);

/**
 * The variant of one pass, chosen per adapter and problem by measurement: a CPU adapter times its
 * register kernels only, a GPU the GEMM tiles too. `gemmDims`: the pass as a GEMM (M, N, K, batches).
 */
function passVariant(pass: string, g: Geometry, columns: number, gemmDims: [number, number, number, number], buffers: number[], encode: (v: Variant, scratch: Storage[]) => void): Variant {
  const { isCpu } = getDevice().info;
  const tiles = gemmChoices(isCpu, gemmUnderfilled(...gemmDims));
  const registers = pass === 'wgrad' ? [4] : CONV_COLUMNS;
  return choose<Variant>({
    problem: `conv2d|${elemsKey(elem(g.dtype), elem(g.wdtype))}|${pass}|${g.KH}x${g.KW}s${g.stride}|C${sizeClass(g.C)}|F${sizeClass(g.F)}|W${sizeClass(columns)}|N${sizeClass(g.N)}`,
    candidates: [...registers, ...tiles.timed],
    forceOnly: [...CONV_COLUMNS.filter((c) => !registers.includes(c)), ...tiles.forceOnly],
    label,
    fallback: isCpu ? 4 : tiles.fallback,
    worthTuning: 2 * g.N * g.F * g.C * g.KH * g.KW * g.OH * g.OW > 5e7,
    prepare: () => {
      const scratch = buffers.map((bytes) => allocate(bytes));
      return { run: (v) => encode(v, scratch), dispose: () => scratch.forEach((st) => release(st, flushNumber())) };
    },
  });
}

/** The output. The register kernels read the weights re-laid (convlayouts.ts), the GEMM core as they are. */
function forwardRaw(x: Tensor, w: Tensor, bias: Tensor | undefined, g: Geometry): Tensor {
  const out = empty([g.N, g.F, g.OH, g.OW], g.dtype);
  // `wOff`: where the re-laid weights start in their arena (0 in the tuner's scratch).
  const encode = (v: Variant, [xs, ws, bs, os]: Storage[], wOff = 0) => {
    if (isTile(v)) {
      const ops = forwardOps(elem(g.dtype), elem(g.wdtype), g, !!bias, { x: x.offset, w: w.offset, bias: bias?.offset ?? 0 });
      gemm(ops, v, { M: g.F, N: g.OH * g.OW, K: g.C * g.KH * g.KW, batches: g.N }, bias ? [xs!, ws!, bs!, os!] : [xs!, ws!, os!]);
      return;
    }
    const tiles = g.N * g.OH * Math.ceil(g.OW / v);
    const params = FORWARD.pack({ ...geom(g), xOff: x.offset, wOff, hasBias: bias ? 1 : 0, biasOff: bias?.offset ?? 0 });
    dispatch(forwardKernel(elem(g.dtype), elem(g.wdtype), g.KH, g.KW, g.stride, v), [xs!, ws!, bs!, os!], params, [Math.ceil(tiles / WG), Math.ceil(g.F / CT)]);
  };
  const laidBytes = g.C * g.KH * g.KW * pad8(g.F) * dtypes[g.wdtype].bytes;
  const sizes = [x.storage.byteSize, Math.max(laidBytes, w.storage.byteSize), (bias ?? w).storage.byteSize, out.storage.byteSize];
  const v = passVariant('fwd', g, g.OW, [g.F, g.OH * g.OW, g.C * g.KH * g.KW, g.N], sizes, encode);
  if (isTile(v) && !bias) {
    // The split tiles' sum waits for the output's first use: batch norm's statistics may do it.
    const ops = forwardOps(elem(g.dtype), elem(g.wdtype), g, false, { x: x.offset, w: w.offset, bias: 0 });
    gemmHeld(ops, v, { M: g.F, N: g.OH * g.OW, K: g.C * g.KH * g.KW, batches: g.N }, [x.storage, w.storage, out.storage], out.storage, g.dtype);
  } else if (isTile(v)) {
    encode(v, [x.storage, w.storage, (bias ?? w).storage, out.storage]);
  } else {
    const { wt, wtOffset } = laidWeights(w, false);
    encode(v, [x.storage, wt, (bias ?? w).storage, out.storage], wtOffset);
  }
  return out;
}

/**
 * `into`: a gradient of x to add the result to, in place (autograd's pending one: contiguous from
 * offset 0, its buffer its own), returned as the result. In float16 the sum is then rounded once
 * (pending + the f32 result) where the engine's add would round the result and then the sum.
 */
function backwardDataRaw(dy: Tensor, w: Tensor, g: Geometry, into: Tensor | null = null): Tensor {
  const dx = into ?? empty([g.N, g.C, g.H, g.W], g.dtype);
  const accumulate = into !== null;
  const encode = (v: Variant, [ds, ws, xs]: Storage[], wOff = 0) => {
    if (isTile(v)) {
      gemm(backwardDataOps(elem(g.dtype), elem(g.wdtype), g, { dy: dy.offset, w: w.offset }, accumulate), v, { M: g.C, N: g.H * g.W, K: g.F * g.KH * g.KW, batches: g.N }, [ds!, ws!, xs!]);
      return;
    }
    const tiles = g.N * g.H * Math.ceil(g.W / v);
    dispatch(backwardDataKernel(elem(g.dtype), elem(g.wdtype), g.KH, g.KW, g.stride, v, accumulate), [ds!, ws!, xs!], DATA.pack({ ...geom(g), dyOff: dy.offset, wOff }), [Math.ceil(tiles / WG), Math.ceil(g.C / CT)]);
  };
  const laidBytes = g.F * g.KH * g.KW * pad8(g.C) * dtypes[g.wdtype].bytes;
  const sizes = [dy.storage.byteSize, Math.max(laidBytes, w.storage.byteSize), dx.storage.byteSize];
  const v = passVariant('dgrad', g, g.W, [g.C, g.H * g.W, g.F * g.KH * g.KW, g.N], sizes, encode);
  if (isTile(v)) {
    // The split tiles' sum waits for dx's first use: batch norm's backward may do it.
    gemmHeld(backwardDataOps(elem(g.dtype), elem(g.wdtype), g, { dy: dy.offset, w: w.offset }, accumulate), v, { M: g.C, N: g.H * g.W, K: g.F * g.KH * g.KW, batches: g.N }, [dy.storage, w.storage, dx.storage], dx.storage, g.dtype, accumulate);
  } else {
    const { wd, wdOffset } = laidWeights(w, true);
    encode(v, [dy.storage, wd, dx.storage], wdOffset);
  }
  return dx;
}

function backwardWeightRaw(x: Tensor, dy: Tensor, g: Geometry): Tensor {
  const [M, N, K] = [g.F, g.C * g.KH * g.KW, g.N * g.OH * g.OW];
  // The register kernel: enough independent partial sums to fill the device (a CPU's few cores need
  // far fewer threads than a GPU), each over a band of output rows; one, and no sum, when the filters
  // and input channels alone give the threads.
  const base = g.C * g.KH * Math.ceil(g.F / CT);
  const threads = getDevice().info.isCpu ? 1024 : 8192;
  const allRows = g.N * g.OH;
  const rows = Math.ceil(allRows / Math.max(1, Math.min(allRows, Math.ceil(threads / base))));
  const splits = Math.ceil(allRows / rows);
  // Its partials are float32 whatever the dtype: the sum over them is the end of the f32 accumulation.
  const partShape = [splits, g.F, g.C, g.KH, g.KW];
  const encode = (v: Variant, [xs, ds, os]: Storage[]) => {
    if (isTile(v)) {
      gemm(backwardWeightOps(elem(g.dtype), elem(g.wdtype), g, { x: x.offset, dy: dy.offset }), v, { M, N, K, batches: 1 }, [xs!, ds!, os!]);
      return;
    }
    dispatch(backwardWeightKernel(elem(g.dtype), g.KH, g.KW, g.stride, g.OW % 4 === 0 && dy.offset % 4 === 0), [xs!, ds!, os!],
      WEIGHT.pack({ ...geom(g), xOff: x.offset, dyOff: dy.offset, rows, splits }), [Math.ceil((g.C * g.KH * splits) / WG), Math.ceil(g.F / CT)]);
  };
  const outBytes = Math.max(4 * partShape.reduce((a, b) => a * b), M * N * dtypes[g.wdtype].bytes);
  const v = passVariant('wgrad', g, g.OW, [M, N, K, 1], [x.storage.byteSize, dy.storage.byteSize, outBytes], encode);
  // The partial sums over splits are held back (runtime/sums.ts): the optimizer's step reads the weight
  // gradient first, and by then the sums of every conv go out together, several per dispatch.
  const dw = empty([g.F, g.C, g.KH, g.KW], g.wdtype);
  if (isTile(v) && !v.split) {
    encode(v, [x.storage, dy.storage, dw.storage]);
    return dw;
  }
  if (!isTile(v) && splits === 1 && g.wdtype === 'float32') {
    // One band: the register kernel writes the gradient itself.
    encode(v, [x.storage, dy.storage, dw.storage]);
    return dw;
  }
  const held = { partOffset: 0, stride: M * N, n: M * N, out: dw.storage, outOffset: 0, dtype: g.wdtype };
  if (isTile(v)) {
    const part = splitPartials(backwardWeightOps(elem(g.dtype), elem(g.wdtype), g, { x: x.offset, dy: dy.offset }), v, { M, N, K, batches: 1 }, [x.storage, dy.storage, dw.storage]);
    holdSum({ ...held, part, splits: gemmPlan(v, M, N, K, 1).splits });
    release(part, flushNumber());
  } else {
    const part = empty(partShape);
    encode(v, [x.storage, dy.storage, part.storage]);
    holdSum({ ...held, part: part.storage, splits });
    part.dispose();
  }
  return dw;
}

/** Runs fn for each group and writes its result into that group's slice of `into` along `axis`. */
function perGroup(groups: number, into: Tensor, axis: number, size: number, fn: (group: number) => Tensor): Tensor {
  for (let gi = 0; gi < groups; gi++) {
    const part = fn(gi);
    const window = slice(into, axis, gi * size, (gi + 1) * size);
    copyInto(window, part);
    window.dispose();
    part.dispose();
  }
  return into;
}

/** Group gi's channels along an axis, as a contiguous tensor of its own. */
function groupOf(t: Tensor, axis: number, size: number, gi: number): Tensor {
  const view = slice(t, axis, gi * size, (gi + 1) * size);
  const c = contiguous(view);
  view.dispose();
  return c;
}

/** `torch.nn.functional.conv2d` for NCHW input and [out, in/groups, kh, kw] weights. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor, options: Conv2dOptions = {}): Tensor {
  x.assertAlive('conv2d');
  weight.assertAlive('conv2d');
  const g = geometry(x, weight, bias, options);
  const Ftotal = g.F * g.groups;
  if (bias && (bias.assertAlive('conv2d').rank !== 1 || bias.shape[0] !== Ftotal)) {
    throw new Error(`conv2d: bias ${fmt(bias.shape)} must be [${Ftotal}]`);
  }
  const hx = asContiguous(x);
  const hw = asContiguous(weight);
  let out: Tensor;
  if (g.groups === 1) {
    out = forwardRaw(hx.t, hw.t, bias, g);
  } else {
    out = perGroup(g.groups, empty([g.N, Ftotal, g.OH, g.OW], g.dtype), 1, g.F, (gi) => {
      const xs = groupOf(hx.t, 1, g.C, gi);
      const ws = groupOf(hw.t, 0, g.F, gi);
      const bs = bias ? groupOf(bias, 0, g.F, gi) : undefined;
      const r = forwardRaw(xs, ws, bs, g);
      xs.dispose(); ws.dispose(); bs?.dispose();
      return r;
    });
  }
  hx.done();
  hw.done();
  const inputs = [x, weight, ...(bias ? [bias] : [])];
  return record(out, 'conv2d', inputs, [x, weight], (dy, [sx, sw], pending) => {
    const cdy = asContiguous(dy);
    const cx = asContiguous(sx!);
    const cw = asContiguous(sw!);
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    if (x.requiresGrad) {
      // Grouped convs leave the pending gradient to the engine's add.
      dx = g.groups === 1 ? backwardDataRaw(cdy.t, cw.t, g, pending.take(0, g.dtype)) : perGroup(g.groups, empty(x.shape, g.dtype), 1, g.C, (gi) => {
        const d = groupOf(cdy.t, 1, g.F, gi);
        const w = groupOf(cw.t, 0, g.F, gi);
        const r = backwardDataRaw(d, w, g);
        d.dispose(); w.dispose();
        return r;
      });
    }
    if (weight.requiresGrad) {
      dw = g.groups === 1 ? backwardWeightRaw(cx.t, cdy.t, g) : perGroup(g.groups, empty(weight.shape, g.wdtype), 0, g.F, (gi) => {
        const xs = groupOf(cx.t, 1, g.C, gi);
        const d = groupOf(cdy.t, 1, g.F, gi);
        const r = backwardWeightRaw(xs, d, g);
        xs.dispose(); d.dispose();
        return r;
      });
    }
    // A float32 bias of a float16 conv: the sum (f32 inside) rounded to f16, then widened (biases are small).
    const db = bias?.requiresGrad ? sum(cdy.t, [0, 2, 3], { dtype: bias.dtype }) : null;
    cdy.done(); cx.done(); cw.done();
    return [dx, dw, ...(bias ? [db] : [])];
  });
}

