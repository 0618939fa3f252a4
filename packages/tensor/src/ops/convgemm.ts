// conv2d's three passes as GEMMs of the tiled core (gemm.ts), reading im2col implicitly (no buffer):
//   forward       out[n]  (F x OH*OW)  = W (F x C*KH*KW)       @ im2col(x[n]) (C*KH*KW x OH*OW), batch n
//   input grad    dx[n]   (C x H*W)    = Wᵀ (C x F*KH*KW)      @ col2im view of dy[n] (F*KH*KW x H*W), batch n
//   weight grad   dw      (F x C*KH*KW) = dy (F x N*OH*OW)     @ im2col(x)ᵀ (N*OH*OW x C*KH*KW)
// The input gradient reads dy at (ih + padH - kh) / stride where that divides exactly, else 0. Kernel
// size and stride are in the key (constant divisors); sizes are uniforms. Groups run per group, as in conv2d.ts.
// E is the element type of x, dy, the output and dx; EW of the weights and bias (f32 with an f16 E under
// mixed precision), and of the weight gradient.
import type { DTypeInfo } from '../dtype.js';
import { type GemmOps, elemsKey } from './gemm.js';

type Elem = DTypeInfo['wgsl'];

/** What the three GEMMs need of a conv (per group). */
export interface ConvShape {
  N: number; C: number; H: number; W: number;
  F: number; KH: number; KW: number; OH: number; OW: number;
  stride: number; padH: number; padW: number;
}

const GEOM = { C: 'u32', H: 'u32', W: 'u32', F: 'u32', OH: 'u32', OW: 'u32', padH: 'i32', padW: 'i32' } as const;
const geom = (g: ConvShape) => ({ C: g.C, H: g.H, W: g.W, F: g.F, OH: g.OH, OW: g.OW, padH: g.padH, padW: g.padW });

// x[n, c, oh*S - padH + kh, ow*S - padW + kw] for row k = (c, kh, kw) and output pixel p = (oh, ow); 0 in the padding.
const im2col = (KH: number, KW: number, S: number) => `
fn im2col(xBase: u32, k: u32, p: u32) -> f32 {
  let c = k / ${KH * KW}u; let r = k % ${KH * KW}u;
  let ih = i32(p / u.OW) * ${S} - u.padH + i32(r / ${KW}u);
  let iw = i32(p % u.OW) * ${S} - u.padW + i32(r % ${KW}u);
  if (ih < 0 || iw < 0 || ih >= i32(u.H) || iw >= i32(u.W)) { return 0.0; }
  return f32(X[xBase + (c * u.H + u32(ih)) * u.W + u32(iw)]);
}`;

/** Forward, batched over images: A = the weights as they are ([F, C*KH*KW] rows), B = im2col(x[n]). */
export function forwardOps(E: Elem, EW: Elem, g: ConvShape, bias: boolean, offsets: { x: number; w: number; bias: number }): GemmOps {
  const K = g.C * g.KH * g.KW;
  const vecW = K % 4 === 0 && offsets.w % 4 === 0;
  const vecO = (g.OH * g.OW) % 4 === 0;
  const oAt = (m: string, n: string) => `oBase + ${m} * OH * OW + ${n}`;
  const biasOf = (m: string) => (bias ? ` + f32(Bias[bOff + ${m}])` : '');
  return {
    name: 'conv2dTiled',
    key: `${elemsKey(E, EW)}${g.KH}x${g.KW}s${g.stride}${bias ? 'b' : ''}${vecW ? 'w' : ''}${vecO ? 'o' : ''}`,
    bindings: [
      { name: 'X', type: E, access: 'read' },
      { name: 'WT', type: vecW ? `vec4<${EW}>` : EW, access: 'read' },
      ...(bias ? [{ name: 'Bias', type: EW, access: 'read' as const }] : []),
      { name: 'O', type: vecO ? `vec4<${E}>` : E, access: 'read_write' },
    ],
    uniforms: { ...GEOM, xOff: 'u32', wOff: 'u32', bOff: 'u32' },
    values: { ...geom(g), xOff: offsets.x, wOff: offsets.w, bOff: offsets.bias },
    fns: im2col(g.KH, g.KW, g.stride),
    prologue: `let xBase = xOff + batch * C * H * W; let oBase = batch * F * OH * OW;`,
    a: {
      axis: 'k',
      load: (k, m) => (vecW ? `f32(WT[(wOff + ${m} * K + ${k}) >> 2u][(wOff + ${m} * K + ${k}) & 3u])` : `f32(WT[wOff + ${m} * K + ${k}])`),
      load4: vecW ? (k, m) => `vec4<f32>(WT[(wOff + ${m} * K + ${k}) >> 2u])` : undefined,
    },
    b: { axis: 'x', load: (k, p) => `im2col(xBase, ${k}, ${p})` },
    store: (m, n, v) => (vecO ? `O[(${oAt(m, n)}) >> 2u][(${oAt(m, n)}) & 3u] = ${E}(${v}${biasOf(m)});` : `O[${oAt(m, n)}] = ${E}(${v}${biasOf(m)});`),
    store4: vecO ? (m, n, v) => `O[(${oAt(m, n)}) >> 2u] = vec4<${E}>(${v}${biasOf(m)});` : undefined,
  };
}

/**
 * Input gradient, batched over images: A = Wᵀ read in place, B = dy[n] gathered through the stride.
 * `accumulate`: DX already holds a gradient of x (autograd's pending one) and the result is added to it.
 */
export function backwardDataOps(E: Elem, EW: Elem, g: ConvShape, offsets: { dy: number; w: number }, accumulate = false): GemmOps {
  const KK = g.KH * g.KW;
  const S = g.stride;
  const dxAt = (m: string, n: string) => `dxBase + ${m} * H * W + ${n}`;
  return {
    name: 'conv2dBackwardDataTiled',
    key: `${elemsKey(E, EW)}${g.KH}x${g.KW}s${S}`,
    storeKey: accumulate ? 'a' : '',
    bindings: [
      { name: 'DY', type: E, access: 'read' },
      { name: 'WT', type: EW, access: 'read' },
      { name: 'DX', type: E, access: 'read_write' },
    ],
    uniforms: { ...GEOM, dyOff: 'u32', wOff: 'u32' },
    values: { ...geom(g), dyOff: offsets.dy, wOff: offsets.w },
    // dy[n, f, oh, ow] with oh*S - padH + kh = ih and ow*S - padW + kw = iw, for k = (f, kh, kw) and p = (ih, iw).
    fns: `
fn col2im(dyBase: u32, k: u32, p: u32) -> f32 {
  let f = k / ${KK}u; let r = k % ${KK}u;
  let ohs = i32(p / u.W) + u.padH - i32(r / ${g.KW}u);
  let ows = i32(p % u.W) + u.padW - i32(r % ${g.KW}u);
  if (ohs < 0 || ows < 0 || ohs % ${S} != 0 || ows % ${S} != 0 || ohs / ${S} >= i32(u.OH) || ows / ${S} >= i32(u.OW)) { return 0.0; }
  return f32(DY[dyBase + (f * u.OH + u32(ohs / ${S})) * u.OW + u32(ows / ${S})]);
}`,
    prologue: `let dyBase = dyOff + batch * F * OH * OW; let dxBase = batch * C * H * W;`,
    a: { axis: 'k', load: (k, c) => `f32(WT[wOff + ((${k}) / ${KK}u * C + ${c}) * ${KK}u + (${k}) % ${KK}u])` },
    b: { axis: 'x', load: (k, p) => `col2im(dyBase, ${k}, ${p})` },
    store: (m, n, v) => `DX[${dxAt(m, n)}] = ${E}(${accumulate ? `f32(DX[${dxAt(m, n)}]) + ` : ''}${v});`,
  };
}

/** Weight gradient, one GEMM over every image: A = dy as [F, N*OH*OW] rows, B = im2col(x)ᵀ. */
export function backwardWeightOps(E: Elem, EW: Elem, g: ConvShape, offsets: { x: number; dy: number }): GemmOps {
  const KK = g.KH * g.KW;
  const OHW = g.OH * g.OW;
  // Four consecutive k stay in one image's plane when OH*OW % 4 == 0.
  const vecDy = OHW % 4 === 0 && offsets.dy % 4 === 0;
  const dyAt = (k: string, f: string) => `dyOff + ((${k}) / (OH * OW) * F + ${f}) * OH * OW + (${k}) % (OH * OW)`;
  return {
    name: 'conv2dBackwardWeightTiled',
    key: `${elemsKey(E, EW)}${g.KH}x${g.KW}s${g.stride}${vecDy ? 'v' : ''}`,
    bindings: [
      { name: 'X', type: E, access: 'read' },
      { name: 'DY', type: vecDy ? `vec4<${E}>` : E, access: 'read' },
      { name: 'DW', type: EW, access: 'read_write' },
    ],
    uniforms: { ...GEOM, xOff: 'u32', dyOff: 'u32' },
    values: { ...geom(g), xOff: offsets.x, dyOff: offsets.dy },
    fns: `${im2col(g.KH, g.KW, g.stride)}
fn im2colT(k: u32, col: u32) -> f32 {
  let n = k / (u.OH * u.OW);
  return im2col(u.xOff + n * u.C * u.H * u.W, col, k % (u.OH * u.OW));
}`,
    prologue: '',
    a: {
      axis: 'k',
      load: (k, f) => (vecDy ? `f32(DY[(${dyAt(k, f)}) >> 2u][(${dyAt(k, f)}) & 3u])` : `f32(DY[${dyAt(k, f)}])`),
      load4: vecDy ? (k, f) => `vec4<f32>(DY[(${dyAt(k, f)}) >> 2u])` : undefined,
    },
    b: { axis: 'k', load: (k, col) => `im2colT(${k}, ${col})` },
    store: (m, n, v) => `DW[${m} * ${KK}u * C + ${n}] = ${EW}(${v});`,
  };
}
