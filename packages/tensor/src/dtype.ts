// Element types. Storage is 4 bytes per element today; the table is where f16 will be added.
export type DType = 'float32' | 'int32';

export const dtypes: Record<DType, { wgsl: 'f32' | 'i32'; bytes: number; array: Float32ArrayConstructor | Int32ArrayConstructor }> = {
  float32: { wgsl: 'f32', bytes: 4, array: Float32Array },
  int32: { wgsl: 'i32', bytes: 4, array: Int32Array },
};

export type TypedArrayFor<D extends DType> = D extends 'int32' ? Int32Array : Float32Array;
