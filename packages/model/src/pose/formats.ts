// The metadata that makes a safetensors file a tmpose file, in one place for the writers (training
// checkpoints and weights export in @tmpose/train) and the readers (`loadModel` here, and train's
// `loadCheckpoint`):
//   - a training checkpoint holds `model.<key>` and `optim.<index>.<name>` tensors, and under the
//     metadata key 'tmpose' a JSON { format: 'tmpose-checkpoint-1', state, optimizer?, scheduler? };
//   - exported weights hold the state dict alone, and under 'tmpose_weights' a JSON
//     { format: 'tmpose-weights-1', config }.
import type { io, optim } from '@tmpose/tensor';
import type { ModelConfig } from '../configs.js';

export const CHECKPOINT_KEY = 'tmpose';
export const CHECKPOINT_FORMAT = 'tmpose-checkpoint-1';
export const WEIGHTS_KEY = 'tmpose_weights';
export const WEIGHTS_FORMAT = 'tmpose-weights-1';

export interface TrainingState {
  /** Epochs finished (the index of the epoch to train next). */
  epoch: number;
  /** Batches of epoch `epoch` already trained, when the run was interrupted within it (else 0 or absent). */
  batch?: number;
  step: number;
  /** Best validation score so far (AP), or -1. */
  best: number;
  /** State of the data/augmentation generator, so a resumed run draws the same numbers. */
  rng: number;
  /** The model configuration's name or object, to rebuild the model for eval/predict. */
  config: unknown;
}

/** A checkpoint's metadata. */
export interface CheckpointMeta {
  format: string;
  state: TrainingState;
  optimizer?: { paramGroups: unknown[]; steps: Record<number, number> };
  scheduler?: optim.SchedulerStateDict;
}

/** Marks a safetensors file without checkpoint metadata (bare weights), as opposed to a damaged checkpoint. */
export class NotACheckpointError extends Error {
  override name = 'NotACheckpointError';
}

/** The checkpoint metadata of a safetensors file's header; errors name `file`. */
export function parseCheckpointMeta(metadata: Record<string, string>, file: string): CheckpointMeta {
  if (metadata[CHECKPOINT_KEY] === undefined) {
    throw new NotACheckpointError(`${file}: not a tmpose checkpoint (no '${CHECKPOINT_FORMAT}' metadata); for bare weights use loadStateDict`);
  }
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(metadata[CHECKPOINT_KEY]) as CheckpointMeta;
  } catch (err) {
    throw new Error(`${file}: the checkpoint's metadata is corrupt (${(err as Error).message})`);
  }
  const state = meta?.state as Partial<TrainingState> | undefined;
  if (meta?.format !== CHECKPOINT_FORMAT || !state || !Number.isInteger(state.epoch) || !Number.isInteger(state.step) || typeof state.best !== 'number') {
    throw new Error(`${file}: the checkpoint's metadata is corrupt (not a '${CHECKPOINT_FORMAT}' training state)`);
  }
  return meta;
}

/** The metadata `exportWeights` writes for a model of `config`. */
export function weightsMetadata(config: ModelConfig): Record<string, string> {
  return { [WEIGHTS_KEY]: JSON.stringify({ format: WEIGHTS_FORMAT, config }) };
}

/** The configuration stored in exported weights' metadata, or null when there is none; errors name `file`. */
export function exportedConfig(metadata: Record<string, string>, file: string): ModelConfig | null {
  if (metadata[WEIGHTS_KEY] === undefined) return null;
  let meta: { format?: unknown; config?: unknown };
  try {
    meta = JSON.parse(metadata[WEIGHTS_KEY]) as typeof meta;
  } catch {
    throw new Error(`${file}: the '${WEIGHTS_KEY}' metadata is not valid JSON`);
  }
  if (meta.format !== WEIGHTS_FORMAT || typeof meta.config !== 'object' || meta.config === null) {
    throw new Error(`${file}: unknown weights format ${JSON.stringify(meta.format)} (this version reads '${WEIGHTS_FORMAT}')`);
  }
  return meta.config as ModelConfig;
}

/**
 * Refuses weights holding NaN or Infinity (from a diverged run, or tampered with): the saving side never
 * writes them, and the loading sides (train's `loadCheckpoint`, `loadModel`) never load them.
 */
export function assertFinite(tensors: Record<string, io.HostTensor>, file: string): void {
  for (const [key, h] of Object.entries(tensors)) {
    if (h.dtype !== 'float32') continue;
    let count = 0;
    for (let i = 0; i < h.data.length; i++) if (!Number.isFinite(h.data[i]!)) count++;
    if (count) throw new Error(`${file}: '${key}' holds ${count} NaN or Infinity values; not usable weights (a diverged run?)`);
  }
}
