// Adam and AdamW with PyTorch's exact update (torch.optim.Adam / AdamW, non-amsgrad, non-maximize):
//   g  <- g + wd * p                    (L2 decay, Adam)      or   p <- p * (1 - lr * wd)   (decoupled, AdamW)
//   m  <- b1 * m + (1 - b1) * g
//   v  <- b2 * v + (1 - b2) * g^2
//   p  <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// One fused kernel updates several parameters at once, reading p, g, m, v once and writing p, m, v in
// place. The per-step scalars are computed here in double precision, as PyTorch does in Python; they
// change every step, so they travel in the optimizer's per-step buffer, and the uniforms stay the same.
import { getDevice } from '../device.js';
import { type Kernel, linearEntry } from '../runtime/pipelines.js';
import { type Storage, allocate, release } from '../runtime/pool.js';
import { dispatch, f32bits, flushNumber, grid } from '../runtime/queue.js';
import type { Tensor } from '../tensor.js';
import { type Hyper, type ParamGroupInput, type ParamState, type Update, Optimizer } from './optimizer.js';

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

/**
 * Parameters updated per dispatch: each binds its weights and gradient, and every parameter's m and v
 * live in one buffer (the optimizer's arena), so K parameters take 2K + 2 storage bindings.
 */
function slotsPerDispatch(): number {
  return Math.max(1, Math.min(8, Math.floor((getDevice().info.limits.maxStorageBuffersPerShaderStage - 2) / 2)));
}

// Params: b1, 1-b1, b2, 1-b2, eps, L2 decay, total elements, v's distance from m in the arena, then per
// slot k at 8 + 6k: first element (of the dispatch's), elements, weight offset, gradient offset, m
// offset, per-step values offset.
// Per-step values S[at..at+2]: step size lr / bc1, decoupled decay factor 1 - lr * wd, sqrt(bc2).
function adamKernel(K: number): Kernel {
  const slots = [...Array(K).keys()];
  return {
    name: 'adam_step',
    key: `k${K}`,
    bindings: [
      ...slots.map((k) => ({ name: `W${k}`, type: 'f32', access: 'read_write' as const })),
      ...slots.map((k) => ({ name: `G${k}`, type: 'f32', access: 'read' as const })),
      { name: 'MV', type: 'f32', access: 'read_write' },
      { name: 'S', type: 'f32', access: 'read' },
    ],
    body: () => `
${linearEntry(WG)}
  if (i >= pu(6u)) { return; }
  var k = 0u;
  ${slots.slice(1).map((k) => `if (i >= pu(${8 + 6 * k}u)) { k = ${k}u; }`).join(' ')}
  let slot = 8u + 6u * k;
  let e = i - pu(slot);
  let wi = pu(slot + 2u) + e;
  let gi = pu(slot + 3u) + e;
  let si = pu(slot + 4u) + e;
  let at = pu(slot + 5u);
  var w: f32; var g: f32;
  switch k {
    ${slots.map((k) => `case ${k}u: { w = W${k}[wi]; g = G${k}[gi]; }`).join('\n    ')}
    default: {}
  }
  g += pf(5u) * w;
  let vi = si + pu(7u);
  let m = pf(0u) * MV[si] + pf(1u) * g;
  let v = pf(2u) * MV[vi] + pf(3u) * g * g;
  MV[si] = m;
  MV[vi] = v;
  let next = w * S[at + 1u] - S[at] * m / (sqrt(v) / S[at + 2u] + pf(4u));
  switch k {
    ${slots.map((k) => `case ${k}u: { W${k}[wi] = next; }`).join('\n    ')}
    default: {}
  }
}`,
  };
}

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

  protected encode(updates: readonly Update<AdamHyper>[], scalars: Storage): void {
    const K = slotsPerDispatch();
    const kernel = adamKernel(K);
    // One dispatch per K parameters of a group (the hyper-parameters are uniforms of the dispatch);
    // parameters sharing a buffer go to different dispatches, as writable bindings must not alias.
    for (const group of this.paramGroups) {
      const [b1, b2] = group.betas;
      const hyper = [b1, 1 - b1, b2, 1 - b2, group.eps, group.decoupledWeightDecay ? 0 : group.weightDecay].map(f32bits);
      let batch: Update<AdamHyper>[] = [];
      const run = () => {
        if (batch.length) this.dispatchBatch(kernel, K, batch, hyper, scalars);
        batch = [];
      };
      for (const u of updates) {
        if (u.group !== group) continue;
        if (batch.length === K || batch.some((b) => b.p.storage === u.p.storage)) run();
        batch.push(u);
      }
      run();
    }
  }

  private dispatchBatch(kernel: Kernel, K: number, batch: Update<AdamHyper>[], hyper: number[], scalars: Storage): void {
    const m = batch.map((u) => (u.state.tensors.expAvg ??= this.stateTensor(u.p, 'expAvg')));
    // v sits stateStride past m in the arena (one binding for both).
    for (const u of batch) u.state.tensors.expAvgSq ??= this.stateTensor(u.p, 'expAvgSq');
    const slots: number[] = [];
    let total = 0;
    batch.forEach((u, k) => {
      slots.push(total, u.p.size, u.p.offset, u.grad.offset, m[k]!.offset, u.at);
      total += u.p.size;
    });
    // Unused slots start past the end (never selected) and bind small buffers of their own, kept for
    // the optimizer's life (writable bindings can't alias).
    while (this.spares.length < K - 1) this.spares.push(allocate(16));
    const spare = this.spares.slice(0, K - batch.length);
    for (const _ of spare) slots.push(total, 0, 0, 0, 0, 0);
    const weights = [...batch.map((u) => u.p.storage), ...spare];
    const grads = [...batch.map((u) => u.grad.storage), ...spare.map(() => batch[0]!.grad.storage)];
    dispatch(kernel, [...weights, ...grads, m[0]!.storage, scalars], [...hyper, total, this.stateStride, ...slots], grid(Math.ceil(total / WG)));
  }

  private readonly spares: Storage[] = [];

  override dispose(): void {
    super.dispose();
    for (const s of this.spares.splice(0)) release(s, flushNumber());
  }
}

/** Adam with decoupled weight decay (`torch.optim.AdamW`): weightDecay defaults to 1e-2. */
export class AdamW extends Adam {
  constructor(params: readonly Tensor[] | readonly ParamGroupInput<AdamHyper>[], options: Omit<AdamOptions, 'decoupledWeightDecay'> = {}) {
    super(params, { weightDecay: 1e-2, ...options, decoupledWeightDecay: true }, 'AdamW');
  }
}
