// Parameter counts in the two conventions of model-spec §6 (no forward pass needed):
//   'all'  : every nn.Parameter of the official model, i.e. all trainable parameters plus the frozen
//            sine position embedding (stored as nn.Parameter(requires_grad=False)); BatchNorm running
//            statistics are buffers and not counted. TokenPose-B 13,514,368; L/D24 27,531,552;
//            L/D6 20,864,928.
//   'paper': the official `get_model_summary`: parameters of Conv2d / BatchNorm2d / Linear modules only
//            (no LayerNorm, keypoint tokens or position embedding) — the paper's 13.5M / 27.5M / 20.8M
//            (13,451,584 / 27,459,552 / 20,806,752).
//   'trainable': what an optimizer updates ('all' minus the position embedding).
import { type Tensor, nn } from '@tmpose/tensor';

export type ParamConvention = 'all' | 'paper' | 'trainable';

export interface ParamCountOptions {
  convention?: ParamConvention;
}

interface WithFrozen {
  namedFrozenParameters?: () => [string, Tensor][];
}

const numel = (t: Tensor) => t.shape.reduce((a, b) => a * b, 1);

/** Counts a model's parameters in one convention (default 'all'). */
export function countParams(model: nn.Module<never[], unknown>, options: ParamCountOptions = {}): number {
  const convention = options.convention ?? 'all';
  if (convention === 'paper') {
    let n = 0;
    for (const [, m] of model.namedModules()) {
      if (!(m instanceof nn.Linear || m instanceof nn.Conv2d || m instanceof nn.BatchNorm2d)) continue;
      for (const p of [m.weight, m.bias]) if (p) n += numel(p);
    }
    return n;
  }
  const trainable = model.parameters().reduce((s, p) => s + numel(p), 0);
  if (convention === 'trainable') return trainable;
  const frozen = (model as WithFrozen).namedFrozenParameters?.() ?? [];
  return trainable + frozen.reduce((s, [, t]) => s + numel(t), 0);
}

/** Parameter counts ('all') grouped by the first one or two components of their names. */
export function paramBreakdown(model: nn.Module<never[], unknown>, depth = 2): Record<string, number> {
  const out: Record<string, number> = {};
  const frozen = (model as WithFrozen).namedFrozenParameters?.() ?? [];
  for (const [name, t] of [...model.namedParameters(), ...frozen]) {
    const key = name.split('.').slice(0, depth).join('.');
    out[key] = (out[key] ?? 0) + numel(t);
  }
  return out;
}
