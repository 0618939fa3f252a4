// How a row kernel (softmax, logSoftmax, layerNorm and their backward) spreads its rows over threads,
// chosen per adapter and problem by measurement ('rows' family):
//  - thread: one thread per row, 64 rows per workgroup: no barriers (what a CPU adapter wants);
//  - workgroup: one workgroup of 64 lanes per row, strided over the row, sums and maxima reduced by a
//    tree in workgroup memory;
//  - subgroup: the same lanes, each subgroup reducing with subgroupAdd / subgroupMax (its size read at
//    run time: 4 on SwiftShader, 8 on lavapipe, 32 on NVIDIA and Apple, 32 or 64 on AMD), then one
//    word per subgroup in workgroup memory added in subgroup order.
// Every reduction is in f32 and in a fixed order for a given adapter: the same bits run to run.
import { getDevice } from '../device.js';
import { type Kernel, linearEntry } from '../runtime/pipelines.js';
import { type Storage, allocate, release } from '../runtime/pool.js';
import { dispatch, flushNumber, grid } from '../runtime/queue.js';
import { choose, sizeClass, worthTuning } from '../runtime/tune.js';
import { LIMITS } from './wgsl.js';

export type RowVariant = 'thread' | 'workgroup' | 'subgroup';
export const ROW_VARIANTS: readonly RowVariant[] = ['thread', 'workgroup', 'subgroup'];

/** Every variant's workgroup size: a thread variant's workgroup takes 64 rows, a lane variant's row 64 lanes. */
export const WG = 64;

/** The WGSL pieces of one variant; a body uses them in place of a plain loop over its row. */
export interface RowLanes {
  /** Opens `main` with `row` (returning past the last row, u.rows) and what the lanes need. */
  entry: string;
  /** `for (...)` over v in [0, n), this lane's share. */
  loop: (v: string, n: string) => string;
  /** The row's sum or max of a per-lane f32 expression, the same in every lane. */
  add: (x: string) => string;
  max: (x: string) => string;
  /** Whether this lane writes a row's single results (its statistics). */
  lead: string;
}

// The tree over 64 lanes; `red` is read by every lane after the last barrier, so a next use waits first.
const TREE = (name: string, op: (a: string, b: string) => string) => `
fn ${name}(v: f32, li: u32) -> f32 {
  workgroupBarrier();
  red[li] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] = ${op('red[li]', 'red[li + s]')}; }
    workgroupBarrier();
  }
  return red[0];
}`;

// One word per subgroup (64 of them at a subgroup size of 1; one where a subgroup is wider than the
// workgroup, as Adreno's 128 can be), added in subgroup order by every lane.
const SUBGROUPS = (name: string, sub: string, op: (a: string, b: string) => string, init: string) => `
fn ${name}(v: f32, li: u32, sgSize: u32, sgId: u32) -> f32 {
  let s = ${sub}(v);
  workgroupBarrier();
  if (sgId == 0u) { red[li / sgSize] = s; }
  workgroupBarrier();
  var t = ${init};
  for (var k = 0u; k < (${WG}u + sgSize - 1u) / sgSize; k++) { t = ${op('t', 'red[k]')}; }
  return t;
}`;

const plus = (a: string, b: string) => `${a} + ${b}`;
const greater = (a: string, b: string) => `max(${a}, ${b})`;
const ENTRY = (extra: string) => `var<workgroup> red: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32${extra}) {
  let row = groupIndex(wg, nwg);
  if (row >= u.rows) { return; }`;

export function rowLanes(variant: RowVariant): RowLanes {
  if (variant === 'thread') {
    return { entry: linearEntry(WG, 'row', 'u.rows'), loop: (v, n) => `for (var ${v} = 0u; ${v} < ${n}; ${v}++)`, add: (x) => x, max: (x) => x, lead: 'true' };
  }
  const strided = (v: string, n: string) => `for (var ${v} = li; ${v} < ${n}; ${v} += ${WG}u)`;
  if (variant === 'workgroup') {
    return {
      entry: `${TREE('rowAdd', plus)}\n${TREE('rowMax', greater)}\n${ENTRY('')}`,
      loop: strided,
      add: (x) => `rowAdd(${x}, li)`,
      max: (x) => `rowMax(${x}, li)`,
      lead: 'li == 0u',
    };
  }
  return {
    entry: `${SUBGROUPS('rowAdd', 'subgroupAdd', plus, '0.0')}\n${SUBGROUPS('rowMax', 'subgroupMax', greater, `${LIMITS.f32.lowest}`)}
${ENTRY(', @builtin(subgroup_size) sgSize: u32, @builtin(subgroup_invocation_id) sgId: u32')}`,
    loop: strided,
    add: (x) => `rowAdd(${x}, li, sgSize, sgId)`,
    max: (x) => `rowMax(${x}, li, sgSize, sgId)`,
    lead: 'li == 0u',
  };
}

/**
 * Dispatches the row kernel `kernelOf(variant)` over `rows` rows of R elements, in the variant chosen
 * for the problem `what` (op and dtypes). A CPU keeps a thread per row; a GPU starts with lanes per row
 * once rows are long enough to share (subgroups where the adapter has them). With `laneRows` > 1 a lane
 * variant's workgroup takes that many rows in turn, its `row` then being the workgroup's index.
 */
export function dispatchRows(what: string, rows: number, R: number, buffers: Storage[], kernelOf: (v: RowVariant) => Kernel, words: number[], laneRows = 1): void {
  const { isCpu, features } = getDevice().info;
  const encode = (v: RowVariant, bufs: Storage[]) => dispatch(kernelOf(v), bufs, words, grid(Math.ceil(rows / (v === 'thread' ? WG : laneRows))));
  const variant = choose<RowVariant>({
    problem: `rows|${what}|R${sizeClass(R)}|N${sizeClass(rows)}`,
    candidates: ROW_VARIANTS.filter((v) => v !== 'subgroup' || features.subgroups),
    label: (v) => v,
    fallback: isCpu || R < 32 ? 'thread' : features.subgroups ? 'subgroup' : 'workgroup',
    // Bandwidth-bound: an element read costs about as much time as 50 flops.
    worthTuning: worthTuning(50 * rows * R),
    prepare: () => {
      const scratch = buffers.map((b) => allocate(b.byteSize));
      return { run: (v) => encode(v, scratch), dispose: () => scratch.forEach((st) => release(st, flushNumber())) };
    },
  });
  encode(variant, buffers);
}
