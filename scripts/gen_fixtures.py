#!/usr/bin/env python3
"""PyTorch reference fixtures for packages/tensor/test/ops.fixtures.test.ts.

Run with Debian's PyTorch:  /usr/bin/python3 scripts/gen_fixtures.py   (or `pnpm fixtures`)

Every case is deterministic (one torch.Generator per case, seeded from the case name). Inputs are
drawn in float64, rounded to a few decimals and then to float32; the JSON stores those decimals, which
JavaScript parses and rounds to the very same float32 values. The reference forward output and the
gradients are computed by torch (autograd) in float64 from those float32 inputs, and stored rounded to
7 significant digits. CI never needs PyTorch: the tests only read the JSON written here.

JSON layout (one file per op family under packages/tensor/test/fixtures/):
  { "generator", "torch", "cases": [ {
      "name", "op", "options",           # options are the op's keyword arguments (axis, keepdim, ...)
      "k",                               # longest sum (reduction / contraction) in forward or backward
      "args": [i, ...],                  # optional: which inputs, in which order, feed the op
      "inputs": [ { "name", "shape", "dtype", "values", "requiresGrad",
                    "view": [[viewOp, ...args], ...] } ],   # view: applied to the leaf before the op
      "output": { "shape", "values" },
      "gradOutput": { "shape", "values" },                  # the upstream gradient passed to backward()
      "grads": [ { "shape", "values" } | null ]             # d(<output, gradOutput>)/d(leaf), per input
  } ] }
"""
import hashlib
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'packages', 'tensor', 'test', 'fixtures')


def sig7(v):
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f'non-finite reference value {v}')
    r = float(f'{v:.7g}')
    return 0.0 if r == 0 else r  # no -0.0 in the JSON


def rounded(t, decimals):
    """Rounds to `decimals` decimals and then to float32; returns (float64 tensor of the f32 values, list of decimals)."""
    q = torch.round(t * 10 ** decimals) / 10 ** decimals
    vals = [0.0 if v == 0 else round(float(v), decimals) for v in q.reshape(-1).tolist()]
    f32 = torch.tensor(vals, dtype=torch.float32).reshape(t.shape)
    return f32.double(), vals


class Gen:
    """Input factory bound to one case's generator."""

    def __init__(self, name):
        seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:6], 'little')
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, shape, scale=1.0):
        return torch.randn(shape, generator=self.g) * scale

    def uniform(self, shape, low, high):
        return low + (high - low) * torch.rand(shape, generator=self.g)

    def ties(self, shape, levels=5):
        """Values on a grid of `levels` steps of 0.5 around 0: many exact ties (maximum / max / compare)."""
        return (torch.randint(0, levels, shape, generator=self.g).double() - (levels - 1) // 2) * 0.5

    def distinct(self, shape, low=-3.0, high=3.0):
        """Distinct values (spacing > 0.001 after rounding to 3 decimals): tie-free max / maximum."""
        n = max(1, math.prod(shape))
        perm = torch.randperm(n, generator=self.g).double()
        step = (high - low) / n
        assert step > 0.0011, 'too many elements for distinct 3-decimal values'
        return (low + perm * step + 0.3 * step * torch.rand(n, generator=self.g)).reshape(shape)


def int_inp(values, view=None):
    """An int32 input (never requires grad); values must be integers."""
    t = values.double()
    assert torch.equal(t, torch.round(t))
    spec = {'shape': list(t.shape), 'dtype': 'int32', 'values': [int(v) for v in t.reshape(-1).tolist()],
            'requiresGrad': False}
    if view:
        spec['view'] = view
    return spec, t


def inp(values, requires_grad=True, view=None, decimals=3, name=None):
    x64, vals = rounded(values, decimals)
    spec = {'shape': list(values.shape), 'dtype': 'float32', 'values': vals, 'requiresGrad': requires_grad}
    if view:
        spec['view'] = view
    if name:
        spec['name'] = name
    return spec, x64


def apply_view(x, view):
    for step in view or []:
        kind, args = step[0], step[1:]
        if kind == 'transpose':
            x = x.transpose(args[0], args[1])
        elif kind == 'permute':
            x = x.permute(*args[0])
        elif kind == 'slice':
            axis, start, end = args[0], args[1], args[2] if len(args) > 2 else None
            axis = axis % x.dim()
            x = x[(slice(None),) * axis + (slice(start, end),)]
        elif kind == 'expand':
            x = x.expand(*args[0])
        else:
            raise ValueError(kind)
    return x


def scalar_or(xs, o):
    if 'scalar' in o:
        return (o['scalar'], xs[0]) if o['side'] == 'left' else (xs[0], o['scalar'])
    return xs[0], xs[1]


def reduce_dims(x, o):
    axis = o.get('axis')
    if axis is None:
        return list(range(x.dim()))
    return [axis] if isinstance(axis, int) else list(axis)


def torch_sum(x, o):
    return torch.sum(x, dim=reduce_dims(x, o), keepdim=o.get('keepdim', False)) if x.dim() else x.clone()


def torch_amax(x, o):
    return torch.amax(x, dim=reduce_dims(x, o), keepdim=o.get('keepdim', False)) if x.dim() else x.clone()


def torch_amin(x, o):
    return torch.amin(x, dim=reduce_dims(x, o), keepdim=o.get('keepdim', False)) if x.dim() else x.clone()


def compare(fn):
    """A comparison as our engine returns it: 1 or 0 in the inputs' dtype (torch gives bool)."""
    return lambda xs, o, n: fn(*scalar_or(xs, o)).double()


def torch_clamp(x, o):
    return torch.clamp(x, o.get('min'), o.get('max'))


def torch_mean(x, o):
    return torch.mean(x, dim=reduce_dims(x, o), keepdim=o.get('keepdim', False)) if x.dim() else x.clone()


def torch_squeeze(x, o):
    return x.squeeze() if o.get('axis') is None else x.squeeze(o['axis'])


def torch_slice(x, o):
    return apply_view(x, [['slice', o['axis'], o['start']] + ([o['end']] if 'end' in o else [])])


def torch_layer_norm(xs, o, named):
    return F.layer_norm(named['x'], o['normalizedShape'], named.get('weight'), named.get('bias'), o.get('eps', 1e-5))


OPS = {
    'add': lambda xs, o, n: (lambda a, b: a + b)(*scalar_or(xs, o)),
    'sub': lambda xs, o, n: (lambda a, b: a - b)(*scalar_or(xs, o)),
    'mul': lambda xs, o, n: (lambda a, b: a * b)(*scalar_or(xs, o)),
    'div': lambda xs, o, n: (lambda a, b: a / b)(*scalar_or(xs, o)),
    'pow': lambda xs, o, n: (lambda a, b: a ** b)(*scalar_or(xs, o)),
    'maximum': lambda xs, o, n: torch.maximum(xs[0], xs[1]),
    'minimum': lambda xs, o, n: torch.minimum(xs[0], xs[1]),
    'neg': lambda xs, o, n: -xs[0],
    'exp': lambda xs, o, n: torch.exp(xs[0]),
    'log': lambda xs, o, n: torch.log(xs[0]),
    'sqrt': lambda xs, o, n: torch.sqrt(xs[0]),
    'relu': lambda xs, o, n: torch.relu(xs[0]),
    'gelu': lambda xs, o, n: F.gelu(xs[0]),
    'sigmoid': lambda xs, o, n: torch.sigmoid(xs[0]),
    'tanh': lambda xs, o, n: torch.tanh(xs[0]),
    'abs': lambda xs, o, n: torch.abs(xs[0]),
    'sum': lambda xs, o, n: torch_sum(xs[0], o),
    'mean': lambda xs, o, n: torch_mean(xs[0], o),
    'max': lambda xs, o, n: torch_amax(xs[0], o),
    'min': lambda xs, o, n: torch_amin(xs[0], o),
    'eq': compare(lambda a, b: a == b),
    'ne': compare(lambda a, b: a != b),
    'lt': compare(lambda a, b: a < b),
    'le': compare(lambda a, b: a <= b),
    'gt': compare(lambda a, b: a > b),
    'ge': compare(lambda a, b: a >= b),
    'clamp': lambda xs, o, n: torch_clamp(xs[0], o),
    'stack': lambda xs, o, n: torch.stack(xs, o.get('axis', 0)),
    'reshape': lambda xs, o, n: xs[0].reshape(o['shape']),
    'flatten': lambda xs, o, n: torch.flatten(xs[0], o.get('startAxis', 0), o.get('endAxis', -1)),
    'permute': lambda xs, o, n: xs[0].permute(*o['dims']),
    'transpose': lambda xs, o, n: xs[0].transpose(o.get('dim0', -2), o.get('dim1', -1)),
    'expand': lambda xs, o, n: xs[0].expand(*o['shape']),
    'slice': lambda xs, o, n: torch_slice(xs[0], o),
    'concat': lambda xs, o, n: torch.cat(xs, o.get('axis', 0)),
    'contiguous': lambda xs, o, n: xs[0].contiguous(),
    'squeeze': lambda xs, o, n: torch_squeeze(xs[0], o),
    'unsqueeze': lambda xs, o, n: xs[0].unsqueeze(o['axis']),
    'matmul': lambda xs, o, n: torch.matmul(xs[0], xs[1]),
    'linear': lambda xs, o, n: F.linear(n['x'], n['weight'], n.get('bias')),
    'softmax': lambda xs, o, n: torch.softmax(xs[0], o.get('axis', -1)),
    'logSoftmax': lambda xs, o, n: torch.log_softmax(xs[0], o.get('axis', -1)),
    'layerNorm': torch_layer_norm,
    'mseLoss': lambda xs, o, n: F.mse_loss(xs[0], xs[1], reduction=o.get('reduction', 'mean')),
}


def default_k(op, leaves, out, o):
    """Longest sum that the forward or backward pass performs (sets the tolerance of reductions)."""
    k = 1
    for x in leaves:
        if x.numel() and out.numel():
            k = max(k, round(out.numel() / x.numel()), round(x.numel() / out.numel()))
    return k


def make_case(name, op, inputs, options=None, args=None, k=None, grad_decimals=2):
    """inputs: list of (spec, float64 tensor). Runs the op under float64 autograd and returns the case."""
    options = options or {}
    g = Gen(name + '/gradOutput')
    leaves = []
    for spec, x64 in inputs:
        leaf = x64.clone().requires_grad_(spec['requiresGrad'])
        leaves.append(leaf)
    viewed = [apply_view(leaf, spec.get('view')) for leaf, (spec, _) in zip(leaves, inputs)]
    order = args if args is not None else list(range(len(inputs)))
    xs = [viewed[i] for i in order]
    named = {spec['name']: viewed[i] for i, (spec, _) in enumerate(inputs) if 'name' in spec}
    out = OPS[op](xs, options, named)
    assert out.dtype == torch.float64
    grad_out64, grad_vals = rounded(g.normal(out.shape), grad_decimals)
    if any(l.requires_grad for l in leaves):
        out.backward(grad_out64)
    grads = []
    for leaf in leaves:
        if not leaf.requires_grad:
            grads.append(None)
            continue
        gr = leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)
        grads.append({'shape': list(leaf.shape), 'values': [sig7(v) for v in gr.reshape(-1).tolist()]})
    case = {
        'name': name,
        'op': op,
        'options': options,
        'k': k if k is not None else default_k(op, leaves, out, options),
    }
    if args is not None:
        case['args'] = args
    case.update({
        'inputs': [spec for spec, _ in inputs],
        'output': {'shape': list(out.shape), 'values': [sig7(v) for v in out.detach().reshape(-1).tolist()]},
        'gradOutput': {'shape': list(out.shape), 'values': grad_vals},
        'grads': grads,
    })
    return case


# ---------------------------------------------------------------------------------------------------
# Cases. Shapes are odd on purpose: 1, primes (7, 13, 129 = 3*43, 257), nothing a multiple of 4/8/16/64
# unless that is the point, and at least one case per op spans many workgroups (33x129, 2x3x257).

def elementwise_cases():
    cases = []

    def binary(name, op, a_shape, b_shape, a_kind='normal', b_kind='normal', a_view=None, b_view=None, b_grad=True):
        G = Gen(name)
        kinds = {
            'normal': lambda s: G.normal(s),
            'positive': lambda s: G.uniform(s, 0.2, 2.5),
            'exponent': lambda s: G.uniform(s, -2.0, 2.0),
            'denom': lambda s: torch.sign(G.normal(s)) * G.uniform(s, 0.5, 2.0),
            'distinct': lambda s: G.distinct(s),
            'integers': lambda s: torch.randint(-2, 4, s, generator=G.g).double(),
            'awayfrom0': lambda s: torch.sign(G.normal(s)) * G.uniform(s, 0.3, 1.6),
            'ties': lambda s: G.ties(s),
        }
        a = inp(kinds[a_kind](a_shape), view=a_view)
        b = inp(kinds[b_kind](b_shape), view=b_view, requires_grad=b_grad)
        cases.append(make_case(name, op, [a, b]))

    def with_scalar(name, op, shape, scalar, side, kind='normal'):
        G = Gen(name)
        x = {'normal': G.normal, 'positive': lambda s: G.uniform(s, 0.2, 2.5),
             'denom': lambda s: torch.sign(G.normal(s)) * G.uniform(s, 0.5, 2.0)}[kind](shape)
        cases.append(make_case(name, op, [inp(x)], {'scalar': scalar, 'side': side}))

    T = ['transpose', -1, -2]
    # add
    binary('add/7x13+7x13', 'add', (7, 13), (7, 13))
    binary('add/2x1+257 (broadcast, big)', 'add', (2, 1), (257,))
    binary('add/2x3x5+rank0', 'add', (2, 3, 5), ())
    binary('add/1+13 (size-1)', 'add', (1,), (13,))
    binary('add/transposed 13x7 view + 7x13', 'add', (13, 7), (7, 13), a_view=[T])
    binary('add/permuted 5x3x2 view + 2x5x1', 'add', (5, 3, 2), (2, 5, 1), a_view=[['permute', [2, 0, 1]]])
    with_scalar('add/x+2', 'add', (7, 13), 2, 'right')
    with_scalar('add/2+x', 'add', (13,), 2, 'left')
    # sub
    binary('sub/2x3x97-3x1 (big)', 'sub', (2, 3, 97), (3, 1))
    binary('sub/rank0-7', 'sub', (), (7,))
    binary('sub/7x13 - transposed 13x7 view', 'sub', (7, 13), (13, 7), b_view=[T])
    binary('sub/13x1 - 1x7 (outer)', 'sub', (13, 1), (1, 7))
    with_scalar('sub/1-x', 'sub', (7, 13), 1, 'left')
    with_scalar('sub/x-0.25', 'sub', (129,), 0.25, 'right')
    # mul
    binary('mul/7x1x13*1x5x1', 'mul', (7, 1, 13), (1, 5, 1))
    binary('mul/1*129', 'mul', (1,), (129,))
    binary('mul/2x257*257 (big)', 'mul', (2, 257), (257,))
    binary('mul/permuted 3x5x7 view * 7x3x5', 'mul', (3, 5, 7), (7, 3, 5), a_view=[['permute', [2, 0, 1]]])
    binary('mul/rank0*13x7 transposed view', 'mul', (), (7, 13), b_view=[T])
    with_scalar('mul/x*0.5', 'mul', (7, 13), 0.5, 'right')
    with_scalar('mul/-3*x', 'mul', (2, 3, 5), -3, 'left')
    G = Gen('mul/x*x (same tensor twice)')
    cases.append(make_case('mul/x*x (same tensor twice)', 'mul', [inp(G.normal((7, 13)))], args=[0, 0]))
    # div
    binary('div/7x13/7x13', 'div', (7, 13), (7, 13), b_kind='denom')
    binary('div/2x257/1x257 (big)', 'div', (2, 257), (1, 257), b_kind='denom')
    binary('div/2x3x5/rank0', 'div', (2, 3, 5), (), b_kind='denom')
    binary('div/transposed/13x1', 'div', (13, 7), (13, 1), b_kind='denom', a_view=[T], b_view=[T])
    with_scalar('div/x/4', 'div', (7, 13), 4, 'right')
    with_scalar('div/1/x', 'div', (13, 7), 1, 'left', kind='denom')
    # pow
    binary('pow/positive 7x13 ^ 7x13', 'pow', (7, 13), (7, 13), a_kind='positive', b_kind='exponent')
    binary('pow/2x257 ^ 257 (big)', 'pow', (2, 257), (257,), a_kind='positive', b_kind='exponent')
    binary('pow/negative base ^ integral 13', 'pow', (5, 13), (13,), a_kind='awayfrom0', b_kind='integers', b_grad=False)
    binary('pow/transposed base ^ rank0', 'pow', (13, 7), (), a_kind='positive', b_kind='exponent', a_view=[T])
    with_scalar('pow/x^3 (any sign)', 'pow', (7, 13), 3, 'right')
    with_scalar('pow/x^2 (any sign)', 'pow', (2, 3, 5), 2, 'right')
    with_scalar('pow/x^0.5', 'pow', (129,), 0.5, 'right', kind='positive')
    with_scalar('pow/x^-1.5', 'pow', (7, 13), -1.5, 'right', kind='positive')
    with_scalar('pow/2^x', 'pow', (7, 13), 2, 'left')
    # maximum / minimum: tie-free
    for op in ('maximum', 'minimum'):
        binary(f'{op}/7x13,7x13', op, (7, 13), (7, 13), 'distinct', 'distinct')
        binary(f'{op}/2x257,2x1 (big)', op, (2, 257), (2, 1), 'distinct', 'distinct')
        binary(f'{op}/transposed 13x7 view, 13', op, (13, 7), (13,), 'distinct', 'distinct', a_view=[T])
        binary(f'{op}/rank0, 7', op, (), (7,), 'distinct', 'distinct')

    # maximum / minimum with ties: torch gives each side half the gradient where a == b
    # (where(a == b, g / 2, g).masked_fill_(a < b, 0) for maximum's a, and the mirror for b).
    for op in ('maximum', 'minimum'):
        binary(f'{op}/ties 7x13,7x13', op, (7, 13), (7, 13), 'ties', 'ties')
        binary(f'{op}/ties 4x64,4x64 (vec4 path)', op, (4, 64), (4, 64), 'ties', 'ties')
        binary(f'{op}/ties 2x3x5,3x1 (broadcast: the halves are summed)', op, (2, 3, 5), (3, 1), 'ties', 'ties')
        binary(f'{op}/ties rank0, 13', op, (), (13,), 'ties', 'ties')
        binary(f'{op}/ties transposed 13x7 view, 7x13', op, (13, 7), (7, 13), 'ties', 'ties', a_view=[T])
        name = f'{op}/x with itself (every element a tie)'
        G = Gen(name)
        cases.append(make_case(name, op, [inp(G.normal((7, 13)))], args=[0, 0]))

    # clamp: the gradient passes where min <= x <= max, bounds included (torch's clamp_backward), so
    # elements exactly on a bound keep all of it (unlike maximum / minimum's tie rule).
    def clamp(name, shape, lo, hi, view=None):
        G = Gen(name)
        o = {}
        if lo is not None:
            o['min'] = lo
        if hi is not None:
            o['max'] = hi
        cases.append(make_case(name, 'clamp', [inp(G.ties(shape, 7), view=view)], o))

    clamp('clamp/7x13 to [-0.5, 0.5] (many on a bound)', (7, 13), -0.5, 0.5)
    clamp('clamp/7x13 min 0 only', (7, 13), 0.0, None)
    clamp('clamp/7x13 max 0.5 only', (7, 13), None, 0.5)
    clamp('clamp/transposed 13x7 view to [-1, 0]', (13, 7), -1.0, 0.0, view=[T])
    clamp('clamp/4x64 to [0.5, 0.5] (vec4 path, min == max)', (4, 64), 0.5, 0.5)

    # comparisons: 1 or 0 in the inputs' dtype (torch returns bool; no gradient either way)
    def cmp(name, op, a, b, side=None, scalar=None):
        if scalar is not None:
            cases.append(make_case(name, op, [a], {'scalar': scalar, 'side': side}))
        else:
            cases.append(make_case(name, op, [a, b]))

    for op in ('eq', 'ne', 'lt', 'le', 'gt', 'ge'):
        G = Gen(f'{op}/compare')
        cmp(f'{op}/ties 7x13,7x13', op, inp(G.ties((7, 13)), False), inp(G.ties((7, 13)), False))
        cmp(f'{op}/ties 4x64,4x64 (vec4 path)', op, inp(G.ties((4, 64)), False), inp(G.ties((4, 64)), False))
        cmp(f'{op}/broadcast transposed 5x3 view, 2x1x5', op, inp(G.ties((5, 3)), False, view=[T]),
            inp(G.ties((2, 1, 5)), False))
        cmp(f'{op}/x vs 0.5', op, inp(G.ties((7, 13)), False), None, 'right', 0.5)
        cmp(f'{op}/0 vs x', op, inp(G.ties((13,)), False), None, 'left', 0)
        cmp(f'{op}/int32 7x13, 13', op, int_inp(torch.randint(-2, 3, (7, 13), generator=G.g)),
            int_inp(torch.randint(-2, 3, (13,), generator=G.g)))

    # unary
    unary_kinds = {
        'neg': 'normal', 'exp': 'normal', 'log': 'positive', 'sqrt': 'positive', 'relu': 'awayfrom0',
        'gelu': 'wide', 'sigmoid': 'wide', 'tanh': 'wide', 'abs': 'awayfrom0',
    }
    for op, kind in unary_kinds.items():
        for shape, view, label in [
            ((7, 13), None, '7x13'),
            ((2, 257), None, '2x257 (big)'),
            ((13, 7), [T], 'transposed 13x7 view'),
            ((1,), None, '1'),
            ((), None, 'rank0'),
            ((3, 5, 17), [['slice', 2, 2, 15], ['permute', [2, 0, 1]]], 'sliced+permuted view'),
        ]:
            name = f'{op}/{label}'
            G = Gen(name)
            x = {
                'normal': lambda s: G.normal(s),
                'wide': lambda s: G.normal(s, 2.5),
                'positive': lambda s: G.uniform(s, 0.05, 4.0),
                'awayfrom0': lambda s: torch.sign(G.normal(s)) * G.uniform(s, 0.01, 3.0),
            }[kind](shape)
            cases.append(make_case(name, op, [inp(x, view=view)]))
    return cases


def reduce_cases():
    cases = []
    configs = [
        ((7, 13), None, 0, False),
        ((7, 13), None, 1, True),
        ((7, 13), None, -1, False),
        ((2, 3, 257), None, [0, 2], True),  # big: many rows, strided reduced axes
        ((3, 5, 7), None, 1, False),
        ((3, 5, 7), None, None, False),
        ((3, 5, 7), None, None, True),
        ((13, 129), None, 0, False),  # big: column reduction
        ((5, 1, 7), None, 1, False),
        ((13, 7, 3), [['permute', [2, 0, 1]]], [1], True),
        ((13, 7, 3), [['permute', [2, 0, 1]]], [0, 2], False),
        ((1,), None, None, False),
        ((1031,), None, None, False),  # one long row: split into chunks plus a second pass
        ((3, 5, 7), [['transpose', 0, 2]], [0, 1], False),
    ]
    for op in ('sum', 'mean', 'max'):
        for shape, view, axis, keepdim in configs:
            label = 'x'.join(map(str, shape)) + (' view' if view else '')
            name = f'{op}/{label} axis={axis} keepdim={keepdim}'
            G = Gen(name)
            x = G.distinct(shape) if op == 'max' else G.normal(shape)
            options = {'keepdim': keepdim}
            if axis is not None:
                options['axis'] = axis
            cases.append(make_case(name, op, [inp(x, view=view)], options))
    G = Gen('sum/rank0')
    cases.append(make_case('sum/rank0', 'sum', [inp(G.normal(()))], {}))
    for shape, view, axis, keepdim in configs:
        if shape in ((13, 129), (2, 3, 257)):
            continue  # the same kernel paths as max's; min's ties below cover 2x3x257
        label = 'x'.join(map(str, shape)) + (' view' if view else '')
        name = f'min/{label} axis={axis} keepdim={keepdim}'
        options = {'keepdim': keepdim}
        if axis is not None:
            options['axis'] = axis
        cases.append(make_case(name, 'min', [inp(Gen(name).distinct(shape), view=view)], options))
    # Ties: our max / min are torch.amax / amin (values only, any set of axes), whose gradient is shared
    # evenly among the tied extremes of each reduced group. (x.max() over everything does the same;
    # torch.max(x, dim) would instead give it all to the one element its index points at.)
    tie_configs = [
        ((7, 13), None, 1, False),
        ((7, 13), None, 0, True),
        ((3, 5, 7), None, [0, 2], False),
        ((3, 5, 7), None, None, False),
        ((13, 7, 3), [['permute', [2, 0, 1]]], [1], True),
        ((2, 3, 257), None, [0, 2], True),
        ((1031,), None, None, False),  # chunked: the extreme tied across chunks
    ]
    for op in ('max', 'min'):
        for shape, view, axis, keepdim in tie_configs:
            label = 'x'.join(map(str, shape)) + (' view' if view else '')
            name = f'{op}/ties {label} axis={axis} keepdim={keepdim}'
            options = {'keepdim': keepdim}
            if axis is not None:
                options['axis'] = axis
            cases.append(make_case(name, op, [inp(Gen(name).ties(shape), view=view)], options))
        name = f'{op}/all equal 5x7 axis=1'
        cases.append(make_case(name, op, [inp(torch.full((5, 7), 0.25))], {'axis': 1, 'keepdim': False}))
    return cases


def view_cases():
    cases = []
    T = ['transpose', -1, -2]

    def one(name, op, shape, options, view=None):
        G = Gen(name)
        cases.append(make_case(name, op, [inp(G.normal(shape), view=view)], options))

    one('reshape/7x13->13x7', 'reshape', (7, 13), {'shape': [13, 7]})
    one('reshape/2x3x43->6x-1', 'reshape', (2, 3, 43), {'shape': [6, -1]})
    one('reshape/transposed view (copies)', 'reshape', (13, 7), {'shape': [91]}, view=[T])
    one('reshape/1->rank0', 'reshape', (1,), {'shape': []})
    one('reshape/rank0->1x1x1', 'reshape', (), {'shape': [1, 1, 1]})
    one('flatten/2x3x5x7 axes 1..2', 'flatten', (2, 3, 5, 7), {'startAxis': 1, 'endAxis': 2})
    one('permute/2x3x5 [2,0,1]', 'permute', (2, 3, 5), {'dims': [2, 0, 1]})
    one('permute/7x129 [1,0] (big)', 'permute', (7, 129), {'dims': [1, 0]})
    one('permute/permuted view', 'permute', (3, 7, 5, 2), {'dims': [3, 1, 0, 2]}, view=[['permute', [1, 3, 0, 2]]])
    one('transpose/7x13 default', 'transpose', (7, 13), {})
    one('transpose/2x3x5 (0,2)', 'transpose', (2, 3, 5), {'dim0': 0, 'dim1': 2})
    one('expand/7x1->7x13', 'expand', (7, 1), {'shape': [7, 13]})
    one('expand/1->3x5', 'expand', (1,), {'shape': [3, 5]})
    one('expand/3x1x5->2x3x4x5 (new leading)', 'expand', (3, 1, 5), {'shape': [2, 3, 4, 5]})
    one('expand/13x1->-1x129 (big)', 'expand', (13, 1), {'shape': [-1, 129]})
    one('expand/rank0->7x3', 'expand', (), {'shape': [7, 3]})
    one('slice/13x7 axis0 2..9', 'slice', (13, 7), {'axis': 0, 'start': 2, 'end': 9})
    one('slice/13x7 axis1 -5..end', 'slice', (13, 7), {'axis': 1, 'start': -5})
    one('slice/7x129 axis1 1..128 (big)', 'slice', (7, 129), {'axis': 1, 'start': 1, 'end': 128})
    one('slice/permuted view axis-1 1..-1', 'slice', (5, 3, 7), {'axis': -1, 'start': 1, 'end': -1},
        view=[['permute', [2, 0, 1]]])
    one('slice/clamped end', 'slice', (2, 3, 5), {'axis': 2, 'start': 3, 'end': 100})
    one('contiguous/transposed 13x7 view', 'contiguous', (13, 7), {}, view=[T])
    one('contiguous/sliced view', 'contiguous', (7, 13), {}, view=[['slice', 1, 2, 11]])
    one('contiguous/already contiguous', 'contiguous', (2, 3, 5), {})
    one('squeeze/1x7x1x13 all', 'squeeze', (1, 7, 1, 13), {})
    one('squeeze/1x7x1x13 axis0', 'squeeze', (1, 7, 1, 13), {'axis': 0})
    one('squeeze/1x7x1x13 axis1 (not 1: no-op)', 'squeeze', (1, 7, 1, 13), {'axis': 1})
    one('squeeze/transposed view', 'squeeze', (7, 1), {'axis': 0}, view=[T])
    one('unsqueeze/7x13 axis0', 'unsqueeze', (7, 13), {'axis': 0})
    one('unsqueeze/7x13 axis-1', 'unsqueeze', (7, 13), {'axis': -1})
    one('unsqueeze/7x13 axis1', 'unsqueeze', (7, 13), {'axis': 1})

    def cat(name, shapes, axis, views=None, grads=None):
        G = Gen(name)
        ins = [inp(G.normal(s), view=(views or {}).get(i), requires_grad=(grads or {}).get(i, True))
               for i, s in enumerate(shapes)]
        cases.append(make_case(name, 'concat', ins, {'axis': axis}))

    cat('concat/3x7,5x7,1x7 axis0', [(3, 7), (5, 7), (1, 7)], 0)
    cat('concat/7x2,7x13 axis1', [(7, 2), (7, 13)], 1)
    cat('concat/2x3x129,2x3x67 axis-1 (big)', [(2, 3, 129), (2, 3, 67)], -1)
    cat('concat/transposed views, one without grad', [(13, 7), (5, 7), (2, 7)], 1, views={0: [T], 1: [T], 2: [T]},
        grads={1: False})
    cat('concat/single tensor', [(5, 3)], 0)

    def stack(name, shapes, axis, views=None, grads=None):
        G = Gen(name)
        ins = [inp(G.normal(s), view=(views or {}).get(i), requires_grad=(grads or {}).get(i, True))
               for i, s in enumerate(shapes)]
        cases.append(make_case(name, 'stack', ins, {'axis': axis}))

    stack('stack/three 2x3 axis0', [(2, 3)] * 3, 0)
    stack('stack/two 7x13 axis-1', [(7, 13)] * 2, -1)
    stack('stack/two 2x3x43 axis1', [(2, 3, 43)] * 2, 1)
    stack('stack/transposed views axis1, one without grad', [(13, 7)] * 3, 1, views={0: [T], 1: [T], 2: [T]},
          grads={1: False})
    stack('stack/single 5x3 axis2', [(5, 3)], 2)
    stack('stack/rank0 tensors', [()] * 4, 0)
    return cases


def nn_cases():
    cases = []
    T = ['transpose', -1, -2]

    def mm(name, a_shape, b_shape, a_view=None, b_view=None, k=None):
        G = Gen(name)
        cases.append(make_case(name, 'matmul', [inp(G.normal(a_shape), view=a_view), inp(G.normal(b_shape), view=b_view)],
                               k=k))

    mm('matmul/1x1 @ 1x1', (1, 1), (1, 1), k=1)
    mm('matmul/1x1x1 @ 1x1x1', (1, 1, 1), (1, 1, 1), k=1)
    mm('matmul/7x13 @ 13x5', (7, 13), (13, 5), k=13)
    mm('matmul/2x3x5x17 @ 17x129 (big, broadcast batch)', (2, 3, 5, 17), (17, 129), k=129)
    mm('matmul/64x63 @ 63x5', (64, 63), (63, 5), k=64)
    mm('matmul/9x7 @ 2x7x65', (9, 7), (2, 7, 65), k=65)
    mm('matmul/transposed a: (13x7)^T @ 13x5', (13, 7), (13, 5), a_view=[T], k=13)
    mm('matmul/transposed b: 7x13 @ (5x13)^T', (7, 13), (5, 13), b_view=[T], k=13)
    mm('matmul/both transposed, batched', (3, 13, 7), (3, 5, 13), a_view=[T], b_view=[T], k=13)
    mm('matmul/3x1x7x13 @ 4x13x5 (broadcast batch)', (3, 1, 7, 13), (4, 13, 5), k=21)
    mm('matmul/1x7x13 @ 3x13x1', (1, 7, 13), (3, 13, 1), k=13)
    # Multiples of 4 take the engine's vec4 load paths (A along k or m, B along n or k); mix them with odd edges.
    mm('matmul/aligned 8x12 @ 12x20', (8, 12), (12, 20), k=20)
    mm('matmul/aligned transposed a: (12x8)^T @ 12x20', (12, 8), (12, 20), a_view=[T], k=20)
    mm('matmul/aligned transposed b: 8x12 @ (20x12)^T', (8, 12), (20, 12), b_view=[T], k=20)
    mm('matmul/K aligned, M and N odd: 7x12 @ 12x5', (7, 12), (12, 5), k=12)
    mm('matmul/N aligned, K odd: 5x7 @ 7x16', (5, 7), (7, 16), k=16)
    mm('matmul/aligned batched broadcast 2x1x8x12 @ 3x12x8', (2, 1, 8, 12), (3, 12, 8), k=16)
    mm('matmul/batch-sliced aligned a', (3, 8, 12), (12, 4), a_view=[['slice', 0, 1, 3]], k=16)
    mm('matmul/4 batch dims that do not collapse: 2x1x3x1x2x3 @ 5x1x4x3x2', (2, 1, 3, 1, 2, 3), (5, 1, 4, 3, 2), k=24)
    mm('matmul/vector @ matrix: 13 @ 13x5', (13,), (13, 5), k=13)
    mm('matmul/matrix @ vector: 7x13 @ 13', (7, 13), (13,), k=13)
    # Wide enough forward (N) and backward (K) for every variant, 16 column lanes included.
    mm('matmul/wide 37x41 @ 41x35', (37, 41), (41, 35), k=41)
    mm('matmul/wide aligned 36x40 @ 2x40x44', (36, 40), (2, 40, 44), k=72)
    mm('matmul/wide transposed b: 9x36 @ (40x36)^T', (9, 36), (40, 36), b_view=[T], k=40)

    def lin(name, x_shape, out_features, bias=True):
        G = Gen(name)
        in_features = x_shape[-1]
        ins = [inp(G.normal(x_shape), name='x'), inp(G.normal((out_features, in_features), 0.3), name='weight')]
        if bias:
            ins.append(inp(G.normal((out_features,)), name='bias'))
        rows = math.prod(x_shape[:-1])
        cases.append(make_case(name, 'linear', ins, k=max(in_features, out_features, rows)))

    lin('linear/7x13 -> 5', (7, 13), 5)
    lin('linear/2x3x17 -> 129 (big)', (2, 3, 17), 129)
    lin('linear/no bias 7x13 -> 5', (7, 13), 5, bias=False)
    lin('linear/1x1 -> 1', (1, 1), 1)
    lin('linear/vector 13 -> 7', (13,), 7)
    lin('linear/wide 2x5x37 -> 35', (2, 5, 37), 35)
    lin('linear/wide aligned 33x36 -> 40', (33, 36), 40)

    for op in ('softmax', 'logSoftmax'):
        for shape, axis, scale, label in [
            ((7, 13), -1, 1.0, '7x13 axis-1'),
            ((7, 13), 0, 1.0, '7x13 axis0'),
            ((3, 257), -1, 2.0, '3x257 axis-1 (big)'),
            ((13, 67), 0, 1.0, '13x67 axis0 (big)'),
            ((3, 5, 7), 1, 1.0, '3x5x7 axis1'),
            ((1,), -1, 1.0, '1'),
            ((5, 13), -1, 30.0, 'large logits 5x13'),
        ]:
            name = f'{op}/{label}'
            G = Gen(name)
            n = shape[axis]
            cases.append(make_case(name, op, [inp(G.normal(shape, scale))], {'axis': axis}, k=n))
        name = f'{op}/transposed 13x7 view axis-1'
        G = Gen(name)
        cases.append(make_case(name, op, [inp(G.normal((13, 7)), view=[T])], {'axis': -1}, k=13))

    def ln(name, shape, norm, weight=True, bias=True, eps=None, view=None):
        G = Gen(name)
        ins = [inp(G.normal(shape, 2.0) + 0.5, name='x', view=view)]
        if weight:
            ins.append(inp(1.0 + 0.3 * G.normal(norm), name='weight'))
        if bias:
            ins.append(inp(0.3 * G.normal(norm), name='bias'))
        options = {'normalizedShape': list(norm)}
        if eps is not None:
            options['eps'] = eps
        cases.append(make_case(name, 'layerNorm', ins, options, k=max(math.prod(norm), math.prod(shape) // math.prod(norm))))

    ln('layerNorm/7x13 [13]', (7, 13), (13,))
    ln('layerNorm/3x257 [257] (big)', (3, 257), (257,))
    ln('layerNorm/5x6x7 [6,7]', (5, 6, 7), (6, 7))
    ln('layerNorm/7x13 no affine', (7, 13), (13,), weight=False, bias=False)
    ln('layerNorm/7x13 weight only, eps 1e-3', (7, 13), (13,), bias=False, eps=1e-3)
    ln('layerNorm/13x67 [67]', (13, 67), (67,))
    ln('layerNorm/transposed 13x7 view [13]', (13, 7), (13,), view=[T])
    ln('layerNorm/1x1 [1]', (1, 1), (1,))

    for shape, reduction, target_grad in [
        ((7, 13), 'mean', True),
        ((7, 13), 'sum', False),
        ((7, 13), 'none', True),
        ((3, 257), 'mean', True),
        ((1,), 'mean', True),
        ((2, 3, 5), 'sum', True),
    ]:
        name = f'mseLoss/{"x".join(map(str, shape))} {reduction}'
        G = Gen(name)
        ins = [inp(G.normal(shape)), inp(G.normal(shape), requires_grad=target_grad)]
        cases.append(make_case(name, 'mseLoss', ins, {'reduction': reduction}))
    return cases


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    families = {'elementwise': elementwise_cases, 'reduce': reduce_cases, 'views': view_cases, 'nn': nn_cases}
    for family, build in families.items():
        cases = build()
        names = [c['name'] for c in cases]
        assert len(names) == len(set(names)), 'duplicate case names'
        doc = {'generator': 'scripts/gen_fixtures.py', 'torch': torch.__version__.split('+')[0], 'cases': cases}
        text = json.dumps(doc, separators=(',', ':'))
        path = os.path.join(OUT_DIR, f'{family}.json')
        with open(path, 'w') as f:
            f.write(text + '\n')
        total += len(text)
        print(f'{family}.json: {len(cases)} cases, {len(text) / 1024:.0f} KiB')
    print(f'total {total / 1024:.0f} KiB')


if __name__ == '__main__':
    sys.exit(main())
