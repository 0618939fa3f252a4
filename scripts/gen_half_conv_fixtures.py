#!/usr/bin/env python3
"""PyTorch references for the float16 kernels of conv2d, batchNorm2d, scaledDotProductAttention and
upsampleNearest. Read by packages/tensor/test/half.{conv,batchnorm,attention}.test.ts.

Run with Debian's PyTorch:  /usr/bin/python3 scripts/gen_half_conv_fixtures.py

The layout is that of scripts/gen_kernel_fixtures.py (whose helpers it uses) with inputs[i].dtype
"float16" (or "float32": batch norm's master weight, bias and running statistics). Every input value is
a half: big inputs and every upstream gradient are {"fill": ...} (the shared hash with a power-of-two
denominator), small ones are drawn and rounded to float16 once, stored exactly. The references are
float64 autograd on those very values, stored to 6 significant digits (float16 resolves about 3), so
they carry none of float16's rounding: the tests' tolerances (in units of float16's epsilon 2^-10) say
what the kernels' f32 arithmetic and their one rounding per stored result may add.
Writes packages/tensor/test/fixtures/half.kernels.json.
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import OUT_DIR, Gen  # noqa: E402
from gen_kernel_fixtures import OPS as KERNEL_OPS, apply_view, arr, hash_fill, seed_of  # noqa: E402

torch.set_default_dtype(torch.float64)
F16_EPS = 2.0 ** -10


def t_batch_norm(xs, o):
    """batchNorm2d with the fused epilogues: relu(bn(x)), relu(bn(x) + residual)."""
    x, w, b, rm, rv = xs[:5]
    y = F.batch_norm(x, rm, rv, w, b, training=o['training'], momentum=0.1, eps=1e-5)
    if len(xs) > 5:
        y = y + xs[5]
    return torch.relu(y) if o.get('relu') else y


OPS = {**KERNEL_OPS, 'batchNorm2d': t_batch_norm}


def half(t):
    return t.to(torch.float16).double()


def spec_of(t, requires_grad=True, dtype='float16', view=None):
    """An input holding float16 values, stored exactly (as float64 decimals)."""
    spec = {'shape': list(t.shape), 'dtype': dtype, 'values': [float(v) for v in t.reshape(-1).tolist()],
            'requiresGrad': requires_grad}
    if view:
        spec['view'] = view
    return spec, t


def normal(name, shape, scale=1.0, shift=0.0, requires_grad=True, dtype='float16', view=None):
    return spec_of(half(shift + scale * Gen(name).normal(shape)), requires_grad, dtype, view)


def fill(name, shape, requires_grad=True, levels=401, denominator=128, dtype='float16', view=None):
    """Uniform on [-200, 200] / denominator in steps of 1 / denominator (a power of two: exact in float16),
    from the shared hash: stored as its seed, not its values."""
    seed = seed_of(name)
    vals = hash_fill(math.prod(shape), seed, levels, denominator)
    spec = {'shape': list(shape), 'dtype': dtype, 'fill': {'seed': seed, 'levels': levels, 'denominator': denominator},
            'sum': sum(vals), 'requiresGrad': requires_grad}
    if view:
        spec['view'] = view
    return spec, torch.tensor(vals).reshape(shape)


def make_case(name, op, inputs, options=None, args=None, k=1, state_args=(), tol_fn=None):
    options = options or {}
    leaves = [t.clone().requires_grad_(spec['requiresGrad']) for spec, t in inputs]
    order = args if args is not None else list(range(len(inputs)))
    xs = [None if a is None else apply_view(leaves[a], inputs[a][0].get('view')) if isinstance(a, int)
          else apply_view(leaves[a['input']], a['view']) for a in order]
    out = OPS[op](xs, options)
    g_spec, g = fill(name + '/g', tuple(out.shape), False, 301)
    g_spec = {key: v for key, v in g_spec.items() if key not in ('dtype', 'requiresGrad')}
    if any(leaf.requires_grad for leaf in leaves):
        out.backward(g)
    grads = [arr(leaf.grad if leaf.grad is not None else torch.zeros_like(leaf), 6) if leaf.requires_grad else None
             for leaf in leaves]
    case = {'name': name, 'op': op, 'options': options, 'k': k}
    if args is not None:
        case['args'] = args
    case.update({'inputs': [spec for spec, _ in inputs], 'output': arr(out, 6), 'gradOutput': g_spec, 'grads': grads})
    if state_args:
        case['state'] = [dict(arg=a, **arr(xs[a], digits=9)) for a in state_args]
    if tol_fn:
        case['tol'] = tol_fn(xs, out, g, leaves)
    return case


# ---------------------------------------------------------------------------------------------------
def conv_cases():
    cases = []

    def conv(name, x_shape, w_shape, stride=1, padding=0, groups=1, bias=True, x_view=None, b_view=None):
        name = f'conv2d/{name}'
        x = fill(name + '/x', x_shape, view=x_view)
        w = fill(name + '/w', w_shape, denominator=512)
        ins = [x, w] + ([normal(name + '/b', (w_shape[0] * (2 if b_view else 1),), view=b_view)] if bias else [])
        xv = apply_view(x[1], x_view)
        N, C, H, W = xv.shape
        Fo, Cg, KH, KW = w_shape
        ph, pw = (padding, padding) if isinstance(padding, int) else padding
        OH = (H + 2 * ph - KH) // stride + 1
        OW = (W + 2 * pw - KW) // stride + 1
        k = max(Cg * KH * KW, Fo // groups * KH * KW, N * OH * OW)
        o = {'stride': stride, 'padding': padding, 'groups': groups}
        cases.append(make_case(name, 'conv2d', ins, o, k=k))

    conv('1x1 s1: 1x17x7x5 -> 33', (1, 17, 7, 5), (33, 17, 1, 1))
    conv('3x3 s1 p1: 2x3x7x5 -> 5', (2, 3, 7, 5), (5, 3, 3, 3), padding=1)
    conv('3x3 s2 p1: 2x17x7x5 -> 3', (2, 17, 7, 5), (3, 17, 3, 3), stride=2, padding=1)
    conv('3x3 s2 p0, no bias: 1x3x7x5 -> 17', (1, 3, 7, 5), (17, 3, 3, 3), stride=2, bias=False)
    conv('5x5 s1 p2: 2x3x6x9 -> 5', (2, 3, 6, 9), (5, 3, 5, 5), padding=2)
    conv('7x1 padding [3, 0]: 2x3x7x5 -> 4', (2, 3, 7, 5), (4, 3, 7, 1), padding=[3, 0])
    conv('3x3 s1 p1 on 1x1 spatial: 2x3x1x1 -> 5', (2, 3, 1, 1), (5, 3, 3, 3), padding=1)
    conv('1x1 on 1x1 spatial: 3x17x1x1 -> 33', (3, 17, 1, 1), (33, 17, 1, 1))
    conv('groups 2, 3x3 s1 p1: 2x6x7x5 -> 4', (2, 6, 7, 5), (4, 3, 3, 3), padding=1, groups=2)
    conv('groups 2, 1x1 s2, no bias: 2x6x7x5 -> 4', (2, 6, 7, 5), (4, 3, 1, 1), stride=2, groups=2, bias=False)
    # Rows a multiple of 4 wide: the weight gradient reads dy as vec4s.
    conv('3x3 s1 p1, rows of 8 (vec4 dy): 2x5x4x8 -> 7', (2, 5, 4, 8), (7, 5, 3, 3), padding=1)
    conv('NHWC view input, sliced bias: 2x3x7x5 -> 5, 3x3 s1 p1', (2, 7, 5, 3), (5, 3, 3, 3), padding=1,
         x_view=[['permute', [0, 3, 1, 2]]], b_view=[['slice', 0, 3, 8]])
    conv('batch-sliced input (odd offset): 2x3x7x5 -> 5, 3x3 s2 p1', (3, 3, 7, 5), (5, 3, 3, 3), stride=2, padding=1,
         x_view=[['slice', 0, 1, 3]])
    conv('large: 1x32x16x12 -> 32, 3x3 s1 p1', (1, 32, 16, 12), (32, 32, 3, 3), padding=1)
    conv('HRNet stem: 1x3x32x24 -> 8, 3x3 s2 p1', (1, 3, 32, 24), (8, 3, 3, 3), stride=2, padding=1)
    return cases


def bn_cases():
    cases = []
    SUM = {'atol': 5e-5, 'rtol': 1e-4, 'atolPerK': 2e-7}

    def sum_tol(xs, out, g, leaves):
        return {'why': 'float32 dweight and dbias are float32 sums over the k = N*H*W values of a channel',
                'grads': [None, SUM, SUM, None, None]}

    def half_stats_tol(xs, out, g, leaves):
        return {'why': 'float16 running statistics are rounded to float16 once, when stored',
                'state': {'atol': 1e-6, 'rtol': F16_EPS}}

    def bn(name, x_shape, training=True, running=True, relu=False, residual=False, half_params=False, x_view=None,
           shift=0.0):
        name = f'batchNorm2d/{name}'
        C = x_shape[1] if not x_view else x_shape[3]
        p = 'float16' if half_params else 'float32'
        x = normal(name + '/x', x_shape, 1.0, shift) if shift else fill(name + '/x', x_shape, view=x_view)
        ins = [x, normal(name + '/w', (C,), 0.3, 1.0, dtype=p), normal(name + '/b', (C,), 0.3, dtype=p)]
        args = [0, 1, 2]
        if running:
            ins += [normal(name + '/rm', (C,), 0.5, 0.0, False, p), spec_of(half(Gen(name + '/rv').uniform((C,), 0.5, 2.0)), False, p)]
            args += [3, 4]
        else:
            args += [None, None]
        if residual:
            ins.append(fill(name + '/r', x_shape))
            args.append(len(ins) - 1)
        o = {'training': training, 'relu': relu or residual}
        k = math.prod(x_shape) // C
        state = (3, 4) if running and training else ()
        cases.append(make_case(name, 'batchNorm2d', ins, o, args=args, k=k, state_args=state,
                               tol_fn=half_stats_tol if half_params else sum_tol))

    bn('training 2x3x7x5', (2, 3, 7, 5))
    bn('training 1x1 spatial: 5x17x1x1', (5, 17, 1, 1))
    bn('training 2x1x1x1 (two values per channel)', (2, 1, 1, 1))
    bn('training without running stats, relu: 2x3x7x5', (2, 3, 7, 5), running=False, relu=True)
    bn('training plane a multiple of 4 (vec4), relu: 2x3x4x6', (2, 3, 4, 6), relu=True)
    bn('training residual + relu: 2x5x3x3', (2, 5, 3, 3), residual=True)
    bn('training residual + relu, vec4: 2x3x4x4', (2, 3, 4, 4), residual=True)
    bn('training permuted NHWC view: 2x3x7x5', (2, 7, 5, 3), x_view=[['permute', [0, 3, 1, 2]]])
    bn('training shifted data (mean 3): 2x17x5x3', (2, 17, 5, 3), shift=3.0)
    bn('eval 2x3x7x5', (2, 3, 7, 5), training=False)
    bn('eval vec4, relu: 3x5x2x6', (3, 5, 2, 6), training=False, relu=True)
    bn('eval float16 parameters and statistics: 2x3x7x5', (2, 3, 7, 5), training=False, half_params=True)
    bn('training float16 parameters and statistics, vec4: 2x3x4x4', (2, 3, 4, 4), half_params=True)
    bn('training HRNet plane 64x48: 1x2x64x48', (1, 2, 64, 48))
    bn('training plane 1155 (scalar path): 1x2x35x33', (1, 2, 35, 33))
    return cases


def attention_cases():
    cases = []

    def tol(xs, out, g, leaves):
        # delta = rowsum(dO * O) is taken from the float16 output O, one rounding (<= 1 ulp, 2^-10 relative)
        # per element off the exact O: |delta error| <= 2^-10 * sum|dO * O|. dS = P (dP - delta), so dq_i moves
        # by at most scale * err_i * max_j |k_j| and dk_j by scale * sum_i P_ij err_i |q_i|. Twice that, plus
        # the op's tolerance.
        q, k, v = (x.detach() for x in xs)
        scale = 1 / math.sqrt(q.shape[-1])
        p = torch.softmax(q @ k.transpose(-1, -2) * scale, -1)
        err = F16_EPS * (g.abs() * out.detach().abs()).sum(-1)  # [B, H, L]
        dq = scale * err * k.abs().amax((-1, -2))[..., None]
        dk = scale * p.transpose(-1, -2) @ (err[..., None] * q.abs())
        extra = 2 * max(float(dq.max()), float(dk.max()))
        grad = {'atol': 1e-5 + extra, 'rtol': F16_EPS, 'atolPerK': 1e-7}
        return {'why': f'dq and dk use delta from the float16 output: + {extra:.2g} (see the generator)',
                'grads': [grad] * len(leaves)}

    def att(name, shape, offset=False, qkv=False):
        name = f'attention/{name}'
        B, H, L, D = shape
        if qkv:
            leaf = fill(name + '/qkv', (B, L, 3 * H, D))
            args = [{'input': 0, 'view': [['slice', 2, i * H, (i + 1) * H], ['permute', [0, 2, 1, 3]]]} for i in range(3)]
            cases.append(make_case(name, 'scaledDotProductAttention', [leaf], {}, args=args, k=max(L, D), tol_fn=tol))
            return
        lshape = shape if not offset else (B, H, L, D + 4)
        view = [['slice', -1, 4, D + 4]] if offset else None
        ins = [fill(f'{name}/{i}', lshape, view=view) for i in range(3)]
        cases.append(make_case(name, 'scaledDotProductAttention', ins, {}, k=max(L, D), tol_fn=tol))

    att('B2 H2 L17 D16', (2, 2, 17, 16))
    att('L1: B2 H2 L1 D16', (2, 2, 1, 16))
    att('B1 H1 L17 D24 (TMPose head dim)', (1, 1, 17, 24))
    att('B1 H1 L9 D32', (1, 1, 9, 32))
    att('B1 H1 L9 D64', (1, 1, 9, 64))
    att('B1 H1 L5 D128', (1, 1, 5, 128))
    att('qkv split from one [B, L, 3H, D] tensor: B2 H2 L9 D16', (2, 2, 9, 16), qkv=True)
    att('offset views (slice of D + 4, offset 4): B1 H2 L7 D16', (1, 2, 7, 16), offset=True)
    att('large, TMPose tokens at keep 0.6: B1 H1 L170 D24', (1, 1, 170, 24))
    return cases


def upsample_cases():
    cases = []

    def up(name, shape, factor, view=None):
        name = f'upsampleNearest/{name}'
        cases.append(make_case(name, 'upsampleNearest', [fill(name + '/x', shape, view=view)], {'factor': factor},
                               k=factor * factor))

    up('factor 2: 2x3x7x5', (2, 3, 7, 5), 2)
    up('factor 4: 1x3x5x3', (1, 3, 5, 3), 4)
    up('factor 3: 1x1x1x1', (1, 1, 1, 1), 3)
    up('factor 2, sliced view (odd offset): 1x3x5x7', (2, 3, 5, 7), 2, view=[['slice', 0, 1, 2]])
    return cases


def main():
    cases = conv_cases() + bn_cases() + attention_cases() + upsample_cases()
    names = [c['name'] for c in cases]
    assert len(names) == len(set(names)), 'duplicate case names'
    doc = {'generator': 'scripts/gen_half_conv_fixtures.py', 'torch': torch.__version__.split('+')[0], 'cases': cases}
    text = json.dumps(doc, separators=(',', ':'))
    with open(os.path.join(OUT_DIR, 'half.kernels.json'), 'w') as f:
        f.write(text + '\n')
    print(f'half.kernels.json: {len(cases)} cases, {len(text) / 1024:.0f} KiB')


if __name__ == '__main__':
    sys.exit(main())
