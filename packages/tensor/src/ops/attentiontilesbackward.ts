// The attention backward for GPUs, as the tiled forward (attentiontiles.ts) is laid out: dK and dV with
// a workgroup per (b, h, block of T keys), one key per thread, walking the queries with R query rows,
// their dO rows and their (lse, delta) staged in workgroup memory at a time; dQ (first: it saves the
// (lse, delta) pairs) with a workgroup per block of T queries, one query per thread, walking the keys
// with K and V rows staged. Each thread
// writes only its own rows: no atomics, the same bits run to run. Live floats per thread: 4·D + ~20
// for dK, dV (k, v and both accumulators) and 3·D + ~20 for dQ (q, dO and the accumulator).
import { DKV, type Elem, ROWS, backwardInputs, backwardQBindings, halves, headDimClass, ld, rowAddr, rowDelta, st } from './attention.js';
import { TILE_ENTRY, stageKeyBlock, stagedKV, stagedKeys } from './attentiontiles.js';

const four = (f: (c: number) => string, sep = ' ') => [0, 1, 2, 3].map(f).join(sep);
/** The staged rows c..c+3 of a tile of n (those past n read the last one and are masked out). */
const STAGED_FOUR = four((k) => `let e${k} = min(c + ${k}u, n - 1u); let r${k} = e${k} * D4;`);
const VALID = 'vec4<bool>(true, c + 1u < n, c + 2u < n, c + 3u < n)';

/** dK and dV: T threads, T keys per workgroup. */
export function backwardKVTiled(E: Elem, D: number, T: number) {
  const D4 = headDimClass(D);
  // Two staged arrays (q and dO) in half the forward's budget each, plus the (lse, delta) pairs.
  const R = stagedKeys(2 * D4);
  return {
    name: 'attentionBackwardKVTiled',
    key: `${E}d${4 * D4}t${T}`,
    uniforms: ROWS,
    bindings: [...backwardInputs(E), DKV(E)],
    body: () => `${halves(E)}
var<workgroup> Qs: array<vec4<f32>, ${R * D4}>;
var<workgroup> Gs: array<vec4<f32>, ${R * D4}>;
var<workgroup> Ss: array<vec2<f32>, ${R}>;
${TILE_ENTRY(T)}
  let ka = ${rowAddr('k', 'min(i, L - 1u)')}; let va = ${rowAddr('v', 'min(i, L - 1u)')};
  var k: array<vec4<f32>, ${D4}>; var v: array<vec4<f32>, ${D4}>;
  var dk: array<vec4<f32>, ${D4}>; var dv: array<vec4<f32>, ${D4}>;
  for (var d = 0u; d < D4; d++) { k[d] = ${ld(E, 'K[ka + d]')} * scale; v[d] = ${ld(E, 'V[va + d]')}; dk[d] = vec4<f32>(); dv[d] = vec4<f32>(); }
  for (var i0 = 0u; i0 < L; i0 += ${R}u) {
    let n = min(${R}u, L - i0);
    for (var x = li; x < n * D4; x += ${T}u) {
      let row = i0 + x / D4; let d = x % D4;
      Qs[x] = ${ld(E, `Q[${rowAddr('q', 'row')} + d]`)};
      Gs[x] = ${ld(E, `DO[${rowAddr('g', 'row')} + d]`)};
    }
    for (var x = li; x < n; x += ${T}u) { Ss[x] = vec2<f32>(Stats[2u * (rowOut + i0 + x)], Stats[2u * (rowOut + i0 + x) + 1u]); }
    workgroupBarrier();
    for (var c = 0u; c < n; c += 4u) {
      ${STAGED_FOUR}
      var s = vec4<f32>(); var t = vec4<f32>();
      for (var d = 0u; d < D4; d++) {
        let kd = k[d]; let vd = v[d];
        s += vec4<f32>(${four((c) => `dot(Qs[r${c} + d], kd)`, ', ')});
        t += vec4<f32>(${four((c) => `dot(Gs[r${c} + d], vd)`, ', ')});
      }
      let lse = vec4<f32>(${four((c) => `Ss[e${c}].x`, ', ')});
      let delta = vec4<f32>(${four((c) => `Ss[e${c}].y`, ', ')});
      let p = select(vec4<f32>(), exp(s - lse), ${VALID});
      let ds = p * (t - delta) * scale;
      for (var d = 0u; d < D4; d++) {
        dv[d] += p.x * Gs[r0 + d] + p.y * Gs[r1 + d] + p.z * Gs[r2 + d] + p.w * Gs[r3 + d];
        dk[d] += ds.x * Qs[r0 + d] + ds.y * Qs[r1 + d] + ds.z * Qs[r2 + d] + ds.w * Qs[r3 + d];
      }
    }
    // Every thread is done with this tile before the next one overwrites it.
    workgroupBarrier();
  }
  if (i < L) {
    let dka = ${rowAddr('dk', 'i')}; let dva = ${rowAddr('dv', 'i')};
    for (var d = 0u; d < D4; d++) { DKV[dka + d] = ${st(E, 'dk[d]')}; DKV[dva + d] = ${st(E, 'dv[d]')}; }
  }
}`,
  };
}

/** dQ: T threads, T queries per workgroup. */
export function backwardQTiled(E: Elem, D: number, T: number) {
  const D4 = headDimClass(D);
  const KT = stagedKeys(D4);
  return {
    name: 'attentionBackwardQTiled',
    key: `${E}d${4 * D4}t${T}`,
    uniforms: ROWS,
    bindings: backwardQBindings(E),
    body: () => `${halves(E)}${rowDelta(E)}
${stagedKV(KT, D4)}
${TILE_ENTRY(T)}
  let row = rowOut + min(i, L - 1u);
  let qa = ${rowAddr('q', 'min(i, L - 1u)')}; let ga = ${rowAddr('g', 'min(i, L - 1u)')};
  let lse = LSE[row]; let delta = rowDelta(ga, ${rowAddr('o', 'min(i, L - 1u)')});
  var q: array<vec4<f32>, ${D4}>; var g: array<vec4<f32>, ${D4}>; var dq: array<vec4<f32>, ${D4}>;
  for (var d = 0u; d < D4; d++) { q[d] = ${ld(E, 'Q[qa + d]')} * scale; g[d] = ${ld(E, 'DO[ga + d]')}; dq[d] = vec4<f32>(); }
${stageKeyBlock(E, KT, T)}
    for (var c = 0u; c < n; c += 4u) {
      ${STAGED_FOUR}
      var s = vec4<f32>(); var t = vec4<f32>();
      for (var d = 0u; d < D4; d++) {
        let qd = q[d]; let gd = g[d];
        s += vec4<f32>(${four((c) => `dot(qd, Ks[r${c} + d])`, ', ')});
        t += vec4<f32>(${four((c) => `dot(gd, Vs[r${c} + d])`, ', ')});
      }
      let ds = select(vec4<f32>(), exp(s - vec4<f32>(lse)) * (t - vec4<f32>(delta)), ${VALID});
      for (var d = 0u; d < D4; d++) {
        dq[d] += ds.x * Ks[r0 + d] + ds.y * Ks[r1 + d] + ds.z * Ks[r2 + d] + ds.w * Ks[r3 + d];
      }
    }
    workgroupBarrier();
  }
  if (i < L) {
    let dqa = ${rowAddr('dq', 'i')};
    for (var d = 0u; d < D4; d++) { DQ[dqa + d] = ${st(E, 'dq[d] * scale')}; }
    saveStats(row, lse, delta);
  }
}`,
  };
}
