"""Reference values for packages/tensor/test/optim.test.ts, computed by PyTorch's own optimizers and
schedulers on CPU in float32. Writes packages/tensor/test/fixtures/optim.json; CI reads only the JSON.

Each case: parameters (shape, initial values), one gradient per parameter per step (fed in by hand, so
the optimizer is tested alone), and the parameters after every step. Options use the TypeScript names.

Run with /usr/bin/python3 (needs torch).
"""
import json
import zlib
import os

import torch
from torch.optim.lr_scheduler import MultiStepLR, StepLR

OUT = os.path.join(os.path.dirname(__file__), '..', 'packages', 'tensor', 'test', 'fixtures', 'optim.json')
SHAPES = [[7], [2, 3]]
STEPS = 6


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def make_torch(kind, params, o):
    if kind == 'Adam':
        return torch.optim.Adam(params, lr=o['lr'], betas=tuple(o.get('betas', (0.9, 0.999))),
                                eps=o.get('eps', 1e-8), weight_decay=o.get('weightDecay', 0))
    if kind == 'AdamW':
        return torch.optim.AdamW(params, lr=o['lr'], betas=tuple(o.get('betas', (0.9, 0.999))),
                                 eps=o.get('eps', 1e-8), weight_decay=o.get('weightDecay', 1e-2))
    if kind == 'SGD':
        return torch.optim.SGD(params, lr=o['lr'], momentum=o.get('momentum', 0), dampening=o.get('dampening', 0),
                               weight_decay=o.get('weightDecay', 0), nesterov=o.get('nesterov', False))
    raise ValueError(kind)


def run_case(name, kind, options, multistep=None):
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    init = [torch.randn(s, generator=gen) for s in SHAPES]
    # Gradients of mixed magnitude (1e-3 .. 10) and sign, with an exact zero, fed in by hand each step.
    grads = []
    for _ in range(STEPS):
        step = []
        for s in SHAPES:
            g = torch.randn(s, generator=gen) * 10 ** (torch.rand(s, generator=gen) * 4 - 3)
            g.reshape(-1)[0] = 0.0
            step.append(g)
        grads.append(step)
    params = [p.clone().requires_grad_(True) for p in init]
    opt = make_torch(kind, params, options)
    sched = MultiStepLR(opt, milestones=multistep['milestones'], gamma=multistep['gamma']) if multistep else None
    after, lrs = [], []
    for step in grads:
        for p, g in zip(params, step):
            p.grad = g.clone()
        opt.step()
        if sched:
            sched.step()
            lrs.append(sched.get_last_lr()[0])
        after.append([flat(p) for p in params])
    case = {
        'name': name, 'optimizer': kind, 'options': options,
        'params': [{'shape': s, 'init': flat(p)} for s, p in zip(SHAPES, init)],
        'grads': [[flat(g) for g in step] for step in grads],
        'expected': after,
    }
    if multistep:
        case['multistep'] = multistep
        case['lrs'] = lrs
    return case


def scheduler_sequence(kind, options, epochs):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0)
    sched = MultiStepLR(opt, **options) if kind == 'MultiStepLR' else StepLR(opt, **options)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(epochs):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    return lrs


def main():
    torch.manual_seed(0)
    cases = [
        run_case('adam', 'Adam', {'lr': 1e-2}),
        run_case('adam_l2', 'Adam', {'lr': 1e-2, 'weightDecay': 0.1}),
        run_case('adam_betas_eps', 'Adam', {'lr': 0.05, 'betas': [0.8, 0.99], 'eps': 1e-3}),
        run_case('adamw', 'AdamW', {'lr': 1e-2, 'weightDecay': 0.1}),
        run_case('sgd', 'SGD', {'lr': 0.1}),
        run_case('sgd_momentum_dampening_l2', 'SGD', {'lr': 0.1, 'momentum': 0.9, 'dampening': 0.1, 'weightDecay': 0.01}),
        run_case('sgd_nesterov_l2', 'SGD', {'lr': 0.05, 'momentum': 0.9, 'nesterov': True, 'weightDecay': 0.01}),
        run_case('sgd_momentum_multistep', 'SGD', {'lr': 0.1, 'momentum': 0.9}, multistep={'milestones': [2, 4], 'gamma': 0.5}),
    ]
    schedulers = {
        'MultiStepLR': {'options': {'milestones': [3, 6, 6, 9], 'gamma': 0.1},
                        'lrs': scheduler_sequence('MultiStepLR', {'milestones': [3, 6, 6, 9], 'gamma': 0.1}, 12)},
        'StepLR': {'options': {'stepSize': 3, 'gamma': 0.5},
                   'lrs': scheduler_sequence('StepLR', {'step_size': 3, 'gamma': 0.5}, 10)},
    }
    with open(OUT, 'w') as f:
        json.dump({'torch': torch.__version__, 'cases': cases, 'schedulers': schedulers}, f, indent=None)
        f.write('\n')
    print('wrote', OUT, os.path.getsize(OUT), 'bytes')


if __name__ == '__main__':
    main()
