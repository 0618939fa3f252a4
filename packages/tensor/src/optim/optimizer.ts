// The optimizer base: parameter groups with their hyper-parameters, per-parameter state (step count and
// state tensors), zeroGrad / step, and state dicts. Subclasses supply one fused GPU update per parameter.
//
// Parameters are updated in place, so they must be contiguous (a view with an offset is fine: kernels
// add `offset`). Gradients may be any strided view: a non-contiguous one is copied first.
import { type Storage, allocate, release } from '../runtime/pool.js';
import { flushNumber, upload } from '../runtime/queue.js';
import { keep } from '../scope.js';
import { contiguous, copyInto } from '../ops/copy.js';
import { fmt, sameShape } from '../shape.js';
import { zeros } from '../ops/create.js';
import { type Tensor, empty } from '../tensor.js';

const RING = 3;

export interface Hyper {
  lr: number;
}

/** A group of parameters sharing hyper-parameters (`optimizer.paramGroups[i].lr = ...` changes one group). */
export type ParamGroup<H extends Hyper> = H & { params: Tensor[] };

/** What the constructor accepts per group: parameters plus any hyper-parameters that differ from the defaults. */
export type ParamGroupInput<H extends Hyper> = Partial<H> & { params: Tensor[] };

export interface ParamState {
  /** Updates applied to this parameter so far. */
  step: number;
  /** Named state tensors, e.g. Adam's `expAvg` and `expAvgSq`, shaped like the parameter. */
  tensors: Record<string, Tensor>;
}

export interface OptimizerStateDict<H extends Hyper> {
  /** State by parameter index, counted across groups in order (as PyTorch does); absent before a parameter's first update. */
  state: Record<number, ParamState>;
  /** Each group's hyper-parameters and the indices of its parameters. */
  paramGroups: (H & { params: number[] })[];
}

export abstract class Optimizer<H extends Hyper> {
  readonly paramGroups: ParamGroup<H>[];
  /** @internal */
  protected readonly state = new Map<Tensor, ParamState>();

  constructor(
    /** Names the optimizer in error messages. */
    readonly name: string,
    params: readonly Tensor[] | readonly ParamGroupInput<H>[],
    defaults: H,
  ) {
    const isGroups = params.length > 0 && 'params' in params[0]!;
    const groups = isGroups ? (params as ParamGroupInput<H>[]) : [{ params: params as Tensor[] } as ParamGroupInput<H>];
    if (groups.every((g) => g.params.length === 0)) throw new Error(`${name}: got an empty parameter list`);
    const seen = new Set<Tensor>();
    this.paramGroups = groups.map((input, gi) => {
      const group = { ...defaults } as ParamGroup<H>;
      for (const [k, v] of Object.entries(input)) if (v !== undefined && k !== 'params') Object.assign(group, { [k]: v });
      group.params = [...input.params];
      this.check(group);
      group.params.forEach((p, i) => {
        const where = `${this.name}: parameter ${i} of group ${gi}`;
        if (typeof p?.assertAlive !== 'function') throw new Error(`${where} is not a Tensor`);
        p.assertAlive(this.name);
        if (p.dtype !== 'float32') throw new Error(`${where} (${fmt(p.shape)}) is ${p.dtype}; only float32 parameters can be optimized`);
        if (!p.requiresGrad || p.gradFn) {
          throw new Error(`${where} (${fmt(p.shape)}) must be a leaf tensor with requiresGrad set`);
        }
        if (!p.isContiguous) {
          throw new Error(`${where} (${fmt(p.shape)}) is a non-contiguous view; parameters are updated in place and must be contiguous`);
        }
        if (seen.has(p)) throw new Error(`${where} (${fmt(p.shape)}) appears more than once`);
        seen.add(p);
      });
      return group;
    });
  }

  /** Throws if a group's hyper-parameters are out of range. */
  protected abstract check(group: H): void;

  /** The state tensor names a parameter in this group has after its first update. */
  protected abstract stateKeys(group: H): readonly string[];

  /**
   * Encodes the fused update of one parameter; `state.step` already counts this update. `scalars` are
   * this update's per-step values (from `stepScalars`), the word at which they start in the `S` buffer.
   */
  protected abstract update(param: Tensor, grad: Tensor, state: ParamState, group: H, scalars: number, buffer: Storage): void;

  /** The values an update needs that change from step to step (bias corrections, scheduled rates). */
  protected abstract stepScalars(state: ParamState, group: H): number[];

  // Per-step values travel in a small storage buffer written once per step, not in uniforms: uniform
  // buffers and bind groups are cached by content, and values that change every step would make new
  // ones for every parameter at every step. A ring of buffers lets one be written while the GPU may
  // still read the last step's.
  private readonly ring: Storage[] = [];
  private ringNext = 0;

  /** The first group's learning rate. */
  get lr(): number {
    return this.paramGroups[0]?.lr ?? NaN;
  }

  /** Sets every group's learning rate. */
  set lr(value: number) {
    for (const g of this.paramGroups) {
      const before = g.lr;
      g.lr = value;
      try {
        this.check(g);
      } catch (err) {
        g.lr = before;
        throw err;
      }
    }
  }

  /** Disposes every parameter's gradient and sets it to null. */
  zeroGrad(): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  }

  /** Updates every parameter that has a gradient (those without one are skipped, as in PyTorch). */
  step(): void {
    const updates: { p: Tensor; grad: Tensor; state: ParamState; group: ParamGroup<H>; at: number }[] = [];
    const values: number[] = [];
    const known = new Map<string, number>();
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (!p.grad) continue;
        p.assertAlive(`${this.name}.step`);
        const grad = p.grad.assertAlive(`${this.name}.step (gradient)`);
        if (!sameShape(grad.shape, p.shape)) {
          throw new Error(`${this.name}.step: gradient shape ${fmt(grad.shape)} does not match parameter shape ${fmt(p.shape)}`);
        }
        let state = this.state.get(p);
        if (!state) {
          state = { step: 0, tensors: {} };
          this.state.set(p, state);
        }
        state.step++;
        // Parameters of one group at one step share their values.
        const scalars = this.stepScalars(state, group);
        const key = scalars.join();
        let at = known.get(key);
        if (at === undefined) {
          at = values.length;
          known.set(key, at);
          values.push(...scalars);
        }
        updates.push({ p, grad, state, group, at });
      }
    }
    if (!updates.length) return;
    const buffer = this.scalarBuffer(values);
    for (const { p, grad, state, group, at } of updates) {
      const g = grad.isContiguous ? grad : contiguous(grad);
      this.update(p, g, state, group, at, buffer);
      if (g !== grad) g.dispose();
    }
    buffer.releasedAt = flushNumber();
  }

  /** The next buffer of the ring, holding `values` (float32) by the time this step's updates run. */
  private scalarBuffer(values: number[]): Storage {
    const bytes = Math.max(16, values.length * 4);
    if (!this.ring.length || this.ring[0]!.byteSize < bytes) {
      for (const old of this.ring.splice(0)) release(old, flushNumber());
      for (let i = 0; i < RING; i++) this.ring.push(allocate(bytes));
    }
    const buffer = this.ring[this.ringNext]!;
    this.ringNext = (this.ringNext + 1) % RING;
    upload(buffer, Float32Array.from(values));
    return buffer;
  }

  /** A state tensor shaped like `param`, owned by the optimizer (it outlives any `tidy`). */
  protected stateTensor(param: Tensor, zeroed: boolean): Tensor {
    return keep(zeroed ? zeros(param.shape) : empty(param.shape, 'float32'));
  }

  /**
   * Hyper-parameters, step counts and state tensors. The tensors are new handles on the live state
   * (no copy): dispose them when done; they follow later updates, so save them before stepping again.
   */
  stateDict(): OptimizerStateDict<H> {
    const state: Record<number, ParamState> = {};
    let index = 0;
    const paramGroups = this.paramGroups.map((group) => {
      const { params, ...hyper } = group;
      const indices = params.map((p) => {
        const s = this.state.get(p);
        if (s) {
          const tensors = Object.fromEntries(Object.entries(s.tensors).map(([k, t]) => [k, t.detach()] as const));
          state[index] = { step: s.step, tensors };
        }
        return index++;
      });
      return { ...structuredClone(hyper), params: indices } as unknown as H & { params: number[] };
    });
    return { state, paramGroups };
  }

  /**
   * Restores a state dict from `stateDict()` (of an optimizer over parameters of the same shapes, in
   * the same groups). Everything is checked first; on error nothing changes. Tensors are copied in.
   */
  loadStateDict(dict: OptimizerStateDict<H>): void {
    const problems: string[] = [];
    const groups = dict.paramGroups ?? [];
    if (groups.length !== this.paramGroups.length) {
      throw new Error(`${this.name}.loadStateDict: ${groups.length} parameter groups given, this optimizer has ${this.paramGroups.length}`);
    }
    const params = this.paramGroups.flatMap((g) => g.params);
    const newHypers = this.paramGroups.map((mine, gi) => {
      const given = groups[gi]!;
      if (!Array.isArray(given.params) || given.params.length !== mine.params.length) {
        problems.push(`group ${gi} has ${given.params?.length ?? 'no'} parameters, expected ${mine.params.length}`);
      }
      const hyper = { ...mine } as ParamGroup<H>;
      for (const [k, v] of Object.entries(mine)) {
        if (k === 'params') continue;
        const g: unknown = Reflect.get(given, k);
        const sameKind = typeof g === typeof v && Array.isArray(g) === Array.isArray(v) && (!Array.isArray(v) || (g as unknown[]).length === v.length);
        if (!sameKind) problems.push(`group ${gi}: '${k}' is ${JSON.stringify(g)}, expected a value like ${JSON.stringify(v)}`);
        else Object.assign(hyper, { [k]: structuredClone(g) });
      }
      try {
        this.check(hyper);
      } catch (err) {
        problems.push(`group ${gi}: ${(err as Error).message}`);
      }
      return hyper;
    });
    const groupOf = (i: number) => {
      let at = i;
      for (const g of newHypers) {
        if (at < g.params.length) return g;
        at -= g.params.length;
      }
      return undefined;
    };
    for (const [key, s] of Object.entries(dict.state ?? {})) {
      const i = Number(key);
      const p = params[i];
      const group = groupOf(i);
      if (!Number.isInteger(i) || !p || !group) {
        problems.push(`state for parameter ${key}, which does not exist (parameters are numbered 0..${params.length - 1})`);
        continue;
      }
      if (!Number.isInteger(s.step) || s.step < 0) problems.push(`parameter ${i}: step ${s.step} is not a non-negative integer`);
      const want = [...this.stateKeys(group)].sort();
      const have = Object.keys(s.tensors ?? {}).sort();
      if (want.join() !== have.join()) problems.push(`parameter ${i}: state tensors [${have.join(', ')}], expected [${want.join(', ')}]`);
      for (const [name, t] of Object.entries(s.tensors ?? {})) {
        if (t.isDisposed) problems.push(`parameter ${i}: state '${name}' was disposed`);
        else if (!sameShape(t.shape, p.shape) || t.dtype !== 'float32') {
          problems.push(`parameter ${i}: state '${name}' is ${t.dtype} ${fmt(t.shape)}, expected float32 ${fmt(p.shape)}`);
        }
      }
    }
    if (problems.length) throw new Error(`${this.name}.loadStateDict: the state dict does not fit:\n  ${problems.join('\n  ')}`);

    this.paramGroups.forEach((g, gi) => Object.assign(g, { ...newHypers[gi], params: g.params }));
    const old = [...this.state.values()];
    this.state.clear();
    for (const [key, s] of Object.entries(dict.state ?? {})) {
      const p = params[Number(key)]!;
      const tensors = Object.fromEntries(
        Object.entries(s.tensors).map(([name, t]) => {
          const copy = this.stateTensor(p, false);
          copyInto(copy, t);
          return [name, copy] as const;
        }),
      );
      this.state.set(p, { step: s.step, tensors });
    }
    // After the copies are queued: the dict may hold handles on the state being replaced.
    for (const s of old) for (const t of Object.values(s.tensors)) t.dispose();
  }

  /** Frees the state tensors (the parameters belong to their owner). */
  dispose(): void {
    for (const s of this.state.values()) for (const t of Object.values(s.tensors)) t.dispose();
    this.state.clear();
    for (const b of this.ring.splice(0)) release(b, flushNumber());
  }
}
