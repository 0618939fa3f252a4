// How work reaches the GPU: dispatches are encoded into one compute pass and submitted together on
// flush (a readback, an upload that must not overtake queued work, or every 64 dispatches).
//
// Uniform parameters live in small immutable buffers keyed by their contents: a training step
// repeats the same parameter sets every iteration, so after the first step every dispatch finds its
// buffer and its bind group cached, and nothing is written per dispatch. (Dynamic uniform offsets
// into one ring buffer were measured 3-5x slower per dispatch on lavapipe.)
import { getDevice, takeUncapturedErrors } from '../device.js';
import { type Kernel, checkCompiles, compile, pipelineCount, wgslSource } from './pipelines.js';
import { type Storage, allocate, emptyPool, release, setSubmitQueued, takeAllocationErrors } from './pool.js';
import { runPendingTuning, tunablesOf } from './tune.js';
import { PARAM_WORDS } from './uniforms.js';

const PARAM_BYTES = PARAM_WORDS * 4;
// Long runs of work are submitted in parts, so the GPU starts on the first while the rest is encoded
// (a tiny training step at batch 8 on lavapipe: 8-10 % faster than one submit per step).
let dispatchesPerSubmit = 64;
const MAX_CACHED = 20000;

interface Batch {
  encoder: GPUCommandEncoder;
  pass: GPUComputePassEncoder | null;
  dispatches: number;
}

let batch: Batch | null = null;
const bindGroups = new Map<string, GPUBindGroup>();
const paramBuffers = new Map<string, { buffer: GPUBuffer; id: number }>();
let paramsDevice = 0;
let nextParamId = 1;
// Param buffers dropped from the cache; destroyed after the next submit, since queued work may use them.
let retired: GPUBuffer[] = [];
let flushes = 0;
// CPU time spent finishing and submitting command buffers (the driver records the commands then).
let submitMs = 0;
let dispatchCount = 0;
let bindGroupsCreated = 0;
let uniformsCreated = 0;
// While set (`kernelsOf`), dispatches are collected here instead of being compiled and encoded.
let recorder: Map<string, { kernel: Kernel; source: string }> | null = null;
// While set (`launchesOf`), every recorded dispatch is also listed here with its workgroup counts.
let launches: Launch[] | null = null;
let recordings = 0;
// While set (captureGraph), everything sent to the GPU is also listed here, to be sent again by replay.
let capture: { id: number; commands: Command[]; refused: string | null } | null = null;
let captures = 0;
// Inside a host step's function (hostStep): its uploads are its own, not recorded.
let inHostStep = false;
// Uniform buffers that captured graphs bind: kept (not destroyed) when the cache drops them.
const pinnedUniforms = new Map<GPUBuffer, number>();
const droppedPinned = new Set<GPUBuffer>();

/**
 * One thing a captured graph sends to the GPU: a dispatch (its pipeline, bind group and workgroups;
 * `storages` and `writable` say what it binds), an upload of data copied at capture, a submit, or a
 * host step (hostStep) run again at replay.
 */
export type Command =
  | {
      kind: 'dispatch';
      pipeline: GPUComputePipeline;
      group: GPUBindGroup;
      x: number;
      y: number;
      z: number;
      storages: Storage[];
      writable: boolean[];
      uniforms: GPUBuffer;
      /** Run only when this storage was written since the dispatch last ran (`writes` then): see derivedFrom. */
      guard?: { source: Storage; writes: number };
    }
  | { kind: 'upload'; storage: Storage; data: Uint8Array; byteOffset: number }
  | { kind: 'flush' }
  | { kind: 'host'; fn: () => void; flushFirst: boolean };

function paramBuffer(gpu: GPUDevice, deviceId: number, params: Params): { buffer: GPUBuffer; id: number } {
  if (paramsDevice !== deviceId) {
    paramBuffers.clear();
    bindGroups.clear();
    paramsDevice = deviceId;
  }
  let key = '';
  for (let i = 0; i < params.length; i++) key += `${params[i]},`;
  let entry = paramBuffers.get(key);
  if (!entry) {
    if (paramBuffers.size >= MAX_CACHED) {
      for (const e of paramBuffers.values()) {
        if (pinnedUniforms.has(e.buffer)) droppedPinned.add(e.buffer);
        else retired.push(e.buffer);
      }
      paramBuffers.clear();
      bindGroups.clear();
    }
    const buffer = gpu.createBuffer({ size: PARAM_BYTES, usage: 0x40 /* UNIFORM */, mappedAtCreation: true });
    uniformsCreated++;
    const words = new Uint32Array(buffer.getMappedRange());
    for (let i = 0; i < params.length; i++) words[i] = params[i]!;
    buffer.unmap();
    entry = { buffer, id: nextParamId++ };
    paramBuffers.set(key, entry);
  }
  return entry;
}

function currentBatch(): Batch {
  batch ??= { encoder: getDevice().gpu.createCommandEncoder(), pass: null, dispatches: 0 };
  return batch;
}

function currentPass(): GPUComputePassEncoder {
  const b = currentBatch();
  if (!b.pass) {
    if (stamping && stamping.passes >= MAX_TIMED_PASSES) throw new Error(`gpuTime: the work took more than ${MAX_TIMED_PASSES} compute passes`);
    const k = stamping ? stamping.passes++ : 0;
    b.pass = b.encoder.beginComputePass(
      stamping ? { timestampWrites: { querySet: stamping.querySet, beginningOfPassWriteIndex: 2 * k, endOfPassWriteIndex: 2 * k + 1 } } : {},
    );
  }
  return b.pass;
}

// While set (gpuTime), every compute pass begun writes a timestamp at its start and one at its end.
let stamping: { querySet: GPUQuerySet; passes: number } | null = null;
// Timed work is one pass unless it copies (a copy ends a pass). A query set holds at most 4096
// timestamps: 2048 passes.
export const MAX_TIMED_PASSES = 2048;

/**
 * Milliseconds the GPU spent in the compute passes that `encode` dispatches into, from the timestamps
 * each pass writes at its start and end (needs `timestamp-query`), and how many passes that was. The
 * work is one submit (one pass, unless it copies) and is read back once, so the time is the GPU's
 * alone, without a round trip per dispatch. Copies between passes are not counted.
 */
export async function gpuTime(encode: () => void): Promise<{ ms: number; passes: number }> {
  if (stamping) throw new Error('gpuTime: already timing');
  refuseInCapture('gpuTime');
  const { gpu } = getDevice();
  flush();
  const bytes = 16 * MAX_TIMED_PASSES;
  const querySet = gpu.createQuerySet({ type: 'timestamp', count: 2 * MAX_TIMED_PASSES });
  const resolved = gpu.createBuffer({ size: bytes, usage: 0x200 /* QUERY_RESOLVE */ | 0x04 /* COPY_SRC */ });
  const staging = gpu.createBuffer({ size: bytes, usage: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */ });
  try {
    stamping = { querySet, passes: 0 };
    encode();
    const passes = stamping.passes;
    stamping = null;
    if (passes === 0) return { ms: 0, passes };
    const b = currentBatch();
    b.pass?.end();
    b.pass = null;
    b.encoder.resolveQuerySet(querySet, 0, 2 * passes, resolved, 0);
    b.encoder.copyBufferToBuffer(resolved, 0, staging, 0, 16 * passes);
    flush();
    await settled(staging.mapAsync(1 /* READ */));
    await raiseErrors();
    const stamps = new BigUint64Array(staging.getMappedRange(0, 16 * passes));
    let ns = 0;
    for (let k = 0; k < passes; k++) ns += Number(stamps[2 * k + 1]! - stamps[2 * k]!);
    return { ms: ns / 1e6, passes };
  } finally {
    stamping = null;
    querySet.destroy();
    resolved.destroy();
    staging.destroy();
  }
}

/** Number of the batch being encoded now; a buffer released in it may still be read by queued work. */
export function flushNumber(): number {
  return flushes;
}

export type Params = ArrayLike<number>;

// Kernels still on numbered slots pack their floats with this.
export { f32bits } from './uniforms.js';

/**
 * Encodes one dispatch. `params` are 32-bit words: `U.pack({...})` of the kernel's declared uniforms
 * (or, for a kernel on numbered slots, floats through `f32bits` and negative integers as themselves).
 */
export function dispatch(
  kernel: Kernel,
  buffers: Storage[],
  params: Params,
  workgroups: readonly [number, number?, number?],
): void {
  if (params.length > PARAM_WORDS) throw new Error(`${kernel.name}: ${params.length} parameter words exceed ${PARAM_WORDS}`);
  if (kernel.uniforms && params.length !== kernel.uniforms.words) {
    throw new Error(`${kernel.name}: ${params.length} parameter words for ${kernel.uniforms.words} declared uniforms`);
  }
  const [x, y = 1, z = 1] = workgroups;
  for (const s of buffers) s.pending?.();
  for (let i = 0; i < buffers.length; i++) if (kernel.bindings[i]!.access !== 'read') buffers[i]!.writes++;
  if (recorder) {
    // The pipeline cache trusts name|key to determine the WGSL: two sources under one key would
    // silently run the first one compiled.
    const cacheKey = `${kernel.name}|${kernel.key}`;
    const source = wgslSource(kernel);
    const seen = recorder.get(cacheKey);
    if (seen && seen.source !== source) throw new Error(`kernel '${cacheKey}': one cache key, two different WGSL sources`);
    recorder.set(cacheKey, { kernel, source });
    launches?.push({ kernel, workgroups: [x, y, z] });
    return;
  }
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
  const uniforms = paramBuffer(gpu, id, params);
  let key = `${compiled.layoutKey}|${uniforms.id}`;
  for (const s of buffers) key += `,${s.id}`;
  let group = bindGroups.get(key);
  if (!group) {
    if (bindGroups.size >= MAX_CACHED) bindGroups.clear();
    group = gpu.createBindGroup({
      layout: compiled.layout,
      entries: [
        { binding: 0, resource: { buffer: uniforms.buffer } },
        ...buffers.map((s, i) => ({ binding: i + 1, resource: { buffer: s.buffer } })),
      ],
    });
    bindGroups.set(key, group);
    bindGroupsCreated++;
  }
  const pass = currentPass();
  pass.setPipeline(compiled.pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(x, y, z);
  if (capture && !inHostStep) {
    const writable = buffers.map((_, i) => kernel.bindings[i]!.access !== 'read');
    capture.commands.push({ kind: 'dispatch', pipeline: compiled.pipeline, group, x, y, z, storages: [...buffers], writable, uniforms: uniforms.buffer });
    // Pinned now: the cache may drop (and destroy) its buffers before the capture ends.
    pinnedUniforms.set(uniforms.buffer, (pinnedUniforms.get(uniforms.buffer) ?? 0) + 1);
  }
  batch!.dispatches++;
  dispatchCount++;
  // Timed work (gpuTime) stays in one pass and one submit, however long.
  if (batch!.dispatches >= dispatchesPerSubmit && !stamping) flush();
}

// Encodes work held back for later (runtime/sums.ts registers it when it first holds some): a recording
// ends with it, so that what fn left held is counted as the run would encode it.
let encodeHeld: () => void = () => {};

/** @internal Sets the function that encodes held-back work. */
export function setEncodeHeld(fn: () => void): void {
  encodeHeld = fn;
}

/**
 * The distinct kernels that `fn` would dispatch, found without compiling or running any of them (its
 * outputs hold garbage; it must not read anything back). With `everyVariant`, also the kernels of
 * every candidate the tuner could pick for the tunable problems `fn` meets. For measuring and warming
 * up compiles; it also checks that each cache key stands for one WGSL source.
 */
export function kernelsOf(fn: () => void, { everyVariant = false } = {}): Kernel[] {
  if (recorder) throw new Error('kernelsOf: already recording');
  refuseInCapture('kernelsOf');
  // Work held back by real runs goes out first, for real: the recording must not swallow it.
  encodeHeld();
  recorder = new Map();
  recordings++;
  try {
    const tunables = tunablesOf(fn);
    if (everyVariant) {
      for (const t of tunables) {
        const scratch = t.prepare();
        for (const c of [...t.candidates, ...(t.forceOnly ?? [])]) scratch.run(c);
        scratch.dispose();
      }
    }
    encodeHeld();
    return [...recorder.values()].map((r) => r.kernel);
  } finally {
    recorder = null;
  }
}

/** The number of the recording under way (kernelsOf, launchesOf), 0 when none: a dispatch made in one never ran. */
export function recording(): number {
  return recorder ? recordings : 0;
}

/** One dispatch: its kernel and its grid of workgroups. */
export interface Launch {
  kernel: Kernel;
  workgroups: [number, number, number];
}

/**
 * Every dispatch `fn` would make, in order, found as kernelsOf finds kernels (nothing compiles or runs):
 * what the benchmarks read threads launched and workgroup memory from.
 */
export function launchesOf(fn: () => void): Launch[] {
  launches = [];
  try {
    kernelsOf(fn);
    return launches;
  } finally {
    launches = null;
  }
}

/**
 * Runs each kernel once over one workgroup with zero-filled parameters (every kernel returns at once on
 * zero sizes) on scratch buffers, and waits; throws pending errors. Drivers that compile at the first
 * dispatch, not at pipeline creation (lavapipe), compile here.
 */
export async function runOnce(kernels: readonly Kernel[]): Promise<void> {
  for (const kernel of kernels) {
    const scratch = kernel.bindings.map(() => allocate(16));
    dispatch(kernel, scratch, new Array<number>(kernel.uniforms?.words ?? 0).fill(0), [1]);
    for (const s of scratch) release(s, flushes);
  }
  await waitIdle();
  await raiseErrors();
}

/** Resolves to the milliseconds `kernel` takes to compile alone, the driver's part included (runOnce). */
export async function timeCompile(kernel: Kernel): Promise<number> {
  await waitIdle();
  const t0 = performance.now();
  await runOnce([kernel]);
  return performance.now() - t0;
}

/** Splits `groups` workgroups over x and y so that neither exceeds the per-dimension limit. */
export function grid(groups: number): [number, number] {
  const maxWg = getDevice().info.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= maxWg) return [groups, 1];
  const y = Math.ceil(groups / maxWg);
  return [Math.ceil(groups / y), y];
}

/**
 * How many dispatches are encoded before they are submitted (64 by default; tfjs-webgpu's
 * WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE is the same knob). Smaller lets the GPU start sooner, larger
 * submits less often; `Infinity` submits only when work must reach the GPU (a readback, a wait, an
 * upload that must not overtake it). Returns the previous value.
 */
export function setDispatchesPerSubmit(dispatches: number): number {
  if (!(dispatches >= 1)) throw new Error(`setDispatchesPerSubmit: ${dispatches} is not a number of dispatches >= 1 (or Infinity)`);
  const previous = dispatchesPerSubmit;
  dispatchesPerSubmit = dispatches;
  return previous;
}

/** The number of the graph being captured (captureGraph), 0 when none. */
export function capturing(): number {
  return capture?.id ?? 0;
}

function refuseInCapture(what: string): void {
  if (!capture) return;
  capture.refused ??= `${what} inside captureGraph: a captured step cannot wait for the GPU or read back (replay sends the same work without running the code again)`;
  throw new Error(`captureGraph: ${capture.refused}`);
}

/**
 * @internal Starts listing what is sent to the GPU: held-back work and everything encoded before go
 * out first, so the capture starts on an empty batch, as each replay does.
 */
export function beginCapture(): void {
  if (capture) throw new Error('captureGraph: already capturing (graphs do not nest)');
  if (recorder) throw new Error('captureGraph: inside kernelsOf or launchesOf');
  encodeHeld();
  flush();
  capture = { id: ++captures, commands: [], refused: null };
}

/** @internal Ends the capture: held-back work is encoded and everything submitted. Returns what was sent, or throws what was refused. */
export function endCapture(): Command[] {
  const c = capture!;
  try {
    if (!c.refused) {
      encodeHeld();
      flush();
    }
  } finally {
    capture = null;
  }
  if (c.refused) {
    unpinCommands(c.commands);
    throw new Error(`captureGraph: ${c.refused}`);
  }
  return c.commands;
}

/**
 * @internal Marks the dispatch just captured as computing only from `source`'s contents (a re-layout of
 * weights): a replay sends it again only if `source` was written since, unless the graph itself
 * writes `source` (an optimizer step), when every replay needs it.
 */
export function derivedFrom(source: Storage): void {
  const last = capture?.commands.at(-1);
  if (last?.kind === 'dispatch') last.guard = { source, writes: -1 };
}

/** @internal Drops a capture that failed part way (what it encoded was submitted and ran, as eager work). */
export function abandonCapture(): void {
  if (capture) unpinCommands(capture.commands);
  capture = null;
}

/** @internal Lets go of the uniform buffers that `commands` bind (a graph is disposed). */
export function unpinCommands(commands: readonly Command[]): void {
  for (const cmd of commands) {
    if (cmd.kind !== 'dispatch') continue;
    const n = pinnedUniforms.get(cmd.uniforms)! - 1;
    if (n > 0) pinnedUniforms.set(cmd.uniforms, n);
    else {
      pinnedUniforms.delete(cmd.uniforms);
      if (droppedPinned.delete(cmd.uniforms)) retired.push(cmd.uniforms);
    }
  }
}

/**
 * Runs `fn` now and, when a graph is being captured, again at this point of each replay: host work a
 * step repeats, such as writing an optimizer's per-step values or drawing a mask (it may upload, not
 * dispatch). Uploads made by fn are fn's own, not recorded as constants.
 */
export function hostStep(fn: () => void): void {
  if (!capture || inHostStep) return fn();
  const [before, dispatched] = [flushes, dispatchCount];
  inHostStep = true;
  try {
    fn();
  } finally {
    inHostStep = false;
  }
  if (dispatchCount !== dispatched) throw new Error('hostStep: the function dispatched GPU work; it may only upload');
  // A submit fn needed (an upload must not overtake queued work) goes out first at replay too.
  capture.commands.push({ kind: 'host', fn, flushFirst: flushes !== before });
}

/** @internal Sends `commands` again, as captured (replay of a graph). */
export function replayCommands(commands: readonly Command[]): void {
  if (capture) throw new Error('Graph.replay: inside captureGraph');
  flush();
  try {
    encodeReplay(commands);
  } catch (err) {
    // A host step threw: what this replay encoded since its last submit is dropped, not sent half done.
    batch = null;
    throw err;
  }
  flush();
}

function encodeReplay(commands: readonly Command[]): void {
  // The pass, fetched again after anything that may end it (a submit); a new pass has no pipeline set.
  let pass: GPUComputePassEncoder | null = null;
  let pipeline: GPUComputePipeline | null = null;
  for (const c of commands) {
    if (c.kind === 'dispatch') {
      if (c.guard) {
        if (c.guard.writes === c.guard.source.writes) continue;
        c.guard.writes = c.guard.source.writes;
      }
      if (!pass) [pass, pipeline] = [currentPass(), null];
      if (c.pipeline !== pipeline) pass.setPipeline((pipeline = c.pipeline));
      pass.setBindGroup(0, c.group);
      pass.dispatchWorkgroups(c.x, c.y, c.z);
      batch!.dispatches++;
      dispatchCount++;
      continue;
    }
    pass = null;
    if (c.kind === 'upload') getDevice().gpu.queue.writeBuffer(c.storage.buffer, c.byteOffset, c.data);
    else if (c.kind === 'flush') flush();
    else {
      if (c.flushFirst) flush();
      c.fn();
    }
  }
}

/** Submits everything encoded so far. */
export function flush(): void {
  if (!batch) return;
  const { gpu } = getDevice();
  const t0 = performance.now();
  batch.pass?.end();
  gpu.queue.submit([batch.encoder.finish()]);
  submitMs += performance.now() - t0;
  batch = null;
  flushes++;
  if (capture && !inHostStep) capture.commands.push({ kind: 'flush' });
  for (const b of retired) b.destroy();
  retired = [];
}

/** Copies with the command encoder (outside the compute pass); used by readback and buffer copies. */
export function copyBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
  const b = currentBatch();
  b.pass?.end();
  b.pass = null;
  b.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
}

/** Writes host data into a buffer, after any queued work that may still read the buffer's old contents. */
export function upload(storage: Storage, data: ArrayBufferView, byteOffset = 0): void {
  storage.pending?.();
  if (batch && storage.releasedAt >= flushes) flush();
  const { gpu } = getDevice();
  gpu.queue.writeBuffer(storage.buffer, byteOffset, data.buffer, data.byteOffset, data.byteLength);
  storage.writes++;
  if (capture && !inHostStep) {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    capture.commands.push({ kind: 'upload', storage, data: bytes, byteOffset });
  }
}

setSubmitQueued(() => flush());

async function raiseErrors(): Promise<void> {
  await checkCompiles();
  const errors = [...(await takeAllocationErrors()), ...takeUncapturedErrors()];
  if (errors.length) throw new Error(`WebGPU reported: ${errors.join('; ')}`);
}

/** Reads `bytes` from a buffer after all queued work; throws pending compile or validation errors. */
export async function readback(storage: Storage, byteOffset: number, bytes: number): Promise<ArrayBuffer> {
  refuseInCapture('reading a tensor back');
  storage.pending?.();
  const { gpu } = getDevice();
  const size = Math.ceil(bytes / 4) * 4;
  const staging = gpu.createBuffer({ size: Math.max(size, 4), usage: 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */ });
  try {
    if (size > 0) copyBuffer(storage.buffer, byteOffset, staging, 0, size);
    flush();
    await settled(staging.mapAsync(1 /* READ */));
    await raiseErrors();
    const data = staging.getMappedRange(0, bytes).slice(0);
    await runPendingTuning({ flushAndWait: waitIdle, gpuTime, maxTimedPasses: MAX_TIMED_PASSES });
    return data;
  } finally {
    staging.destroy();
  }
}

/** Waits until the GPU has finished all submitted work; throws pending errors. */
export async function sync(): Promise<void> {
  refuseInCapture('sync');
  await waitIdle();
  await raiseErrors();
  await runPendingTuning({ flushAndWait: waitIdle, gpuTime, maxTimedPasses: MAX_TIMED_PASSES });
}

async function waitIdle(): Promise<void> {
  flush();
  await settled(getDevice().gpu.queue.onSubmittedWorkDone());
}

// dawn.node learns that a promise of WebGPU's settled by polling: while one is pending it calls
// ProcessEvents from setImmediate again and again, so a thread awaiting the GPU spins at 100 % of a
// core. On 2 cores that takes from lavapipe's compiling and computing threads: spinning, a warm tmpose-b
// training step (batch 1) took 17.6 s against 8.9 s sleeping, and ops.fixtures.test.ts from a cold
// shader cache 351 s against 207 s. In Node the wait sleeps between polls instead (Atomics.wait, which
// browsers forbid on their main thread).
const sleeper = typeof process !== 'undefined' && process.versions?.node ? new Int32Array(new SharedArrayBuffer(4)) : null;

/** `promise`, awaited without spinning (see above). */
export async function settled<T>(promise: Promise<T>): Promise<T> {
  if (!sleeper) return promise;
  let done = false;
  const settle = () => {
    done = true;
  };
  promise.then(settle, settle);
  const start = performance.now();
  while (!done) {
    // One turn of the event loop lets dawn.node poll (and other work run); then a sleep of a tenth of
    // the time waited so far, so that the end is seen at most about 10 % late (and 1 ms).
    await new Promise((resolve) => setImmediate(resolve));
    if (!done) Atomics.wait(sleeper, 0, 0, Math.min(1, (performance.now() - start) / 10));
  }
  return promise;
}

/** Frees every pooled (unused) GPU buffer, like `torch.cuda.empty_cache()`; live tensors stay. */
export function emptyCache(): void {
  refuseInCapture('emptyCache');
  flush();
  emptyPool();
  bindGroups.clear();
}

/**
 * Counters of the runtime: dispatches encoded, submits and the CPU milliseconds they took, bind groups
 * and uniform buffers created (all since start), and the bind groups and pipelines cached now. A
 * steady training loop creates none.
 */
export function runtimeStats(): { dispatches: number; flushes: number; submitMs: number; bindGroupsCreated: number; uniformsCreated: number; bindGroups: number; pipelines: number } {
  return { dispatches: dispatchCount, flushes, submitMs, bindGroupsCreated, uniformsCreated, bindGroups: bindGroups.size, pipelines: pipelineCount() };
}
