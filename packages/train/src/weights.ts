// Exported weights: the model's state dict alone (the official state-dict names, no optimizer state),
// in a safetensors file whose metadata holds the model configuration, so that `eval`, `predict` and
// `modelFromCheckpoint` rebuild the model without being told which one it is.
import type { ModelConfig, TMPose } from '@tmpose/model';
import { io } from '@tmpose/tensor';

const FORMAT = 'tmpose-weights-1';
const KEY = 'tmpose_weights';

/** Writes `model`'s weights and configuration to `path` (atomically). Returns the number of tensors. */
export async function exportWeights(model: TMPose, path: string): Promise<number> {
  const dict = model.stateDict();
  try {
    await io.saveSafetensors(path, dict, { [KEY]: JSON.stringify({ format: FORMAT, config: model.config }) });
    return Object.keys(dict).length;
  } finally {
    for (const t of Object.values(dict)) t.dispose();
  }
}

/** The configuration stored by `exportWeights` in a safetensors file's metadata, or null when there is none. */
export function exportedConfig(metadata: Record<string, string>, path: string): ModelConfig | null {
  if (metadata[KEY] === undefined) return null;
  let meta: { format?: unknown; config?: unknown };
  try {
    meta = JSON.parse(metadata[KEY]) as typeof meta;
  } catch {
    throw new Error(`${path}: the '${KEY}' metadata is not valid JSON`);
  }
  if (meta.format !== FORMAT || typeof meta.config !== 'object' || meta.config === null) {
    throw new Error(`${path}: unknown weights format ${JSON.stringify(meta.format)} (this version reads '${FORMAT}')`);
  }
  return meta.config as ModelConfig;
}
