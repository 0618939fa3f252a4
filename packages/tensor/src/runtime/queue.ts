// How work reaches the GPU: dispatches are encoded into one compute pass and submitted together on
// flush (a readback, an upload that must not overtake queued work, or a full uniform ring).
import { getDevice, takeUncapturedErrors } from '../device.js';
import { type Kernel, PARAM_WORDS, checkCompiles, compile } from './pipelines.js';
import type { Storage } from './pool.js';

const RING_BYTES = 1 << 20;
const PARAM_BYTES = PARAM_WORDS * 4;

interface Batch {
  encoder: GPUCommandEncoder;
  pass: GPUComputePassEncoder | null;
  dispatches: number;
}

let batch: Batch | null = null;
let ring: { buffer: GPUBuffer; staging: Uint32Array; used: number; align: number; deviceId: number } | null = null;
const bindGroups = new Map<string, GPUBindGroup>();
let flushes = 0;
let dispatchCount = 0;

function uniformRing() {
  const { gpu, id, info } = getDevice();
  if (!ring || ring.deviceId !== id) {
    ring = {
      buffer: gpu.createBuffer({ size: RING_BYTES, usage: 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */ }),
      staging: new Uint32Array(RING_BYTES / 4),
      used: 0,
      align: Math.max(16, info.limits.minUniformBufferOffsetAlignment),
      deviceId: id,
    };
    bindGroups.clear();
  }
  return ring;
}

function currentPass(): GPUComputePassEncoder {
  if (!batch) batch = { encoder: getDevice().gpu.createCommandEncoder(), pass: null, dispatches: 0 };
  batch.pass ??= batch.encoder.beginComputePass();
  return batch.pass;
}

/** Number of the batch being encoded now; a buffer released in it may still be read by queued work. */
export function flushNumber(): number {
  return flushes;
}

export type Params = ArrayLike<number>;

/** Bits of a float, for a uniform word. */
export function f32bits(x: number): number {
  f32scratch[0] = x;
  return u32scratch[0]!;
}
const f32scratch = new Float32Array(1);
const u32scratch = new Uint32Array(f32scratch.buffer);

/**
 * Encodes one dispatch. `params` are 32-bit words (floats through `f32bits`, negative integers as
 * themselves: they wrap to two's complement).
 */
export function dispatch(
  kernel: Kernel,
  buffers: Storage[],
  params: Params,
  workgroups: readonly [number, number?, number?],
): void {
  if (params.length > PARAM_WORDS) throw new Error(`${kernel.name}: ${params.length} parameter words exceed ${PARAM_WORDS}`);
  const [x, y = 1, z = 1] = workgroups;
  if (x === 0 || y === 0 || z === 0) return;
  const { gpu, id, info } = getDevice();
  const maxWg = info.limits.maxComputeWorkgroupsPerDimension;
  if (x > maxWg || y > maxWg || z > maxWg) {
    throw new Error(`${kernel.name}: dispatch (${x}, ${y}, ${z}) exceeds ${maxWg} workgroups per dimension`);
  }
  for (const s of buffers) {
    if (s.deviceId !== id) throw new Error(`${kernel.name}: a tensor lives on another (older) device`);
  }
  const compiled = compile(kernel);
  let r = uniformRing();
  if (r.used + PARAM_BYTES > RING_BYTES) {
    flush();
    r = uniformRing();
  }
  const offset = r.used;
  const words = r.staging;
  const base = offset / 4;
  for (let i = 0; i < params.length; i++) words[base + i] = params[i]!;
  r.used += Math.ceil(Math.max(params.length * 4, 16) / r.align) * r.align;

  let key = compiled.layoutKey;
  for (const s of buffers) key += `,${s.id}`;
  let group = bindGroups.get(key);
  if (!group) {
    if (bindGroups.size > 20000) bindGroups.clear();
    group = gpu.createBindGroup({
      layout: compiled.layout,
      entries: [
        { binding: 0, resource: { buffer: r.buffer, offset: 0, size: PARAM_BYTES } },
        ...buffers.map((s, i) => ({ binding: i + 1, resource: { buffer: s.buffer } })),
      ],
    });
    bindGroups.set(key, group);
  }
  const pass = currentPass();
  pass.setPipeline(compiled.pipeline);
  pass.setBindGroup(0, group, [offset]);
  pass.dispatchWorkgroups(x, y, z);
  batch!.dispatches++;
  dispatchCount++;
}

/** Splits `groups` workgroups over x and y so that neither exceeds the per-dimension limit. */
export function grid(groups: number): [number, number] {
  const maxWg = getDevice().info.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= maxWg) return [groups, 1];
  const y = Math.ceil(groups / maxWg);
  return [Math.ceil(groups / y), y];
}

/** Submits everything encoded so far. */
export function flush(): void {
  if (!batch) return;
  const { gpu } = getDevice();
  batch.pass?.end();
  const r = uniformRing();
  if (r.used > 0) gpu.queue.writeBuffer(r.buffer, 0, r.staging.buffer, 0, r.used);
  gpu.queue.submit([batch.encoder.finish()]);
  r.used = 0;
  batch = null;
  flushes++;
}

/** Copies with the command encoder (outside the compute pass); used by readback and buffer copies. */
export function copyBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
  currentPass();
  batch!.pass!.end();
  batch!.pass = null;
  batch!.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
}

/** Writes host data into a buffer, after any queued work that may still read the buffer's old contents. */
export function upload(storage: Storage, data: ArrayBufferView, byteOffset = 0): void {
  if (batch && storage.releasedAt >= flushes) flush();
  const { gpu } = getDevice();
  gpu.queue.writeBuffer(storage.buffer, byteOffset, data.buffer, data.byteOffset, data.byteLength);
}

async function raiseErrors(): Promise<void> {
  await checkCompiles();
  const errors = takeUncapturedErrors();
  if (errors.length) throw new Error(`WebGPU reported: ${errors.join('; ')}`);
}

/** Reads `bytes` from a buffer after all queued work; throws pending compile or validation errors. */
export async function readback(storage: Storage, byteOffset: number, bytes: number): Promise<ArrayBuffer> {
  const { gpu } = getDevice();
  const size = Math.ceil(bytes / 4) * 4;
  const staging = gpu.createBuffer({ size: Math.max(size, 4), usage: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */ });
  try {
    if (size > 0) copyBuffer(storage.buffer, byteOffset, staging, 0, size);
    flush();
    await staging.mapAsync(1 /* READ */);
    await raiseErrors();
    return staging.getMappedRange(0, bytes).slice(0);
  } finally {
    staging.destroy();
  }
}

/** Waits until the GPU has finished all submitted work; throws pending errors. */
export async function sync(): Promise<void> {
  flush();
  await getDevice().gpu.queue.onSubmittedWorkDone();
  await raiseErrors();
}

export function forgetBindGroups(): void {
  bindGroups.clear();
}

export function runtimeStats(): { dispatches: number; flushes: number; bindGroups: number } {
  return { dispatches: dispatchCount, flushes, bindGroups: bindGroups.size };
}
