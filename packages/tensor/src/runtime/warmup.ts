// Compiling ahead: `await warmup(() => step())` compiles every kernel that `step` would dispatch, several
// at once with createComputePipelineAsync, so that its first real run finds them all compiled instead
// of stalling on one synchronous compile after another. That is for drivers that compile at pipeline
// creation, on threads of their own (GPU drivers, browsers); not measured here.
//
// Lavapipe creates pipelines at once (the 60 of a tiny training step in 0.5-0.9 s) and compiles each at
// its first dispatch, on its one queue thread: a warm-up that only creates them leaves the compiles to
// the first step, and one that also runs each kernel once (`run`) does them then, for the same work
// (tiny, cold, 2 busy cores: 18-19 s of CPU to the first loss either way; tmpose-b: 31 s to the first
// loss after a 23 s warm-up, 37 s without; benchmarks/warmup.ts). There it moves the wait, no more.
import { getDevice } from '../device.js';
import { type Kernel, compileAsync, pipelineCount } from './pipelines.js';
import { kernelsOf, runOnce, settled } from './queue.js';

export interface WarmupOptions {
  /** Also every variant the tuner could pick for the tunable problems met (kernelsOf's everyVariant). */
  everyVariant?: boolean;
  /**
   * Also run each kernel once, on scratch buffers, and wait: some drivers compile the machine code at
   * a pipeline's first dispatch, not at its creation (lavapipe does). Default: on CPU adapters.
   */
  run?: boolean;
  /** Compiles in flight at once (default 8). */
  concurrency?: number;
}

export interface WarmupReport {
  /** The distinct kernels found. */
  kernels: number;
  /** How many of them were not compiled yet. */
  compiled: number;
  /** Milliseconds the warm-up took. */
  ms: number;
}

/**
 * Compiles the kernels that `fn` would dispatch, or the kernels given; resolves when they all are
 * ready. A kernel that fails to compile rejects it with an error naming the kernel.
 *
 * `fn` runs as under kernelsOf: synchronously, reading nothing back, with its dispatches skipped but
 * the rest of it done, so host state it changes stays changed: gradients it leaves hold nothing
 * computed (zero them), an optimizer it steps counts the step (warm up without it, or on a throwaway one).
 */
export async function warmup(what: (() => void) | readonly Kernel[], options: WarmupOptions = {}): Promise<WarmupReport> {
  const concurrency = options.concurrency ?? 8;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`warmup: concurrency must be a positive integer, got ${concurrency}`);
  const t0 = performance.now();
  const kernels = typeof what === 'function' ? kernelsOf(what, { everyVariant: options.everyVariant }) : [...what];
  const before = pipelineCount();
  const queue = [...kernels];
  const errors: string[] = [];
  const compileNext = async (): Promise<void> => {
    for (let k = queue.shift(); k; k = queue.shift()) await compileAsync(k).catch((err: Error) => errors.push(err.message));
  };
  await settled(Promise.all(Array.from({ length: Math.min(queue.length, concurrency) }, compileNext)));
  if (errors.length) throw new Error(errors.join('\n'));
  if (options.run ?? getDevice().info.isCpu) await runOnce(kernels);
  return { kernels: kernels.length, compiled: pipelineCount() - before, ms: performance.now() - t0 };
}
