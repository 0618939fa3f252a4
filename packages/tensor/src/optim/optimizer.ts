// The optimizer base: parameter groups with their hyper-parameters, per-parameter state (step count and
// state tensors), zeroGrad / step, and state dicts. Subclasses encode a step's fused GPU updates (Adam
// many parameters per dispatch, binding storages: see Module.flattenParameters; SGD one per parameter).
//
// Parameters are updated in place, so they must be contiguous (a view with an offset is fine: kernels
// add `offset`). Gradients may be any strided view: a non-contiguous one is copied first.
import { type Storage, allocate, release } from '../runtime/pool.js';
import { capturing, flushNumber, hostStep, upload } from '../runtime/queue.js';
import { keep } from '../scope.js';
import { contiguous, copyInto } from '../ops/copy.js';
import { contiguousStrides, fmt, sameShape } from '../shape.js';
import { zeros } from '../ops/create.js';
import { type Tensor, empty } from '../tensor.js';

const RING = 3;

/** A group's hyper-parameters but lr, as the update kernels' uniforms take them (fixed in a captured step). */
const uniformHyper = (g: Hyper & { params: Tensor[] }) => JSON.stringify(Object.entries(g).filter(([k]) => k !== 'lr' && k !== 'params'));

/** One parameter's update in a step. */
export interface Update<H extends Hyper> {
  p: Tensor;
  /** Contiguous (a view with an offset is fine). */
  grad: Tensor;
  state: ParamState;
  group: ParamGroup<H>;
  /** Where this update's per-step values start in the step's scalar buffer. */
  at: number;
}

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
   * Encodes the updates of one step; each `state.step` already counts its update, and `at` is where
   * its per-step values (from `stepScalars`) start in `scalars`.
   */
  protected abstract encode(updates: readonly Update<H>[], scalars: Storage): void;

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

  /** Whether every parameter that has a gradient now has its state (made at its first update), as a captured step needs. */
  stateReady(): boolean {
    return this.paramGroups.every((g) => g.params.every((p) => !p.grad || this.state.has(p)));
  }

  /** Updates every parameter that has a gradient (those without one are skipped, as in PyTorch). */
  step(): void {
    // Checked before any step is counted: a replay would make the state again, zeros and all.
    if (capturing() && !this.stateReady()) {
      const p = this.paramGroups.flatMap((g) => g.params).find((q) => q.grad && !this.state.has(q))!;
      throw new Error(`${this.name}.step: a ${fmt(p.shape)} parameter's state would be made inside captureGraph, and every replay would make it again; run one step before capturing`);
    }
    const updates: Update<H>[] = [];
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
        // The update kernels read float32 gradients: autocast's casts send float32 ones to float32 weights.
        if (grad.dtype !== 'float32') throw new Error(`${this.name}.step: the gradient of a ${fmt(p.shape)} parameter is ${grad.dtype}, not float32`);
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
    const buffer = this.scalarBuffer(values.length);
    // A captured step's values are made again at each replay, which counts the step as this call did
    // (the hyper-parameters the kernels took as uniforms are noted only then, to be checked).
    let first = true;
    const hyper = capturing() ? this.paramGroups.map(uniformHyper) : [];
    hostStep(() => {
      upload(buffer, Float32Array.from(first ? values : this.replayValues(updates, values.length, hyper)));
      first = false;
    });
    const ready = updates.map((u) => ({ ...u, grad: u.grad.isContiguous ? u.grad : contiguous(u.grad) }));
    this.encode(ready, buffer);
    ready.forEach((u, i) => u.grad !== updates[i]!.grad && u.grad.dispose());
    buffer.releasedAt = flushNumber();
  }

  /** A replayed step: each update counted, its values made again where the captured step put them. */
  private replayValues(updates: readonly Update<H>[], length: number, hyper: readonly string[]): number[] {
    this.paramGroups.forEach((g, i) => {
      if (uniformHyper(g) !== hyper[i]) {
        throw new Error(`${this.name}: group ${i}'s hyper-parameters other than lr changed after captureGraph (${hyper[i]} -> ${uniformHyper(g)}); a replay keeps them as captured`);
      }
    });
    const values = new Array<number>(length);
    for (const u of updates) {
      u.state.step++;
      this.stepScalars(u.state, u.group).forEach((v, k) => {
        const at = u.at + k;
        if (values[at] !== undefined && values[at] !== v) throw new Error(`${this.name}: parameters that shared their per-step values at capture differ at replay`);
        values[at] = v;
      });
    }
    return values;
  }

  /** The next buffer of the ring, written with this step's values before its updates run. */
  private scalarBuffer(length: number): Storage {
    const bytes = Math.max(16, length * 4);
    if (!this.ring.length || this.ring[0]!.byteSize < bytes) {
      for (const old of this.ring.splice(0)) release(old, flushNumber());
      for (let i = 0; i < RING; i++) this.ring.push(allocate(bytes));
    }
    const buffer = this.ring[this.ringNext]!;
    this.ringNext = (this.ringNext + 1) % RING;
    return buffer;
  }

  /**
   * State tensor `key` of `param`, zero at first, owned by the optimizer (it outlives any `tidy`). All
   * state lives in one buffer (the arena): a region per key (its `stride` elements apart), in each the
   * same offset per parameter, a multiple of 4 elements. So a fused update binds one buffer for all of
   * a step's state, and finds key k of a parameter k strides past its first key.
   */
  protected stateTensor(param: Tensor, key: string): Tensor {
    if (!this.arena) {
      const keys = [...new Set(this.paramGroups.flatMap((g) => [...this.stateKeys(g)]))];
      const offsets = new Map<Tensor, number>();
      let stride = 0;
      for (const g of this.paramGroups) {
        for (const p of g.params) {
          offsets.set(p, stride);
          stride += Math.ceil(p.size / 4) * 4;
        }
      }
      this.arena = { flat: keep(zeros([keys.length * stride])), offsets, stride, keys };
    }
    const { flat, offsets, stride, keys } = this.arena;
    if (!keys.includes(key)) throw new Error(`${this.name}: no state '${key}' (its state: ${keys.join(', ')})`);
    return keep(flat.view(param.shape, contiguousStrides(param.shape), keys.indexOf(key) * stride + offsets.get(param)!));
  }

  /** The state's elements per key: key k of a parameter is k times this past its first (see stateTensor). */
  protected get stateStride(): number {
    return this.arena?.stride ?? 0;
  }

  private arena: { flat: Tensor; offsets: Map<Tensor, number>; stride: number; keys: string[] } | null = null;

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
    // The dict may hold handles on this optimizer's own arenas (its own stateDict): those are read
    // into copies first, before any state is overwritten (and a buffer can't be copied onto itself).
    const ownBuffers = new Set(this.arena ? [this.arena.flat.storage] : []);
    const clones: Tensor[] = [];
    const entries = Object.entries(dict.state ?? {}).map(([key, s]) => {
      const tensors = Object.entries(s.tensors).map(([name, t]) => {
        if (!ownBuffers.has(t.storage)) return [name, t] as const;
        const c = empty(t.shape, 'float32');
        copyInto(c, t);
        clones.push(c);
        return [name, c] as const;
      });
      return { p: params[Number(key)]!, step: s.step, tensors };
    });
    const old = [...this.state.values()];
    this.state.clear();
    for (const { p, step, tensors } of entries) {
      const loaded = tensors.map(([name, t]) => {
        const into = this.stateTensor(p, name);
        copyInto(into, t);
        return [name, into] as const;
      });
      this.state.set(p, { step, tensors: Object.fromEntries(loaded) });
    }
    for (const c of clones) c.dispose();
    for (const s of old) for (const t of Object.values(s.tensors)) t.dispose();
  }

  /** Frees the state tensors (the parameters belong to their owner). */
  dispose(): void {
    for (const s of this.state.values()) for (const t of Object.values(s.tensors)) t.dispose();
    this.state.clear();
    this.arena?.flat.dispose();
    this.arena = null;
    for (const b of this.ring.splice(0)) release(b, flushNumber());
  }
}
