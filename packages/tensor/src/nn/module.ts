// Module: the base of layers and models, as torch.nn.Module. A module registers its parameters,
// buffers and submodules by name; names join with dots into state-dict keys ("layers.0.weight").
//
//   class Block extends Module {
//     readonly fc = this.registerModule('fc', new Linear(4, 4));
//     forward(x: Tensor) { return gelu(this.fc.forward(x)); }
//   }
//
// Parameters and buffers are owned by the module: `keep` takes them out of any enclosing `tidy`, and
// `dispose()` frees them.
import { noGrad } from '../autograd.js';
import { getDevice } from '../device.js';
import { type DType, checkDType, dtypes } from '../dtype.js';
import { to } from '../ops/cast.js';
import { copyInto } from '../ops/copy.js';
import { keep } from '../scope.js';
import { contiguousStrides, fmt, sameShape } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';

/** Any module, whatever its forward signature. */
export type AnyModule = Module<never[], unknown>;

export interface LoadResult {
  /** Keys the module has but the dict lacks (only possible with strict: false). */
  missingKeys: string[];
  /** Keys the dict has but the module lacks (only possible with strict: false). */
  unexpectedKeys: string[];
}

export abstract class Module<In extends unknown[] = [Tensor], Out = Tensor> {
  /** Whether the module is in training mode (dropout active); set with `train()` / `eval()`. */
  training = true;
  readonly #parameters = new Map<string, Tensor>();
  readonly #buffers = new Map<string, Tensor>();
  readonly #children = new Map<string, AnyModule>();

  abstract forward(...args: In): Out;

  #checkName(kind: string, name: string): void {
    if (!name || name.includes('.')) throw new Error(`${this.constructor.name}.${kind}: name '${name}' must be non-empty and contain no '.'`);
    if (this.#parameters.has(name) || this.#buffers.has(name) || this.#children.has(name)) {
      throw new Error(`${this.constructor.name}.${kind}: '${name}' is already registered`);
    }
  }

  /** Makes `t` a parameter (sets requiresGrad; the module owns it). Returns it, for `this.weight = ...`. */
  registerParameter(name: string, t: Tensor): Tensor {
    this.#checkName('registerParameter', name);
    t.assertAlive('registerParameter');
    if (t.gradFn) throw new Error(`registerParameter: '${name}' is the result of an op that autograd tracks; pass a leaf (detach() it)`);
    if (t.dtype !== 'float32') throw new Error(`registerParameter: '${name}' is ${t.dtype}; parameters are float32`);
    t.requiresGrad = true;
    this.#parameters.set(name, keep(t));
    return t;
  }

  /** Registers state that is saved and loaded but not trained (e.g. running statistics). Returns it. */
  registerBuffer(name: string, t: Tensor): Tensor {
    this.#checkName('registerBuffer', name);
    this.#buffers.set(name, keep(t.assertAlive('registerBuffer')));
    return t;
  }

  /** Registers a submodule. Returns it, for `readonly fc = this.registerModule('fc', new Linear(...))`. */
  registerModule<M extends AnyModule>(name: string, module: M): M {
    this.#checkName('registerModule', name);
    this.#children.set(name, module);
    return module;
  }

  namedChildren(): [string, AnyModule][] {
    return [...this.#children];
  }

  children(): AnyModule[] {
    return [...this.#children.values()];
  }

  /** This module (named `prefix`, '' by default) and every submodule below it, depth first, with dotted names. */
  namedModules(prefix = ''): [string, AnyModule][] {
    const out: [string, AnyModule][] = [[prefix, this as AnyModule]];
    for (const [name, child] of this.#children) out.push(...child.namedModules(join(prefix, name)));
    return out;
  }

  /** Parameters with dotted names, module by module (own ones first, then submodules'); a shared one appears once. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [at, m] of this.namedModules(prefix)) {
      for (const [name, t] of m.#parameters) {
        if (!seen.has(t)) out.push([join(at, name), t]);
        seen.add(t);
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    return this.namedModules(prefix).flatMap(([at, m]) => [...m.#buffers].map(([name, t]): [string, Tensor] => [join(at, name), t]));
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  /** Every parameter and buffer by key, in PyTorch's state-dict order: per module, parameters then buffers. */
  #namedState(): [string, Tensor][] {
    return this.namedModules().flatMap(([at, m]) =>
      [...m.#parameters, ...m.#buffers].map(([name, t]): [string, Tensor] => [join(at, name), t]),
    );
  }

  /**
   * Parameters and buffers by dotted key. The tensors are new handles on the module's memory (no copy,
   * no autograd): dispose them when done (a `tidy` does); they follow later training steps.
   */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.#namedState().map(([k, t]) => [k, t.detach()] as const));
  }

  /**
   * Copies values from `dict` into this module's parameters and buffers, float16 and float32 converted to
   * the module's dtype (as PyTorch's `copy_`: f16 weights load into an f32 model). Everything is checked first:
   * missing keys, unexpected keys (both allowed with strict: false) and shape / dtype mismatches are
   * reported together in one error, and then nothing has been changed.
   */
  loadStateDict(dict: Record<string, Tensor>, options: { strict?: boolean } = {}): LoadResult {
    const strict = options.strict ?? true;
    const own = this.#namedState();
    const ownKeys = new Set(own.map(([k]) => k));
    const has = (k: string) => Object.prototype.hasOwnProperty.call(dict, k);
    const missingKeys = own.map(([k]) => k).filter((k) => !has(k));
    const unexpectedKeys = Object.keys(dict).filter((k) => !ownKeys.has(k));
    const mismatched: string[] = [];
    for (const [k, t] of own) {
      if (!has(k)) continue;
      const v = dict[k]!;
      if (typeof v?.assertAlive !== 'function') mismatched.push(`${k}: not a Tensor`);
      else if (v.isDisposed) mismatched.push(`${k}: the tensor in the dict was disposed`);
      else if (!sameShape(v.shape, t.shape) || (v.dtype !== t.dtype && (v.dtype === 'int32' || t.dtype === 'int32'))) {
        mismatched.push(`${k}: ${v.dtype} ${fmt(v.shape)} in the dict, ${t.dtype} ${fmt(t.shape)} in the module`);
      }
    }
    const problems = [
      ...(strict && missingKeys.length ? [`missing keys: ${missingKeys.join(', ')}`] : []),
      ...(strict && unexpectedKeys.length ? [`unexpected keys: ${unexpectedKeys.join(', ')}`] : []),
      ...(mismatched.length ? [`mismatched: ${mismatched.join('; ')}`] : []),
    ];
    if (problems.length) {
      throw new Error(`${this.constructor.name}.loadStateDict: the state dict does not fit (nothing was loaded):\n  ${problems.join('\n  ')}`);
    }
    for (const [k, t] of own) if (has(k)) copyValues(t, dict[k]!);
    return { missingKeys, unexpectedKeys };
  }

  /**
   * Converts every float parameter and buffer, here and in submodules, to `dtype` in place
   * (`model.to(torch.float16)`): the layers keep their tensors, which now hold converted elements;
   * gradients are dropped; int32 buffers stay. Batch norm's weight, bias and running statistics convert
   * too (its kernel computes the statistics in f32 from float16 ones, as PyTorch's `model.half()`). For
   * inference: optimizers take float32 parameters (mixed-precision training keeps them float32 under
   * `autocast` instead).
   */
  to(dtype: Extract<DType, 'float16' | 'float32'>): this {
    checkDType(`${this.constructor.name}.to`, dtype);
    if (dtype !== 'float16' && dtype !== 'float32') throw new Error(`${this.constructor.name}.to: converts to float16 or float32, not ${dtype}`);
    noGrad(() => {
      for (const [, t] of this.#namedState()) if (t.dtype !== 'int32' && t.dtype !== dtype) t.replaceData(to(t, dtype));
    });
    return this;
  }

  /**
   * Moves every parameter, here and in submodules, into one GPU buffer per dtype (PyTorch's
   * `RNN.flatten_parameters()`, FSDP's flat parameter): each parameter becomes a contiguous view at an
   * offset that is a multiple of 4 elements (vec4 paths need it), in module order. The parameter objects
   * stay the same (`replaceData`) and hold the same values; their gradients are dropped, and views taken
   * of them earlier keep the old memory. A model larger than one storage binding may hold
   * (maxStorageBufferBindingSize) gets several buffers. Why: an optimizer binds storages, not
   * parameters, so Adam then updates many parameters per dispatch. Idempotent. Every kernel reads its
   * parameters at their offsets (train/test/flatten.train.test.ts: a model trains bit for bit the same).
   */
  flattenParameters(): this {
    const { limits } = getDevice().info;
    const maxBytes = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    const byDtype = new Map<DType, Tensor[]>();
    for (const p of this.parameters()) byDtype.set(p.dtype, [...(byDtype.get(p.dtype) ?? []), p]);
    noGrad(() => {
      for (const [dtype, params] of byDtype) {
        const maxElements = Math.floor(maxBytes / dtypes[dtype].bytes / 4) * 4;
        // Chunks of parameters, each with its offsets: a new chunk where the next would pass maxElements.
        const chunks: { params: Tensor[]; offsets: number[]; size: number }[] = [];
        for (const p of params) {
          let chunk = chunks.at(-1);
          if (!chunk || chunk.size + p.size > maxElements) chunks.push((chunk = { params: [], offsets: [], size: 0 }));
          chunk.params.push(p);
          chunk.offsets.push(chunk.size);
          chunk.size += Math.ceil(p.size / 4) * 4;
        }
        for (const { params: ps, offsets, size } of chunks) {
          const flat = ps.every((p, i) => p.storage === ps[0]!.storage && p.offset === offsets[i] && p.isContiguous);
          if (flat) continue;
          const buffer = empty([size], dtype);
          ps.forEach((p, i) => {
            const view = buffer.view(p.shape, contiguousStrides(p.shape), offsets[i]!);
            copyInto(view, p);
            p.replaceData(view);
          });
          buffer.dispose();
        }
      }
    });
    return this;
  }

  /** Sets training mode here and in every submodule. */
  train(mode = true): this {
    this.training = mode;
    for (const child of this.#children.values()) child.train(mode);
    return this;
  }

  /** Evaluation mode: `train(false)`. */
  eval(): this {
    return this.train(false);
  }

  /** Disposes every parameter's gradient (optimizers have `zeroGrad` too). */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Frees every parameter and buffer, here and in submodules. */
  dispose(): void {
    for (const [, t] of this.#namedState()) t.dispose();
  }
}

const join = (prefix: string, name: string) => (prefix ? `${prefix}.${name}` : name);

/** dst <- src on the GPU. A dict may hold handles on dst's own memory (from stateDict()): a copy then reads what it writes. */
function copyValues(dst: Tensor, src: Tensor): void {
  if (src.dtype !== dst.dtype) {
    const converted = noGrad(() => to(src, dst.dtype));
    copyInto(dst, converted);
    converted.dispose();
    return;
  }
  if (src.storage !== dst.storage) {
    copyInto(dst, src);
    return;
  }
  if (src.offset === dst.offset && sameShape(src.strides, dst.strides)) return;
  const tmp = empty(src.shape, src.dtype);
  copyInto(tmp, src);
  copyInto(dst, tmp);
  tmp.dispose();
}
