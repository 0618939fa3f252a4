// Sums over split partials that nothing reads yet wait here and go out together, several per dispatch.
// A weight gradient's split reduction is made in the backward pass and first read by the optimizer's
// step: its sum pass need not run at once, and a tmpose-b step has one per conv (109 at batch 1 as a
// GPU picks its tiles, 155 at batch 32); so are layerNorm's weight and bias gradients. A split-K conv's
// output and input gradient wait here too, for the batch norm that reads them next to take over
// (takeSum): it makes them in its own pass. A held-back sum marks its output storage `pending`;
// whatever binds, reads, overwrites or releases that storage runs it first (queue.ts, pool.ts), so
// nothing sees it unsummed. Each sum adds its splits in order, as the sum pass it replaces did.
import type { DType } from '../dtype.js';
import { dtypes } from '../dtype.js';
import { getDevice } from '../device.js';
import { type Kernel, linearEntry } from './pipelines.js';
import { type Storage, release } from './pool.js';
import { dispatch, flushNumber, grid, setEncodeHeld } from './queue.js';

/**
 * out[outOffset + e] = sum over s < splits of part[partOffset + s * stride + e], for e < n (f32 sums);
 * with `accumulate`, out's value plus that sum (a gradient added to the one pending there).
 */
export interface HeldSum {
  part: Storage;
  partOffset: number;
  stride: number;
  splits: number;
  n: number;
  out: Storage;
  outOffset: number;
  /** The output's dtype: the sum is rounded to it once. */
  dtype: DType;
  accumulate?: boolean;
  /**
   * The output is read by the next op (a conv's output or input gradient), which may take the sum over:
   * it goes out only when its own output is used, not along with the others.
   */
  readNext?: boolean;
}

const held: HeldSum[] = [];
const WG = 64;

/** Holds `sum` back until its output is used; takes a reference on its partials until then. */
export function holdSum(sum: HeldSum): void {
  setEncodeHeld(() => flushSums());
  sum.part.refs++;
  sum.out.pending = () => flushSums(sum.out);
  held.push(sum);
}

/**
 * Takes back the held sum that writes all of `out` (n elements of `dtype` from offset 0, partials from
 * offset 0; one that adds to out's values only when the caller is `accumulating`), or null when there is
 * none such. The caller's kernel then adds the splits in the same order and stores every element itself
 * (so `out` ends as the sum pass would leave it), binds `part`, and releases it after its dispatch.
 */
export function takeSum(out: Storage, n: number, dtype: DType, accumulating: boolean): HeldSum | null {
  const mine = held.filter((s) => s.out === out);
  const sum = mine[0];
  if (mine.length !== 1 || sum!.n !== n || sum!.dtype !== dtype || sum!.outOffset !== 0 || sum!.partOffset !== 0) return null;
  if (sum!.accumulate && !accumulating) return null;
  held.splice(held.indexOf(sum!), 1);
  out.pending = null;
  return sum!;
}

// Header: the elements of the dispatch; then per sum k at 1 + 6k: its first element (of the dispatch's),
// splits, partOffset, stride, outOffset, accumulate (0 or 1).
function sumsKernel(K: number, out: string): Kernel {
  const slots = [...Array(K).keys()];
  return {
    name: 'heldSums',
    key: `${out}k${K}`,
    bindings: [
      ...slots.map((k) => ({ name: `P${k}`, type: 'f32', access: 'read' as const })),
      ...slots.map((k) => ({ name: `O${k}`, type: out, access: 'read_write' as const })),
    ],
    body: () => `
${linearEntry(WG)}
  if (i >= pu(0u)) { return; }
  var k = 0u;
  ${slots.slice(1).map((k) => `if (i >= pu(${1 + 6 * k}u)) { k = ${k}u; }`).join(' ')}
  let at = 1u + 6u * k;
  let e = i - pu(at);
  let splits = pu(at + 1u); let p = pu(at + 2u) + e; let stride = pu(at + 3u); let o = pu(at + 4u) + e;
  let accumulate = pu(at + 5u) == 1u;
  var v = 0.0;
  switch k {
    ${slots.map((k) => `case ${k}u: { for (var s = 0u; s < splits; s++) { v += P${k}[p + s * stride]; } O${k}[o] = ${out}(select(v, f32(O${k}[o]) + v, accumulate)); }`).join('\n    ')}
    default: {}
  }
}`,
  };
}

/**
 * Encodes the held sums, those of one output dtype K at a time, K as the adapter's bindings allow: all
 * of them, or when `used` (a storage about to be used) is given, its own and every one not `readNext`.
 */
export function flushSums(used?: Storage): void {
  if (!held.length) return;
  // Sums of an older device (init after a device loss) have nothing left to write to.
  const { id } = getDevice();
  const going = held.filter((s) => !used || !s.readNext || s.out === used);
  for (const s of going) held.splice(held.indexOf(s), 1);
  const sums = going.filter((s) => {
    s.out.pending = null;
    if (s.out.deviceId === id) return true;
    release(s.part, flushNumber());
    return false;
  });
  const K = Math.max(1, Math.min(8, Math.floor(getDevice().info.limits.maxStorageBuffersPerShaderStage / 2)));
  for (const dtype of new Set(sums.map((s) => s.dtype))) {
    // Up to K sums a dispatch, no two writing one buffer (writable bindings must not alias).
    let batch: HeldSum[] = [];
    const run = () => {
      const words = [0];
      for (const s of batch) {
        words.push(words[0]!, s.splits, s.partOffset, s.stride, s.outOffset, s.accumulate ? 1 : 0);
        words[0] += s.n;
      }
      dispatch(sumsKernel(batch.length, dtypes[dtype].wgsl), [...batch.map((s) => s.part), ...batch.map((s) => s.out)], words, grid(Math.ceil(words[0]! / WG)));
      batch = [];
    };
    for (const s of sums) {
      if (s.dtype !== dtype) continue;
      if (batch.length === K || batch.some((b) => b.out === s.out)) run();
      batch.push(s);
    }
    run();
  }
  for (const s of sums) release(s.part, flushNumber());
}
