// Batched matmul over strided views. Each thread owns a 4x4 output tile and walks K four at a time:
// per step it loads four 4-vectors of A and four of B and does 64 FMAs as one mat4x4 product, with
// no shared memory and no barriers (barriers are very expensive on CPU drivers; register tiling is
// what pays there). A transposed operand is read through its strides, never copied: vec4 loads run
// along whichever of its dims is contiguous, and scalar loads cover any other layout and odd sizes.
// float16 operands are widened to f32 as they are loaded: the products and sums are f32, and only the
// stored result is rounded to f16. A, B (with the bias) and the output each have a dtype of their own in
// the kernels: a float16 input meets float32 weights (mixed precision), and a float32 weight gradient
// comes straight from float16 operands. Each mix is tuned on its own.
//
// Those kernels are shaped for lavapipe (a CPU), and a CPU adapter keeps them. GPUs also get the tiled
// core of gemm.ts (workgroup-memory tiles, split-K for small outputs with long K), read through the
// same strides and read modes; the tuner picks among both there.
//
// Both kinds take an epilogue (see Epilogue): a bias, a residual and a broadcast addend added in the
// store, GELU or its gradient applied there, and the row sums of A (a linear's bias gradient from its
// weight gradient's pass), so that linear and feedForward need no elementwise or reduction dispatch.
import { record } from '../autograd.js';
import { getDevice } from '../device.js';
import { type DType, dtypes } from '../dtype.js';
import type { Binding } from '../runtime/pipelines.js';
import { type Storage, allocate, release } from '../runtime/pool.js';
import { dispatch, flushNumber } from '../runtime/queue.js';
import { holdSum } from '../runtime/sums.js';
import { choose, sizeClass } from '../runtime/tune.js';
import { uniforms } from '../runtime/uniforms.js';
import { type GemmOps, type GemmTile, elemsKey, gemm, gemmChoices, gemmLabel, gemmMaxBatches, gemmPlan, gemmUnderfilled, productDTypes, splitPartials, GEMM_TILES } from './gemm.js';
import { type Shape, broadcastShapes, fmt, sameShape, sizeOf } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';
import { GELU_WGSL } from './elementwise.js';
import { sumTo } from './reduce.js';
import { collapse } from './strided.js';
import { contiguous } from './copy.js';
import { expand, reshape, squeeze, transpose } from './view.js';

/** How a kernel reads A's 4x4 block: vec4 along k, vec4 along m, or scalars. */
type AMode = 'k' | 'm' | 's';
/** How it reads B's 4x4 block: vec4 along n, vec4 along k, or scalars. */
type BMode = 'n' | 'k' | 's';

const MAX_BATCH_RANK = 3;
// The strided views: offsets of A and B, their strides (m k, k n), the first batch of the dispatch, the
// batch shape (collapsed to 3 dims) and A's and B's strides along it (0 where broadcast); the rows of an
// epilogue's addend (its row m % pRows is added to C's row m) and the offset of its bias (a parameter
// may be a view into a larger buffer: Module.flattenParameters).
const VIEW = {
  pRows: 'u32', offBias: 'u32', offA: 'u32', offB: 'u32', sAm: 'u32', sAk: 'u32', sBk: 'u32', sBn: 'u32', batchStart: 'u32',
  shape0: 'u32', shape1: 'u32', shape2: 'u32', bsA0: 'u32', bsA1: 'u32', bsA2: 'u32', bsB0: 'u32', bsB1: 'u32', bsB2: 'u32',
} as const;
const U = uniforms({ M: 'u32', N: 'u32', K: 'u32', ...VIEW });
type View = { [K in keyof typeof VIEW]: number };

/** WGSL: batch index `z` (of this dispatch) -> zOut, and the bases of A and B in it. */
const batchBases = (z: string) => `let zOut = ${z} + u.batchStart;
  let z2 = zOut % u.shape2; let z1 = (zOut / u.shape2) % u.shape1; let z0 = zOut / (u.shape2 * u.shape1);
  let aBase = u.offA + z0 * u.bsA0 + z1 * u.bsA1 + z2 * u.bsA2;
  let bBase = u.offB + z0 * u.bsB0 + z1 * u.bsB1 + z2 * u.bsB2;`;

const aligned = (...xs: number[]) => xs.every((x) => x % 4 === 0);

function aMode(a: Tensor, M: number, K: number, sAm: number, sAk: number, batchStrides: number[]): AMode {
  if (sAk === 1 && aligned(K, sAm, a.offset, ...batchStrides)) return 'k';
  if (sAm === 1 && aligned(M, sAk, a.offset, ...batchStrides)) return 'm';
  return 's';
}

function bMode(b: Tensor, N: number, K: number, sBk: number, sBn: number, batchStrides: number[]): BMode {
  if (sBn === 1 && aligned(N, sBk, b.offset, ...batchStrides)) return 'n';
  if (sBk === 1 && aligned(K, sBn, b.offset, ...batchStrides)) return 'k';
  return 's';
}

function loadA(mode: AMode, j: number): string {
  // Am<j>: column r holds A[row + 4j + r, k .. k+3].
  const r = (i: number) => `r${4 * j + i}`;
  if (mode === 'k') {
    return `let Am${j} = mat4x4<f32>(${[0, 1, 2, 3].map((i) => `vec4<f32>(A[(aBase + ${r(i)} * sAm + k) >> 2u])`).join(', ')});`;
  }
  if (mode === 'm') {
    // K need not be a multiple of 4 here: rows past it are read clamped and zeroed (pool buffers hold
    // stale data, maybe NaN, past a tensor's end).
    const at = (kk: number) => `select(vec4<f32>(), vec4<f32>(A[(aBase + min(k + ${kk}u, K - 1u) * sAk + row + ${4 * j}u) >> 2u]), k + ${kk}u < K)`;
    return `let Am${j} = transpose(mat4x4<f32>(${[0, 1, 2, 3].map(at).join(', ')}));`;
  }
  const rowOf = (ri: string) =>
    `vec4<f32>(${[0, 1, 2, 3].map((i) => `select(0.0, f32(A[aBase + ${ri} * sAm + min(k + ${i}u, K - 1u) * sAk]), k + ${i}u < K)`).join(', ')})`;
  return `let Am${j} = mat4x4<f32>(${[0, 1, 2, 3].map((i) => rowOf(r(i))).join(', ')});`;
}

function loadB(mode: BMode): string {
  // Bm: column kk holds B[k + kk, col .. col+3].
  if (mode === 'n') {
    // Rows past K (K need not be a multiple of 4 here) are read clamped, so they hold real, finite data
    // that A's zeroed columns cancel.
    const at = (kk: number) => `vec4<f32>(B[(bBase + min(k + ${kk}u, K - 1u) * sBk + col) >> 2u])`;
    return `let Bm = mat4x4<f32>(${[0, 1, 2, 3].map(at).join(', ')});`;
  }
  if (mode === 'k') {
    const at = (c: string) => `vec4<f32>(B[(bBase + ${c} * sBn + k) >> 2u])`;
    return `let Bm = transpose(mat4x4<f32>(${['c0', 'c1', 'c2', 'c3'].map(at).join(', ')}));`;
  }
  const rowOf = (i: number) =>
    `vec4<f32>(${['c0', 'c1', 'c2', 'c3'].map((c) => `select(0.0, f32(B[bBase + min(k + ${i}u, K - 1u) * sBk + ${c} * sBn]), k + ${i}u < K)`).join(', ')})`;
  return `let Bm = mat4x4<f32>(${rowOf(0)}, ${rowOf(1)}, ${rowOf(2)}, ${rowOf(3)});`;
}

/** The WGSL storage types of A, B (and the bias) and the output (and the epilogue's other tensors). */
interface Elems {
  a: string;
  b: string;
  o: string;
}
const elemsOf = (e: Elems) => elemsKey(e.a, e.b, e.o);

/**
 * What a product does beside C = A B in the same pass. In the store: `bias` [N] (b's dtype), `residual`
 * and `addend` (rows [P, N], row m % P added to C's row m: broadcast over leading dims) are added; then
 * `gelu` receives gelu(C) (C itself, the pre-activation, is still stored), or C is multiplied by
 * gelu'(`geluGradOf`) (the gradient through a GELU of that input). And `rowSums` [M] receives the sums
 * of A's rows over k: a linear's bias gradient, Σ_rows g, from the pass over gᵀ that makes its weight
 * gradient. The tensors of C's shape (residual, gelu, geluGradOf) and the addend are contiguous from
 * offset 0; all but bias have C's dtype. An addend or row sums take one batch. `hold` (a weight
 * gradient, read first by the optimizer's step): a split tile's sums over its splits are held back and
 * go out with others (runtime/sums.ts).
 */
interface Epilogue {
  bias?: Tensor;
  residual?: Tensor;
  addend?: Tensor;
  gelu?: Tensor;
  geluGradOf?: Tensor;
  rowSums?: Tensor;
  hold?: boolean;
}
/** Which parts of an epilogue a kernel has (its key suffix and its bindings follow them). */
type Fused = { [K in Exclude<keyof Epilogue, 'hold'>]-?: boolean };
const fusedKey = (f: Fused) => `${f.bias ? 'b' : ''}${f.residual ? 'r' : ''}${f.addend ? 'p' : ''}${f.gelu ? 'g' : ''}${f.geluGradOf ? 'd' : ''}${f.rowSums ? 's' : ''}`;

/** The bindings in order: A, B, the epilogue's inputs, the output, the epilogue's other outputs. */
function productBindings(e: Elems, f: Fused, aType: string, bType: string, oType: string): Binding[] {
  return [
    { name: 'A', type: aType, access: 'read' },
    { name: 'B', type: bType, access: 'read' },
    ...(f.bias ? [{ name: 'Bias', type: e.b, access: 'read' as const }] : []),
    ...(f.residual ? [{ name: 'R', type: oType, access: 'read' as const }] : []),
    ...(f.addend ? [{ name: 'P', type: oType, access: 'read' as const }] : []),
    ...(f.geluGradOf ? [{ name: 'H', type: oType, access: 'read' as const }] : []),
    { name: 'O', type: oType, access: 'read_write' },
    ...(f.gelu ? [{ name: 'G', type: oType, access: 'read_write' as const }] : []),
    ...(f.rowSums ? [{ name: 'S', type: e.o, access: 'read_write' as const }] : []),
  ];
}

/**
 * Statements storing C's f32 `v` at (m, n), flat index `i`, with the epilogue; `vec`: the tensors of C's
 * layout (O, R, P, H, G) bound as vec4s.
 */
function storeOne(e: Elems, f: Fused, m: string, n: string, i: string, v: string, vec: boolean): string {
  const at = (name: string, i: string) => (vec ? `${name}[(${i}) >> 2u][(${i}) & 3u]` : `${name}[${i}]`);
  const sum = `${v}${f.bias ? ` + f32(Bias[u.offBias + ${n}])` : ''}${f.residual ? ` + f32(${at('R', i)})` : ''}${f.addend ? ` + f32(${at('P', addendAt(m, n))})` : ''}`;
  if (!f.gelu && !f.geluGradOf) return `${at('O', i)} = ${e.o}(${sum});`;
  return `{ let pre = ${sum}; ${at('O', i)} = ${e.o}(${f.geluGradOf ? `geluGrad_(f32(${at('H', i)}), pre)` : 'pre'});${f.gelu ? ` ${at('G', i)} = ${e.o}(gelu_(pre));` : ''} }`;
}

/** storeOne for a vec4<f32> `v` at (m, n .. n+3), flat index `i` aligned, the tensors of C's layout bound as vec4s. */
function storeFour(e: Elems, f: Fused, m: string, n: string, i: string, v: string): string {
  const four = (name: string, i: string) => `vec4<f32>(${name}[(${i}) >> 2u])`;
  const bias = `vec4<f32>(${[0, 1, 2, 3].map((j) => `f32(Bias[u.offBias + ${n} + ${j}u])`).join(', ')})`;
  const sum = `${v}${f.bias ? ` + ${bias}` : ''}${f.residual ? ` + ${four('R', i)}` : ''}${f.addend ? ` + ${four('P', addendAt(m, n))}` : ''}`;
  if (!f.gelu && !f.geluGradOf) return `O[(${i}) >> 2u] = vec4<${e.o}>(${sum});`;
  // GELU's functions are scalar: applied per component.
  const each = (fn: string, ...args: string[]) => `vec4<f32>(${['x', 'y', 'z', 'w'].map((c) => `${fn}(${args.map((a) => `${a}.${c}`).join(', ')})`).join(', ')})`;
  const o = f.geluGradOf ? each('geluGrad_', 'h', 'pre') : 'pre';
  return `{ let pre = ${sum};${f.geluGradOf ? ` let h = ${four('H', i)};` : ''} O[(${i}) >> 2u] = vec4<${e.o}>(${o});${f.gelu ? ` G[(${i}) >> 2u] = vec4<${e.o}>(${each('gelu_', 'pre')});` : ''} }`;
}
/** The flat index of the addend's element added at C's (m, n). */
const addendAt = (m: string, n: string) => `(${m}) % u.pRows * N + ${n}`;
/** The kernels' module-scope WGSL for an epilogue. */
const epilogueFns = (f: Fused) => (f.gelu || f.geluGradOf ? GELU_WGSL : '');

function kernelFor(e: Elems, am: AMode, bm: BMode, wx: number, wy: number, tm: number, f: Fused) {
  const groups = [...Array(tm / 4).keys()];
  // A's 4x4 blocks: column r of Am<j> is row 4j + r of this thread's rows, so 1ᵀ Am<j> sums them over k.
  // Only the threads of the first column tile sum them (the others skip the branch as a whole).
  const rowSum = (j: number) => (f.rowSums ? ` if (col == 0u) { sum${j} += vec4<f32>(1.0) * Am${j}; }` : '');
  const storeRowSums = (j: number) =>
    f.rowSums ? `
  if (col == 0u) { for (var r = 0u; r < 4u; r++) { let m = row + ${4 * j}u + r; if (m < M) { S[m] = ${e.o}(sum${j}[r]); } } }` : '';
  return {
    name: 'matmul',
    key: `${elemsOf(e)}${am}${bm}${wx}x${wy}x${tm}${fusedKey(f)}`,
    uniforms: U,
    bindings: productBindings(e, f, am === 's' ? e.a : `vec4<${e.a}>`, bm === 's' ? e.b : `vec4<${e.b}>`, e.o),
    body: () => `${epilogueFns(f)}
@compute @workgroup_size(${wx}, ${wy})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = u.M; let N = u.N; let K = u.K;
  let col = (wg.x * ${wx}u + lid.x) * 4u;
  let row = (wg.y * ${wy}u + lid.y) * ${tm}u;
  if (col >= N || row >= M) { return; }
  // Batch index -> offsets of A, B (broadcast dims have stride 0) and O (contiguous).
  ${batchBases('wg.z')}
  let sAm = u.sAm; let sAk = u.sAk; let sBk = u.sBk; let sBn = u.sBn;
  // Rows and columns past the edge are clamped for loading and skipped when storing.
  ${[...Array(tm).keys()].map((i) => `let r${i} = min(row + ${i}u, M - 1u);`).join(' ')}
  let c0 = col; let c1 = min(col + 1u, N - 1u); let c2 = min(col + 2u, N - 1u); let c3 = min(col + 3u, N - 1u);
  ${groups.map((j) => `var acc${j} = mat4x4<f32>();${f.rowSums ? ` var sum${j} = vec4<f32>();` : ''}`).join(' ')}
  for (var k = 0u; k < K; k += 4u) {
    ${loadB(bm)}
    ${groups.map((j) => `${loadA(am, j)}\n    acc${j} += Bm * Am${j};${rowSum(j)}`).join('\n    ')}
  }
  let oBase = zOut * M * N;
  ${groups.map((j) => `for (var r = 0u; r < 4u; r++) {
    let m = row + ${4 * j}u + r;
    if (m >= M) { break; }
    for (var c = 0u; c < 4u; c++) {
      if (col + c < N) {
        ${storeOne(e, f, 'm', 'col + c', 'oBase + m * N + col + c', `acc${j}[r][c]`, false)}
      }
    }
  }${storeRowSums(j)}`).join('\n  ')}
}`,
  };
}

/**
 * The tiled core's reads and store for matmul: the same strides, batch broadcast and read modes as the
 * register kernels, vec4 loads along the contiguous dim, a vec4 store when N % 4 == 0.
 */
function gemmOps(e: Elems, am: AMode, bm: BMode, f: Fused, oVec: boolean, values: View): GemmOps {
  const scalar = (name: 'A' | 'B', mode: string, i: string) => (mode === 's' ? `f32(${name}[${i}])` : `f32(${name}[(${i}) >> 2u][(${i}) & 3u])`);
  const aAt = (k: string, m: string) => `aBase + ${m} * sAm + ${k} * sAk`;
  const bAt = (k: string, n: string) => `bBase + ${k} * sBk + ${n} * sBn`;
  const oAt = (m: string, n: string) => `(zOut * M + ${m}) * N + ${n}`;
  return {
    name: 'matmulTiled',
    key: `${elemsOf(e)}${am}${bm}${fusedKey(f)}${oVec ? 'v' : ''}`,
    bindings: productBindings(e, f, am === 's' ? e.a : `vec4<${e.a}>`, bm === 's' ? e.b : `vec4<${e.b}>`, oVec ? `vec4<${e.o}>` : e.o),
    uniforms: VIEW,
    values,
    // Batch index -> offsets of A, B (broadcast dims have stride 0) and O (contiguous).
    prologue: batchBases('batch'),
    a: {
      axis: am === 'm' ? 'x' : 'k',
      load: (k, m) => scalar('A', am, aAt(k, m)),
      load4: am === 'k' ? (k, m) => `vec4<f32>(A[(aBase + ${m} * sAm + ${k}) >> 2u])` : am === 'm' ? (k, m) => `vec4<f32>(A[(aBase + ${k} * sAk + ${m}) >> 2u])` : undefined,
    },
    b: {
      axis: bm === 'k' ? 'k' : 'x',
      load: (k, n) => scalar('B', bm, bAt(k, n)),
      load4: bm === 'n' ? (k, n) => `vec4<f32>(B[(bBase + ${k} * sBk + ${n}) >> 2u])` : bm === 'k' ? (k, n) => `vec4<f32>(B[(bBase + ${n} * sBn + ${k}) >> 2u])` : undefined,
    },
    fns: epilogueFns(f),
    store: (m, n, v) => storeOne(e, f, m, n, oAt(m, n), v, oVec),
    store4: oVec ? (m, n, v) => storeFour(e, f, m, n, oAt(m, n), v) : undefined,
    rowSums: f.rowSums ? (m, v) => `S[${m}] = ${e.o}(${v});` : undefined,
  };
}

/** C = A @ B for a [.., M, K] and b [.., K, N] (batch dims broadcast) with its epilogue, stored as `dtype`. */
function matmulRaw(a: Tensor, b: Tensor, dtype: DType, epilogue: Epilogue = {}): Tensor {
  const M = a.shape[a.rank - 2]!;
  const K = a.shape[a.rank - 1]!;
  const N = b.shape[b.rank - 1]!;
  const batchShape = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batchStrides = (t: Tensor) => {
    const pad = batchShape.length - (t.rank - 2);
    return batchShape.map((_, i) => (i < pad || t.shape[i - pad] === 1 ? 0 : t.strides[i - pad]!));
  };
  const c = collapse(batchShape, [batchStrides(a), batchStrides(b)]);
  if (c.shape.length > MAX_BATCH_RANK) {
    // Too many independent batch strides for the kernel: materialise both operands at the full batch shape.
    const full = (t: Tensor, rows: number, cols: number) => {
      const e = expand(t, [...batchShape, rows, cols]);
      const copy = contiguous(e);
      e.dispose();
      return copy;
    };
    const [fa, fb] = [full(a, M, K), full(b, K, N)];
    const r = matmulRaw(fa, fb, dtype, epilogue);
    fa.dispose();
    fb.dispose();
    return r;
  }
  const e: Elems = { a: dtypes[a.dtype].wgsl, b: dtypes[b.dtype].wgsl, o: dtypes[dtype].wgsl };
  const out = empty([...batchShape, M, N], dtype);
  const batches = sizeOf(batchShape);
  const { residual, addend, gelu, geluGradOf, rowSums } = epilogue;
  if ((rowSums || addend) && (batches !== 1 || N === 0)) throw new Error(`matmul: row sums or an addend need one batch and a non-empty output, got ${fmt(out.shape)}`);
  if (out.size === 0) return out;
  // The bias is read at its offset, with unit stride.
  const bias = epilogue.bias && !epilogue.bias.isContiguous ? contiguous(epilogue.bias) : epilogue.bias;
  const f: Fused = { bias: !!bias, residual: !!residual, addend: !!addend, gelu: !!gelu, geluGradOf: !!geluGradOf, rowSums: !!rowSums };
  const pad = (xs: number[], fill: number) => [...Array(MAX_BATCH_RANK - xs.length).fill(fill), ...xs];
  const bShape = pad(c.shape, 1);
  const bsA = pad(c.strides[0]!, 0);
  const bsB = pad(c.strides[1]!, 0);
  const [sAm, sAk] = [a.strides[a.rank - 2]!, a.strides[a.rank - 1]!];
  const [sBk, sBn] = [b.strides[b.rank - 2]!, b.strides[b.rank - 1]!];
  const am = aMode(a, M, K, sAm, sAk, bsA);
  const bm = bMode(b, N, K, sBk, sBn, bsB);
  const [shape0, shape1, shape2] = bShape as [number, number, number];
  const [bsA0, bsA1, bsA2] = bsA as [number, number, number];
  const [bsB0, bsB1, bsB2] = bsB as [number, number, number];
  const view = (batchStart: number): View => ({ pRows: addend?.shape[0] ?? 1, offBias: bias?.offset ?? 0, offA: a.offset, offB: b.offset, sAm, sAk, sBk, sBn, batchStart, shape0, shape1, shape2, bsA0, bsA1, bsA2, bsB0, bsB1, bsB2 });
  const encode = (v: Variant, buffers: Storage[]) => {
    if (!('wx' in v)) {
      const chunk = gemmMaxBatches(v);
      for (let start = 0; start < batches; start += chunk) {
        gemm(gemmOps(e, am, bm, f, N % 4 === 0, view(start)), v, { M, N, K, batches: Math.min(chunk, batches - start) }, buffers);
      }
      return;
    }
    const wy = 64 / v.wx;
    const kernel = kernelFor(e, am, bm, v.wx, wy, v.tm, f);
    const maxZ = 65535;
    for (let start = 0; start < batches; start += maxZ) {
      dispatch(kernel, buffers, U.pack({ M, N, K, ...view(start) }), [Math.ceil(N / (4 * v.wx)), Math.ceil(M / (v.tm * wy)), Math.min(maxZ, batches - start)]);
    }
  };
  const bound = [a, b, bias, residual, addend, geluGradOf, out, gelu, rowSums].filter((t): t is Tensor => !!t);
  const variant = choose<Variant>({
    problem: `matmul|${elemsOf(e)}|${am}${bm}${fusedKey(f)}|M${sizeClass(M)}|N${sizeClass(N)}|K${sizeClass(K)}|B${sizeClass(batches)}`,
    ...matmulChoices(M, N, K, batches),
    label: variantLabel,
    worthTuning: 2 * M * N * K * batches > 5e7,
    prepare: () => {
      const scratch = bound.map((t) => allocate(t.storage.byteSize));
      return { run: (v) => encode(v, scratch), dispose: () => scratch.forEach((s) => release(s, flushNumber())) };
    },
  });
  if (epilogue.hold && !('wx' in variant) && variant.split && batches === 1 && !bias && !residual && !addend && !gelu && !geluGradOf) {
    // C's partials summed later, with other weight gradients' (and the row sums', after them in the partials).
    const part = splitPartials(gemmOps(e, am, bm, f, N % 4 === 0, view(0)), variant, { M, N, K, batches: 1 }, bound.map((t) => t.storage));
    const splits = gemmPlan(variant, M, N, K, 1).splits;
    holdSum({ part, partOffset: 0, stride: M * N, splits, n: M * N, out: out.storage, outOffset: 0, dtype });
    if (rowSums) holdSum({ part, partOffset: splits * M * N, stride: M, splits, n: M, out: rowSums.storage, outOffset: 0, dtype: rowSums.dtype });
    release(part, flushNumber());
    return out;
  }
  encode(variant, bound.map((t) => t.storage));
  if (bias !== epilogue.bias) bias!.dispose();
  return out;
}

/** The register kernels' variants: rows per thread (tm) and column lanes per workgroup (wx; 64 / wx row lanes). */
interface Registers {
  tm: 4 | 8;
  wx: number;
}
/** A register variant (lavapipe's) or a tile of the GEMM core (GPUs'). */
type Variant = Registers | GemmTile;

// Narrow outputs (attention's head dim) get fewer column lanes and more row lanes.
const lanesFor = (N: number) => Math.min(16, sizeClass(Math.ceil(N / 4)));

function registerVariants(N: number): Registers[] {
  const widest = lanesFor(N);
  const out: Registers[] = [];
  for (const tm of [4, 8] as const) for (const wx of [16, 8, 4]) if (wx <= widest) out.push({ tm, wx });
  return out;
}
const variantLabel = (v: Variant) => ('wx' in v ? `${v.tm}x${v.wx}` : gemmLabel(v));

/** Labels of the matmul variants for an output N wide (what `forceVariant('matmul', label)` takes). */
export function matmulVariantLabels(N: number): string[] {
  return [...registerVariants(N), ...GEMM_TILES].map(variantLabel);
}

/**
 * What the tuner times, what it may only be forced to, and the untuned pick. A CPU adapter times the
 * register kernels alone and starts from 8 rows per thread (measured on lavapipe: they amortise each
 * loaded B block better); a GPU times both kinds and starts from the tiled core.
 */
function matmulChoices(M: number, N: number, K: number, batches: number): { candidates: Variant[]; forceOnly: Variant[]; fallback: Variant } {
  const { isCpu } = getDevice().info;
  const tiles = gemmChoices(isCpu, gemmUnderfilled(M, N, K, batches));
  const registers = registerVariants(N);
  return {
    candidates: [...registers, ...tiles.timed],
    forceOnly: tiles.forceOnly,
    fallback: isCpu ? { tm: 8, wx: lanesFor(N) } : tiles.fallback,
  };
}

function check(op: string, a: Tensor, b: Tensor, bias?: Tensor): void {
  a.assertAlive(op);
  b.assertAlive(op);
  bias?.assertAlive(op);
  productDTypes(op, a, bias ? [b, bias] : [b]);
  if (a.rank === 0 || b.rank === 0) throw new Error(`${op}: both operands need at least one dimension, got ${fmt(a.shape)} and ${fmt(b.shape)}`);
}

/**
 * `torch.matmul`: batched, broadcasting batch dims; 1-D operands are treated as a row / column vector.
 * A float16 a takes a float32 b (the result is float16, b's gradient float32).
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  check('matmul', a, b);
  return product(a, b, a.dtype);
}

/** matmul with its result stored as `dtype` (any mix of operand dtypes: the gradients' products need them). */
function product(a: Tensor, b: Tensor, dtype: DType): Tensor {
  if (a.rank === 1 || b.rank === 1) {
    // A vector operand becomes a one-row (or one-column) matrix, and that dim is dropped again.
    const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]!]) : a;
    const b2 = b.rank === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
    const r = product(a2, b2, dtype);
    const out = squeeze(r, a.rank === 1 ? -2 : -1);
    for (const t of [a2, b2, r]) if (t !== a && t !== b) t.dispose();
    return out;
  }
  const K = a.shape[a.rank - 1]!;
  if (b.shape[b.rank - 2] !== K) {
    throw new Error(`matmul: shapes ${fmt(a.shape)} and ${fmt(b.shape)} don't match (${K} vs ${b.shape[b.rank - 2]} in the contracted dim)`);
  }
  try {
    broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  } catch {
    throw new Error(`matmul: the batch dims of ${fmt(a.shape)} and ${fmt(b.shape)} cannot be broadcast together`);
  }
  const out = matmulRaw(a, b, dtype);
  return record(out, 'matmul', [a, b], [a, b], (g, [sa, sb]) => [
    a.requiresGrad ? sumTo(product(g, transpose(sb!), a.dtype), a.shape) : null,
    b.requiresGrad ? gradOfB(sa!, g, b) : null,
  ]);
}

/**
 * The gradient of b in a @ b, in b's dtype (float32 straight from the f32 sums for a float16 a). A 2-D
 * b shared by a batch gets it from one product with the batch folded into the contracted dim: one f32
 * sum and one rounding, where a product per batch summed after would round each partial to float16 first.
 */
function gradOfB(a: Tensor, g: Tensor, b: Tensor): Tensor {
  if (b.rank !== 2 || a.rank === 2) return sumTo(product(transpose(a), g, b.dtype), b.shape);
  return product(transpose(reshape(a, [-1, a.shape[a.rank - 1]!])), reshape(g, [-1, g.shape[g.rank - 1]!]), b.dtype);
}

/**
 * linear's options: tensors added to the result in the product's store, with no add of their own. Of
 * x's dtype, or float32 for a float16 x (y is then float32: the f32 sums plus them, rounded once).
 */
export interface LinearOptions {
  /** y's shape, as `torch.addmm`'s input (a residual connection). Its gradient is y's, with no dispatch. */
  residual?: Tensor;
  /**
   * Broadcast over y's leading dims: its dims are y's last ones, after leading 1s (a position embedding
   * [1, L, F] re-added to a stream [B, L, F]). Its gradient sums y's over the broadcast dims.
   */
  addend?: Tensor;
}

/**
 * `torch.nn.functional.linear`: x [.., in] @ weightᵀ ([out, in]) + bias [out], with the bias (and a
 * residual, see LinearOptions) fused in. A float16 x takes a float32 weight and bias (the result is
 * float16, their gradients float32). The bias gradient comes from the weight gradient's pass.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor, options: LinearOptions = {}): Tensor {
  check('linear', x, weight, bias);
  const outF = outFeatures('linear', x.shape, weight, bias);
  const outShape = [...x.shape.slice(0, -1), outF];
  const added = addendsOf('linear', x, options, outShape);
  // Fold leading dims into rows so that the weight gradient is one matmul, not a batch plus a sum.
  const x2 = reshape(x, [-1, x.shape[x.rank - 1]!]);
  const wT = transpose(weight);
  const y2 = matmulRaw(x2, wT, added.dtype, { bias, ...added.epilogue });
  const y = record(y2, 'linear', [x2, weight, ...(bias ? [bias] : []), ...added.inputs], [x2, weight], (g, [sx, sw]) => {
    const dx = x2.requiresGrad ? product(g, sw!, x.dtype) : null;
    const [dW, db] = weightGrads(g, sx!, weight, bias);
    return [dx, dW, ...(bias ? [db] : []), ...added.grads(g)];
  });
  const out = reshape(y, outShape);
  for (const t of [x2, wT, y, ...added.inputs]) t.dispose();
  return out;
}

/**
 * The Transformer's feed-forward, linear(gelu(linear(x, w1, b1)), w2, b2, options) with GELU's exact erf,
 * in two products and no elementwise GELU either way: the first stores its pre-activation h and gelu(h)
 * from one pass, and in the backward the product through w2 applies gelu'(h) in its store.
 */
export function feedForward(x: Tensor, w1: Tensor, b1: Tensor | undefined, w2: Tensor, b2: Tensor | undefined, options: LinearOptions = {}): Tensor {
  check('feedForward', x, w1, b1);
  check('feedForward', x, w2, b2);
  const hidden = outFeatures('feedForward', x.shape, w1, b1);
  const outF = outFeatures('feedForward', [...x.shape.slice(0, -1), hidden], w2, b2);
  const outShape = [...x.shape.slice(0, -1), outF];
  const added = addendsOf('feedForward', x, options, outShape);
  const x2 = reshape(x, [-1, x.shape[x.rank - 1]!]);
  const [w1T, w2T] = [transpose(w1), transpose(w2)];
  const a = empty([x2.shape[0]!, hidden], x.dtype);
  const h = matmulRaw(x2, w1T, x.dtype, { bias: b1, gelu: a });
  const y2 = matmulRaw(a, w2T, added.dtype, { bias: b2, ...added.epilogue });
  const inputs = [x2, w1, ...(b1 ? [b1] : []), w2, ...(b2 ? [b2] : []), ...added.inputs];
  const y = record(y2, 'feedForward', inputs, [x2, w1, w2, h, a], (g, [sx, sw1, sw2, sh, sa]) => {
    const [dW2, db2] = weightGrads(g, sa!, w2, b2);
    const first = x2.requiresGrad || w1.requiresGrad || !!b1?.requiresGrad;
    const dh = first ? matmulRaw(g, sw2!, x.dtype, { geluGradOf: sh }) : null;
    const dx = x2.requiresGrad ? product(dh!, sw1!, x.dtype) : null;
    const [dW1, db1] = dh ? weightGrads(dh, sx!, w1, b1) : [null, null];
    return [dx, dW1, ...(b1 ? [db1] : []), dW2, ...(b2 ? [db2] : []), ...added.grads(g)];
  });
  const out = reshape(y, outShape);
  for (const t of [x2, w1T, w2T, h, a, y, ...added.inputs]) t.dispose();
  return out;
}

/** Checks a linear's weight ([out, in] for an input of `inShape`) and bias ([out]); returns out. */
function outFeatures(op: string, inShape: Shape, weight: Tensor, bias: Tensor | undefined): number {
  const inF = inShape[inShape.length - 1]!;
  if (weight.rank !== 2 || weight.shape[1] !== inF) {
    throw new Error(`${op}: input ${fmt(inShape)} and weight ${fmt(weight.shape)} don't match (weight must be [out, ${inF}])`);
  }
  const outF = weight.shape[0]!;
  if (bias && (bias.rank !== 1 || bias.shape[0] !== outF)) throw new Error(`${op}: bias ${fmt(bias.shape)} must be [${outF}]`);
  return outF;
}

/** A linear's residual and addend as its store reads them, and their part of its backward. */
interface Added {
  /** y's dtype: theirs, else x's. */
  dtype: DType;
  epilogue: Pick<Epilogue, 'residual' | 'addend'>;
  /** The op's autograd inputs after its own (handles of their own, for the op to dispose). */
  inputs: Tensor[];
  /** Their gradients from y's, g [rows, F]. */
  grads: (g: Tensor) => (Tensor | null)[];
}

/** Checks LinearOptions for an output of `shape` from x; returns them as rows, contiguous from offset 0. */
function addendsOf(op: string, x: Tensor, options: LinearOptions, shape: Shape): Added {
  const { residual, addend } = options;
  const F = shape[shape.length - 1]!;
  const dtype = residual?.dtype ?? addend?.dtype ?? x.dtype;
  for (const [name, t] of [['residual', residual], ['addend', addend]] as const) {
    if (!t) continue;
    t.assertAlive(op);
    if (t.dtype !== dtype || (dtype !== x.dtype && !(x.dtype === 'float16' && dtype === 'float32'))) {
      throw new Error(`${op}: ${name} ${t.dtype} ${fmt(t.shape)} must be of the input's dtype ${x.dtype}, or float32 for a float16 input (a residual and an addend alike)`);
    }
  }
  if (residual && !sameShape(residual.shape, shape)) throw new Error(`${op}: residual ${fmt(residual.shape)} must be the output's shape ${fmt(shape)}`);
  if (addend) {
    const last = shape.slice(shape.length - addend.rank);
    const first = addend.shape.findIndex((d) => d !== 1);
    const ok = addend.rank <= shape.length && addend.shape[addend.rank - 1] === F && addend.shape.every((d, i) => i < (first < 0 ? addend.rank : first) || d === last[i]);
    if (!ok) throw new Error(`${op}: addend ${fmt(addend.shape)} must broadcast over the leading dims of the output ${fmt(shape)} (its dims the output's last ones, after leading 1s)`);
  }
  const rowsOf = (t: Tensor) => {
    const rows = reshape(t, [-1, F]);
    if (rows.isContiguous && rows.offset === 0) return rows;
    const copy = contiguous(rows);
    rows.dispose();
    return copy;
  };
  const r = residual && rowsOf(residual);
  const p = addend && rowsOf(addend);
  // The addend's gradient: g summed over the output's rows that share each of its rows.
  const pGrad = (g: Tensor) => {
    const P = p!.shape[0]!;
    if (!p!.requiresGrad) return null;
    if (P === g.shape[0]) return g;
    return reshape(sumTo(reshape(g, [-1, P, F]), [1, P, F]), [P, F]);
  };
  return {
    dtype,
    epilogue: { residual: r, addend: p },
    inputs: [r, p].filter((t): t is Tensor => !!t),
    grads: (g) => [...(r ? [g] : []), ...(p ? [pGrad(g)] : [])],
  };
}

/**
 * The gradients of a linear's weight and bias (each null unless it requires one): dW = gᵀ x, and db = Σ_rows g
 * summed by the same pass (gᵀ's rows, the product's A), in f32 and written in the bias's dtype.
 */
function weightGrads(g: Tensor, x: Tensor, weight: Tensor, bias: Tensor | undefined): [Tensor | null, Tensor | null] {
  const wantB = !!bias?.requiresGrad;
  if (!weight.requiresGrad) return [null, wantB ? sumTo(g, bias!.shape, bias!.dtype) : null];
  const gT = transpose(g);
  // An empty weight gradient (no input features) has no pass to sum g in.
  if (!wantB || x.shape[1] === 0) return [matmulRaw(gT, x, weight.dtype, { hold: true }), wantB ? sumTo(g, bias!.shape, bias!.dtype) : null];
  const db = empty(bias!.shape, bias!.dtype);
  return [matmulRaw(gT, x, weight.dtype, { rowSums: db, hold: true }), db];
}
