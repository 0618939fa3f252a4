// Kernel variants chosen per adapter by measurement. An op asks `choose()` for its problem (kernel
// family + shape class); the first time, it gets the fallback and the problem is queued. At the next
// readback or sync — the first point where waiting is allowed — each queued problem is timed with
// every candidate on scratch buffers of the same sizes, and the winner is remembered: in memory, and
// on disk in Node (~/.cache/tmpose-webgpu/tune.json, or $TMPOSE_TUNE_FILE) keyed by adapter, so the
// next process starts tuned. What is fastest on lavapipe is not what is fastest on a GPU.
import { getDevice } from '../device.js';
import { nodeModules } from '../node.js';

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

type Table = Record<string, Record<string, string>>;

let table: Table | null = null;
let enabled = true;
const pending = new Map<string, Tunable<unknown>>();

function adapterKey(): string {
  const { info } = getDevice();
  return `${info.description} | ${info.vendor} | ${info.architecture}`;
}

async function nodeFs() {
  const mods = await nodeModules();
  if (!mods) return null;
  const file = process.env.TMPOSE_TUNE_FILE ?? mods.path.join(mods.os.homedir(), '.cache', 'tmpose-webgpu', 'tune.json');
  return { ...mods, file };
}

/** Loads remembered choices (called by init). */
export async function loadTuning(): Promise<void> {
  table = {};
  try {
    const n = await nodeFs();
    if (n) table = JSON.parse(await n.fs.readFile(n.file, 'utf8')) as Table;
    else if (typeof localStorage !== 'undefined') table = JSON.parse(localStorage.getItem('tmpose-webgpu-tune') ?? '{}') as Table;
  } catch {
    table = {};
  }
}

async function saveTuning(): Promise<void> {
  const text = JSON.stringify(table, null, 1);
  const n = await nodeFs();
  if (n) {
    await n.fs.mkdir(n.path.dirname(n.file), { recursive: true });
    const tmp = `${n.file}.${process.pid}.tmp`;
    await n.fs.writeFile(tmp, text);
    await n.fs.rename(tmp, n.file);
  } else if (typeof localStorage !== 'undefined') {
    localStorage.setItem('tmpose-webgpu-tune', text);
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
  const known = table?.[adapterKey()]?.[t.problem];
  if (known !== undefined) return t.candidates.find((c) => t.label(c) === known) ?? t.fallback;
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
  const key = adapterKey();
  table ??= {};
  const forAdapter = (table[key] ??= {});
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
    if (best) forAdapter[job.problem] = best.label;
  }
  await saveTuning().catch(() => {});
}
