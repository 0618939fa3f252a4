// Adam and AdamW with PyTorch's exact update (torch.optim.Adam / AdamW, non-amsgrad, non-maximize):
//   g  <- g + wd * p                    (L2 decay, Adam)      or   p <- p * (1 - lr * wd)   (decoupled, AdamW)
//   m  <- b1 * m + (1 - b1) * g
//   v  <- b2 * v + (1 - b2) * g^2
//   p  <- p - (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// One fused kernel updates several parameters at once, reading p, g, m, v once and writing p, m, v in
// place. The per-step scalars are computed here in double precision, as PyTorch does in Python; they
// change every step, so they travel in the optimizer's per-step buffer, and the uniforms stay the same.
import { getDevice } from '../device.js';
import { PARAM_WORDS } from '../runtime/uniforms.js';
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

// A dispatch binds storages, not parameters: up to NW weight storages (read_write, so distinct: writable
// bindings must not alias) and NG gradient storages, and updates up to SLOTS parameters (slots), each
// naming its weight and gradient binding and its offsets. Parameters sharing a storage (a model's
// flattenParameters(), batch norm's weight and bias gradients, rows of one buffer) share a binding.
// Every parameter's m and v live in one buffer (the optimizer's arena), and the per-step values in
// another: 2 more. Two layouts of the same kernel: one weight storage and all the rest gradients (the
// flattened case), or half and half (a parameter per buffer, as built).

// Uniforms: b1, 1-b1, b2, 1-b2, eps, L2 decay, total elements, v's distance from m in the arena, slots
// used, then per slot k at HEAD + 5k: first element (of the dispatch's), weight offset, gradient offset,
// m offset, and (weight binding | gradient binding << 8 | per-step values offset << 16).
// Per-step values S[at..at+2]: step size lr / bc1, decoupled decay factor 1 - lr * wd, sqrt(bc2).
const HEAD = 9;
const SLOT_WORDS = 5;
const SLOTS = Math.floor((PARAM_WORDS - HEAD) / SLOT_WORDS);

/** The two binding layouts this device allows: [weight storages, gradient storages] per dispatch. */
function layouts(): [number, number][] {
  const free = Math.max(2, getDevice().info.limits.maxStorageBuffersPerShaderStage - 2);
  const half = Math.floor(free / 2);
  return [[1, free - 1], [half, free - half]];
}

function adamKernel(NW: number, NG: number): Kernel {
  const ws = [...Array(NW).keys()];
  const gs = [...Array(NG).keys()];
  return {
    name: 'adam_step',
    key: `w${NW}g${NG}`,
    bindings: [
      ...ws.map((k) => ({ name: `W${k}`, type: 'f32', access: 'read_write' as const })),
      ...gs.map((k) => ({ name: `G${k}`, type: 'f32', access: 'read' as const })),
      { name: 'MV', type: 'f32', access: 'read_write' },
      { name: 'S', type: 'f32', access: 'read' },
    ],
    body: () => `
${linearEntry(WG)}
  if (i >= pu(6u)) { return; }
  var slot = ${HEAD}u;
  for (var k = 1u; k < pu(8u); k++) {
    if (i >= pu(${HEAD}u + ${SLOT_WORDS}u * k)) { slot = ${HEAD}u + ${SLOT_WORDS}u * k; }
  }
  let e = i - pu(slot);
  let wi = pu(slot + 1u) + e;
  let gi = pu(slot + 2u) + e;
  let si = pu(slot + 3u) + e;
  let packed = pu(slot + 4u);
  let wb = packed & 0xffu;
  let at = packed >> 16u;
  var w: f32; var g: f32;
  switch wb {
    ${ws.map((k) => `case ${k}u: { w = W${k}[wi]; }`).join('\n    ')}
    default: {}
  }
  switch (packed >> 8u) & 0xffu {
    ${gs.map((k) => `case ${k}u: { g = G${k}[gi]; }`).join('\n    ')}
    default: {}
  }
  g += pf(5u) * w;
  let vi = si + pu(7u);
  let m = pf(0u) * MV[si] + pf(1u) * g;
  let v = pf(2u) * MV[vi] + pf(3u) * g * g;
  MV[si] = m;
  MV[vi] = v;
  let next = w * S[at + 1u] - S[at] * m / (sqrt(v) / S[at + 2u] + pf(4u));
  switch wb {
    ${ws.map((k) => `case ${k}u: { W${k}[wi] = next; }`).join('\n    ')}
    default: {}
  }
}`,
  };
}

/** A dispatch's updates and the distinct storages they bind. */
interface Batch {
  updates: Update<AdamHyper>[];
  weights: Storage[];
  grads: Storage[];
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
    const shapes = layouts();
    const layoutFor = (w: number, g: number) => shapes.find(([NW, NG]) => w <= NW && g <= NG);
    const fits = (w: number, g: number, n: number) => n <= SLOTS && layoutFor(w, g) !== undefined;
    // Dispatches per group (the hyper-parameters are uniforms of the dispatch), each filled in order
    // while its storages fit one of the layouts and its slots the uniforms.
    for (const group of this.paramGroups) {
      const [b1, b2] = group.betas;
      const hyper = [b1, 1 - b1, b2, 1 - b2, group.eps, group.decoupledWeightDecay ? 0 : group.weightDecay].map(f32bits);
      let batch: Batch = { updates: [], weights: [], grads: [] };
      for (const u of updates) {
        if (u.group !== group) continue;
        const w = batch.weights.includes(u.p.storage) ? 0 : 1;
        const g = batch.grads.includes(u.grad.storage) ? 0 : 1;
        if (!fits(batch.weights.length + w, batch.grads.length + g, batch.updates.length + 1)) {
          this.dispatchBatch(batch, layoutFor(batch.weights.length, batch.grads.length)!, hyper, scalars);
          batch = { updates: [], weights: [], grads: [] };
        }
        if (!batch.weights.includes(u.p.storage)) batch.weights.push(u.p.storage);
        if (!batch.grads.includes(u.grad.storage)) batch.grads.push(u.grad.storage);
        batch.updates.push(u);
      }
      if (batch.updates.length) this.dispatchBatch(batch, layoutFor(batch.weights.length, batch.grads.length)!, hyper, scalars);
    }
  }

  private dispatchBatch({ updates, weights, grads }: Batch, [NW, NG]: [number, number], hyper: number[], scalars: Storage): void {
    const slots: number[] = [];
    let total = 0;
    let mv: Storage | undefined;
    for (const u of updates) {
      const m = (u.state.tensors.expAvg ??= this.stateTensor(u.p, 'expAvg'));
      // v sits stateStride past m in the arena (one binding for both).
      u.state.tensors.expAvgSq ??= this.stateTensor(u.p, 'expAvgSq');
      mv = m.storage;
      const bindings = weights.indexOf(u.p.storage) | (grads.indexOf(u.grad.storage) << 8) | (u.at << 16);
      slots.push(total, u.p.offset, u.grad.offset, m.offset, bindings);
      total += u.p.size;
    }
    // Unused weight bindings bind small buffers of their own, kept for the optimizer's life (writable
    // bindings can't alias); unused gradient bindings repeat the first (read-only ones may).
    while (this.spares.length < NW - 1) this.spares.push(allocate(16));
    const storages = [
      ...weights,
      ...this.spares.slice(0, NW - weights.length),
      ...grads,
      ...Array<Storage>(NG - grads.length).fill(grads[0]!),
      mv!,
      scalars,
    ];
    dispatch(adamKernel(NW, NG), storages, [...hyper, total, this.stateStride, updates.length, ...slots], grid(Math.ceil(total / WG)));
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
