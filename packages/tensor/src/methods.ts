// PyTorch-style methods on Tensor (`x.matmul(w).add(b).relu()`), each one the functional op of the
// same name. Declared by interface merging so they type-check, attached to the prototype here.
import { to } from './ops/cast.js';
import { clamp } from './ops/combine.js';
import { contiguous, copyInto } from './ops/copy.js';
import { tensor } from './ops/create.js';
import { fmt, sameShape } from './shape.js';
import * as E from './ops/elementwise.js';
import { type ReduceOptions, max, min } from './ops/reduce.js';
// The ops autocast casts, with their policies (amp/ops.ts).
import * as AC from './amp/ops.js';
import { expand, flatten, permute, reshape, slice, squeeze, transpose, unsqueeze } from './ops/view.js';
import type { DType } from './dtype.js';
import { Tensor } from './tensor.js';

type Operand = Tensor | number;
type Axes = number | number[];

declare module './tensor.js' {
  // The type parameter must match the class's for the declarations to merge.
  interface Tensor<D extends DType = DType> {
    add(other: Operand): Tensor;
    sub(other: Operand): Tensor;
    mul(other: Operand): Tensor;
    div(other: Operand): Tensor;
    pow(exponent: Operand): Tensor;
    neg(): Tensor;
    abs(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    relu(): Tensor;
    gelu(): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;
    clamp(min?: number, max?: number): Tensor;
    sum(axis?: Axes, options?: ReduceOptions): Tensor;
    mean(axis?: Axes, options?: ReduceOptions): Tensor;
    max(axis?: Axes, options?: ReduceOptions): Tensor;
    min(axis?: Axes, options?: ReduceOptions): Tensor;
    matmul(other: Tensor): Tensor;
    reshape(shape: readonly number[]): Tensor;
    flatten(startAxis?: number, endAxis?: number): Tensor;
    permute(dims: readonly number[]): Tensor;
    transpose(dim0?: number, dim1?: number): Tensor;
    expand(shape: readonly number[]): Tensor;
    slice(axis: number, start: number, end?: number): Tensor;
    squeeze(axis?: number): Tensor;
    unsqueeze(axis: number): Tensor;
    contiguous(): Tensor;
    /** A copy in another dtype (float32 <-> float16; `torch.Tensor.to(dtype)`), or this tensor when it has it. */
    to<E extends DType>(dtype: E): Tensor<E>;
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
    /**
     * Writes `src` (a tensor of the same shape, or host values in row-major order) into this tensor's
     * elements, in place, outside autograd (`torch.Tensor.copy_`); returns this tensor. How new data
     * reaches a captured graph's inputs (captureGraph).
     */
    copy_(src: Tensor | ArrayLike<number>): this;
  }
}

const methods: Record<string, (this: Tensor, ...args: never[]) => Tensor> = {
  add(this: Tensor, o: Operand) { return AC.add(this, o); },
  sub(this: Tensor, o: Operand) { return AC.sub(this, o); },
  mul(this: Tensor, o: Operand) { return AC.mul(this, o); },
  div(this: Tensor, o: Operand) { return AC.div(this, o); },
  pow(this: Tensor, o: Operand) { return AC.pow(this, o); },
  neg(this: Tensor) { return E.neg(this); },
  abs(this: Tensor) { return E.abs(this); },
  exp(this: Tensor) { return AC.exp(this); },
  log(this: Tensor) { return AC.log(this); },
  sqrt(this: Tensor) { return E.sqrt(this); },
  relu(this: Tensor) { return E.relu(this); },
  gelu(this: Tensor) { return E.gelu(this); },
  sigmoid(this: Tensor) { return E.sigmoid(this); },
  tanh(this: Tensor) { return E.tanh(this); },
  clamp(this: Tensor, lo?: number, hi?: number) { return clamp(this, lo, hi); },
  sum(this: Tensor, axis?: Axes, o?: ReduceOptions) { return AC.sum(this, axis, o); },
  mean(this: Tensor, axis?: Axes, o?: ReduceOptions) { return AC.mean(this, axis, o); },
  max(this: Tensor, axis?: Axes, o?: ReduceOptions) { return max(this, axis, o); },
  min(this: Tensor, axis?: Axes, o?: ReduceOptions) { return min(this, axis, o); },
  matmul(this: Tensor, o: Tensor) { return AC.matmul(this, o); },
  reshape(this: Tensor, shape: readonly number[]) { return reshape(this, shape); },
  flatten(this: Tensor, s?: number, e?: number) { return flatten(this, s, e); },
  permute(this: Tensor, dims: readonly number[]) { return permute(this, dims); },
  transpose(this: Tensor, a?: number, b?: number) { return transpose(this, a, b); },
  expand(this: Tensor, shape: readonly number[]) { return expand(this, shape); },
  slice(this: Tensor, axis: number, start: number, end?: number) { return slice(this, axis, start, end); },
  squeeze(this: Tensor, axis?: number) { return squeeze(this, axis); },
  unsqueeze(this: Tensor, axis: number) { return unsqueeze(this, axis); },
  contiguous(this: Tensor) { return contiguous(this); },
  to(this: Tensor, dtype: DType) { return to(this, dtype); },
  softmax(this: Tensor, axis?: number) { return AC.softmax(this, axis); },
  logSoftmax(this: Tensor, axis?: number) { return AC.logSoftmax(this, axis); },
};
Object.assign(Tensor.prototype, methods);

Tensor.prototype.copy_ = function copy_<T extends Tensor>(this: T, src: Tensor | ArrayLike<number>): T {
  this.assertAlive('copy_');
  if (this.gradFn) throw new Error(`copy_: the ${fmt(this.shape)} tensor is the result of an op that autograd records; write into a leaf or a detached tensor`);
  if (src instanceof Tensor) {
    src.assertAlive('copy_');
    if (!sameShape(src.shape, this.shape)) throw new Error(`copy_: source shape ${fmt(src.shape)} differs from ${fmt(this.shape)}`);
    const same = src.dtype === this.dtype ? src : to(src, this.dtype);
    copyInto(this, same);
    if (same !== src) same.dispose();
    return this;
  }
  if (src.length !== this.size) throw new Error(`copy_: ${src.length} values for a ${fmt(this.shape)} tensor (${this.size} elements)`);
  // Through a fresh tensor and a GPU copy: a direct upload could overtake queued work still reading this one.
  const staged = tensor(src as Float32Array, this.shape, { dtype: this.dtype });
  copyInto(this, staged);
  staged.dispose();
  return this;
};
