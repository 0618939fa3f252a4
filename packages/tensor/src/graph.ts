// Captured steps, as PyTorch's CUDA graphs: captureGraph(fn) runs fn once, as usual, and keeps the list
// of what it sent to the GPU (pipelines, bind groups, workgroup counts, uploads, submits). replay()
// sends that list again without running fn's JavaScript, so a step costs the driver's encoding alone:
// the op layer, autograd and the caches behind each dispatch are what most of an eager step's CPU time
// goes to. What would be decided differently on another run is fixed at capture: inputs live in the
// same tensors (write new data with `copy_`), shapes and kernels stay. Host work that changes from
// step to step runs again at each replay as a host step (hostStep): an optimizer's step counts and
// per-step values, masks and random numbers drawn on the host (hostTensor, rand, randn).
//
// The graph keeps every buffer it touches (a reference on live ones; the ones the capture released are
// taken out of the pool) until it is disposed: a replay writes them, so nothing else may get them.
import { clearAutocastCache } from './amp/autocast.js';
import { getDevice } from './device.js';
import { type Storage, pauseTrim, release, retain } from './runtime/pool.js';
import { type Command, abandonCapture, beginCapture, endCapture, flushNumber, replayCommands, unpinCommands } from './runtime/queue.js';
import { type Disposable, keep, tensorsIn, tidy } from './scope.js';

export class Graph<T = unknown> {
  #commands: Command[];
  #storages: Storage[];
  #written: Storage[];
  #outputs: Disposable[];
  #deviceId: number;
  #disposed = false;

  /** @internal Use captureGraph. */
  constructor(commands: Command[], readonly outputs: T, deviceId: number) {
    this.#commands = commands;
    this.#deviceId = deviceId;
    const touched = new Set<Storage>();
    const written = new Set<Storage>();
    for (const c of commands) {
      if (c.kind === 'dispatch') {
        c.storages.forEach((s, i) => {
          touched.add(s);
          if (c.writable[i]) written.add(s);
        });
      } else if (c.kind === 'upload') {
        touched.add(c.storage);
        written.add(c.storage);
      }
    }
    this.#storages = [...touched];
    this.#written = [...written];
    // A dispatch derived from a buffer the graph never writes runs at a replay only if something else
    // wrote the buffer since the capture made it (weights re-laid for an inference graph: not per frame).
    for (const c of commands) {
      if (c.kind !== 'dispatch' || !c.guard) continue;
      if (written.has(c.guard.source)) delete c.guard;
      else c.guard.writes = c.guard.source.writes;
    }
    for (const s of this.#storages) retain(s);
    this.#outputs = tensorsIn(outputs).map((t) => keep(t));
  }

  /** Dispatches one replay encodes at most (a re-layout of weights the graph never writes runs only after they change). */
  get dispatches(): number {
    return this.#commands.filter((c) => c.kind === 'dispatch').length;
  }

  /** Bytes of the buffers this graph keeps. */
  get bytes(): number {
    return this.#storages.reduce((n, s) => n + s.byteSize, 0);
  }

  /**
   * Sends the captured work again: the outputs hold the new results once it has run (read them as
   * usual; a read waits). Host steps run in their places.
   */
  replay(): void {
    if (this.#disposed) throw new Error('Graph.replay: the graph was disposed');
    if (getDevice().id !== this.#deviceId) throw new Error('Graph.replay: the graph was captured on another (older) device');
    replayCommands(this.#commands);
    // What the JavaScript derived from these buffers' contents (conv weight layouts) is stale now.
    for (const s of this.#written) s.writes++;
  }

  /** Frees the graph: its outputs, and its hold on every buffer it used. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of this.#outputs) t.dispose();
    for (const s of this.#storages) release(s, flushNumber());
    unpinCommands(this.#commands);
    this.#commands = [];
  }

  get isDisposed(): boolean {
    return this.#disposed;
  }
}

/**
 * Runs `fn` (synchronous, no readback or sync inside) and captures what it sends to the GPU, to be
 * sent again by `replay()`; its result's tensors become the graph's `outputs`, written by each replay.
 * Run the step once before capturing it, as with CUDA graphs, so that state made at a first step
 * (optimizer moments) exists: an optimizer refuses to make state inside a capture.
 */
export function captureGraph<T>(fn: () => T): Graph<T> {
  const deviceId = getDevice().id;
  // Float16 copies cached before the capture would be read by every replay, however the weights change.
  clearAutocastCache();
  beginCapture();
  pauseTrim(true);
  let outputs: T;
  let commands: Command[];
  try {
    outputs = tidy(() => {
      const out = fn();
      if (out instanceof Promise) throw new Error('captureGraph: fn must be synchronous (it returned a Promise): a captured step cannot await the GPU');
      return out;
    });
    commands = endCapture();
  } catch (err) {
    abandonCapture();
    throw err;
  } finally {
    pauseTrim(false);
  }
  clearAutocastCache();
  return new Graph(commands, outputs, deviceId);
}
