// Creating tensors: from host values, constants, ranges, and seeded random numbers (made on the host,
// the same bits on every adapter: see runtime/random.ts).
import { type DType, type DTypeInfo, checkDType, dtypes } from '../dtype.js';
import { numberToHalf, toHalves } from '../io/half.js';
import { linearEntry } from '../runtime/pipelines.js';
import { fillNormal, fillUniform } from '../runtime/random.js';
import type { Storage } from '../runtime/pool.js';
import { dispatch, grid, hostStep, upload } from '../runtime/queue.js';
import { uniforms } from '../runtime/uniforms.js';
import { type Shape, fmt, sizeOf } from '../shape.js';
import { type Tensor, empty } from '../tensor.js';

const WG = 256;

export interface CreateOptions<D extends DType = DType> {
  dtype?: D;
  requiresGrad?: boolean;
}

type Nested = number | readonly Nested[];

function flattenNested(values: Nested, shape: number[], out: number[], depth: number): void {
  if (typeof values === 'number') {
    if (depth !== shape.length) throw new Error('tensor: ragged nested array');
    out.push(values);
    return;
  }
  if (depth === shape.length) shape.push(values.length);
  else if (shape[depth] !== values.length) throw new Error('tensor: ragged nested array');
  for (const v of values) flattenNested(v, shape, out, depth + 1);
}

/** The host array that holds `flat` as `dtype` stores it (float16 as the bits of each half). */
function hostArray(dtype: DType, flat: ArrayLike<number>): Float32Array | Int32Array | Uint16Array {
  if (dtype === 'float16') return flat instanceof Uint16Array ? flat : toHalves(flat);
  const Typed = dtype === 'int32' ? Int32Array : Float32Array;
  return flat instanceof Typed ? flat : Typed.from(flat);
}

/**
 * A tensor from host values: a flat array or typed array with an explicit shape, or nested arrays
 * whose shape is inferred. Int32Array values default to int32, a Uint16Array (the bits of float16
 * values, as `rawData()` gives them) to float16, everything else to float32. Numbers become float16
 * rounded to nearest, ties to even (as numpy's `np.float16`).
 */
export function tensor<D extends DType = 'float32'>(
  values: Nested | Float32Array | Int32Array | Uint16Array | readonly number[],
  shape?: Shape,
  options: CreateOptions<D> = {},
): Tensor<D> {
  let flat: ArrayLike<number>;
  let inferred: number[];
  if (ArrayBuffer.isView(values)) {
    flat = values;
    inferred = [values.length];
  } else {
    inferred = [];
    const out: number[] = [];
    flattenNested(values as Nested, inferred, out, 0);
    flat = out;
  }
  const byDefault = values instanceof Int32Array ? 'int32' : values instanceof Uint16Array ? 'float16' : 'float32';
  const dtype = checkDType('tensor', options.dtype ?? byDefault) as D;
  if (values instanceof Uint16Array && dtype !== 'float16') {
    throw new Error(`tensor: a Uint16Array holds float16 bits, but dtype is ${dtype} (convert with .to('${dtype}') after creating it)`);
  }
  const finalShape = shape ? [...shape] : inferred;
  if (sizeOf(finalShape) !== flat.length) {
    throw new Error(`tensor: ${flat.length} values do not fill shape ${fmt(finalShape)} (${sizeOf(finalShape)} elements)`);
  }
  const t = empty(finalShape, dtype);
  write(t.storage, dtype, flat);
  t.requiresGrad = options.requiresGrad ?? false;
  return t;
}

/** Uploads `flat` into a storage as `dtype` stores it. */
function write(storage: Storage, dtype: DType, flat: ArrayLike<number>): void {
  let data = hostArray(dtype, flat);
  // writeBuffer takes whole 4-byte words: an odd number of halves gets one more (the storage has room).
  if (data instanceof Uint16Array && data.length % 2) {
    const padded = new Uint16Array(data.length + 1);
    padded.set(data);
    data = padded;
  }
  if (data.length) upload(storage, data);
}

/**
 * A tensor of the values `fill()` makes on the host: now, and again at this point of each replay when
 * a graph is being captured (captureGraph). Outside a capture it is `tensor(fill(), shape, options)`.
 * For host-drawn data that changes from step to step, such as masks or kept token indices.
 */
export function hostTensor<D extends DType = 'float32'>(fill: () => ArrayLike<number>, shape: Shape, options: CreateOptions<D> = {}): Tensor<D> {
  const dtype = checkDType('hostTensor', options.dtype ?? 'float32') as D;
  const t = empty(shape, dtype);
  const [storage, size] = [t.storage, t.size];
  hostStep(() => {
    const flat = fill();
    if (flat.length !== size) throw new Error(`hostTensor: fill() made ${flat.length} values for shape ${fmt(shape)} (${size} elements)`);
    write(storage, dtype, flat);
  });
  t.requiresGrad = options.requiresGrad ?? false;
  return t;
}

// O[i] = start + i * step, in the tensor's type. float16 constants arrive as their bits, rounded on the
// host (WGSL leaves f32 -> f16 rounding and overflow to the implementation), and are read back out of
// the word as a vec2<f16> (a float16 fill has step 0: ranges are rounded on the host).
const FILL = {
  f32: uniforms({ n: 'u32', start: 'f32', step: 'f32' }),
  i32: uniforms({ n: 'u32', start: 'i32', step: 'i32' }),
  f16: uniforms({ n: 'u32', start: 'u32', step: 'u32' }),
};

function fillKernel(T: DTypeInfo['wgsl']) {
  const value = T === 'f16' ? 'bitcast<vec2<f16>>(u.start).x' : `u.start + ${T}(i) * u.step`;
  return {
    name: 'fill',
    key: T,
    uniforms: FILL[T],
    bindings: [{ name: 'O', type: T, access: 'read_write' as const }],
    body: () => `
${linearEntry(WG, 'i', 'u.n')}
  O[i] = ${value};
}`,
  };
}

function filled<D extends DType>(op: string, shape: Shape, start: number, step: number, options: CreateOptions<D>): Tensor<D> {
  const dtype = checkDType(op, options.dtype ?? 'float32') as D;
  // A float16 range is rounded on the host, value by value, like tensor() rounds.
  if (dtype === 'float16' && step !== 0) {
    return tensor(Array.from({ length: sizeOf(shape) }, (_, i) => start + i * step), shape, options);
  }
  const t = empty(shape, dtype);
  const n = t.size;
  const T = dtypes[dtype].wgsl;
  const value = (v: number) => (T === 'f16' ? numberToHalf(v) : T === 'i32' ? v | 0 : v);
  dispatch(fillKernel(T), [t.storage], FILL[T].pack({ n, start: value(start), step: value(step) }), grid(Math.ceil(n / WG)));
  t.requiresGrad = options.requiresGrad ?? false;
  return t;
}

export const full = <D extends DType = 'float32'>(shape: Shape, value: number, options: CreateOptions<D> = {}) =>
  filled('full', shape, value, 0, options);
export const zeros = <D extends DType = 'float32'>(shape: Shape, options: CreateOptions<D> = {}) => filled('zeros', shape, 0, 0, options);
export const ones = <D extends DType = 'float32'>(shape: Shape, options: CreateOptions<D> = {}) => filled('ones', shape, 1, 0, options);
export const zerosLike = (x: Tensor) => zeros(x.shape, { dtype: x.dtype });
export const onesLike = (x: Tensor) => ones(x.shape, { dtype: x.dtype });

/** `torch.arange(start, end, step)`; `arange(n)` is 0..n-1. Integer arguments give int32 unless dtype says otherwise. */
export function arange<D extends DType = DType>(start: number, end?: number, step = 1, options: CreateOptions<D> = {}): Tensor<D> {
  const [s, e] = end === undefined ? [0, start] : [start, end];
  if (step === 0) throw new Error('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((e - s) / step));
  const allInt = [s, e, step].every(Number.isInteger);
  return filled('arange', [n], s, step, { ...options, dtype: (options.dtype ?? (allInt ? 'int32' : 'float32')) as D });
}

let generatorState = 0x2545f491;

/** Seeds the generator used by `rand`, `randn` and `dropout` calls that pass no seed. */
export function manualSeed(seed: number): void {
  generatorState = seed >>> 0;
}

/** A fresh 32-bit seed from the global generator (splitmix32). */
export function nextSeed(): number {
  generatorState = (generatorState + 0x9e3779b9) >>> 0;
  let z = generatorState;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

export interface RandomOptions extends CreateOptions<'float32'> {
  seed?: number;
}

function random(kind: 'uniform' | 'normal', shape: Shape, a: number, b: number, options: RandomOptions): Tensor<'float32'> {
  const op = kind === 'uniform' ? 'rand' : 'randn';
  if (options.dtype !== undefined && checkDType(op, options.dtype) !== 'float32') {
    throw new Error(`${op}: makes float32 only (got dtype ${options.dtype}; convert with .to('${options.dtype}'))`);
  }
  // Without a seed, each call draws the next one: in a captured graph, each replay does.
  return hostTensor(
    () => {
      const values = new Float32Array(sizeOf(shape));
      const seed = options.seed ?? nextSeed();
      if (kind === 'uniform') fillUniform(values, seed, a, b);
      else fillNormal(values, seed, a, b);
      return values;
    },
    shape,
    { requiresGrad: options.requiresGrad },
  );
}

/** Uniform in [low, high) (default [0, 1)). */
export const rand = (shape: Shape, options: RandomOptions & { low?: number; high?: number } = {}) =>
  random('uniform', shape, options.low ?? 0, options.high ?? 1, options);
/** Normal with the given mean and std (default 0, 1). */
export const randn = (shape: Shape, options: RandomOptions & { mean?: number; std?: number } = {}) =>
  random('normal', shape, options.mean ?? 0, options.std ?? 1, options);
