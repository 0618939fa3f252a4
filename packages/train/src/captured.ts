// The training loop's captured steps (captureGraph): the batches are written into the same three input
// tensors and the step is replayed, the same numbers as running it, for a fraction of the CPU time.
//
// float32: the whole step (trainingStep) is one graph. Mixed precision reads the overflow flag back
// between the backward and the update, and scales the loss by a number the kernels take as a uniform:
// so two graphs, the forward, scaled backward and unscale (made again whenever the scale changes), then
// the optimizer's update (captured at the first good step after it, and replayed unless a gradient
// overflowed).
import type { TMPose } from '@tmpose/model';
import { type GradScaler, type Graph, type Tensor, autocast, captureGraph, optim, sync, tensor } from '@tmpose/tensor';
import type { Batch } from './data/loader.js';
import { jointsMseLoss, trainingStep } from './loss.js';

export class CapturedSteps {
  #inputs: [Tensor, Tensor, Tensor] | null = null;
  #step: Graph<Tensor> | null = null;
  #backward: Graph<Tensor> | null = null;
  #update: Graph<unknown> | null = null;
  #scale = Number.NaN;

  constructor(
    readonly model: TMPose,
    readonly optimizer: optim.Adam,
    /** Mixed precision's scaler, or null for float32. */
    readonly scaler: GradScaler | null,
  ) {}

  /** Trains on `batch`; returns the loss, which the graph owns (read it, do not dispose it). */
  async step(batch: Batch): Promise<Tensor> {
    const [x, target, weight] = this.#write(batch);
    const { model, optimizer, scaler } = this;
    if (!scaler) {
      if (this.#step) this.#step.replay();
      else {
        // Kernel tuning waits for a sync: the captured step keeps the variants it picks.
        await sync();
        this.#step = captureGraph(() => trainingStep(model, optimizer, x, target, weight));
      }
      return this.#step.outputs;
    }
    const fresh = !this.#backward || this.#scale !== scaler.getScale();
    if (fresh) {
      this.#disposeGraphs();
      await sync();
      this.#scale = scaler.getScale();
      this.#backward = captureGraph(() => {
        const loss = autocast('float16', () => jointsMseLoss(model.forward(x), target, weight));
        scaler.scale(loss).backward();
        scaler.unscale(optimizer);
        return loss.detach();
      });
    } else this.#backward!.replay();
    if (await scaler.foundInf(optimizer)) optimizer.zeroGrad();
    else if (this.#update) this.#update.replay();
    else if (optimizer.stateReady()) this.#update = captureGraph(() => {
      optimizer.step();
      optimizer.zeroGrad();
    });
    else {
      // The optimizer's first update makes its state, which a capture must not: run it, and capture
      // both graphs again at the next step.
      optimizer.step();
      optimizer.zeroGrad();
      this.#scale = Number.NaN;
    }
    scaler.update();
    return this.#backward!.outputs;
  }

  #write(batch: Batch): [Tensor, Tensor, Tensor] {
    if (!this.#inputs) return (this.#inputs = [tensor(batch.images, batch.imageShape), tensor(batch.targets, batch.targetShape), tensor(batch.targetWeights, batch.weightShape)]);
    this.#inputs[0].copy_(batch.images);
    this.#inputs[1].copy_(batch.targets);
    this.#inputs[2].copy_(batch.targetWeights);
    return this.#inputs;
  }

  #disposeGraphs(): void {
    for (const g of [this.#step, this.#backward, this.#update]) g?.dispose();
    [this.#step, this.#backward, this.#update] = [null, null, null];
  }

  /** Frees the graphs and the input tensors. */
  dispose(): void {
    this.#disposeGraphs();
    for (const t of this.#inputs ?? []) t.dispose();
    this.#inputs = null;
  }
}
