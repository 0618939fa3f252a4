// Tensor: a strided view (shape, strides, offset) of a GPU buffer, plus what autograd needs.
import type { Node } from './autograd.js';
import { backward as runBackward } from './autograd.js';
import { type DType, type TypedArrayFor, dtypes } from './dtype.js';
import { getDevice } from './device.js';
import { contiguous } from './ops/copy.js';
import { type Storage, allocate, release } from './runtime/pool.js';
import { flushNumber, readback } from './runtime/queue.js';
import { track, untrack } from './scope.js';
import { type Shape, contiguousStrides, fmt, sizeOf } from './shape.js';

export class Tensor<D extends DType = DType> {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  /** Offset of element [0, 0, ...] in the buffer, in elements. */
  readonly offset: number;
  readonly dtype: D;
  /** Set on a leaf to ask for its gradient in `.grad`; true on results of ops on such tensors. */
  requiresGrad = false;
  /** The accumulated gradient after `backward()`; null before. */
  grad: Tensor<'float32'> | null = null;
  /** @internal The autograd node that produced this tensor. */
  gradFn: Node | null = null;
  /** @internal */
  storage: Storage;
  #disposed = false;

  /** @internal Use the creation functions (`tensor`, `zeros`, ...) instead. */
  constructor(storage: Storage, shape: Shape, strides: Shape, offset: number, dtype: D, tracked = true) {
    this.storage = storage;
    this.shape = shape;
    this.strides = strides;
    this.offset = offset;
    this.dtype = dtype;
    // Internal handles (autograd's saved tensors) count as live but belong to no tidy scope.
    track(this, tracked);
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.#disposed;
  }

  /** True when the elements are laid out row-major with no gaps from `offset`. */
  get isContiguous(): boolean {
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expected) return false;
      expected *= this.shape[i]!;
    }
    return true;
  }

  /** @internal Throws, naming the op, if this tensor can no longer be used. */
  assertAlive(op: string): this {
    if (this.#disposed) throw new Error(`${op}: a tensor of shape ${fmt(this.shape)} was used after dispose()`);
    return this;
  }

  /** Reads the elements back, row-major. Waits for all queued GPU work. */
  async data(): Promise<TypedArrayFor<D>> {
    this.assertAlive('data');
    const src: Tensor = this.isContiguous ? this : contiguous(this);
    try {
      const bytes = await readback(src.storage, src.offset * 4, src.size * 4);
      return new dtypes[this.dtype].array(bytes) as TypedArrayFor<D>;
    } finally {
      if (src !== this) src.dispose();
    }
  }

  /** The single element of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item: tensor of shape ${fmt(this.shape)} has ${this.size} elements, not 1`);
    return (await this.data())[0]!;
  }

  /** Frees this handle; the buffer returns to the pool once no view or autograd graph uses it. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    untrack();
    release(this.storage, flushNumber());
    this.grad?.dispose();
    this.grad = null;
    this.gradFn?.unref();
    this.gradFn = null;
  }

  /** Computes gradients of this tensor with respect to every leaf that requires them. */
  backward(grad?: Tensor, options: { retainGraph?: boolean } = {}): void {
    runBackward(this, grad, options.retainGraph ?? false);
  }

  /** @internal A new handle on the same elements (shared buffer), with its own shape and strides. */
  view<E extends DType = D>(shape: Shape, strides: Shape, offset: number, tracked = true, dtype?: E): Tensor<E> {
    this.assertAlive('view');
    this.storage.refs++;
    return new Tensor(this.storage, shape, strides, offset, (dtype ?? this.dtype) as E, tracked);
  }

  /** A handle on the same elements that autograd does not follow. */
  detach(): Tensor<D> {
    return this.view(this.shape, this.strides, this.offset);
  }

  toString(): string {
    return `Tensor(${fmt(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

/** @internal A fresh, uninitialised contiguous tensor. */
export function empty<D extends DType = 'float32'>(shape: Shape, dtype: D = 'float32' as D): Tensor<D> {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`empty: invalid shape ${fmt(shape)}`);
  }
  getDevice();
  const storage = allocate(Math.max(sizeOf(shape), 1) * dtypes[dtype].bytes, `a ${dtype} ${fmt(shape)} tensor`);
  return new Tensor(storage, [...shape], contiguousStrides(shape), 0, dtype);
}
