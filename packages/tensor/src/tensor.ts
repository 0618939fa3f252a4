// Tensor: a strided view (shape, strides, offset) of a GPU buffer, plus what autograd needs.
import type { Node } from './autograd.js';
import { backward as runBackward } from './autograd.js';
import { type DType, type RawArrayFor, type TypedArrayFor, checkDType, dtypes } from './dtype.js';
import { getDevice } from './device.js';
import { fromHalves } from './io/half.js';
import { copyInto } from './ops/copy.js';
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

  /** Reads the elements back, row-major, float16 widened to float32 (exactly). Waits for all queued GPU work. */
  async data(): Promise<TypedArrayFor<D>> {
    const raw = await this.#readRaw('data');
    return (raw instanceof Uint16Array ? fromHalves(raw) : raw) as TypedArrayFor<D>;
  }

  /**
   * Reads the elements back as stored: for float16 the bits of each half in a Uint16Array (as
   * `x.view(torch.int16)` or numpy's `.view(np.uint16)` would show them); for other dtypes as `data()`.
   */
  async rawData(): Promise<RawArrayFor<D>> {
    return (await this.#readRaw('rawData')) as RawArrayFor<D>;
  }

  async #readRaw(op: string): Promise<Float32Array | Int32Array | Uint16Array> {
    this.assertAlive(op);
    const { bytes } = dtypes[this.dtype];
    // Buffer copies move whole 4-byte words from 4-byte offsets: a float16 view at an odd offset is
    // copied to offset 0 first, and the word holding the last half is read whole and cut off here.
    const aligned = (this.offset * bytes) % 4 === 0;
    let src: Tensor = this;
    if (!this.isContiguous || !aligned) {
      src = empty(this.shape, this.dtype);
      copyInto(src, this);
    }
    try {
      const buffer = await readback(src.storage, src.offset * bytes, Math.ceil((src.size * bytes) / 4) * 4);
      if (this.dtype === 'float16') return new Uint16Array(buffer, 0, src.size);
      return this.dtype === 'int32' ? new Int32Array(buffer) : new Float32Array(buffer);
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

  /**
   * @internal A new handle on the same elements (shared buffer), with its own shape and strides, and
   * optionally read as another dtype of the same element size (offsets and strides count elements).
   */
  view<E extends DType = D>(shape: Shape, strides: Shape, offset: number, tracked = true, dtype?: E): Tensor<E> {
    this.assertAlive('view');
    if (dtype && dtypes[dtype].bytes !== dtypes[this.dtype].bytes) throw new Error(`view: cannot read ${this.dtype} elements as ${dtype}`);
    this.storage.refs++;
    return new Tensor(this.storage, shape, strides, offset, (dtype ?? this.dtype) as E, tracked);
  }

  /**
   * @internal Makes this handle hold `src`'s elements, shape and dtype instead of its own, and disposes
   * src (PyTorch's `param.data = param.data.half()`): `Module.to` converts parameters that layers hold
   * by reference. The gradient is dropped.
   */
  replaceData(src: Tensor): void {
    this.assertAlive('replaceData');
    src.assertAlive('replaceData');
    src.storage.refs++;
    release(this.storage, flushNumber());
    Object.assign(this, { storage: src.storage, shape: src.shape, strides: src.strides, offset: src.offset, dtype: src.dtype });
    this.grad?.dispose();
    this.grad = null;
    src.dispose();
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
  checkDType('empty', dtype);
  // WebGPU copies and writes whole 4-byte words: round float16 storage up to one.
  const bytes = Math.ceil((Math.max(sizeOf(shape), 1) * dtypes[dtype].bytes) / 4) * 4;
  const storage = allocate(bytes, () => `a ${dtype} ${fmt(shape)} tensor`);
  return new Tensor(storage, [...shape], contiguousStrides(shape), 0, dtype);
}
