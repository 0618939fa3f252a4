// Kernel variants chosen per adapter by measurement. An op asks `choose()` for its problem (kernel
// family + shape class); the first time, it gets the fallback and the problem is queued. At the next
// readback or sync — the first point where waiting is allowed — each queued problem is timed with
// every candidate on scratch buffers of the same sizes, and the winner is remembered: in memory, and
// in the tune store (tunestore.ts: a file in Node, IndexedDB in browsers) under the adapter's key, so
// the next run starts tuned. What is fastest on lavapipe is not what is fastest on a GPU.
import { type DeviceInfo, getDevice } from '../device.js';
import { ENGINE_VERSION } from '../version.js';
import { type Choices, tuneStore } from './tunestore.js';

export interface Tunable<V> {
  /** Kernel family and shape class, e.g. "matmul|kn|M8192|N512|K256". */
  problem: string;
  /**
   * In order of preference (simplest, cheapest to compile first): when timings are too close to call,
   * the fallback is kept if it is among the fastest, else the first of the fastest.
   */
  candidates: V[];
  /** Variants forceVariant can pick that are not timed here (a GPU's tiles on a CPU adapter). */
  forceOnly?: V[];
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

/**
 * Whether a problem of `flops` is worth timing. Below 5e7 flops a kernel takes about 5 µs on a GPU of
 * 10 TFLOP/s, where launch cost dominates and variants differ little; on a CPU adapter, about 1 ms.
 */
export const worthTuning = (flops: number) => flops >= 5e7;

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
 * What a tuned choice holds for: the engine version (its kernels), the backend, and the adapter and
 * its driver (description, vendor, architecture). Browsers reduce the names (Chrome: "google | |
 * swiftshader", no description), so the key adds the device id, the subgroup sizes, whether it is a
 * fallback adapter, its features and a fingerprint of its limits.
 */
export function adapterKey(info: DeviceInfo): string {
  const a = info.adapter;
  const limits = Object.keys(a.limits).sort().map((name) => `${name}=${a.limits[name]}`).join(',');
  return [
    `tmpose ${ENGINE_VERSION}`,
    info.backend,
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
    const all = [...t.candidates, ...(t.forceOnly ?? [])];
    const pick = all.find((c) => t.label(c) === want);
    if (pick === undefined) {
      throw new Error(`forceVariant: ${t.problem} has no variant '${want}' (its variants: ${all.map(t.label).join(', ')})`);
    }
    return pick;
  }
  const label = known[t.problem];
  if (label !== undefined) return t.candidates.find((c) => t.label(c) === label) ?? t.fallback;
  if (enabled && t.worthTuning && t.candidates.length > 1 && !pending.has(t.problem)) pending.set(t.problem, t as Tunable<unknown>);
  return t.fallback;
}

/**
 * How one candidate measured, per run in milliseconds: the fastest sample (its time: other work on the
 * machine only ever adds time) and the median sample (how far the median is above shows the noise).
 */
export interface Measurement {
  label: string;
  ms: number;
  median: number;
  /** Runs per sample, and samples. */
  reps: number;
  samples: number;
}

/** One problem tuned: how it was timed, every candidate's measurement, and what was chosen. */
export interface TuneRecord {
  problem: string;
  clock: 'timestamp' | 'wall';
  fallback: string;
  choice: string;
  candidates: Measurement[];
}

/** How the runtime lets the tuner wait and time (queue.ts provides both; tune.ts cannot import it). */
export interface Clock {
  /** Submits the encoded work and waits for the GPU. */
  flushAndWait: () => Promise<void>;
  /** The GPU's milliseconds in the passes `encode` dispatches into, from timestamp queries, and the passes. */
  gpuTime: (encode: () => void) => Promise<{ ms: number; passes: number }>;
  /** The most passes one gpuTime call can time. */
  maxTimedPasses: number;
}

// Timing rule. Each sample runs a candidate `reps` times in one submit; reps grow from 1 until a
// sample lasts about TARGET_MS: with timestamps, well above a browser's 0.1 ms timestamp quantum (a
// 20 µs kernel runs 100 times per sample); with the wall clock, well above one submit-and-wait round
// trip (about 0.1-1 ms), which each sample pays once. Kernels slower than SLOW_MS per run (CPU
// adapters) take 3 samples instead of 5.
const TARGET_MS = { timestamp: 2, wall: 10 } as const;
const MAX_REPS = 1000;
const SLOW_MS = 20;
const SAMPLES = 5;
// A candidate replaces the fallback only when it is faster by more than MARGIN plus the noise of both
// (median over fastest sample, minus 1), and among candidates that close to the fastest the first in
// candidate order wins: a choice that noise could flip is not made, so repeated runs choose alike.
const MARGIN = 0.05;

let records: TuneRecord[] = [];

/** The problems tuned since the last call, with their measurements (for benchmarks and tests). */
export function takeTuneRecords(): TuneRecord[] {
  return records.splice(0);
}

/** Forgets the choices held in memory (not the stored table): the problems met next are tuned again. */
export function forgetTuning(): void {
  known = {};
}

async function measure(job: Tunable<unknown>, run: (v: unknown) => void, clock: Clock, timestamps: boolean): Promise<Measurement[]> {
  const sample = async (c: unknown, reps: number): Promise<{ ms: number; passes: number }> => {
    const encode = () => {
      for (let r = 0; r < reps; r++) run(c);
    };
    if (timestamps) return clock.gpuTime(encode);
    const t0 = performance.now();
    encode();
    await clock.flushAndWait();
    return { ms: performance.now() - t0, passes: 0 };
  };
  // Per candidate, the first run compiles and warms up; then the reps grow (at most tenfold a step: a
  // run of a few µs may read as 0 or one timestamp tick) until a sample lasts half the target or more,
  // so that every candidate's samples last about as long (a long sample meets more interference on a
  // busy machine), and no more than the timestamps of one sample can cover. Each step takes the
  // faster of two samples, so that one slow spell does not stop the growth early.
  const target = TARGET_MS[timestamps ? 'timestamp' : 'wall'];
  const plans: { c: unknown; reps: number; samples: number; times: number[] }[] = [];
  const faster = async (c: unknown, reps: number) => {
    const [a, b] = [await sample(c, reps), await sample(c, reps)];
    return a.ms <= b.ms ? a : b;
  };
  for (const c of job.candidates) {
    await sample(c, 1);
    const { ms: once, passes } = await faster(c, 1);
    const most = Math.min(MAX_REPS, passes > 0 ? Math.floor(clock.maxTimedPasses / passes) : MAX_REPS);
    let reps = 1;
    for (let ms = once; ms < target / 2 && reps < most; ) {
      reps = Math.min(most, Math.ceil(reps * Math.min(10, target / Math.max(ms, 1e-9))));
      ms = (await faster(c, reps)).ms;
    }
    plans.push({ c, reps, samples: once > SLOW_MS ? 3 : SAMPLES, times: [] });
  }
  // The samples take turns between candidates, so that a slow spell (other processes on the machine,
  // a GPU changing clocks) falls on all of them alike.
  for (let round = 0; round < SAMPLES; round++) {
    for (const p of plans) if (round < p.samples) p.times.push((await sample(p.c, p.reps)).ms / p.reps);
  }
  return plans.map(({ c, reps, samples, times }) => {
    times.sort((x, y) => x - y);
    return { label: job.label(c), ms: times[0]!, median: times[Math.floor(samples / 2)]!, reps, samples };
  });
}

/**
 * The label to keep: the fallback, unless the fastest candidate beats it by the margin plus the noise of
 * both; then the first candidate (in candidate order) within the margin plus its noise of the fastest.
 */
export function decide(fallback: string, measured: readonly Measurement[]): string {
  const best = measured.reduce((a, b) => (b.ms < a.ms ? b : a));
  const noise = (m: Measurement) => m.median / m.ms - 1;
  const kept = measured.find((m) => m.label === fallback);
  if (kept && kept.ms <= best.ms * (1 + MARGIN + noise(best) + noise(kept))) return fallback;
  return measured.find((m) => m.ms <= best.ms * (1 + MARGIN + noise(best)))!.label;
}

/**
 * Times every queued problem's candidates (with timestamp queries when the device has them, else the
 * wall clock) and stores the choices.
 */
export async function runPendingTuning(clock: Clock): Promise<void> {
  if (!pending.size) return;
  const jobs = [...pending.values()];
  pending.clear();
  // Read at each run, so a test can switch timestamps off to take the wall-clock path.
  const timestamps = getDevice().info.features.timestampQuery;
  const found: Choices = {};
  for (const job of jobs) {
    const scratch = job.prepare();
    let measured: Measurement[];
    try {
      measured = await measure(job, scratch.run, clock, timestamps);
    } finally {
      scratch.dispose();
    }
    const fallback = job.label(job.fallback);
    const choice = decide(fallback, measured);
    found[job.problem] = choice;
    records.push({ problem: job.problem, clock: timestamps ? 'timestamp' : 'wall', fallback, choice, candidates: measured });
  }
  if (records.length > 1000) records = records.slice(-1000);
  Object.assign(known, found);
  // One save at a time (each merges into what the store holds); a failed save only costs a re-tune.
  const key = adapter;
  saving = saving.then(async () => (await tuneStore())?.save(key, found)).catch(() => {});
  await saving;
}
