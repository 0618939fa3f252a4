// The tiled GEMM core for GPUs: C[batch, m, n] = sum over k of A[batch, m, k] * B[batch, k, n], written
// once and specialised by how an op reads A and B (matmul: strides, transposes, batch broadcast; conv2d:
// implicit im2col) and how it stores C (bias, layout, dtype). A workgroup owns a BM x 64 tile of C:
// 16 x (BM / TM) threads, each a TM x 4 register micro-tile; per step of BK = 16 along k the workgroup
// stages A's BM x 16 and B's 16 x 64 tiles in workgroup memory (vec4 loads where the op says its
// operand is aligned, guarded scalar loads at the edges), then each thread does TM x 4 x 16 FMAs from it.
// Products and sums are f32 whatever the storage dtype (float16 loads widen on the way in).
//
// Split-K: when the grid of C tiles would not fill a GPU (fewer than FILL_WORKGROUPS workgroups) and K
// is long, K is cut into chunks of at least MIN_K_PER_SPLIT; each chunk's workgroups write f32 partials,
// and a second pass sums them in a fixed order (deterministic: no float atomics) and stores C.
//
// Row sums (an op's option): the workgroups of the first column tile also add up the rows of A they
// stage (split: as partials after C's, summed by the second pass), e.g. a linear's bias gradient Σ_rows g
// from the pass over gᵀ that makes its weight gradient.
//
// On a CPU adapter (lavapipe) barriers are very expensive and the ops keep their register-only kernels;
// these variants are tuned (and forceable) beside them.
import { type DType, commonDType } from '../dtype.js';
import { type Binding, type Kernel, linearEntry } from '../runtime/pipelines.js';
import { type Storage, allocate, release } from '../runtime/pool.js';
import { dispatch, flushNumber, grid } from '../runtime/queue.js';
import { holdSum } from '../runtime/sums.js';
import { type Uniforms, uniforms } from '../runtime/uniforms.js';
import { type Shape, fmt } from '../shape.js';

/**
 * The dtype mixes the products (matmul, linear, conv2d) take: the input and the weight side (matmul's
 * b, a weight and its bias) of one dtype, or a float16 input with a float32 weight side (mixed
 * precision: the f32 master weights are read as they are, the result is float16 and their gradients
 * float32, with no cast either way). A float32 input with float16 weights is an error: it would run
 * the input's precision down silently. Returns the input's and the weights' dtypes.
 */
export function productDTypes(op: string, input: { dtype: DType; shape: Shape }, weights: readonly { dtype: DType; shape: Shape }[]): [DType, DType] {
  const all = [input, ...weights];
  const mixed = input.dtype === 'float16' && weights.every((w) => w.dtype === 'float32');
  if (!mixed && all.some((t) => t.dtype !== input.dtype)) {
    throw new Error(
      `${op}: dtypes differ (${all.map((t) => `${t.dtype} ${fmt(t.shape)}`).join(', ')}); the operands share one dtype, or a float16 input takes float32 weights: convert with .to() first`,
    );
  }
  return [commonDType(op, [input]), commonDType(op, weights)];
}

/** The part of a kernel key naming its operands' element types: one name when they are alike (as before mixes). */
export const elemsKey = (...elems: string[]) => (elems.every((e) => e === elems[0]) ? elems[0]! : elems.join(''));

/** A workgroup tile of C: BM rows x 64 columns, TM rows per thread, split-K or not. */
export interface GemmTile {
  bm: 32 | 64 | 128;
  tm: 4 | 8;
  split: boolean;
}

const BN = 64;
const BK = 16;
const TN = 4;

export const GEMM_TILES: readonly GemmTile[] = [
  { bm: 64, tm: 4, split: false },
  { bm: 128, tm: 8, split: false },
  { bm: 32, tm: 4, split: false },
  { bm: 64, tm: 4, split: true },
  { bm: 128, tm: 8, split: true },
];

/** 'g64x64', 'g128x64s' (s: split-K): the labels forceVariant takes. */
export const gemmLabel = (t: GemmTile) => `g${t.bm}x${BN}${t.split ? 's' : ''}`;

/** Threads per workgroup and the workgroup memory of a tile (its A and B stages, f32). */
export function gemmFootprint(t: GemmTile): { threads: number; workgroupBytes: number } {
  return { threads: (BN / TN) * (t.bm / t.tm), workgroupBytes: (t.bm + BN) * BK * 4 };
}

// The split rule. WebGPU does not say how many compute units an adapter has; 512 workgroups is about
// four per SM on the largest GPUs (132 SMs), enough to hide latency. A chunk of K shorter than 256
// makes the partials' traffic (M x N f32 per split) comparable to the work saved.
const FILL_WORKGROUPS = 512;
const MIN_K_PER_SPLIT = 256;

/** How many chunks K is cut into: enough to fill the device, none shorter than MIN_K_PER_SPLIT. */
export function splitsFor(tiles: number, K: number): number {
  if (tiles >= FILL_WORKGROUPS) return 1;
  return Math.max(1, Math.min(Math.ceil(FILL_WORKGROUPS / tiles), Math.floor(K / MIN_K_PER_SPLIT)));
}

/** Whether the rule would split this problem: GPU adapters then prefer a split tile by default. */
export const gemmUnderfilled = (M: number, N: number, K: number, batches: number) =>
  splitsFor(Math.ceil(M / 64) * Math.ceil(N / BN) * batches, K) > 1;

/** How an op reads one operand: `load(k, x)` one in-range element as f32 (x: m for A, n for B). */
export interface GemmOperand {
  /**
   * The direction of its vec4 loads: 'k' (four consecutive k of one row or column) or 'x' (four
   * consecutive m of A, n of B). Without `load4`, the four are scalar loads.
   */
  axis: 'k' | 'x';
  load: (k: string, x: string) => string;
  /** vec4<f32> of the four elements from (k, x) along `axis`, for an aligned start with all four in range. */
  load4?: (k: string, x: string) => string;
}

/** What specialises the core for one op: its bindings, its extra uniforms, its reads and its store. */
export interface GemmOps {
  /** Kernel name; `key` and `storeKey` must determine every string below (they go into the cache key). */
  name: string;
  key: string;
  /**
   * What of the key only `store` and `store4` depend on (e.g. an accumulate flag), if anything: a split
   * tile's partials kernel never stores C, so one of them serves every store.
   */
  storeKey?: string;
  bindings: Binding[];
  /** The op's own uniforms (names and WGSL types) and their values; the core's (M, N, K, ...) come first. */
  uniforms: Record<string, 'u32' | 'i32'>;
  values: Record<string, number>;
  /** WGSL functions the reads and the store call (module scope: they may read `u.*` and the bindings). */
  fns?: string;
  /** Statements run first, with `batch` (the batch index) known: per-batch bases of the reads and store. */
  prologue: string;
  a: GemmOperand;
  b: GemmOperand;
  /** A statement storing f32 `v` at (m, n), both in range. */
  store: (m: string, n: string, v: string) => string;
  /** A statement storing vec4<f32> `v` at (m, n .. n+3), all in range (for an aligned n). */
  store4?: (m: string, n: string, v: string) => string;
  /**
   * If set, the pass also sums each row of A over k (one batch only): a statement storing f32 `v`, the sum
   * of row m. The workgroups of the first column tile add up the A tiles they stage anyway.
   */
  rowSums?: (m: string, v: string) => string;
}

// The core's uniforms; the op's own follow. Every uniform is also a `let` of the same name in main.
const CORE = { M: 'u32', N: 'u32', K: 'u32', batches: 'u32', splits: 'u32', kChunk: 'u32' } as const;
const blocks = new Map<string, Uniforms<Record<string, 'u32' | 'i32'>>>();

function uniformsOf(ops: GemmOps): Uniforms<Record<string, 'u32' | 'i32'>> {
  const key = `${ops.name}|${ops.key}`;
  let block = blocks.get(key);
  if (!block) blocks.set(key, (block = uniforms({ ...CORE, ...ops.uniforms })));
  return block;
}

const uniformLets = (ops: GemmOps) => Object.keys(uniformsOf(ops).decl).map((n) => `let ${n} = u.${n};`).join(' ');

/**
 * The WGSL that stages one operand's BK x W tile (W = BM for A, 64 for B) into `S` (rows of k, vec4s
 * along x): BK * W / 4 units of four elements, spread over the workgroup's threads.
 */
function stage(S: string, op: GemmOperand, W: number, limit: string, x0: string, threads: number): string {
  const units = (BK * W) / 4;
  const perRow = op.axis === 'k' ? BK / 4 : W / 4;
  // A loop over each thread's units, not copies of its body: smaller WGSL, faster cold compiles.
  const perThread = Math.ceil(units / threads);
  // k-axis: unit = (x, k..k+3), stored as one component of four vec4s; x-axis: unit = (k, x..x+3), one vec4.
  const [xo, ko] = op.axis === 'k' ? [`idx / ${perRow}u`, `idx % ${perRow}u * 4u`] : [`idx % ${perRow}u * 4u`, `idx / ${perRow}u`];
  const kLimit = op.axis === 'k' ? 'k + 3u < kEnd' : 'k < kEnd';
  const xLimit = op.axis === 'k' ? `x < ${limit}` : `x + 3u < ${limit}`;
  const one = (i: string) => (op.axis === 'k' ? op.load(`(k + ${i})`, 'x') : op.load('k', `(x + ${i})`));
  const inRange = (i: string) => (op.axis === 'k' ? `x < ${limit} && k + ${i} < kEnd` : `k < kEnd && x + ${i} < ${limit}`);
  const vec = op.load4 ? `if (${kLimit} && ${xLimit}) { v = ${op.load4('k', 'x')}; } else ` : '';
  const write =
    op.axis === 'k'
      ? `for (var i = 0u; i < 4u; i++) { ${S}[(ko + i) * ${W / 4}u + xo / 4u][xo % 4u] = v[i]; }`
      : `${S}[ko * ${W / 4}u + xo / 4u] = v;`;
  return `for (var u = 0u; u < ${perThread}u; u++) {
      let idx = li + u * ${threads}u;${units % threads ? `
      if (idx >= ${units}u) { break; }` : ''}
      let xo = ${xo}; let ko = ${ko};
      let x = ${x0} + xo; let k = k0 + ko;
      var v = vec4<f32>();
      ${vec}{ for (var i = 0u; i < 4u; i++) { if (${inRange('i')}) { v[i] = ${one('i')}; } } }
      ${write}
    }`;
}

/**
 * The tiled kernel. A split tile stores f32 partials in PART instead of calling the op's store: as
 * vec4s when N % 4 == 0 keeps every row aligned (`vecPart`), else as scalars.
 */
function gemmKernel(ops: GemmOps, t: GemmTile, vecPart = false): Kernel {
  const threads = gemmFootprint(t).threads;
  const rows = [...Array(t.tm).keys()];
  const quads = [...Array(t.tm / 4).keys()];
  const at = (m: string, n: string) => `((split * batches + batch) * M + ${m}) * N + ${n}`;
  // A split tile's row sums are partials too, after C's: PART[splits * M * N + split * M + m].
  const rowAt = (m: string) => `splits * M * N + split * M + ${m}`;
  const rowStore = !ops.rowSums ? undefined : !t.split ? ops.rowSums : vecPart ? (m: string, v: string) => `PART[(${rowAt(m)}) >> 2u][(${rowAt(m)}) & 3u] = ${v};` : (m: string, v: string) => `PART[${rowAt(m)}] = ${v};`;
  const store = !t.split ? ops.store : vecPart ? (m: string, n: string, v: string) => `PART[(${at(m, n)}) >> 2u][(${at(m, n)}) & 3u] = ${v};` : (m: string, n: string, v: string) => `PART[${at(m, n)}] = ${v};`;
  const store4 = !t.split ? ops.store4 : vecPart ? (m: string, n: string, v: string) => `PART[(${at(m, n)}) >> 2u] = ${v};` : undefined;
  return {
    name: ops.name,
    key: `${ops.key}${t.split ? '' : (ops.storeKey ?? '')}|${gemmLabel(t)}${vecPart ? 'v' : ''}`,
    uniforms: uniformsOf(ops),
    bindings: [...ops.bindings, ...(t.split ? [{ name: 'PART', type: vecPart ? 'vec4<f32>' : 'f32', access: 'read_write' as const }] : [])],
    body: () => `${ops.fns ?? ''}
var<workgroup> As: array<vec4<f32>, ${(BK * t.bm) / 4}>;
var<workgroup> Bs: array<vec4<f32>, ${(BK * BN) / 4}>;
@compute @workgroup_size(${BN / TN}, ${t.bm / t.tm})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  ${uniformLets(ops)}
  let split = wg.z % splits;
  let batch = wg.z / splits;
  ${ops.prologue}
  let m0 = wg.y * ${t.bm}u;
  let n0 = wg.x * ${BN}u;
  let kBegin = split * kChunk;
  let kEnd = min(K, kBegin + kChunk);
  ${rows.map((r) => `var acc${r} = vec4<f32>();`).join(' ')}${rowStore ? ` ${quads.map((q) => `var sum${q} = vec4<f32>();`).join(' ')}` : ''}
  for (var k0 = kBegin; k0 < kEnd; k0 += ${BK}u) {
    ${stage('As', ops.a, t.bm, 'M', 'm0', threads)}
    ${stage('Bs', ops.b, BN, 'N', 'n0', threads)}
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      let b = Bs[kk * ${BN / 4}u + lid.x];
      ${quads.map((q) => `let a${q} = As[kk * ${t.bm / 4}u + lid.y * ${t.tm / 4}u + ${q}u];`).join(' ')}
      ${rows.map((r) => `acc${r} += a${Math.floor(r / 4)}[${r % 4}] * b;`).join(' ')}${rowStore ? `
      if (n0 == 0u) { ${quads.map((q) => `sum${q} += a${q};`).join(' ')} }` : ''}
    }
    workgroupBarrier();
  }
  let n = n0 + lid.x * 4u;
  ${rows.map((r) => `{
    let m = m0 + lid.y * ${t.tm}u + ${r}u;
    if (m < M) {
      ${store4 ? `if (n + 3u < N) { ${store4('m', 'n', `acc${r}`)} } else ` : ''}{ for (var j = 0u; j < 4u; j++) { if (n + j < N) { ${store('m', 'n + j', `acc${r}[j]`)} } } }
    }
  }`).join('\n  ')}${rowStore ? `
  if (n0 == 0u && lid.x == 0u) {
    ${rows.map((r) => `{ let m = m0 + lid.y * ${t.tm}u + ${r}u; if (m < M) { ${rowStore('m', `sum${Math.floor(r / 4)}[${r % 4}]`)} } }`).join('\n    ')}
  }` : ''}
}`,
  };
}

// Sums the splits' partials in order and stores each element of C through the op's store.
function sumKernel(ops: GemmOps): Kernel {
  return {
    name: `${ops.name}SplitSum`,
    key: `${ops.key}${ops.storeKey ?? ''}`,
    uniforms: uniformsOf(ops),
    bindings: [...ops.bindings, { name: 'PART', type: 'f32', access: 'read' }],
    body: () => `${ops.fns ?? ''}
${linearEntry(64, 'e')}
  ${uniformLets(ops)}
  if (e >= batches * M * N) { return; }
  let n = e % N;
  let m = (e / N) % M;
  let batch = e / (M * N);
  ${ops.prologue}
  var v = 0.0;
  for (var s = 0u; s < splits; s++) { v += PART[s * batches * M * N + e]; }
  ${ops.store('m', 'n', 'v')}${ops.rowSums ? `
  if (e < M) {
    var rowSum = 0.0;
    for (var s = 0u; s < splits; s++) { rowSum += PART[splits * M * N + s * M + e]; }
    ${ops.rowSums('e', 'rowSum')}
  }` : ''}
}`,
  };
}

/** The dispatch plan of one GEMM with tile t: workgroups, and the number of K chunks. */
export function gemmPlan(t: GemmTile, M: number, N: number, K: number, batches: number): { workgroups: [number, number, number]; splits: number; kChunk: number } {
  const tiles = Math.ceil(M / t.bm) * Math.ceil(N / BN) * batches;
  // A forced split tile splits even a problem the rule would not (so every variant can be tested).
  const want = t.split ? Math.max(2, splitsFor(tiles, K)) : 1;
  const kChunk = Math.ceil(Math.ceil(K / want) / BK) * BK;
  const splits = Math.max(1, Math.ceil(K / kChunk));
  return { workgroups: [Math.ceil(N / BN), Math.ceil(M / t.bm), batches * splits], splits, kChunk };
}

/**
 * Runs C = A B with tile t over `buffers` (the op's bindings, in order). `batches` x splits must fit
 * one dispatch's z (65535): ops with more batches run it in chunks.
 */
export function gemm(ops: GemmOps, t: GemmTile, dims: { M: number; N: number; K: number; batches: number }, buffers: Storage[]): void {
  const { M, N, K, batches } = dims;
  if (ops.rowSums && batches !== 1) throw new Error(`${ops.name}: row sums take one batch, got ${batches}`);
  const plan = gemmPlan(t, M, N, K, batches);
  const params = uniformsOf(ops).pack({ M, N, K, batches, splits: plan.splits, kChunk: plan.kChunk, ...ops.values });
  if (!t.split) {
    dispatch(gemmKernel(ops, t), buffers, params, plan.workgroups);
    return;
  }
  const part = splitPartials(ops, t, dims, buffers);
  dispatch(sumKernel(ops), [...buffers, part], params, grid(Math.ceil((batches * M * N) / 64)));
  release(part, flushNumber());
}

/**
 * As gemm, but a split tile's sum over its partials is held back (runtime/sums.ts) until `out` is used,
 * where it may go out with other held sums, or be done by the kernel that reads `out` next (batch norm
 * takes it). For ops whose store is plain: out[e] = dtype(v), e the element's index in [batches, M, N]
 * (with `accumulate`, out[e] = dtype(out[e] + v)).
 */
export function gemmHeld(ops: GemmOps, t: GemmTile, dims: { M: number; N: number; K: number; batches: number }, buffers: Storage[], out: Storage, dtype: DType, accumulate = false): void {
  if (!t.split) return gemm(ops, t, dims, buffers);
  const n = dims.batches * dims.M * dims.N;
  const part = splitPartials(ops, t, dims, buffers);
  holdSum({ part, partOffset: 0, stride: n, splits: gemmPlan(t, dims.M, dims.N, dims.K, dims.batches).splits, n, out, outOffset: 0, dtype, accumulate, readNext: true });
  release(part, flushNumber());
}

/**
 * A split tile's first pass alone: the f32 partials of C, split s's batch-major [batches, M, N] at
 * s * batches * M * N (then, with rowSums, split s's [M] row sums at splits * batches * M * N + s * M),
 * returned for the caller to sum (runtime/sums.ts holds such sums back). The op's store is not run.
 */
export function splitPartials(ops: GemmOps, t: GemmTile, dims: { M: number; N: number; K: number; batches: number }, buffers: Storage[]): Storage {
  const { M, N, K, batches } = dims;
  if (!t.split) throw new Error(`${ops.name}: ${gemmLabel(t)} is not a split tile`);
  const plan = gemmPlan(t, M, N, K, batches);
  const params = uniformsOf(ops).pack({ M, N, K, batches, splits: plan.splits, kChunk: plan.kChunk, ...ops.values });
  const part = allocate(plan.splits * (batches * M * N + (ops.rowSums ? M : 0)) * 4, () => `${ops.name}: split-K partials ${plan.splits}x${batches}x${M}x${N}`);
  dispatch(gemmKernel(ops, t, N % 4 === 0), [...buffers, part], params, plan.workgroups);
  return part;
}

/**
 * The tiles the tuner times on this adapter, the rest being forceable only: none on a CPU (its
 * register-only kernels win there), and on a GPU every plain tile, plus the split ones when the grid
 * would not fill the device. `fallback` is what an untuned GPU runs.
 */
export function gemmChoices(isCpu: boolean, underfilled: boolean): { timed: GemmTile[]; forceOnly: GemmTile[]; fallback: GemmTile } {
  const timed = isCpu ? [] : GEMM_TILES.filter((t) => !t.split || underfilled);
  const fallback = GEMM_TILES.find((t) => t.bm === 64 && t.split === underfilled)!;
  return { timed, forceOnly: GEMM_TILES.filter((t) => !timed.includes(t)), fallback };
}

/** Batches one dispatch of tile t can take (z = batches x splits <= 65535; splits <= FILL_WORKGROUPS). */
export const gemmMaxBatches = (t: GemmTile) => Math.floor(65535 / (t.split ? FILL_WORKGROUPS : 1));
