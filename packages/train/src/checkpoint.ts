// Training checkpoints: one safetensors file holding the model's state dict (`model.<key>`), the
// optimizer's state tensors (`optim.<param index>.<name>`), and in its metadata everything else needed
// to resume exactly: epoch, step, optimizer hyper-parameters and step counts, scheduler, random state,
// best score, and a mixed-precision run's loss scale (its GradScaler state). Written atomically (temporary file, then rename): a crash mid-write leaves the last good
// checkpoint in place. Non-finite values are refused both ways: a diverged model is never saved, and a
// file holding NaN or Infinity (from an older version, or tampered with) is never loaded.
import { type GradScaler, type GradScalerState, type Tensor, io, keep, mul, type nn, type optim, stack, sum, tensor, tidy } from '@tmpose/tensor';
import { CHECKPOINT_FORMAT, CHECKPOINT_KEY, type CheckpointMeta, type TrainingState, assertFinite, parseCheckpointMeta } from '@tmpose/model';
import { open } from './node.js';

export { NotACheckpointError, type TrainingState } from '@tmpose/model';

type Optimizer = optim.Optimizer<optim.Hyper>;

/** The metadata this package writes: @tmpose/model's, plus the GradScaler of a mixed-precision run. */
type TrainMeta = CheckpointMeta & { gradScaler?: GradScalerState };

/** Thrown by saveCheckpoint when a tensor holds NaN or Infinity: nothing is written. */
export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
}

/**
 * The name of the first float tensor holding NaN or ±Infinity, or null. One readback for all: x * 0 is
 * 0 for every finite x and NaN for NaN and ±Infinity, so each tensor's sum of it is NaN exactly when
 * one of its values is not finite (a sum of squares would also overflow on large finite values).
 */
async function firstNonFinite(tensors: Record<string, Tensor>): Promise<string | null> {
  const names = Object.keys(tensors).filter((k) => tensors[k]!.dtype === 'float32');
  if (!names.length) return null;
  const sums = names.map((k) => tidy(() => keep(sum(mul(tensors[k]!, 0)))));
  const all = tidy(() => stack(sums));
  try {
    const values = await all.data();
    const bad = values.findIndex((v) => !Number.isFinite(v));
    return bad < 0 ? null : names[bad]!;
  } finally {
    all.dispose();
    for (const t of sums) t.dispose();
  }
}

export async function saveCheckpoint(
  path: string,
  parts: { model: nn.AnyModule; optimizer?: Optimizer; scheduler?: optim.LRScheduler; scaler?: GradScaler; state: TrainingState },
): Promise<void> {
  const handles: Tensor[] = [];
  const tensors: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(parts.model.stateDict())) {
    tensors[`model.${k}`] = t;
    handles.push(t);
  }
  const meta: TrainMeta = { format: CHECKPOINT_FORMAT, state: parts.state };
  if (parts.optimizer) {
    const sd = parts.optimizer.stateDict();
    const steps: Record<number, number> = {};
    for (const [index, s] of Object.entries(sd.state)) {
      steps[Number(index)] = s.step;
      for (const [name, t] of Object.entries(s.tensors)) {
        tensors[`optim.${index}.${name}`] = t;
        handles.push(t);
      }
    }
    meta.optimizer = { paramGroups: sd.paramGroups, steps };
  }
  if (parts.scheduler) meta.scheduler = parts.scheduler.stateDict();
  if (parts.scaler?.enabled) meta.gradScaler = parts.scaler.stateDict();
  try {
    const bad = await firstNonFinite(tensors);
    if (bad) throw new NonFiniteError(`${path} not written: '${bad}' holds NaN or Infinity`);
    await io.saveSafetensors(path, tensors, { [CHECKPOINT_KEY]: JSON.stringify(meta) });
  } finally {
    for (const t of handles) t.dispose();
  }
}

export interface Checkpoint {
  state: TrainingState;
  /** The model's state dict (keys without the `model.` prefix). */
  model: Record<string, Tensor>;
  restoreOptimizer(optimizer: Optimizer): void;
  restoreScheduler(scheduler: optim.LRScheduler): void;
  /** Restores the loss scale of a mixed-precision checkpoint; false (nothing changed) when it has none. */
  restoreScaler(scaler: GradScaler): boolean;
  dispose(): void;
}

/**
 * The training state of a checkpoint from its header alone (no tensor data read), e.g. the AP that
 * best.safetensors was saved for.
 */
export async function readCheckpointState(path: string): Promise<TrainingState> {
  const file = await open(path, 'r');
  try {
    const length = Buffer.alloc(8);
    await file.read(length, 0, 8, 0);
    const headerBytes = Number(length.readBigUInt64LE(0));
    const { size } = await file.stat();
    if (headerBytes > size - 8) throw new Error(`${path}: not a safetensors file (truncated header)`);
    const header = Buffer.alloc(headerBytes);
    await file.read(header, 0, headerBytes, 8);
    let metadata: Record<string, string>;
    try {
      metadata = (JSON.parse(header.toString('utf8')) as { __metadata__?: Record<string, string> }).__metadata__ ?? {};
    } catch (err) {
      throw new Error(`${path}: the safetensors header is not valid JSON (${(err as Error).message})`);
    }
    return parseCheckpointMeta(metadata, path).state;
  } finally {
    await file.close();
  }
}

/** Reads a checkpoint written by saveCheckpoint; errors name the file. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const parsed = await io.readSafetensors(path);
  const found: TrainMeta = parseCheckpointMeta(parsed.metadata, path);
  assertFinite(parsed.tensors, path);
  const tensors = Object.fromEntries(
    Object.entries(parsed.tensors).map(([k, h]) => [k, tensor(h.data, h.shape, { dtype: h.dtype })] as const),
  );
  const model: Record<string, Tensor> = {};
  const optimTensors = new Map<number, Record<string, Tensor>>();
  for (const [key, t] of Object.entries(tensors)) {
    if (key.startsWith('model.')) model[key.slice(6)] = t;
    else if (key.startsWith('optim.')) {
      const [, index, name] = key.split('.') as [string, string, string];
      const entry = optimTensors.get(Number(index)) ?? {};
      entry[name] = t;
      optimTensors.set(Number(index), entry);
    }
  }
  return {
    state: found.state,
    model,
    restoreOptimizer(optimizer) {
      const saved = found.optimizer;
      if (!saved) throw new Error(`${path}: the checkpoint has no optimizer state`);
      const state: Record<number, optim.ParamState> = {};
      for (const [index, tensorsOf] of optimTensors) state[index] = { step: saved.steps[index] ?? 0, tensors: tensorsOf };
      optimizer.loadStateDict({ state, paramGroups: saved.paramGroups as optim.OptimizerStateDict<optim.Hyper>['paramGroups'] });
    },
    restoreScheduler(scheduler) {
      if (!found.scheduler) throw new Error(`${path}: the checkpoint has no scheduler state`);
      scheduler.loadStateDict(found.scheduler);
    },
    restoreScaler(scaler) {
      if (!found.gradScaler) return false;
      try {
        scaler.loadStateDict(found.gradScaler);
      } catch (err) {
        throw new Error(`${path}: the checkpoint's loss scale is corrupt (${(err as Error).message})`);
      }
      return true;
    },
    dispose() {
      for (const t of Object.values(tensors)) t.dispose();
    },
  };
}
