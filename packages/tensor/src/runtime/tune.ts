// Kernel variants chosen per adapter by measurement. An op asks `choose()` for its problem (kernel
// family + shape class); the first time, it gets the fallback and the problem is queued. At the next
// readback or sync — the first point where waiting is allowed — each queued problem is timed with
// every candidate on scratch buffers of the same sizes, and the winner is remembered: in memory, and
// in the tune store (tunestore.ts: a file in Node, IndexedDB in browsers) under the adapter's key, so
// the next run starts tuned. What is fastest on lavapipe is not what is fastest on a GPU.
import { type DeviceInfo, getDevice } from '../device.js';
import { type Choices, tuneStore } from './tunestore.js';

export interface Tunable<V> {
  /** Kernel family and shape class, e.g. "matmul|kn|M8192|N512|K256". */
  problem: string;
  candidates: V[];
  /** A stable name for a candidate (what is stored). */
  label: (v: V) => string;
  fallback: V;
  /** Whether a measurement could pay off: tiny problems keep the fallback and are never timed. */
  worthTuning: boolean;
  /** Allocates scratch inputs; `run(v)` encodes one execution with candidate v. */
  prepare: () => { run: (v: V) => void; dispose: () => void };
}

/** The power of two at or above n (at least 1): problems of one class share a tuned choice. */
export const sizeClass = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

// The current adapter's key and its choices, loaded by init.
let adapter = '';
let known: Choices = {};
let enabled = true;
let saving: Promise<void> = Promise.resolve();
const pending = new Map<string, Tunable<unknown>>();

/** 32-bit FNV-1a of a string, in hex: a short fingerprint. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * What tells two adapters apart. Browsers reduce the names (Chrome: "google | | swiftshader", no
 * description), so the key adds the device id, the subgroup sizes, whether it is a fallback adapter,
 * its features and a fingerprint of its limits.
 */
export function adapterKey(info: DeviceInfo): string {
  const a = info.adapter;
  const limits = Object.keys(a.limits).sort().map((name) => `${name}=${a.limits[name]}`).join(',');
  return [
    info.description,
    info.vendor,
    info.architecture,
    a.device,
    `subgroups ${a.subgroupMinSize}-${a.subgroupMaxSize}`,
    a.isFallbackAdapter ? 'fallback' : 'hardware',
    a.features.join(','),
    `limits ${fnv1a(limits)}`,
  ].join(' | ');
}

/** Loads the remembered choices of the current device's adapter (called by init). */
export async function loadTuning(): Promise<void> {
  adapter = adapterKey(getDevice().info);
  known = {};
  try {
    known = (await (await tuneStore())?.load(adapter)) ?? {};
  } catch {
    // An unreadable store is an untuned start, not a failure.
  }
}

/** Turns measuring off (choices already known are still used); `setTuning(true)` turns it back on. */
export function setTuning(on: boolean): void {
  enabled = on;
}

const forced = new Map<string, string>();

/**
 * Makes every tunable op of `family` (the first field of its problem: 'matmul', 'conv2d', 'attention')
 * use its candidate labelled `label`, whatever was measured; such an op throws when its shape has no
 * candidate of that label, so a forced variant is the one that ran. `null` goes back to normal. For
 * tests that check every variant, and for comparing variants by hand.
 */
export function forceVariant(family: string, label: string | null): void {
  if (label === null) forced.delete(family);
  else forced.set(family, label);
}

// While set (`kernelsOf` with every variant), each tunable problem met is collected here.
let seen: Map<string, Tunable<unknown>> | null = null;

/** Collects the tunable problems that `fn` meets; returns them after `fn`. */
export function tunablesOf(fn: () => void): Tunable<unknown>[] {
  seen = new Map();
  try {
    fn();
    return [...seen.values()];
  } finally {
    seen = null;
  }
}

export function choose<V>(t: Tunable<V>): V {
  seen?.set(t.problem, t as Tunable<unknown>);
  const family = t.problem.slice(0, t.problem.indexOf('|'));
  const want = forced.get(family);
  if (want !== undefined) {
    const pick = t.candidates.find((c) => t.label(c) === want);
    if (pick === undefined) {
      throw new Error(`forceVariant: ${t.problem} has no variant '${want}' (its variants: ${t.candidates.map(t.label).join(', ')})`);
    }
    return pick;
  }
  const label = known[t.problem];
  if (label !== undefined) return t.candidates.find((c) => t.label(c) === label) ?? t.fallback;
  if (enabled && t.worthTuning && t.candidates.length > 1 && !pending.has(t.problem)) pending.set(t.problem, t as Tunable<unknown>);
  return t.fallback;
}

/**
 * Times every queued problem's candidates (median of 3 after a warm-up) and stores the winners.
 * `flushAndWait` submits the encoded work and waits for the GPU.
 */
export async function runPendingTuning(flushAndWait: () => Promise<void>): Promise<void> {
  if (!pending.size) return;
  const jobs = [...pending.values()];
  pending.clear();
  const found: Choices = {};
  for (const job of jobs) {
    const scratch = job.prepare();
    let best: { label: string; ms: number } | null = null;
    try {
      for (const c of job.candidates) {
        scratch.run(c);
        await flushAndWait();
        const times: number[] = [];
        for (let i = 0; i < 3; i++) {
          const t0 = performance.now();
          scratch.run(c);
          await flushAndWait();
          times.push(performance.now() - t0);
        }
        const ms = times.sort((a, b) => a - b)[1]!;
        if (!best || ms < best.ms) best = { label: job.label(c), ms };
      }
    } finally {
      scratch.dispose();
    }
    if (best) found[job.problem] = best.label;
  }
  Object.assign(known, found);
  // One save at a time (each merges into what the store holds); a failed save only costs a re-tune.
  const key = adapter;
  saving = saving.then(async () => (await tuneStore())?.save(key, found)).catch(() => {});
  await saving;
}
