// GradScaler (torch.amp.GradScaler): dynamic loss scaling for mixed-precision training. The loss is
// multiplied by `scale` before backward() so that small float16 gradients do not flush to zero; before
// the optimizer step the gradients are divided by it again on the GPU, in place, by one kernel over
// all of them (several gradients per dispatch) that also raises a shared flag on any Infinity or NaN. `step` reads that flag back (one
// 4-byte readback per step) and skips the optimizer's step when it is set; `update` then halves the
// scale (backoff), or doubles it after `growthInterval` steps in a row without overflow.
//
//   const loss = autocast('float16', () => lossOf(model.forward(x)));
//   scaler.scale(loss).backward();
//   await scaler.step(optimizer);   // unscales, and steps unless a gradient overflowed
//   scaler.update();
//   optimizer.zeroGrad();
import { getDevice } from '../device.js';
import { requireDType } from '../dtype.js';
import { copyInto } from '../ops/copy.js';
import { zeros } from '../ops/create.js';
import { mul } from '../ops/elementwise.js';
import { type Kernel, linearEntry } from '../runtime/pipelines.js';
import { dispatch, grid, hostStep } from '../runtime/queue.js';
import { uniforms } from '../runtime/uniforms.js';
import { keep } from '../scope.js';
import { fmt } from '../shape.js';
import { Tensor, empty } from '../tensor.js';
import type { Hyper, Optimizer } from '../optim/optimizer.js';

const WG = 256;

/** Gradients per dispatch: each binds its own buffer, beside the flag. */
function slotsPerDispatch(): number {
  return Math.max(1, Math.min(8, getDevice().info.limits.maxStorageBuffersPerShaderStage - 1));
}

// K gradients in one dispatch: slot k covers the dispatch's elements from start{k} to the next slot's
// start, at offset{k} of its buffer G{k}. The flag is raised by exponent bits (all ones: Infinity or
// NaN), not by a float comparison that a compiler could fold away.
function unscaleUniforms(K: number) {
  const slots = [...Array(K).keys()].flatMap((k) => [[`start${k}`, 'u32'], [`offset${k}`, 'u32']] as const);
  return uniforms(Object.fromEntries([['total', 'u32'], ['invScale', 'f32'], ...slots] as const));
}

const kernels = new Map<number, { kernel: Kernel; U: ReturnType<typeof unscaleUniforms> }>();
function unscaleKernel(K: number) {
  let made = kernels.get(K);
  if (made) return made;
  const slots = [...Array(K).keys()];
  const U = unscaleUniforms(K);
  const kernel: Kernel = {
    name: 'grad_unscale',
    key: `k${K}`,
    uniforms: U,
    bindings: [
      ...slots.map((k) => ({ name: `G${k}`, type: 'f32', access: 'read_write' as const })),
      { name: 'F', type: 'atomic<u32>', access: 'read_write' },
    ],
    body: () => `
${linearEntry(WG, 'i', 'u.total')}
  var k = 0u;
  ${slots.slice(1).map((k) => `if (i >= u.start${k}) { k = ${k}u; }`).join(' ')}
  var g: f32;
  switch k {
    ${slots.map((k) => `case ${k}u: { let j = u.offset${k} + i - u.start${k}; g = G${k}[j] * u.invScale; G${k}[j] = g; }`).join('\n    ')}
    default: {}
  }
  if ((bitcast<u32>(g) & 0x7f800000u) == 0x7f800000u) { atomicOr(&F[0], 1u); }
}`,
  };
  made = { kernel, U };
  kernels.set(K, made);
  return made;
}

export interface GradScalerOptions {
  /** The first scale (default 2^16, as PyTorch). */
  initScale?: number;
  /** The scale is multiplied by this after `growthInterval` steps without overflow (default 2). */
  growthFactor?: number;
  /** ... and by this after a step with an overflow (default 0.5). */
  backoffFactor?: number;
  /** Steps without overflow before the scale grows (default 2000). */
  growthInterval?: number;
  /** false makes every method a pass-through (scale 1, no unscale, always step): one code path for f32 runs. */
  enabled?: boolean;
}

/** What `stateDict()` gives and `loadStateDict()` takes: plain numbers, for a checkpoint's JSON. */
export interface GradScalerState {
  scale: number;
  growthFactor: number;
  backoffFactor: number;
  growthInterval: number;
  /** Steps without overflow since the scale last changed. */
  growthTracker: number;
  /** Optimizer steps skipped because a gradient overflowed, since the start of training. */
  skippedSteps: number;
}

export class GradScaler {
  readonly enabled: boolean;
  #state: GradScalerState;
  /** The flag of the optimizer unscaled in this step (cleared by update). */
  #flags = new Map<object, Tensor>();
  /** Whether the last `step` found an overflow (read back), until `update` uses it. */
  #foundInf: boolean | null = null;

  constructor(options: GradScalerOptions = {}) {
    this.enabled = options.enabled ?? true;
    this.#state = check({
      scale: options.initScale ?? 2 ** 16,
      growthFactor: options.growthFactor ?? 2,
      backoffFactor: options.backoffFactor ?? 0.5,
      growthInterval: options.growthInterval ?? 2000,
      growthTracker: 0,
      skippedSteps: 0,
    });
  }

  /** The current scale (1 when disabled), as torch's `get_scale()`. */
  getScale(): number {
    return this.enabled ? this.#state.scale : 1;
  }

  /** Optimizer steps skipped so far because a gradient held Infinity or NaN. */
  get skippedSteps(): number {
    return this.#state.skippedSteps;
  }

  /** `loss * scale` (the loss itself when disabled), to call backward() on. */
  scale(loss: Tensor): Tensor {
    if (!this.enabled) return loss;
    requireDType('GradScaler.scale', loss, ['float32']);
    return mul(loss, this.#state.scale);
  }

  /**
   * Divides the optimizer's gradients by the scale, in place (torch's `unscale_`), and notes on the GPU
   * whether any holds Infinity or NaN. Called by `step` when not called before (e.g. to clip gradients).
   */
  unscale<H extends Hyper>(optimizer: Optimizer<H>): void {
    if (!this.enabled) return;
    if (this.#flags.has(optimizer)) throw new Error('GradScaler.unscale: already called for this optimizer since the last update()');
    const flag = keep(zeros([1], { dtype: 'int32' }));
    // In a captured step (captureGraph) each replay unscales again, into this flag's buffer: a handle
    // on it is the optimizer's flag then (update() disposes each step's handle; the graph keeps the buffer).
    let first = true;
    hostStep(() => {
      if (!first) flag.storage.refs++;
      this.#flags.set(optimizer, first ? flag : keep(new Tensor(flag.storage, [1], [1], 0, 'int32')));
      first = false;
    });
    const invScale = 1 / this.#state.scale;
    const done = new Set<unknown>();
    const grads: Tensor[] = [];
    optimizer.paramGroups.forEach((group, gi) =>
      group.params.forEach((p, i) => {
        let g = p.grad;
        if (!g) return;
        if (g.dtype !== 'float32') {
          throw new Error(`GradScaler.unscale: parameter ${i} of group ${gi} (${fmt(p.shape)}) has a ${g.dtype} gradient; master weights and their gradients are float32`);
        }
        // In place needs a contiguous gradient of its own: a view, or one sharing its buffer with a
        // gradient already unscaled (backward rules may hand one tensor to several inputs), is copied.
        if (!g.isContiguous || done.has(g.storage)) {
          const own = empty(g.shape, 'float32');
          copyInto(own, g);
          g.dispose();
          p.grad = g = keep(own);
        }
        done.add(g.storage);
        if (g.size > 0) grads.push(g);
      }),
    );
    const K = slotsPerDispatch();
    for (let at = 0; at < grads.length; at += K) {
      const batch = grads.slice(at, at + K);
      const { kernel, U } = unscaleKernel(batch.length);
      const words: Record<string, number> = { total: 0, invScale };
      batch.forEach((g, k) => {
        words[`start${k}`] = words.total!;
        words[`offset${k}`] = g.offset;
        words.total! += g.size;
      });
      dispatch(kernel, [...batch.map((g) => g.storage), flag.storage], U.pack(words), grid(Math.ceil(words.total! / WG)));
    }
  }

  /**
   * Unscales (unless done already) and runs `optimizer.step()` unless a gradient overflowed; resolves
   * to whether it stepped. The one readback of the step happens here.
   */
  async step<H extends Hyper>(optimizer: Optimizer<H>): Promise<boolean> {
    if (!this.enabled) {
      optimizer.step();
      return true;
    }
    const found = await this.foundInf(optimizer);
    if (!found) optimizer.step();
    return !found;
  }

  /**
   * Unscales (unless done already) and reads whether a gradient overflowed, counting the step as
   * skipped if one did, as `step` does, but leaves the update to the caller (a captured optimizer step).
   */
  async foundInf<H extends Hyper>(optimizer: Optimizer<H>): Promise<boolean> {
    if (!this.enabled) return false;
    if (!this.#flags.has(optimizer)) this.unscale(optimizer);
    const found = (await this.#flags.get(optimizer)!.item()) !== 0;
    this.#foundInf = (this.#foundInf ?? false) || found;
    if (found) this.#state.skippedSteps++;
    return found;
  }

  /** Backs the scale off after an overflow, or grows it after `growthInterval` good steps; call once per step, after `step`. */
  update(): void {
    if (!this.enabled) return;
    if (this.#foundInf === null) throw new Error('GradScaler.update: no step() since the last update()');
    const s = this.#state;
    if (this.#foundInf) {
      s.scale *= s.backoffFactor;
      s.growthTracker = 0;
    } else if (++s.growthTracker === s.growthInterval) {
      s.scale *= s.growthFactor;
      s.growthTracker = 0;
    }
    for (const flag of this.#flags.values()) flag.dispose();
    this.#flags.clear();
    this.#foundInf = null;
  }

  stateDict(): GradScalerState {
    return { ...this.#state };
  }

  /** Restores `stateDict()`'s numbers (checked first; on error nothing changes). */
  loadStateDict(state: GradScalerState): void {
    this.#state = check({ ...state });
  }
}

function check(s: GradScalerState): GradScalerState {
  const problems: string[] = [];
  const positive = (k: keyof GradScalerState) => {
    if (!(typeof s[k] === 'number' && s[k] > 0 && Number.isFinite(s[k]))) problems.push(`${k} ${s[k]} must be a positive finite number`);
  };
  positive('scale');
  positive('backoffFactor');
  if (!(s.growthFactor > 1)) problems.push(`growthFactor ${s.growthFactor} must be > 1`);
  if (!(s.backoffFactor < 1)) problems.push(`backoffFactor ${s.backoffFactor} must be < 1`);
  for (const k of ['growthInterval', 'growthTracker', 'skippedSteps'] as const) {
    if (!Number.isInteger(s[k]) || s[k] < 0 || (k === 'growthInterval' && s[k] < 1)) problems.push(`${k} ${s[k]} must be a ${k === 'growthInterval' ? 'positive' : 'non-negative'} integer`);
  }
  if (problems.length) throw new Error(`GradScaler: ${problems.join('; ')}`);
  return s;
}
