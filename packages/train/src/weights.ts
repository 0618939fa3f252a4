// Exported weights: the model's state dict alone (the official state-dict names, no optimizer state),
// in a safetensors file whose metadata holds the model configuration (the format is @tmpose/model's
// `weightsMetadata`), so that `eval`, `predict`, `modelFromCheckpoint` and `loadModel` rebuild the model
// without being told which one it is. With dtype float16 every float tensor is written as F16, half
// the bytes; the readers widen F16 to float32 on the host, so such a file loads into a float32 model.
import { type TMPose, weightsMetadata } from '@tmpose/model';
import { type Tensor, io } from '@tmpose/tensor';

export { exportedConfig } from '@tmpose/model';

export interface ExportOptions {
  /** The dtype of the float tensors in the file (default float32); float16 halves its size. */
  dtype?: 'float32' | 'float16';
}

/** Writes `model`'s weights and configuration to `path` (atomically). Returns the number of tensors. */
export async function exportWeights(model: TMPose, path: string, options: ExportOptions = {}): Promise<number> {
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`exportWeights: dtype must be float32 or float16, got ${JSON.stringify(dtype)}`);
  const dict = model.stateDict();
  const converted: Record<string, Tensor> = {};
  try {
    for (const [k, t] of Object.entries(dict)) converted[k] = t.dtype === 'int32' ? t : t.to(dtype);
    await io.saveSafetensors(path, converted, weightsMetadata(model.config));
    return Object.keys(dict).length;
  } finally {
    for (const t of new Set([...Object.values(dict), ...Object.values(converted)])) t.dispose();
  }
}
