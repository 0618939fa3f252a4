// Timing and reporting shared by every benchmark.
//
// A "run" is an async function that enqueues the work and resolves only when the GPU has finished it
// (ours: `await sync()`; tfjs: reading back one element of the result; jax-js: `blockUntilReady`).
// We time wall-clock `performance.now()` around whole runs: on lavapipe the "GPU" is the same two CPU
// cores, so host overhead and kernel time are both part of what a user waits for.

/** Something to time: `run()` does the work once and waits for the GPU; `dispose()` frees the inputs. */
export interface Case {
  run(): Promise<void>;
  dispose(): void;
  /** Floating-point operations of one run (for GFLOP/s), if meaningful. */
  flops?: number;
  /** Nominal bytes moved by one run (for GB/s), if meaningful. */
  bytes?: number;
  /** Operations in one run, for µs/op (the dispatch-overhead chain). */
  ops?: number;
  /** Anything worth printing next to the number (layout used, what the peer did instead). */
  note?: string;
  /** Runs once more and reads every output back in full, to cross-check engines. Not timed. */
  values?(): Promise<Float32Array[]>;
}

export interface TimingOptions {
  /** Untimed runs first: pipeline compilation, buffer pools, JIT tracing. Default 2. */
  warmup?: number;
  /** Timed runs at most. Default 7. */
  iters?: number;
  /** Timed runs at least, even over budget. Default 3. */
  minIters?: number;
  /** Stop taking samples once the timed runs add up to this many ms. Default 8000. */
  budgetMs?: number;
}

export interface Timing {
  /** Median of the timed runs, ms. */
  median: number;
  min: number;
  max: number;
  samples: number[];
  /** Duration of each warm-up run, ms: the first one includes shader compilation. */
  warmupMs: number[];
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Warm-up runs, then up to `iters` timed runs (at least `minIters`, within `budgetMs`); median. */
export async function time(run: () => Promise<void>, options: TimingOptions = {}): Promise<Timing> {
  const { warmup = 2, iters = 7, minIters = 3, budgetMs = 8000 } = options;
  const warmupMs: number[] = [];
  for (let i = 0; i < warmup; i++) {
    const t0 = performance.now();
    await run();
    warmupMs.push(performance.now() - t0);
  }
  const samples: number[] = [];
  let total = 0;
  while (samples.length < iters && (samples.length < minIters || total < budgetMs)) {
    const t0 = performance.now();
    await run();
    const dt = performance.now() - t0;
    samples.push(dt);
    total += dt;
  }
  return { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), samples, warmupMs };
}

/** One line of a results table. `ms` is null when the engine could not run the case. */
export interface Row {
  op: string;
  shape: string;
  engine: string;
  ms: number | null;
  /** Throughput, already computed: e.g. { value: 4.6, unit: 'GFLOP/s' }. */
  rate?: { value: number; unit: 'GFLOP/s' | 'GB/s' | 'µs/op' };
  spread?: { min: number; max: number };
  note?: string;
}

/** Builds a row from a case and its timing (GFLOP/s if it has flops, else GB/s if bytes, else µs/op). */
export function rowOf(op: string, shape: string, engine: string, c: Case, t: Timing): Row {
  const s = t.median / 1e3;
  let rate: Row['rate'];
  if (c.ops) rate = { value: (t.median * 1e3) / c.ops, unit: 'µs/op' };
  else if (c.flops) rate = { value: c.flops / s / 1e9, unit: 'GFLOP/s' };
  else if (c.bytes) rate = { value: c.bytes / s / 1e9, unit: 'GB/s' };
  return { op, shape, engine, ms: t.median, rate, spread: { min: t.min, max: t.max }, note: c.note };
}

/**
 * Sets up a case, times it, disposes it, and turns failures into a row with the reason instead of
 * throwing: one peer lacking an op must not stop the whole table.
 */
export async function measure(
  op: string,
  shape: string,
  engine: string,
  setup: () => Promise<Case> | Case,
  options?: TimingOptions,
): Promise<Row> {
  let c: Case | undefined;
  try {
    c = await setup();
    const t = await time(() => c!.run(), options);
    return rowOf(op, shape, engine, c, t);
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    return { op, shape, engine, ms: null, note: `failed: ${msg.split('\n')[0]!.slice(0, 160)}` };
  } finally {
    try {
      c?.dispose();
    } catch {
      /* a failed case may hold half-made inputs */
    }
  }
}

const fmtNum = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(2));

/**
 * Prints rows as a table. Rows with the same op and shape form a group; for each peer row the last
 * column is ours/peer *speed* (peer time ÷ our time): above 1 means ours is faster.
 */
export function printTable(rows: readonly Row[], ours = 'ours'): void {
  const header = ['op', 'shape', 'engine', 'ms (median)', 'min–max ms', 'rate', 'ours/peer speed', 'note'];
  const lines = rows.map((r) => {
    const mine = rows.find((o) => o.engine === ours && o.op === r.op && o.shape === r.shape);
    let ratio = '';
    if (r.engine !== ours && r.ms !== null && mine?.ms != null) ratio = `×${(r.ms / mine.ms).toFixed(2)}`;
    let rate = '';
    if (r.rate) rate = r.rate.unit === 'µs/op' ? `${fmtNum(r.rate.value)} µs/op` : `${fmtNum(r.rate.value)} ${r.rate.unit}`;
    return [
      r.op,
      r.shape,
      r.engine,
      r.ms === null ? '—' : fmtNum(r.ms),
      r.spread ? `${fmtNum(r.spread.min)}–${fmtNum(r.spread.max)}` : '',
      rate,
      ratio,
      r.note ?? '',
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  let prev = '';
  for (let i = 0; i < rows.length; i++) {
    const key = `${rows[i]!.op}|${rows[i]!.shape}`;
    if (prev && key !== prev) console.log('');
    prev = key;
    console.log(fmt(lines[i]!));
  }
}
