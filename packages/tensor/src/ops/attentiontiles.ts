// The attention forward for GPUs: a workgroup per (b, h, block of T queries), one query per thread.
// The workgroup stages KT keys and their values at a time in workgroup memory (loaded cooperatively,
// consecutive threads on consecutive vec4s of a row) and every thread reads them from there, so each
// key and value row is read from memory once per T queries instead of once per query. A thread keeps
// only its scaled query and its output accumulator (2·D floats) plus the f32 online-softmax statistics
// m and l: about 76 live floats at D = 32, 140 at D = 64 (the row kernels keep about 390 at D = 64 and
// 4 rows). The outputs, O and the log-sum-exp, are the row kernels', so the backward is shared.
// Loops over the head dim run a trip count read from a uniform, as in the row kernels: they stay rolled
// and compile in well under a second on lavapipe.
import { type Elem, NEG, QKV, ROWS, f32, halves, headDimClass, ld, rowAddr, st, vec4 } from './attention.js';

/** The query-block sizes (queries per workgroup) of the tiled forward. */
export const ATTENTION_TILES = [32, 64];

/** Bytes of workgroup memory one tile of keys may take: K and V together stay within 16 KiB, WebGPU's guaranteed minimum. */
const STAGED_BYTES = 16384;
/** Keys staged at a time for head-dim class D4c (vec4s): at most 32, fewer where K and V rows are long. */
export const stagedKeys = (D4c: number) => Math.min(32, STAGED_BYTES / (2 * 16 * D4c));

/** The workgroup arrays of the staged keys: KT rows of K and of V, D4 vec4s each. */
export const stagedKV = (KT: number, D4: number) => `var<workgroup> Ks: array<vec4<f32>, ${KT * D4}>;
var<workgroup> Vs: array<vec4<f32>, ${KT * D4}>;`;

/**
 * Opens the walk over blocks of KT keys (closed by the caller): the workgroup's T threads stage the
 * block's K and V rows, then meet at a barrier; `n` is the number of keys in the block.
 */
export const stageKeyBlock = (E: Elem, KT: number, T: number) => `  for (var j0 = 0u; j0 < L; j0 += ${KT}u) {
    let n = min(${KT}u, L - j0);
    for (var x = li; x < n * D4; x += ${T}u) {
      let key = j0 + x / D4; let d = x % D4;
      Ks[x] = ${ld(E, `K[${rowAddr('k', 'key')} + d]`)};
      Vs[x] = ${ld(E, `V[${rowAddr('v', 'key')} + d]`)};
    }
    workgroupBarrier();`;

/**
 * The entry of the tiled kernels: T threads per workgroup, workgroup g owns rows [block·T, block·T + T)
 * of one (b, h); thread li owns row i (past L on the last block: it still stages and meets the barriers);
 * rowOut + i indexes LSE and Stats.
 */
export const TILE_ENTRY = (T: number) => `@compute @workgroup_size(${T})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let B = u.B; let H = u.H; let L = u.L; let scale = u.scale;
  let D4 = u.D4;
  let blocks = (L + ${T - 1}u) / ${T}u;
  let wgi = groupIndex(wg, nwg);
  let bh = wgi / blocks;
  // Uniform across the workgroup (it depends on the workgroup id only), so the barriers below are legal.
  if (bh >= B * H) { return; }
  let b = bh / H; let h = bh % H;
  let i = (wgi % blocks) * ${T}u + li;
  let rowOut = bh * L;`;

/** The tiled forward: T threads, T queries per workgroup; writes O and LSE as the row kernels do. */
export function forwardTiled(E: Elem, D: number, T: number) {
  const D4 = headDimClass(D);
  const KT = stagedKeys(D4);
  const four = (f: (c: number) => string, sep = ' ') => [0, 1, 2, 3].map(f).join(sep);
  return {
    name: 'attentionForwardTiled',
    key: `${E}d${4 * D4}t${T}`,
    uniforms: ROWS,
    bindings: [...QKV(E), vec4(E, 'O', 'read_write'), f32('LSE', 'read_write')],
    body: () => `${halves(E)}
${stagedKV(KT, D4)}
${TILE_ENTRY(T)}
  let qa = ${rowAddr('q', 'min(i, L - 1u)')};
  var q: array<vec4<f32>, ${D4}>; var a: array<vec4<f32>, ${D4}>;
  var m = ${NEG}; var l = 0.0;
  for (var d = 0u; d < D4; d++) { q[d] = ${ld(E, 'Q[qa + d]')} * scale; a[d] = vec4<f32>(); }
${stageKeyBlock(E, KT, T)}
    // Four staged keys at a time: one vec4 of scores, the running max corrected once per four. Keys
    // past the n staged ones read the last staged row and are masked out of the softmax.
    for (var c = 0u; c < n; c += 4u) {
      ${four((k) => `let r${k} = min(c + ${k}u, n - 1u) * D4;`)}
      var s = vec4<f32>();
      for (var d = 0u; d < D4; d++) {
        let qd = q[d];
        s += vec4<f32>(${four((k) => `dot(qd, Ks[r${k} + d])`, ', ')});
      }
      let sc = select(vec4<f32>(${NEG}), s, vec4<bool>(true, c + 1u < n, c + 2u < n, c + 3u < n));
      let mNew = max(m, max(max(sc.x, sc.y), max(sc.z, sc.w)));
      let corr = exp(m - mNew);
      let p = exp(sc - vec4<f32>(mNew));
      l = l * corr + p.x + p.y + p.z + p.w;
      m = mNew;
      for (var d = 0u; d < D4; d++) {
        a[d] = a[d] * corr + p.x * Vs[r0 + d] + p.y * Vs[r1 + d] + p.z * Vs[r2 + d] + p.w * Vs[r3 + d];
      }
    }
    // Every thread is done with this tile before the next one overwrites it.
    workgroupBarrier();
  }
  if (i < L) {
    let inv = 1.0 / l;
    let oa = ${rowAddr('o', 'i')};
    for (var d = 0u; d < D4; d++) { O[oa + d] = ${st(E, 'a[d] * inv')}; }
    LSE[rowOut + i] = m + log(l);
  }
}`,
  };
}
