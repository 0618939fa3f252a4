// Stochastic gradient descent with PyTorch's exact update (torch.optim.SGD, non-maximize):
//   d <- g + wd * p
//   with momentum:  buf <- d on the first update, else momentum * buf + (1 - dampening) * d
//                   d   <- d + momentum * buf (nesterov)  or  buf
//   p <- p - lr * d
// One fused kernel per parameter; the momentum buffer is bound only when momentum is on.
import { type Kernel, linearEntry } from '../runtime/pipelines.js';
import { dispatch, f32bits, grid } from '../runtime/queue.js';
import type { Storage } from '../runtime/pool.js';
import type { Tensor } from '../tensor.js';
import { type Hyper, type ParamGroupInput, type ParamState, type Update, Optimizer } from './optimizer.js';

const WG = 256;

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export interface SGDHyper extends Hyper {
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

// Params: n, p offset, g offset, scalars offset (S[at] = lr, a per-step value), wd, momentum,
// 1 - dampening, first update (0/1), nesterov (0/1), momentum buffer offset.
function sgdKernel(momentum: boolean): Kernel {
  return {
    name: 'sgd_step',
    key: momentum ? 'momentum' : 'plain',
    bindings: [
      { name: 'W', type: 'f32', access: 'read_write' },
      { name: 'G', type: 'f32', access: 'read' },
      ...(momentum ? [{ name: 'B', type: 'f32', access: 'read_write' as const }] : []),
      { name: 'S', type: 'f32', access: 'read' },
    ],
    body: () => `
${linearEntry(WG)}
  if (i >= pu(0u)) { return; }
  let wi = pu(1u) + i;
  let w = W[wi];
  var d = G[pu(2u) + i] + pf(4u) * w;
  ${
    momentum
      ? `let bi = pu(9u) + i;
  var b = d;
  if (pu(7u) == 0u) { b = pf(5u) * B[bi] + pf(6u) * d; }
  B[bi] = b;
  d = select(b, d + pf(5u) * b, pu(8u) == 1u);`
      : ''
  }
  W[wi] = w - S[pu(3u)] * d;
}`,
  };
}

const PLAIN = sgdKernel(false);
const MOMENTUM = sgdKernel(true);

export class SGD extends Optimizer<SGDHyper> {
  constructor(params: readonly Tensor[] | readonly ParamGroupInput<SGDHyper>[], options: SGDOptions) {
    super('SGD', params, {
      lr: options.lr,
      momentum: options.momentum ?? 0,
      dampening: options.dampening ?? 0,
      weightDecay: options.weightDecay ?? 0,
      nesterov: options.nesterov ?? false,
    });
  }

  protected check(h: SGDHyper): void {
    if (!(h.lr >= 0)) throw new Error(`SGD: lr ${h.lr} must be >= 0`);
    if (!(h.momentum >= 0)) throw new Error(`SGD: momentum ${h.momentum} must be >= 0`);
    if (!(h.weightDecay >= 0)) throw new Error(`SGD: weightDecay ${h.weightDecay} must be >= 0`);
    if (!Number.isFinite(h.dampening)) throw new Error(`SGD: dampening ${h.dampening} must be a number`);
    if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) {
      throw new Error('SGD: nesterov momentum needs momentum > 0 and dampening 0');
    }
  }

  protected stateKeys(h: SGDHyper): readonly string[] {
    return h.momentum !== 0 ? ['momentumBuffer'] : [];
  }

  protected stepScalars(_state: ParamState, h: SGDHyper): number[] {
    return [h.lr];
  }

  protected encode(updates: readonly Update<SGDHyper>[], scalars: Storage): void {
    for (const u of updates) this.update(u.p, u.grad, u.state, u.group, u.at, scalars);
  }

  /** One parameter's update: one dispatch. */
  private update(p: Tensor, g: Tensor, state: ParamState, h: SGDHyper, at: number, scalars: Storage): void {
    const common = [p.size, p.offset, g.offset, at, f32bits(h.weightDecay)];
    const groups = grid(Math.ceil(p.size / WG));
    if (h.momentum === 0) {
      dispatch(PLAIN, [p.storage, g.storage, scalars], common, groups);
      return;
    }
    // On the first update the kernel sets the buffer to d (PyTorch clones it), so it needs no zero fill.
    const first = !state.tensors.momentumBuffer;
    const buf = (state.tensors.momentumBuffer ??= this.stateTensor(p, 'momentumBuffer'));
    const params = [...common, f32bits(h.momentum), f32bits(1 - h.dampening), first ? 1 : 0, h.nesterov ? 1 : 0, buf.offset];
    dispatch(MOMENTUM, [p.storage, g.storage, buf.storage, scalars], params, groups);
  }
}
