// GPU buffers by size class. A released buffer waits in its bucket for the next request of that class.
import { getDevice } from '../device.js';

const USAGE = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08; /* COPY_DST */

/** Rounds up to one of 8 classes per power of two (at most 12.5 % waste), at least 256 bytes. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const top = 2 ** Math.floor(Math.log2(bytes));
  const step = Math.max(256, top / 8);
  return Math.ceil(bytes / step) * step;
}

export class Storage {
  refs = 1;
  /** Flush number in which the buffer was last released: an upload must not overtake work still queued on it. */
  releasedAt = -1;
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
let nextId = 1;

export function allocate(bytes: number): Storage {
  const { gpu, id: deviceId, info } = getDevice();
  const maxBinding = info.limits.maxStorageBufferBindingSize;
  if (bytes > maxBinding) {
    throw new Error(`allocate: ${bytes} bytes exceed this adapter's maxStorageBufferBindingSize (${maxBinding})`);
  }
  const size = Math.min(sizeClass(bytes), maxBinding);
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
    const buffer = gpu.createBuffer({ size, usage: USAGE });
    storage = new Storage(buffer, buffer.size, deviceId, nextId++);
  }
  liveBytes += storage.byteSize;
  return storage;
}

export function release(storage: Storage, flushNumber: number): void {
  if (--storage.refs > 0) return;
  if (storage.refs < 0) throw new Error('release: storage released twice');
  liveBytes -= storage.byteSize;
  pooledBytes += storage.byteSize;
  storage.releasedAt = flushNumber;
  const bucket = free.get(storage.byteSize);
  if (bucket) bucket.push(storage);
  else free.set(storage.byteSize, [storage]);
}

/** Destroys every pooled buffer (live ones stay). */
export function emptyPool(): void {
  for (const bucket of free.values()) for (const s of bucket) s.buffer.destroy();
  free.clear();
  pooledBytes = 0;
}

export function poolStats(): { liveBytes: number; pooledBytes: number } {
  return { liveBytes, pooledBytes };
}
