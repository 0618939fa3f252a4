// Exported weights: the model's state dict alone (the official state-dict names, no optimizer state),
// in a safetensors file whose metadata holds the model configuration (the format is @tmpose/model's
// `weightsMetadata`), so that `eval`, `predict`, `modelFromCheckpoint` and `loadModel` rebuild the model
// without being told which one it is.
import { type TMPose, weightsMetadata } from '@tmpose/model';
import { io } from '@tmpose/tensor';

export { exportedConfig } from '@tmpose/model';

/** Writes `model`'s weights and configuration to `path` (atomically). Returns the number of tensors. */
export async function exportWeights(model: TMPose, path: string): Promise<number> {
  const dict = model.stateDict();
  try {
    await io.saveSafetensors(path, dict, weightsMetadata(model.config));
    return Object.keys(dict).length;
  } finally {
    for (const t of Object.values(dict)) t.dispose();
  }
}
