// Lifetimes: `tidy(fn)` disposes the tensors created inside fn except those it returns; `memory()` reports.
import { poolStats } from './runtime/pool.js';

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const scopes: Set<Disposable>[] = [];
let liveTensors = 0;

/** Counts a new tensor handle; `inScope` handles are disposed by the enclosing `tidy`. */
export function track(t: Disposable, inScope: boolean): void {
  liveTensors++;
  if (inScope) scopes[scopes.length - 1]?.add(t);
}

export function untrack(): void {
  liveTensors--;
}

/** Takes a tensor out of every enclosing `tidy` scope so that it outlives them. Returns it. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(value: unknown, into: Set<Disposable>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 4) return;
  if ('dispose' in value && 'isDisposed' in value) {
    into.add(value as Disposable);
    return;
  }
  const items = Array.isArray(value) ? value : value instanceof Map ? [...value.values()] : Object.values(value);
  for (const item of items) collect(item, into, depth + 1);
}

/** The tensors in `value` (a tensor, or arrays, maps and plain objects of them), as `tidy` finds its result's. */
export function tensorsIn(value: unknown): Disposable[] {
  const found = new Set<Disposable>();
  collect(value, found);
  return [...found];
}

/**
 * Runs fn and disposes every tensor it created (all of them when fn throws), except the tensors in its
 * result (a tensor, or arrays, maps and plain objects of them), which move to the enclosing scope.
 * Tensors that an autograd graph still needs keep their memory until the graph is released by
 * `backward()` or disposal.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('tidy: fn must be synchronous (it returned a Promise)');
  } catch (err) {
    // Nothing fn made is returned: all of it is freed, as tf.tidy does.
    for (const t of scope) t.dispose();
    throw err;
  } finally {
    scopes.pop();
  }
  const kept = new Set<Disposable>();
  collect(result, kept);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (kept.has(t)) parent?.add(t);
    else t.dispose();
  }
  return result;
}

export interface MemoryInfo {
  /** Bytes in buffers that tensors (or autograd graphs) still use. */
  liveBytes: number;
  /** Bytes in released buffers kept for reuse. */
  pooledBytes: number;
  /** The most `liveBytes` has been since start or `resetPeakMemory()`. */
  peakBytes: number;
  /** Tensor handles not yet disposed. */
  liveTensors: number;
}

export function memory(): MemoryInfo {
  return { ...poolStats(), liveTensors };
}
