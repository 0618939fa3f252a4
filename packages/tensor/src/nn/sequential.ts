// Sequential (torch.nn.Sequential): modules applied in order, registered as "0", "1", ...
import type { Tensor } from '../tensor.js';
import { Module } from './module.js';

export class Sequential extends Module {
  readonly #layers: Module[];

  constructor(...modules: Module[]) {
    super();
    this.#layers = modules.map((m, i) => this.registerModule(String(i), m));
  }

  get length(): number {
    return this.#layers.length;
  }

  /** The i-th module (negative i counts from the end). */
  at(i: number): Module {
    const m = this.#layers.at(i);
    if (!m) throw new Error(`Sequential.at: index ${i} is out of range for ${this.#layers.length} modules`);
    return m;
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.#layers) y = m.forward(y);
    return y;
  }
}
