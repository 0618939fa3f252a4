// Adam and AdamW with PyTorch's exact update (torch.optim.Adam / AdamW, non-amsgrad, non-maximize):
//   g  <- g + wd * p                    (L2 decay, Adam)      or   p <- p * (1 - lr * wd)   (decoupled, AdamW)
//   m  <- b1 * m + (1 - b1) * g
//   v  <- b2 * v + (1 - b2) * g^2
//   p  <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// One fused kernel per parameter reads p, g, m, v once and writes p, m, v in place. The per-step
// scalars are computed here in double precision, as PyTorch does in Python; they change every step, so
// they travel in the optimizer's per-step buffer, and the uniforms stay the same from step to step.
import { type Kernel, linearEntry } from '../runtime/pipelines.js';
import { dispatch, f32bits, grid } from '../runtime/queue.js';
import type { Storage } from '../runtime/pool.js';
import type { Tensor } from '../tensor.js';
import { type Hyper, type ParamGroupInput, type ParamState, Optimizer } from './optimizer.js';

const WG = 256;

export interface AdamOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
  /** Decay the weights directly (AdamW) instead of adding `weightDecay * p` to the gradient. */
  decoupledWeightDecay?: boolean;
}

export interface AdamHyper extends Hyper {
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  decoupledWeightDecay: boolean;
}

// Params: n, p offset, g offset, b1, 1-b1, b2, 1-b2, eps, L2 decay, scalars offset. Per-step scalars
// S[at..at+2]: step size lr / bc1, decoupled decay factor 1 - lr * wd, sqrt(bc2).
const ADAM: Kernel = {
  name: 'adam_step',
  key: '',
  bindings: [
    { name: 'W', type: 'f32', access: 'read_write' },
    { name: 'G', type: 'f32', access: 'read' },
    { name: 'M', type: 'f32', access: 'read_write' },
    { name: 'V', type: 'f32', access: 'read_write' },
    { name: 'S', type: 'f32', access: 'read' },
  ],
  body: () => `
${linearEntry(WG)}
  if (i >= pu(0u)) { return; }
  let at = pu(9u);
  let wi = pu(1u) + i;
  let w = W[wi];
  let g = G[pu(2u) + i] + pf(8u) * w;
  let m = pf(3u) * M[i] + pf(4u) * g;
  let v = pf(5u) * V[i] + pf(6u) * g * g;
  M[i] = m;
  V[i] = v;
  let denom = sqrt(v) / S[at + 2u] + pf(7u);
  W[wi] = w * S[at + 1u] - S[at] * m / denom;
}`,
};

export class Adam extends Optimizer<AdamHyper> {
  constructor(params: readonly Tensor[] | readonly ParamGroupInput<AdamHyper>[], options: AdamOptions = {}, name = 'Adam') {
    super(name, params, {
      lr: options.lr ?? 1e-3,
      betas: options.betas ?? [0.9, 0.999],
      eps: options.eps ?? 1e-8,
      weightDecay: options.weightDecay ?? 0,
      decoupledWeightDecay: options.decoupledWeightDecay ?? false,
    });
  }

  protected check(h: AdamHyper): void {
    const [b1, b2] = h.betas;
    if (!(h.lr >= 0)) throw new Error(`${this.name}: lr ${h.lr} must be >= 0`);
    if (!(b1! >= 0 && b1! < 1) || !(b2! >= 0 && b2! < 1)) throw new Error(`${this.name}: betas [${h.betas}] must be in [0, 1)`);
    if (!(h.eps >= 0)) throw new Error(`${this.name}: eps ${h.eps} must be >= 0`);
    if (!(h.weightDecay >= 0)) throw new Error(`${this.name}: weightDecay ${h.weightDecay} must be >= 0`);
  }

  protected stateKeys(): readonly string[] {
    return ['expAvg', 'expAvgSq'];
  }

  protected stepScalars(state: ParamState, h: AdamHyper): number[] {
    const [b1, b2] = h.betas;
    const bc1 = 1 - b1 ** state.step;
    const bc2 = 1 - b2 ** state.step;
    return [h.lr / bc1, h.decoupledWeightDecay ? 1 - h.lr * h.weightDecay : 1, Math.sqrt(bc2)];
  }

  protected update(p: Tensor, g: Tensor, state: ParamState, h: AdamHyper, at: number, scalars: Storage): void {
    const m = (state.tensors.expAvg ??= this.stateTensor(p, true));
    const v = (state.tensors.expAvgSq ??= this.stateTensor(p, true));
    const [b1, b2] = h.betas;
    const params = [
      p.size,
      p.offset,
      g.offset,
      f32bits(b1),
      f32bits(1 - b1),
      f32bits(b2),
      f32bits(1 - b2),
      f32bits(h.eps),
      f32bits(h.decoupledWeightDecay ? 0 : h.weightDecay),
      at,
    ];
    // State tensors are the optimizer's own contiguous allocations: offset 0.
    dispatch(ADAM, [p.storage, g.storage, m.storage, v.storage, scalars], params, grid(Math.ceil(p.size / WG)));
  }
}

/** Adam with decoupled weight decay (`torch.optim.AdamW`): weightDecay defaults to 1e-2. */
export class AdamW extends Adam {
  constructor(params: readonly Tensor[] | readonly ParamGroupInput<AdamHyper>[], options: Omit<AdamOptions, 'decoupledWeightDecay'> = {}) {
    super(params, { weightDecay: 1e-2, ...options, decoupledWeightDecay: true }, 'AdamW');
  }
}
