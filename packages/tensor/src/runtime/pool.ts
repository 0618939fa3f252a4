// GPU buffers by size class. A released buffer waits in its bucket for the next request of that class.
import { getDevice } from '../device.js';

const USAGE = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08; /* COPY_DST */

/**
 * The bucket of a buffer: rounds up to one of 8 sizes per power of two (at most 12.5 % waste), at least
 * 256 bytes. (Not tune.ts' sizeClass, which rounds a problem size to a power of two: buffers need finer steps.)
 */
function bucketBytes(bytes: number): number {
  if (bytes <= 256) return 256;
  const top = 2 ** Math.floor(Math.log2(bytes));
  const step = Math.max(256, top / 8);
  return Math.ceil(bytes / step) * step;
}

export class Storage {
  refs = 1;
  /** Flush number in which the buffer was last released: an upload must not overtake work still queued on it. */
  releasedAt = -1;
  /**
   * Encodes work that writes this buffer and was held back (a deferred sum: runtime/sums.ts). Whatever
   * binds, reads, overwrites or releases the buffer calls it first.
   */
  pending: (() => void) | null = null;
  /** Counts the writes to the buffer (dispatches binding it writable, uploads): what was computed from its contents is stale when this moves. */
  writes = 0;
  /** Frees what was computed from the buffer's contents (conv weight layouts) when the buffer is released. */
  onRelease: (() => void) | null = null;
  constructor(
    readonly buffer: GPUBuffer,
    readonly byteSize: number,
    readonly deviceId: number,
    readonly id: number,
  ) {}
}

const free = new Map<number, Storage[]>();
let liveBytes = 0;
let pooledBytes = 0;
let peakBytes = 0;
let nextId = 1;
let budget: number | null = null;
// Set by the queue: submits encoded work, so that trimming never destroys a buffer it still uses.
let submitQueued: () => void = () => {};
const allocationChecks: Promise<string | null>[] = [];

/** @internal The queue's flush, called before pooled buffers are destroyed. */
export function setSubmitQueued(flush: () => void): void {
  submitQueued = flush;
}

/**
 * Caps the GPU memory this engine holds (live and pooled buffers together), in bytes; `null` for no cap.
 * Over the cap, pooled buffers are freed first; an allocation that live tensors alone would push over
 * it throws, naming the bytes asked for.
 */
export function setMemoryBudget(bytes: number | null): void {
  if (bytes !== null && !(Number.isFinite(bytes) && bytes > 0)) throw new Error(`setMemoryBudget: ${bytes} is not a positive number of bytes (or null for no budget)`);
  budget = bytes;
  if (budget !== null && liveBytes + pooledBytes > budget) trim(budget);
}

// While a graph is captured, pooled buffers stay: the capture's own released buffers are among them.
let trimPaused = false;

/** @internal Pauses (or resumes) the freeing of pooled buffers over the budget (captureGraph). */
export function pauseTrim(paused: boolean): void {
  trimPaused = paused;
}

/** Destroys pooled buffers, largest first, until live + pooled bytes fit in `target`. */
function trim(target: number): void {
  if (!pooledBytes || trimPaused) return;
  submitQueued();
  for (const [size, bucket] of [...free].sort((a, b) => b[0] - a[0])) {
    while (bucket.length && liveBytes + pooledBytes > target) {
      bucket.pop()!.buffer.destroy();
      pooledBytes -= size;
    }
    if (!bucket.length) free.delete(size);
  }
}

/** Starts the peak of `memory().peakBytes` again from the bytes live now. */
export function resetPeakMemory(): void {
  peakBytes = liveBytes;
}

/** @internal Out-of-memory errors of buffers created since the last call, as messages. */
export async function takeAllocationErrors(): Promise<string[]> {
  const results = await Promise.all(allocationChecks.splice(0));
  return results.filter((r): r is string => r !== null);
}

/**
 * A buffer of at least `bytes`; `what` names it in errors (e.g. "a float32 [8, 3, 256, 192] tensor"),
 * made only when one is thrown: allocation is on every op's path.
 */
export function allocate(bytes: number, what: () => string = () => `${bytes} bytes`): Storage {
  const { gpu, id: deviceId, info } = getDevice();
  const maxBinding = info.limits.maxStorageBufferBindingSize;
  if (bytes > maxBinding) {
    throw new Error(`allocate: ${bytes} bytes exceed this adapter's maxStorageBufferBindingSize (${maxBinding})`);
  }
  const size = Math.min(bucketBytes(bytes), maxBinding);
  const bucket = free.get(size);
  // The oldest free buffer of the class, not the last one released: which buffers are free at a given
  // point repeats from one training step to the next even where the order they were released in does
  // not, so each step gets the same buffers and finds its bind groups cached.
  let storage: Storage | undefined;
  if (bucket?.length) {
    let at = 0;
    for (let i = 1; i < bucket.length; i++) if (bucket[i]!.id < bucket[at]!.id) at = i;
    storage = bucket[at];
    bucket[at] = bucket[bucket.length - 1]!;
    bucket.pop();
  }
  if (storage && storage.deviceId !== deviceId) storage = undefined;
  if (storage) {
    pooledBytes -= size;
    storage.refs = 1;
  } else {
    if (budget !== null) {
      if (liveBytes + size > budget) {
        throw new Error(`allocate: ${what()} (${size} bytes) would bring live GPU memory to ${liveBytes + size} bytes, over the budget of ${budget} (setMemoryBudget)`);
      }
      if (liveBytes + pooledBytes + size > budget) trim(budget - size);
    }
    gpu.pushErrorScope('out-of-memory');
    const buffer = gpu.createBuffer({ size, usage: USAGE });
    const [live, pooled] = [liveBytes, pooledBytes];
    allocationChecks.push(
      gpu.popErrorScope().then((e) => (e ? `out of GPU memory allocating ${what()} (${size} bytes; ${live} bytes live, ${pooled} pooled): ${e.message}` : null)),
    );
    storage = new Storage(buffer, buffer.size, deviceId, nextId++);
  }
  liveBytes += storage.byteSize;
  peakBytes = Math.max(peakBytes, liveBytes);
  return storage;
}

export function release(storage: Storage, flushNumber: number): void {
  if (--storage.refs > 0) return;
  // Held-back writes go out before the buffer can be handed to another tensor.
  storage.pending?.();
  if (storage.refs < 0) throw new Error('release: storage released twice');
  storage.onRelease?.();
  storage.onRelease = null;
  liveBytes -= storage.byteSize;
  pooledBytes += storage.byteSize;
  storage.releasedAt = flushNumber;
  const bucket = free.get(storage.byteSize);
  if (bucket) bucket.push(storage);
  else free.set(storage.byteSize, [storage]);
}

/** @internal One more reference to a buffer: a live one's count goes up, a pooled one leaves the pool (a captured graph keeps what it uses). */
export function retain(storage: Storage): void {
  if (storage.refs > 0) {
    storage.refs++;
    return;
  }
  const bucket = free.get(storage.byteSize);
  const at = bucket?.indexOf(storage) ?? -1;
  if (at < 0) throw new Error('retain: the buffer is neither live nor pooled');
  bucket!.splice(at, 1);
  pooledBytes -= storage.byteSize;
  liveBytes += storage.byteSize;
  storage.refs = 1;
}

/** Destroys every pooled buffer (live ones stay). */
export function emptyPool(): void {
  for (const bucket of free.values()) for (const s of bucket) s.buffer.destroy();
  free.clear();
  pooledBytes = 0;
}

export function poolStats(): { liveBytes: number; pooledBytes: number; peakBytes: number } {
  return { liveBytes, pooledBytes, peakBytes };
}
