// Exported weights: the model's state dict alone (the official state-dict names, no optimizer state),
// in a safetensors file whose metadata holds the model configuration (the format is @tmpose/model's
// `weightsMetadata`), so that `eval`, `predict`, `modelFromCheckpoint` and `loadModel` rebuild the model
// without being told which one it is. With dtype float16 every float tensor is written as F16, half
// the bytes, converted on the host (so adapters without shader-f16 export it too); the readers widen
// F16 to float32 on the host, so such a file loads into a float32 model.
import { type TMPose, weightsMetadata } from '@tmpose/model';
import { type Tensor, io } from '@tmpose/tensor';

export { exportedConfig } from '@tmpose/model';

export interface ExportOptions {
  /** The dtype of the float tensors in the file (default float32); float16 halves its size. */
  dtype?: 'float32' | 'float16';
}

/** float32 `t` written as float16, converted on the host when its turn comes (io.toHalves: the GPU cast's bits). */
function halvesOf(t: Tensor): io.WritableTensor {
  return { dtype: 'float16', shape: t.shape, rawData: async () => io.toHalves((await t.rawData()) as Float32Array) };
}

/** Writes `model`'s weights and configuration to `path` (atomically). Returns the number of tensors. */
export async function exportWeights(model: TMPose, path: string, options: ExportOptions = {}): Promise<number> {
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`exportWeights: dtype must be float32 or float16, got ${JSON.stringify(dtype)}`);
  const dict = model.stateDict();
  const converted: Tensor[] = [];
  const file: Record<string, io.WritableTensor> = {};
  try {
    for (const [k, t] of Object.entries(dict)) {
      // float32 -> float16 on the host, so that adapters without shader-f16 export halves too.
      if (t.dtype === 'int32' || t.dtype === dtype) file[k] = t;
      else if (dtype === 'float16') file[k] = halvesOf(t);
      else {
        const wide = t.to(dtype);
        converted.push(wide);
        file[k] = wide;
      }
    }
    await io.saveSafetensors(path, file, weightsMetadata(model.config));
    return Object.keys(dict).length;
  } finally {
    for (const t of [...Object.values(dict), ...converted]) t.dispose();
  }
}
