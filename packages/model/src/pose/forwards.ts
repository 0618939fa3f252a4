// Eval forwards of one model, captured and replayed (captureGraph): a stream of batches of one shape
// (a camera's frames, a dataset's batches) runs the same forward again and again, and a replay costs
// the driver's encoding alone, not the op layer's JavaScript. Each input shape and forward options run
// eagerly the first time (so that kernel tuning, which waits for a readback, picks the variants) and
// are captured the second; later calls copy the input into the captured one and replay. The heatmaps
// are those of the eager forward, bit for bit.
import { type Graph, type Tensor, captureGraph, noGrad, tensor, tidy, zeros } from '@tmpose/tensor';
import type { ForwardOptions, TMPose } from '../tmpose.js';

// Captured forwards kept at once (each holds an eval forward's buffers): the least recently used goes.
const KEPT = 4;

export class CapturedForwards {
  readonly #seen = new Set<string>();
  readonly #graphs = new Map<string, { x: Tensor; graph: Graph<Tensor> }>();

  constructor(readonly model: TMPose) {}

  /**
   * The heatmaps of `images` ([B, 3, H, W], a tensor or host values) read back, in eval mode (the
   * caller's business, as for `model.forward`). Once captured, the weights the forward reads must stay
   * in their buffers: dispose and make a new one after `flattenParameters()` or `to(dtype)`.
   */
  async heatmaps(images: Tensor | Float32Array, shape: readonly number[], options: ForwardOptions = {}): Promise<{ data: Float32Array; shape: number[] }> {
    const key = `${shape.join(',')}|${JSON.stringify(options)}|${this.model.training}`;
    const forward = (x: Tensor) => noGrad(() => this.model.forward(x, options));
    let captured = this.#graphs.get(key);
    if (captured) {
      this.#graphs.delete(key);
      this.#graphs.set(key, captured);
      captured.x.copy_(images);
      captured.graph.replay();
    } else if (this.#seen.has(key)) {
      if (this.#graphs.size >= KEPT) this.#drop(this.#graphs.keys().next().value!);
      // An input of the graph's own, written by every later call.
      const x = zeros(shape).copy_(images);
      captured = { x, graph: captureGraph(() => forward(x)) };
      this.#graphs.set(key, captured);
    }
    this.#seen.add(key);
    const out = captured?.graph.outputs ?? tidy(() => forward(images instanceof Float32Array ? tensor(images, shape) : images));
    try {
      return { data: (await out.data()) as Float32Array, shape: [...out.shape] };
    } finally {
      if (!captured) out.dispose();
    }
  }

  /** How many forwards are captured now. */
  get size(): number {
    return this.#graphs.size;
  }

  #drop(key: string): void {
    const { x, graph } = this.#graphs.get(key)!;
    graph.dispose();
    x.dispose();
    this.#graphs.delete(key);
  }

  /** Frees the captured forwards (their inputs, outputs and buffers). */
  dispose(): void {
    for (const key of [...this.#graphs.keys()]) this.#drop(key);
    this.#seen.clear();
  }
}
