// Training checkpoints: one safetensors file holding the model's state dict (`model.<key>`), the
// optimizer's state tensors (`optim.<param index>.<name>`), and in its metadata everything else needed
// to resume exactly: epoch, step, optimizer hyper-parameters and step counts, scheduler, random state,
// best score. Written atomically (temporary file, then rename): a crash mid-write leaves the last good
// checkpoint in place.
import { type Tensor, io, type nn, type optim, tensor } from '@tmpose/tensor';

const FORMAT = 'tmpose-checkpoint-1';

export interface TrainingState {
  epoch: number;
  step: number;
  /** Best validation score so far (AP), or -1. */
  best: number;
  /** State of the data/augmentation generator, so a resumed run draws the same numbers. */
  rng: number;
  /** The model configuration's name or object, to rebuild the model for eval/predict. */
  config: unknown;
}

interface Meta {
  format: string;
  state: TrainingState;
  optimizer?: { paramGroups: unknown[]; steps: Record<number, number> };
  scheduler?: optim.SchedulerStateDict;
}

type Optimizer = optim.Optimizer<optim.Hyper>;

export async function saveCheckpoint(
  path: string,
  parts: { model: nn.AnyModule; optimizer?: Optimizer; scheduler?: optim.LRScheduler; state: TrainingState },
): Promise<void> {
  const handles: Tensor[] = [];
  const tensors: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(parts.model.stateDict())) {
    tensors[`model.${k}`] = t;
    handles.push(t);
  }
  const meta: Meta = { format: FORMAT, state: parts.state };
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
  try {
    await io.saveSafetensors(path, tensors, { tmpose: JSON.stringify(meta) });
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
  dispose(): void;
}

/** Reads a checkpoint written by saveCheckpoint; errors name the file. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const parsed = await io.readSafetensors(path);
  let meta: Meta | null = null;
  try {
    meta = JSON.parse(parsed.metadata.tmpose ?? 'null') as Meta | null;
  } catch {
    meta = null;
  }
  if (!meta || meta.format !== FORMAT) {
    throw new Error(`${path}: not a tmpose checkpoint (no '${FORMAT}' metadata); for bare weights use loadStateDict`);
  }
  const found = meta;
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
    dispose() {
      for (const t of Object.values(tensors)) t.dispose();
    },
  };
}
