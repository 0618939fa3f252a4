// Element types: the one table that says how many bytes an element takes and which WGSL type holds it.
import { getDevice } from './device.js';
import { type Shape, fmt } from './shape.js';

export type DType = 'float32' | 'float16' | 'int32';

export interface DTypeInfo {
  /** The WGSL scalar type of a storage array of this dtype. */
  wgsl: 'f32' | 'f16' | 'i32';
  /** Bytes per element in a GPU buffer. */
  bytes: number;
  /**
   * The WGSL type kernels compute and accumulate in: f32 for both float dtypes (float16 is storage
   * only: load with `f32(X[i])`, sum, exp and normalise in f32, store with `T(value)`), i32 for int32.
   */
  compute: 'f32' | 'i32';
}

export const dtypes: Record<DType, DTypeInfo> = {
  float32: { wgsl: 'f32', bytes: 4, compute: 'f32' },
  float16: { wgsl: 'f16', bytes: 2, compute: 'f32' },
  int32: { wgsl: 'i32', bytes: 4, compute: 'i32' },
};

/** The float dtypes the computing ops take (float16 computed in f32, as `compute` says). */
export const FLOAT_DTYPES: readonly DType[] = ['float32', 'float16'];

/** What `data()` gives: float16 elements are widened to float32 (exactly). */
export type TypedArrayFor<D extends DType> = D extends 'int32' ? Int32Array : Float32Array;
/** What `rawData()` gives: the stored elements themselves, float16 as the bits of each half. */
export type RawArrayFor<D extends DType> = D extends 'int32' ? Int32Array : D extends 'float16' ? Uint16Array : Float32Array;

const NAMES = Object.keys(dtypes).join(', ');

/**
 * Checks a dtype that came from the caller (JavaScript may pass any string), naming the op, and that
 * the device can hold it: float16 needs the adapter's `shader-f16` feature. `instead` says what to do then.
 */
export function checkDType(op: string, dtype: unknown, instead = 'use float32 here'): DType {
  if (typeof dtype !== 'string' || !Object.hasOwn(dtypes, dtype)) {
    throw new Error(`${op}: unknown dtype ${JSON.stringify(dtype)} (the dtypes are ${NAMES})`);
  }
  // DeviceInfo.features is read here at each call, so a test can switch shaderF16 off to see what an
  // adapter without it (Chromium's SwiftShader, some Android GPUs) does.
  if (dtype === 'float16' && !getDevice().info.features.shaderF16) {
    throw new Error(`${op}: this adapter has no shader-f16; float16 tensors need it (${instead})`);
  }
  return dtype as DType;
}

/** Throws, naming the op, unless the tensor's dtype is one the op's kernels are written for. */
export function requireDType(op: string, t: { dtype: DType; shape: Shape }, allowed: readonly DType[]): void {
  if (!allowed.includes(t.dtype)) {
    const hint = t.dtype === 'float16' && allowed.includes('float32') ? " (convert with .to('float32'))" : '';
    throw new Error(`${op}: takes ${allowed.join(' or ')} tensors, got ${t.dtype} ${fmt(t.shape)}${hint}`);
  }
}

/**
 * The one dtype an op's tensor operands share, checked: all alike, one of `allowed`, and one the adapter
 * can compute in (float16 needs shader-f16). Errors name the op and every operand's dtype and shape.
 */
export function commonDType(op: string, tensors: readonly { dtype: DType; shape: Shape }[], allowed: readonly DType[] = FLOAT_DTYPES): DType {
  const first = tensors[0]!;
  if (tensors.some((t) => t.dtype !== first.dtype)) {
    throw new Error(`${op}: dtypes differ (${tensors.map((t) => `${t.dtype} ${fmt(t.shape)}`).join(', ')}); convert with .to() first`);
  }
  requireDType(op, first, allowed);
  return checkDType(op, first.dtype);
}
