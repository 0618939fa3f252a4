// The register conv kernels read their weights re-laid, channels fastest and padded to 8, for vec4
// loads: WT [C·KK, pad8(F)] for the forward, WD [F·KK, pad8(C)] for the input gradient (made only for
// weights whose input gradient was asked for: inference keeps no WD). They are kept per weight buffer
// until that buffer is written again, in two arenas per buffer: a model whose parameters share one
// buffer (`Module.flattenParameters`) has every conv weight re-laid in one dispatch after each
// optimizer step, and never again between steps (inference: once). Arenas that would pass the
// adapter's largest binding go on in another pair (a bank), one dispatch each.
import { type DType, dtypes } from '../dtype.js';
import { getDevice } from '../device.js';
import { linearEntry } from '../runtime/pipelines.js';
import { type Storage, allocate, release } from '../runtime/pool.js';
import { capturing, derivedFrom, dispatch, flushNumber, grid, recording, upload } from '../runtime/queue.js';
import type { Tensor } from '../tensor.js';

const WG = 64;
const pad8 = (n: number) => Math.ceil(n / 8) * 8;

/** One weight's place: its elements in the source buffer, its geometry, its two re-laid copies. */
interface Laid {
  offset: number;
  F: number;
  C: number;
  KK: number;
  wtAt: number;
  /** NO_WD until the input gradient first asks for WD. */
  wdAt: number;
  /** The source's writes, the recording and the capture (0: none) when these copies were last made; writes -1: never. */
  writes: number;
  recording: number;
  capture: number;
}

/** The re-laid weights of some of one source buffer's convs. */
interface Arenas {
  dtype: DType;
  laid: Laid[];
  byKey: Map<string, Laid>;
  wt: Storage | null;
  wd: Storage | null;
  wtUsed: number;
  wdUsed: number;
  /** wdUsed once every weight here has its WD: a bank takes a weight only with room for both. */
  wdPlanned: number;
  /** The laid weights as the kernel reads them (TABLE words each), or null until they change no more. */
  table: Storage | null;
}

// Per source buffer, its banks: the first with room takes a new weight.
const banks = new Map<Storage, Arenas[]>();
const TABLE = 8; // words per weight: first thread, offset, F, C, KK, WT at, WD at (or NO_WD), (unused)
const NO_WD = 0xffffffff;

// Threads [pu(1), pu(2)) of the table's numbering: thread t re-lays element t - start of its weight.
const relayoutKernel = (E: string) => ({
  name: 'conv2dWeightLayouts',
  key: E,
  bindings: [
    { name: 'I', type: E, access: 'read' as const },
    { name: 'T', type: 'u32', access: 'read' as const },
    { name: 'WT', type: E, access: 'read_write' as const },
    { name: 'WD', type: E, access: 'read_write' as const },
  ],
  body: () => `
${linearEntry(WG)}
  let t = pu(0) + i;
  if (t >= pu(1)) { return; }
  var lo = pu(2); var hi = pu(3);
  while (lo < hi) {
    let mid = (lo + hi + 1u) / 2u;
    if (T[${TABLE}u * mid] <= t) { lo = mid; } else { hi = mid - 1u; }
  }
  let e = ${TABLE}u * lo;
  let j = t - T[e]; let o = T[e + 1u]; let F = T[e + 2u]; let C = T[e + 3u]; let KK = T[e + 4u];
  let FPad = (F + 7u) / 8u * 8u; let CPad = (C + 7u) / 8u * 8u;
  if (j < C * KK * FPad) {
    let f = j % FPad;
    WT[T[e + 5u] + j] = select(0.0, I[o + f * C * KK + j / FPad], f < F);
  }
  if (T[e + 6u] != ${NO_WD}u && j < F * KK * CPad) {
    let c = j % CPad;
    let fk = j / CPad;
    WD[T[e + 6u] + j] = select(0.0, I[o + ((fk / KK) * C + c) * KK + fk % KK], c < C);
  }
}`,
});

const threadsOf = (l: Laid) => Math.max(l.C * l.KK * pad8(l.F), l.wdAt === NO_WD ? 0 : l.F * l.KK * pad8(l.C));

function dropArenas(source: Storage): void {
  for (const a of banks.get(source) ?? []) for (const s of [a.wt, a.wd, a.table]) if (s) release(s, flushNumber());
  banks.delete(source);
}

const largest = () => getDevice().info.limits.maxStorageBufferBindingSize;
/** Whether `a` can take `wt` and `wd` more elements without an arena passing the largest binding. */
const fits = (a: Arenas, wt: number, wd: number) => Math.max(a.wtUsed + wt, a.wdPlanned + wd) * dtypes[a.dtype].bytes <= largest();

function newBank(list: Arenas[], dtype: DType): Arenas {
  const a: Arenas = { dtype, laid: [], byKey: new Map(), wt: null, wd: null, wtUsed: 0, wdUsed: 0, wdPlanned: 0, table: null };
  list.push(a);
  return a;
}

/** Room for `wt` and `wd` more elements; a larger arena starts empty, so every weight is made again. */
function reserve(a: Arenas, wt: number, wd: number): void {
  const bytes = dtypes[a.dtype].bytes;
  const most = largest();
  // Doubling: a model's convs, met one by one in its first step, re-make the arenas a few times only.
  const grow = (s: Storage | null, used: number, more: number) =>
    s && (used + more) * bytes <= s.byteSize ? null : Math.max(Math.min(2 * (s?.byteSize ?? 0), most), (used + more) * bytes);
  const [wtBytes, wdBytes] = [grow(a.wt, a.wtUsed, wt), grow(a.wd, a.wdUsed, wd)];
  if (wtBytes === null && wdBytes === null) return;
  for (const [s, bytes, key] of [[a.wt, wtBytes, 'wt'], [a.wd, wdBytes, 'wd']] as const) {
    if (bytes === null) continue;
    if (s) release(s, flushNumber());
    a[key] = allocate(Math.ceil(bytes / 4) * 4, () => `re-laid conv weights (${bytes} bytes)`);
  }
  for (const l of a.laid) l.writes = -1;
}

/** Makes the copies of laid[from, to) from the source as it is now. */
function relayout(source: Storage, a: Arenas, from: number, to: number): void {
  if (!a.table) {
    const words = new Uint32Array(Math.max(1, a.laid.length) * TABLE);
    let start = 0;
    a.laid.forEach((l, k) => {
      words.set([start, l.offset, l.F, l.C, l.KK, l.wtAt, l.wdAt], k * TABLE);
      start += threadsOf(l);
    });
    a.table = allocate(words.byteLength);
    upload(a.table, words);
  }
  let first = 0;
  for (let k = 0; k < from; k++) first += threadsOf(a.laid[k]!);
  let end = first;
  for (let k = from; k < to; k++) end += threadsOf(a.laid[k]!);
  dispatch(relayoutKernel(dtypes[a.dtype].wgsl), [source, a.table, a.wt!, a.wd!], [first, end, from, to - 1], grid(Math.ceil((end - first) / WG)));
  derivedFrom(source);
  const [writes, rec, capture] = [source.writes, recording(), capturing()];
  for (let k = from; k < to; k++) Object.assign(a.laid[k]!, { writes, recording: rec, capture });
}

/**
 * The re-laid copies of conv weights `w` ([F, C, KH, KW], contiguous) as storages and element offsets
 * (WD from the first call `withData` on), made now only if `w`'s buffer was written since they last
 * were. When one weight of a buffer is stale they all are (an optimizer step wrote the buffer): all are
 * made again in one dispatch.
 */
export function laidWeights(w: Tensor, withData: boolean): { wt: Storage; wtOffset: number; wd: Storage; wdOffset: number } {
  const source = w.storage;
  const [F, C, KH, KW] = w.shape as [number, number, number, number];
  let list = banks.get(source);
  if (list && (list[0]!.dtype !== w.dtype || list[0]!.wt?.deviceId !== getDevice().id)) {
    dropArenas(source);
    list = undefined;
  }
  if (!list) {
    banks.set(source, (list = []));
    source.onRelease = () => dropArenas(source);
  }
  const key = `${w.offset}:${F}:${C}:${KH * KW}`;
  const home = list.find((b) => b.byKey.has(key));
  let l = home?.byKey.get(key);
  // Elements to find room for: the forward's copy of a new weight, the input gradient's when first asked.
  // A bank takes a new weight with room for its input gradient's copy too, made later or not.
  const wdFull = F * KH * KW * pad8(C);
  const [wt, wd] = [l ? 0 : C * KH * KW * pad8(F), withData && (!l || l.wdAt === NO_WD) ? wdFull : 0];
  const a = home ?? list.find((b) => fits(b, wt, wdFull)) ?? newBank(list, w.dtype);
  if (!l || wd) {
    reserve(a, wt, wd);
    if (!l) {
      l = { offset: w.offset, F, C, KK: KH * KW, wtAt: a.wtUsed, wdAt: NO_WD, writes: -1, recording: 0, capture: 0 };
      a.laid.push(l);
      a.byKey.set(key, l);
      a.wdPlanned += wdFull;
    }
    if (wd) l.wdAt = a.wdUsed;
    l.writes = -1;
    a.wtUsed += wt;
    a.wdUsed += wd;
    if (a.table) release(a.table, flushNumber());
    a.table = null;
  }
  // Copies made for real serve every later recording; those a recording encoded (never ran) only it.
  // A captured graph makes its own, so that each replay re-lays what the last one's optimizer wrote.
  const capture = capturing();
  const stale = (s: Laid) => s.writes !== source.writes || (s.recording !== 0 && s.recording !== recording()) || (capture !== 0 && s.capture !== capture);
  if (stale(l)) {
    const k = a.laid.indexOf(l);
    // Only this one (a weight met for the first time) or every one (the buffer was written).
    if (a.laid.every((s) => s === l || !stale(s))) relayout(source, a, k, k + 1);
    else relayout(source, a, 0, a.laid.length);
  }
  return { wt: a.wt!, wtOffset: l.wtAt, wd: a.wd!, wdOffset: l.wdAt };
}
