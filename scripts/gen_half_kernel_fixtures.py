#!/usr/bin/env python3
"""PyTorch references for the float16 kernels (matmul / linear, elementwise, reductions, softmax,
layerNorm, copies and views, gatherTokens, mseLoss), forward and backward. Read by
packages/tensor/test/half.ops.test.ts and half.matmul.test.ts.

Run with Debian's PyTorch:  /usr/bin/python3 scripts/gen_half_kernel_fixtures.py   (part of `pnpm fixtures`)

Inputs and the upstream gradient are drawn in float64 and rounded to float16 (the JSON stores those
halves as floats, which JavaScript parses to the same numbers and rounds to the same halves); the
reference output and gradients are computed by torch autograd in float64 from them, so they carry none of
float16's rounding: the tests' tolerances (in units of float16's epsilon 2^-10) say what the kernels'
f32 arithmetic and f16 stores may add. Same JSON layout as scripts/gen_fixtures.py with inputs[i].dtype
"float16" (or "float32": layerNorm's master weights, "int32"), and big inputs as {"fill": ...}
(gen_kernel_fixtures.py's hash, with a power-of-two denominator so that every value is a half).
Writes packages/tensor/test/fixtures/half.ops.json.
"""
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import OPS, OUT_DIR, Gen, apply_view, default_k, sig7  # noqa: E402
from gen_kernel_fixtures import hash_fill, seed_of, t_gather  # noqa: E402

torch.set_default_dtype(torch.float64)
ALL_OPS = {**OPS, 'gatherTokens': lambda xs, o, n: t_gather(xs, o)}


def half(t):
    return t.to(torch.float16).double()


def short(x, dtype='float16'):
    """The shortest decimals that round back to each value in its dtype (numpy's repr), checked through
    float32 too, as the test reads them (a Float32Array, then rounded to float16)."""
    np_type = np.float16 if dtype == 'float16' else np.float32
    out = [0.0 if v == 0 else float(repr(np_type(v))) for v in x.reshape(-1).tolist()]
    assert all(float(np_type(np.float32(d))) == v for d, v in zip(out, x.reshape(-1).tolist()))
    return out


def sig5(v):
    # 5 significant digits: a relative rounding of <= 5e-5, 1/20 of float16's epsilon.
    r = float(f'{sig7(v):.5g}')
    return 0.0 if r == 0 else r


def h16(values, requires_grad=True, view=None, name=None, dtype='float16'):
    """An input rounded to float16 (or to float32 with dtype='float32')."""
    x = half(values) if dtype == 'float16' else values.float().double()
    spec = {'shape': list(values.shape), 'dtype': dtype, 'values': short(x, dtype),
            'requiresGrad': requires_grad}
    if view:
        spec['view'] = view
    if name:
        spec['name'] = name
    return spec, x


def fill16(shape, label, requires_grad=True, levels=1001, denominator=256):
    """A big input regenerated from a hash: values k/256, |k| <= 500, every one a half."""
    seed = seed_of(label)
    vals = hash_fill(math.prod(shape), seed, levels, denominator)
    spec = {'shape': list(shape), 'dtype': 'float16', 'requiresGrad': requires_grad,
            'fill': {'seed': seed, 'levels': levels, 'denominator': denominator}, 'sum': sig7(sum(vals))}
    return spec, torch.tensor(vals).reshape(shape)


def case(name, op, inputs, options=None, args=None, k=None):
    options = options or {}
    leaves = [x.clone().requires_grad_(spec['requiresGrad']) for spec, x in inputs]
    viewed = [apply_view(leaf, spec.get('view')) for leaf, (spec, _) in zip(leaves, inputs)]
    xs = [viewed[i] for i in (args if args is not None else range(len(inputs)))]
    named = {spec['name']: viewed[i] for i, (spec, _) in enumerate(inputs) if 'name' in spec}
    out = ALL_OPS[op](xs, options, named)
    grad_out = half(Gen(name + '/gradOutput').normal(out.shape))
    if any(l.requires_grad for l in leaves):
        out.backward(grad_out)
    grads = [None if not l.requires_grad else
             {'shape': list(l.shape), 'values': [sig5(v) for v in (l.grad if l.grad is not None else torch.zeros_like(l)).reshape(-1).tolist()]}
             for l in leaves]
    return {
        'name': name, 'op': op, 'options': options, 'k': k if k is not None else default_k(op, leaves, out, options),
        **({'args': args} if args is not None else {}),
        'inputs': [spec for spec, _ in inputs],
        'output': {'shape': list(out.shape), 'values': [sig5(v) for v in out.detach().reshape(-1).tolist()]},
        'gradOutput': {'shape': list(out.shape), 'values': short(grad_out)},
        'grads': grads,
    }


T = ['transpose', -1, -2]


def elementwise_cases():
    cases = []

    def draw(G, kind, shape):
        return {
            'normal': lambda: G.normal(shape),
            'positive': lambda: G.uniform(shape, 0.2, 2.5),
            'exponent': lambda: G.uniform(shape, -2.0, 2.0),
            'denom': lambda: torch.sign(G.normal(shape)) * G.uniform(shape, 0.5, 2.0),
            'awayfrom0': lambda: torch.sign(G.normal(shape)) * G.uniform(shape, 0.3, 1.6),
            'ties': lambda: G.ties(shape),
        }[kind]()

    def binary(name, op, a_shape, b_shape, a_kind='normal', b_kind='normal', a_view=None, b_view=None, grad=True):
        G = Gen(name)
        cases.append(case(name, op, [h16(draw(G, a_kind, a_shape), grad, a_view), h16(draw(G, b_kind, b_shape), grad, b_view)]))

    def scalar(name, op, shape, s, side, kind='normal'):
        cases.append(case(name, op, [h16(draw(Gen(name), kind, shape))], {'scalar': s, 'side': side}))

    def unary(name, op, shape, kind='normal', view=None):
        cases.append(case(name, op, [h16(draw(Gen(name), kind, shape), view=view)]))

    # Odd element counts (the last half of a word used alone), size 1, broadcasts, strided views, odd offsets.
    binary('add/7x13+7x13', 'add', (7, 13), (7, 13))
    binary('add/2x1+257 (broadcast)', 'add', (2, 1), (257,))
    binary('add/1+13 (size 1)', 'add', (1,), (13,))
    binary('add/transposed 13x7 view + 7x13', 'add', (13, 7), (7, 13), a_view=[T])
    binary('add/odd offset 3x6[:, 1:] + 5', 'add', (3, 6), (5,), a_view=[['slice', 1, 1, 6]])
    binary('add/4x64+4x64 (vec4 path)', 'add', (4, 64), (4, 64))
    scalar('add/x+2', 'add', (7, 13), 2, 'right')
    binary('sub/2x3x97-3x1', 'sub', (2, 3, 97), (3, 1))
    scalar('sub/1-x', 'sub', (13,), 1, 'left')
    binary('mul/7x1x13*1x5x1', 'mul', (7, 1, 13), (1, 5, 1))
    binary('mul/4x32*32 (vec4 path, broadcast)', 'mul', (4, 32), (32,))
    scalar('mul/x*0.3', 'mul', (7, 13), 0.3, 'right')
    binary('div/7x13/7x13', 'div', (7, 13), (7, 13), b_kind='denom')
    scalar('div/1/x', 'div', (13, 7), 1, 'left', kind='denom')
    binary('pow/positive 7x13 ^ 7x13', 'pow', (7, 13), (7, 13), a_kind='positive', b_kind='exponent')
    binary('maximum/ties 7x13', 'maximum', (7, 13), (7, 13), a_kind='ties', b_kind='ties')
    binary('minimum/ties 5x1 vs 5x9', 'minimum', (5, 1), (5, 9), a_kind='ties', b_kind='ties')
    binary('lt/ties 7x13', 'lt', (7, 13), (7, 13), a_kind='ties', b_kind='ties', grad=False)
    binary('eq/ties 13 vs 3x13', 'eq', (13,), (3, 13), a_kind='ties', b_kind='ties', grad=False)
    unary('neg/7x13', 'neg', (7, 13))
    unary('abs/7x13', 'abs', (7, 13), 'awayfrom0')
    unary('relu/7x13', 'relu', (7, 13), 'awayfrom0')
    unary('relu/8x33 (vec4 path)', 'relu', (8, 33), 'awayfrom0')
    unary('gelu/7x13', 'gelu', (7, 13))
    unary('gelu/8x33 (vec4 path, per lane)', 'gelu', (8, 33))
    unary('gelu/transposed 13x7 view', 'gelu', (13, 7), view=[T])
    unary('exp/7x13', 'exp', (7, 13), 'exponent')
    unary('log/7x13', 'log', (7, 13), 'positive')
    unary('sqrt/7x13', 'sqrt', (7, 13), 'positive')
    unary('sigmoid/7x13', 'sigmoid', (7, 13))
    unary('tanh/7x13', 'tanh', (7, 13))
    cases.append(case('clamp/7x13 to [-0.5, 0.75]', 'clamp', [h16(Gen('clamp').normal((7, 13)))], {'min': -0.5, 'max': 0.75}))
    return cases


def reduce_cases():
    cases = []

    def red(name, op, x, o):
        cases.append(case(name, op, [x], o))

    red('sum/all of 7x13', 'sum', h16(Gen('sum1').normal((7, 13))), {})
    red('sum/axis 1 of 5x1031 (split rows, f32 partials)', 'sum', h16(Gen('sum2').normal((5, 1031))), {'axis': 1, 'keepdim': True})
    red('sum/axes 0,2 of 3x5x7', 'sum', h16(Gen('sum3').normal((3, 5, 7))), {'axis': [0, 2]})
    red('sum/all of 1', 'sum', h16(Gen('sum4').normal((1,))), {})
    red('sum/all of 12289 (big)', 'sum', fill16((12289,), 'sum/big'), {})
    red('mean/axis 0 of 13x7', 'mean', h16(Gen('mean1').normal((13, 7))), {'axis': 0})
    red('mean/all of 3x1031', 'mean', h16(Gen('mean2').normal((3, 1031))), {})
    red('max/axis 1 of ties 7x13', 'max', h16(Gen('max1').ties((7, 13))), {'axis': 1})
    red('min/all of 3x5x7', 'min', h16(Gen('min1').distinct((3, 5, 7))), {})
    return cases


def view_cases():
    cases = []
    G = Gen('views')
    cases.append(case('contiguous/transposed 7x13', 'contiguous', [h16(G.normal((7, 13)), view=[T])]))
    cases.append(case('concat/3x5 and 2x5 on axis 0', 'concat', [h16(G.normal((3, 5))), h16(G.normal((2, 5)))], {'axis': 0}))
    cases.append(case('concat/3x5 and 3x2 on axis 1', 'concat', [h16(G.normal((3, 5))), h16(G.normal((3, 2)))], {'axis': 1}))
    cases.append(case('stack/two 3x5', 'stack', [h16(G.normal((3, 5))), h16(G.normal((3, 5)))], {'axis': 1}))
    cases.append(case('slice/odd start of 7x13', 'slice', [h16(G.normal((7, 13)))], {'axis': 1, 'start': 3, 'end': 10}))
    cases.append(case('expand/3x1 to 3x7', 'expand', [h16(G.normal((3, 1)))], {'shape': [3, 7]}))
    cases.append(case('permute/2x3x5', 'permute', [h16(G.normal((2, 3, 5)))], {'dims': [2, 0, 1]}))
    cases.append(case('gatherTokens/2x7x5, repeated picks', 'gatherTokens', [h16(G.normal((2, 7, 5)))],
                      {'hostIndex': [[0, 3, 3], [6, 1, 0]]}, k=2))
    cases.append(case('gatherTokens/1x7x5 shared by 2 samples', 'gatherTokens', [h16(G.normal((1, 7, 5)))],
                      {'hostIndex': [[2, 4], [4, 5]]}, k=2))
    return cases


def gemm_cases():
    cases = []

    def mm(name, a_shape, b_shape, a_view=None, b_view=None):
        G = Gen(name)
        cases.append(case(name, 'matmul', [h16(G.normal(a_shape), view=a_view), h16(G.normal(b_shape), view=b_view)]))

    # Read modes: vec4 along k / m / n, scalar; sizes 1, odd, not multiples of 4, batched and broadcast.
    mm('matmul/7x13 @ 13x9 (scalar loads)', (7, 13), (13, 9))
    mm('matmul/1x5 @ 5x1', (1, 5), (5, 1))
    mm('matmul/vector 13 @ 13x6', (13,), (13, 6))
    mm('matmul/12x16 @ 16x20 (vec4 k, n)', (12, 16), (16, 20))
    mm('matmul/(16x12)T @ (20x16)T (vec4 m, k)', (16, 12), (20, 16), a_view=[T], b_view=[T])
    mm('matmul/(9x12)T @ 9x20 (vec4 m, K odd)', (9, 12), (9, 20), a_view=[T])
    mm('matmul/2x3x7x13 @ 13x6 (batch broadcast)', (2, 3, 7, 13), (13, 6))
    mm('matmul/2x9x37 @ 37x35 (wide: every variant)', (2, 9, 37), (37, 35))
    mm('matmul/8x36 @ 36x44 (wide, vec4)', (8, 36), (36, 44))
    cases.append(case('matmul/67x130 @ 130x72 (big)', 'matmul', [fill16((67, 130), 'mm/a'), fill16((130, 72), 'mm/b')]))

    def lin(name, x_shape, out_f, bias=True):
        G = Gen(name)
        inputs = [h16(G.normal(x_shape), name='x'), h16(G.normal((out_f, x_shape[-1])) * 0.5, name='weight')]
        if bias:
            inputs.append(h16(G.normal((out_f,)), name='bias'))
        cases.append(case(name, 'linear', inputs))

    lin('linear/3x5x13 -> 9 with bias', (3, 5, 13), 9)
    lin('linear/7x13 -> 5, no bias', (7, 13), 5, bias=False)
    lin('linear/6x36 -> 37 (wide)', (6, 36), 37)
    lin('linear/3x64 -> 40 (vec4)', (3, 64), 40)
    return cases


def nn_cases():
    cases = []
    G = Gen('nn')
    cases.append(case('softmax/7x13', 'softmax', [h16(G.normal((7, 13)) * 2)]))
    cases.append(case('softmax/3x5x7 axis 1', 'softmax', [h16(G.normal((3, 5, 7)) * 2)], {'axis': 1}))
    cases.append(case('softmax/2x1031 (long rows)', 'softmax', [h16(G.normal((2, 1031)) * 3)]))
    cases.append(case('logSoftmax/7x13', 'logSoftmax', [h16(G.normal((7, 13)) * 2)]))
    cases.append(case('layerNorm/3x5x13 over 13, float16 weight and bias', 'layerNorm',
                      [h16(G.normal((3, 5, 13)) + 0.5, name='x'), h16(1 + 0.3 * G.normal((13,)), name='weight'),
                       h16(0.2 * G.normal((13,)), name='bias')], {'normalizedShape': [13]}))
    cases.append(case('layerNorm/7x13 over 13, float32 master weight and bias', 'layerNorm',
                      [h16(G.normal((7, 13)), name='x'), h16(1 + 0.3 * G.normal((13,)), name='weight', dtype='float32'),
                       h16(0.2 * G.normal((13,)), name='bias', dtype='float32')], {'normalizedShape': [13]}))
    cases.append(case('layerNorm/2x5x7 over 5x7, no affine', 'layerNorm', [h16(G.normal((2, 5, 7)), name='x')], {'normalizedShape': [5, 7]}))
    cases.append(case('layerNorm/9x257 over 257 (big)', 'layerNorm',
                      [h16(G.normal((9, 257)), name='x'), h16(1 + 0.3 * G.normal((257,)), name='weight'),
                       h16(0.2 * G.normal((257,)), name='bias')], {'normalizedShape': [257]}))
    cases.append(case('mseLoss/7x13 mean', 'mseLoss', [h16(G.normal((7, 13))), h16(G.normal((7, 13)), requires_grad=False)]))
    cases.append(case('mseLoss/3x5x9 sum', 'mseLoss', [h16(G.normal((3, 5, 9))), h16(G.normal((3, 5, 9)))], {'reduction': 'sum'}))
    cases.append(case('mseLoss/5x7 none', 'mseLoss', [h16(G.normal((5, 7))), h16(G.normal((5, 7)))], {'reduction': 'none'}))
    return cases


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    cases = elementwise_cases() + reduce_cases() + view_cases() + gemm_cases() + nn_cases()
    names = [c['name'] for c in cases]
    assert len(names) == len(set(names)), 'duplicate case names'
    doc = {'generator': 'scripts/gen_half_kernel_fixtures.py', 'torch': torch.__version__.split('+')[0], 'cases': cases}
    text = json.dumps(doc, separators=(',', ':'))
    with open(os.path.join(OUT_DIR, 'half.ops.json'), 'w') as f:
        f.write(text + '\n')
    print(f'half.ops.json: {len(names)} cases, {len(text) / 1024:.0f} KiB')


if __name__ == '__main__':
    sys.exit(main())
