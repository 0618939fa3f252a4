#!/usr/bin/env python3
"""PyTorch reference fixtures for the TMPose kernels: conv2d, batchNorm2d, scaledDotProductAttention,
gatherTokens and upsampleNearest. Read by packages/tensor/test/kernels.fixtures.test.ts.

Run with Debian's PyTorch:  /usr/bin/python3 scripts/gen_kernel_fixtures.py   (part of `pnpm fixtures`)

Same conventions as scripts/gen_fixtures.py (whose helpers it imports): one torch.Generator per case
seeded from the case name; inputs drawn in float64, rounded to a few decimals and then to float32 (the
JSON stores the decimals, which JavaScript parses to the very same float32 values); the reference
output and gradients computed by torch autograd in float64 from those float32 inputs and stored to 7
significant digits. Writes packages/tensor/test/fixtures/kernels.json.

The JSON layout is that of gen_fixtures.py, plus:
  inputs[i].dtype     "float32" or "int32" (int32 inputs never require grad)
  args                the op's positional arguments, each an input index (that input after its own
                      "view"), null (the argument is passed as null), or {"input": i, "view": [...]}:
                      another view of input i's leaf (q, k and v split from one qkv tensor)
  options             the op's options in TypeScript names; gatherTokens' "hostIndex" (a flat list or
                      one list per sample) replaces the index tensor
  state               [{"arg", "shape", "values"}]: an argument's values after the call (batchNorm2d's
                      running mean and variance, updated in place), to 9 significant digits
  tol                 optional per-case tolerances that replace the op's, with the reason:
                      {"why", "output": {"atol", "rtol"}, "grads": [{"atol", "rtol"} | null], "state": {..}}
                      (each may add "atolPerK"; a missing or null entry keeps the op's tolerance)
"""
import hashlib
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import OUT_DIR, Gen, apply_view as base_view, inp, rounded, sig7  # noqa: E402

torch.set_default_dtype(torch.float64)
F32_EPS = 2.0 ** -23  # float32 machine epsilon (1.19e-7)


apply_view = base_view


def arr(t, digits=7):
    def sig(v):
        r = sig7(v) if digits == 7 else float(f'{float(v):.{digits}g}')
        return 0.0 if r == 0 else r
    return {'shape': list(t.shape), 'values': [sig(v) for v in t.detach().reshape(-1).tolist()]}


def int_inp(values):
    t = torch.tensor(values, dtype=torch.int64)
    return {'shape': list(t.shape), 'dtype': 'int32', 'values': t.reshape(-1).tolist(), 'requiresGrad': False}, t


HASH_MASK = 0xFFFFFFFF


def hash_fill(n, seed, levels, denominator):
    """Values (h(i) % levels - (levels - 1) / 2) / denominator with h a 32-bit integer hash (lowbias32 of
    i + seed * 0x9E3779B9): cheap to reproduce bit for bit in JavaScript (Math.imul), so the big cases
    store {"fill": ...} instead of their input values. The division is exactly rounded in both languages."""
    out = []
    for i in range(n):
        h = (i + seed * 0x9E3779B9) & HASH_MASK
        h ^= h >> 16
        h = (h * 0x7FEB352D) & HASH_MASK
        h ^= h >> 15
        h = (h * 0x846CA68B) & HASH_MASK
        h ^= h >> 16
        out.append((h % levels - (levels - 1) // 2) / denominator)
    return out


def seed_of(label):
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:4], 'little')


def fill_spec(shape, seed, levels=401, denominator=100):
    vals = hash_fill(math.prod(shape), seed, levels, denominator)
    f32 = torch.tensor(vals, dtype=torch.float32).double().reshape(shape)
    return {'shape': list(shape), 'fill': {'seed': seed, 'levels': levels, 'denominator': denominator},
            'sum': sig7(sum(vals))}, f32


def fill_inp(shape, seed, requires_grad=True, view=None, levels=401, denominator=100):
    spec, t = fill_spec(shape, seed, levels, denominator)
    spec.update({'dtype': 'float32', 'requiresGrad': requires_grad})
    if view:
        spec['view'] = view
    return spec, t


# --- the ops, in float64, with the TypeScript argument order --------------------------------------
def t_conv2d(xs, o):
    x, w, b = (xs + [None])[:3]
    return F.conv2d(x, w, b, stride=o.get('stride', 1), padding=o.get('padding', 0), groups=o.get('groups', 1))


def t_batch_norm(xs, o):
    x, w, b, rm, rv = xs
    return F.batch_norm(x, rm, rv, w, b, training=o.get('training', True), momentum=o.get('momentum', 0.1),
                        eps=o.get('eps', 1e-5))


def t_attention(xs, o):
    q, k, v = xs
    scale = o.get('scale', 1 / math.sqrt(q.shape[-1]))
    return torch.softmax(q @ k.transpose(-1, -2) * scale, -1) @ v


def t_gather(xs, o):
    x = xs[0]
    idx = torch.tensor(o['hostIndex']) if 'hostIndex' in o else xs[1]
    if idx.dim() == 1:
        idx = idx.unsqueeze(0).expand(x.shape[0], -1)
    B, K = idx.shape
    xe = x.expand(B, -1, -1)
    return torch.gather(xe, 1, idx[:, :, None].expand(B, K, x.shape[2]))


def t_upsample(xs, o):
    out = F.interpolate(xs[0], scale_factor=o['factor'], mode='nearest')
    f = o['factor']
    assert torch.equal(out, xs[0].repeat_interleave(f, -2).repeat_interleave(f, -1))
    return out


OPS = {
    'conv2d': t_conv2d,
    'batchNorm2d': t_batch_norm,
    'scaledDotProductAttention': t_attention,
    'gatherTokens': t_gather,
    'upsampleNearest': t_upsample,
}


def make_case(name, op, inputs, options=None, args=None, k=1, state_args=(), tol_fn=None, grad_decimals=2,
              grad_fill=None):
    """inputs: list of (spec, tensor). Runs op under float64 autograd; returns the case (dict)."""
    options = options or {}
    leaves = []
    for spec, t in inputs:
        if spec['dtype'] == 'int32':
            leaves.append(t.clone())
        else:
            leaves.append(t.clone().requires_grad_(spec['requiresGrad']))
    viewed = [apply_view(leaf, spec.get('view')) for leaf, (spec, _) in zip(leaves, inputs)]
    order = args if args is not None else list(range(len(inputs)))
    xs = []
    for a in order:
        if a is None:
            xs.append(None)
        elif isinstance(a, int):
            xs.append(viewed[a])
        else:
            xs.append(apply_view(leaves[a['input']], a['view']))
    out = OPS[op](xs, options)
    assert out.dtype == torch.float64
    if grad_fill is not None:
        grad_spec, grad_out64 = fill_spec(tuple(out.shape), grad_fill, levels=301)
    else:
        grad_out64, grad_vals = rounded(Gen(name + '/gradOutput').normal(out.shape), grad_decimals)
        grad_spec = {'shape': list(out.shape), 'values': grad_vals}
    if any(l.requires_grad for l in leaves):
        out.backward(grad_out64)
    grads = []
    for leaf in leaves:
        if not leaf.requires_grad:
            grads.append(None)
            continue
        grads.append(arr(leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)))
    case = {'name': name, 'op': op, 'options': options, 'k': k}
    if args is not None:
        case['args'] = args
    case.update({
        'inputs': [spec for spec, _ in inputs],
        'output': arr(out),
        'gradOutput': grad_spec,
        'grads': grads,
    })
    if state_args:
        # 9 digits: running means near 1e3 must resolve the float32 ulp (6.1e-5) there.
        case['state'] = [dict(arg=a, **arr(xs[a], digits=9)) for a in state_args]
    if tol_fn:
        case['tol'] = tol_fn(xs, out, grad_out64, leaves)
    return case


def dims(shape):
    return 'x'.join(map(str, shape))


# ---------------------------------------------------------------------------------------------------
def conv_cases():
    cases = []

    def conv(name, x_shape, w_shape, stride=1, padding=0, groups=1, bias=True, x_view=None, w_view=None,
             b_view=None, b_leaf=None, fill=False):
        G = Gen(name)
        x = fill_inp(x_shape, seed_of(name + '/x'), view=x_view) if fill else inp(G.normal(x_shape), view=x_view)
        w = inp(G.normal(w_shape, 0.3), view=w_view)
        ins = [x, w]
        x_t = apply_view(x[1], x_view)
        w_t = apply_view(w[1], w_view)
        if bias:
            ins.append(inp(G.normal(b_leaf or (w_t.shape[0],)), view=b_view))
        o = {'stride': stride, 'padding': padding, 'groups': groups}
        N, C, H, W = x_t.shape
        Fo, Cg, KH, KW = w_t.shape
        ph, pw = (padding, padding) if isinstance(padding, int) else padding
        OH = (H + 2 * ph - KH) // stride + 1
        OW = (W + 2 * pw - KW) // stride + 1
        k = max(Cg * KH * KW, Fo // groups * KH * KW, N * OH * OW)
        cases.append(make_case(name, 'conv2d', ins, o, k=k, grad_fill=seed_of(name + '/g') if fill else None))

    conv('conv2d/1x1 s1 p0: 1x17x7x5 -> 33', (1, 17, 7, 5), (33, 17, 1, 1))
    conv('conv2d/3x3 s1 p1: 2x3x7x5 -> 5', (2, 3, 7, 5), (5, 3, 3, 3), padding=1)
    conv('conv2d/3x3 s2 p1: 2x17x7x5 -> 3', (2, 17, 7, 5), (3, 17, 3, 3), stride=2, padding=1)
    conv('conv2d/3x3 s2 p0, no bias: 1x3x7x5 -> 17', (1, 3, 7, 5), (17, 3, 3, 3), stride=2, bias=False)
    conv('conv2d/3x3 s1 p2: 1x33x7x5 -> 3', (1, 33, 7, 5), (3, 33, 3, 3), padding=2)
    conv('conv2d/5x5 s1 p2: 2x3x7x5 -> 5', (2, 3, 7, 5), (5, 3, 5, 5), padding=2)
    conv('conv2d/7x1 s1 padding [3, 0]: 2x3x7x5 -> 4', (2, 3, 7, 5), (4, 3, 7, 1), padding=[3, 0])
    conv('conv2d/3x3 s2 padding [0, 2]: 2x3x7x5 -> 5', (2, 3, 7, 5), (5, 3, 3, 3), stride=2, padding=[0, 2])
    conv('conv2d/1x1 on 1x1 spatial: 3x17x1x1 -> 33', (3, 17, 1, 1), (33, 17, 1, 1))
    conv('conv2d/3x3 s1 p1 on 1x1 spatial: 2x3x1x1 -> 5', (2, 3, 1, 1), (5, 3, 3, 3), padding=1)
    conv('conv2d/3x3 s2 p1 on 1x1 spatial, no bias: 2x17x1x1 -> 3', (2, 17, 1, 1), (3, 17, 3, 3), stride=2,
         padding=1, bias=False)
    conv('conv2d/groups 2, 1x1 s1: 1x34x7x5 -> 18', (1, 34, 7, 5), (18, 17, 1, 1), groups=2)
    conv('conv2d/groups 2, 3x3 s1 p1: 2x6x7x5 -> 4', (2, 6, 7, 5), (4, 3, 3, 3), padding=1, groups=2)
    conv('conv2d/groups 2, 1x1 s2, no bias: 2x6x7x5 -> 4', (2, 6, 7, 5), (4, 3, 1, 1), stride=2, groups=2,
         bias=False)
    conv('conv2d/groups 2, 3x3 s2 padding [1, 2]: 2x6x7x5 -> 6', (2, 6, 7, 5), (6, 3, 3, 3), stride=2,
         padding=[1, 2], groups=2)
    conv('conv2d/64x48: 1x2x64x48 -> 2, 3x3 s2 p1', (1, 2, 64, 48), (2, 2, 3, 3), stride=2, padding=1, fill=True)
    conv('conv2d/permuted NHWC view input: 2x3x7x5 -> 5, 3x3 s1 p1', (2, 7, 5, 3), (5, 3, 3, 3), padding=1,
         x_view=[['permute', [0, 3, 1, 2]]])
    conv('conv2d/batch-sliced input (offset view): 2x3x7x5 -> 5, 3x3 s2 p1', (3, 3, 7, 5), (5, 3, 3, 3), stride=2,
         padding=1, x_view=[['slice', 0, 1, 3]])
    conv('conv2d/transposed weight view: 1x3x7x5 -> 17, 3x3 s1 p1', (1, 3, 7, 5), (3, 17, 3, 3), padding=1,
         w_view=[['transpose', 0, 1]])
    conv('conv2d/bias as an offset view: 2x3x7x5 -> 5, 1x1', (2, 3, 7, 5), (5, 3, 1, 1), b_leaf=(8,),
         b_view=[['slice', 0, 2, 7]])
    return cases


def bn_cases():
    cases = []

    # The op's tolerance (kernels.fixtures.test.ts) has no per-k term: the output and dx are in normalised
    # units, and the statistics they use are sums divided by k = N*H*W, whose error doesn't grow with k.
    # dweight = sum(dy * xhat) and dbias = sum(dy) are sums over k, so they get one here.
    SUM = {'atol': 5e-5, 'rtol': 1e-4, 'atolPerK': 2e-7}

    def sum_tol(xs, out, g, leaves):
        return {'why': 'dweight and dbias are sums over the k = N*H*W values of a channel: atol grows with k',
                'grads': [None, SUM, SUM, None, None]}

    def bn(name, x_shape, training=True, affine=True, running=True, momentum=None, eps=None, x_view=None,
           mean=0.0, std=1.0, x_decimals=3, param_views=False, rstats=None, tol_fn=None):
        G = Gen(name)
        x_spec = inp(mean + std * G.normal(x_shape), view=x_view, decimals=x_decimals)
        x_t = apply_view(x_spec[1], x_view)
        C = x_t.shape[1]
        leaf = (3 * C,) if param_views else (C,)
        pv = [['slice', 0, C, 2 * C]] if param_views else None
        ins = [x_spec]
        args = [0]
        if affine:
            ins.append(inp(1.0 + 0.3 * G.normal(leaf), view=pv))
            ins.append(inp(0.3 * G.normal(leaf), view=pv))
            args += [1, 2]
        else:
            args += [None, None]
        state_args = ()
        if running:
            rm, rv = rstats(G, leaf) if rstats else (0.5 * G.normal(leaf), G.uniform(leaf, 0.5, 2.0))
            ins.append(inp(rm, requires_grad=False, view=pv, decimals=x_decimals))
            ins.append(inp(rv, requires_grad=False, view=pv, decimals=5 if rstats else 3))
            args += [len(ins) - 2, len(ins) - 1]
            state_args = (3, 4)
        else:
            args += [None, None]
        o = {'training': training}
        if momentum is not None:
            o['momentum'] = momentum
        if eps is not None:
            o['eps'] = eps
        k = x_t.numel() // C
        cases.append(make_case(name, 'batchNorm2d', ins, o, args=args, k=k, state_args=state_args,
                               tol_fn=tol_fn or (sum_tol if affine else None)))

    bn('batchNorm2d/training 2x3x7x5', (2, 3, 7, 5))
    bn('batchNorm2d/training 1x1 spatial: 5x17x1x1', (5, 17, 1, 1))
    bn('batchNorm2d/training one channel: 3x1x7x5, momentum 0.3, eps 1e-3', (3, 1, 7, 5), momentum=0.3, eps=1e-3)
    bn('batchNorm2d/training 2x1x1x1 (two values per channel)', (2, 1, 1, 1))
    bn('batchNorm2d/training affine off: 2x3x7x5', (2, 3, 7, 5), affine=False)
    bn('batchNorm2d/training without running stats: 2x3x7x5', (2, 3, 7, 5), running=False)
    bn('batchNorm2d/training permuted NHWC view: 2x3x7x5', (2, 7, 5, 3), x_view=[['permute', [0, 3, 1, 2]]])
    bn('batchNorm2d/training rank 2: 6x3', (6, 3))
    bn('batchNorm2d/training shifted data (mean 3, std 2): 2x17x5x3', (2, 17, 5, 3), mean=3.0, std=2.0)
    bn('batchNorm2d/training params and stats as offset slices: 2x3x7x5', (2, 3, 7, 5), param_views=True)
    bn('batchNorm2d/training plane a multiple of 4: 2x3x4x6', (2, 3, 4, 6))
    bn('batchNorm2d/training batch-sliced view (offset 48): 2x3x4x4', (3, 3, 4, 4), x_view=[['slice', 0, 1, 3]])
    bn('batchNorm2d/eval 2x3x7x5', (2, 3, 7, 5), training=False)
    bn('batchNorm2d/eval plane a multiple of 4: 3x5x2x6', (3, 5, 2, 6), training=False)
    bn('batchNorm2d/eval affine off: 4x17x1x1', (4, 17, 1, 1), training=False, affine=False, eps=1e-3)
    bn('batchNorm2d/eval params and stats as offset slices: 2x3x7x5', (2, 3, 7, 5), training=False, param_views=True)

    # Mean 1e3, variance 1e-2 (std 0.1). R = |mean| / std = 1e4. float32 holds 1000 to an ulp of 6.1e-5 =
    # 6.1e-4 std, and any float32 evaluation rounds the batch mean (or the running mean) to within half of
    # that, which is already 3e-4 of the output's unit. An implementation that applies y = x*scale + shift
    # (as this engine does, with |x*scale| ~ R*|w|) or dx = k1*dy + k2*x + k3 rounds terms R times larger
    # than the result: its error is ~R*eps32 = 1.2e-3 relative to the output's scale. The tolerances below
    # allow 4*R*eps32 relative to each quantity's natural scale: |w| (+|b|) for y, |w|*invstd*mean|dy| for dx,
    # and for dweight the mean's error (R*eps32/2 in xhat units) times sum|dy|. The running mean is stored
    # with the f32 ulp of 1000 (rtol 2e-7 ~ 3 ulp); the running variance is 0.9*rv + 0.1*var*M/(M-1), fine.
    def big_tol(training):
        def tol(xs, out, g, leaves):
            x, w, b, rm, rv = xs
            C = x.shape[1]
            dims_ = [0] + list(range(2, x.dim()))
            if training:
                mean = x.mean(dims_)
                var = x.var(dims_, unbiased=False)
            else:
                mean, var = rm.detach(), rv.detach()
            R = float((mean.abs() / var.sqrt()).max())
            invstd = 1 / torch.sqrt(var + 1e-5)
            wabs = w.detach().abs()
            e = 4 * R * F32_EPS
            y_scale = float((wabs + b.detach().abs()).max())
            gsum = g.abs().sum(dims_)
            dx_scale = float((wabs * invstd * g.abs().mean(dims_)).max()) * (3 if training else 1)
            return {
                'why': f'mean/std = {R:.3g}: float32 rounding of terms ~R times the result (see the generator)',
                'output': {'atol': e * y_scale, 'rtol': 1e-4},
                'grads': [{'atol': e * dx_scale, 'rtol': 1e-4}, {'atol': e / 4 * float(gsum.max()), 'rtol': 1e-4},
                          {'atol': 1e-5, 'rtol': 1e-5}, None, None],
                'state': {'atol': 1e-5, 'rtol': 2e-7},
            }
        return tol

    # HRNet's planes: 64x48, 32x24, 16x12 and 8x6 for a 256x192 input. A plane of more than 1024 elements
    # (256 vec4 units, one workgroup's worth) is where the kernels change path: each thread of the
    # per-channel statistics and backward-reduction kernels loops over several units of every plane, and
    # the apply kernels run several workgroups along each plane (the last one partly idle unless the plane
    # is a multiple of 1024). The inputs are regenerated from a hash (`fill`, uniform on [-2, 2] in steps
    # of 0.01; the upstream gradient on [-1.5, 1.5]) rather than stored; the outputs and dx are stored,
    # which is what keeps N and C small: the kernels' paths depend on the plane size and on N*C > 1, not on
    # C itself. x requires no gradient in the eval cases (dx there is dy * weight * invstd, the same
    # backward-apply kernel as in training), which halves what they store; dweight and dbias still run the
    # backward reduction over the big planes.
    def bn_fill(name, x_shape, training=True, x_grad=True):
        G = Gen(name)
        C = x_shape[1]
        ins = [fill_inp(x_shape, seed_of(name + '/x'), requires_grad=x_grad),
               inp(1.0 + 0.3 * G.normal((C,))), inp(0.3 * G.normal((C,))),
               inp(0.5 * G.normal((C,)), requires_grad=False), inp(G.uniform((C,), 0.5, 2.0), requires_grad=False)]
        k = math.prod(x_shape) // C
        cases.append(make_case(name, 'batchNorm2d', ins, {'training': training}, args=[0, 1, 2, 3, 4], k=k,
                               state_args=(3, 4), tol_fn=sum_tol, grad_fill=seed_of(name + '/g')))

    bn_fill('batchNorm2d/training HRNet plane 64x48 (3 workgroups per plane): 2x2x64x48', (2, 2, 64, 48))
    bn_fill('batchNorm2d/eval HRNet plane 64x48, x without grad: 1x2x64x48', (1, 2, 64, 48), training=False,
            x_grad=False)
    bn_fill('batchNorm2d/training plane 1040 (a 4-unit last workgroup): 1x2x40x26', (1, 2, 40, 26))
    bn_fill('batchNorm2d/training plane 1155, not a multiple of 4 (scalar path, 5 workgroups): 1x2x35x33',
            (1, 2, 35, 33))
    bn_fill('batchNorm2d/training HRNet C=32 on 16x12: 1x32x16x12', (1, 32, 16, 12))
    bn_fill('batchNorm2d/eval HRNet C=64 on 8x6, x without grad: 1x64x8x6', (1, 64, 8, 6), training=False,
            x_grad=False)

    big_stats = lambda G, shape: (1000.0 + 0.1 * G.normal(shape), 0.01 * G.uniform(shape, 0.8, 1.25))
    bn('batchNorm2d/training mean 1e3, variance 1e-2: 2x3x7x5', (2, 3, 7, 5), mean=1000.0, std=0.1, x_decimals=4,
       rstats=big_stats, tol_fn=big_tol(True))
    bn('batchNorm2d/eval mean 1e3, variance 1e-2: 2x3x7x5', (2, 3, 7, 5), training=False, mean=1000.0, std=0.1,
       x_decimals=4, rstats=big_stats, tol_fn=big_tol(False))
    return cases


def attention_cases():
    cases = []

    def att(name, shape, scale=None, qkv=False, misaligned=False, fill=False):
        G = Gen(name)
        B, H, L, D = shape
        o = {} if scale is None else {'scale': scale}
        k = max(L, D)
        if qkv:
            # One qkv projection [B, L, 3*H*D] seen as [B, L, 3*H, D] (the memory of timm's reshape to
            # [B, L, 3, H, D]); q, k, v are its slices [:, :, i*H:(i+1)*H] permuted to [B, H, L, D]: strided
            # views with an offset, made without any copy (a squeeze of a non-contiguous tensor would copy).
            leaf = inp(G.normal((B, L, 3 * H, D)))
            args = [{'input': 0, 'view': [['slice', 2, i * H, (i + 1) * H], ['permute', [0, 2, 1, 3]]]} for i in range(3)]
            cases.append(make_case(name, 'scaledDotProductAttention', [leaf], o, args=args, k=k))
            return
        view = [['slice', -1, 1, D + 1]] if misaligned else None
        lshape = (B, H, L, D + 1) if misaligned else shape
        if fill:  # uniform on [-2, 2] in steps of 0.01, from a hash (see hash_fill)
            ins = [fill_inp(lshape, seed_of(f'{name}/{i}'), view=view) for i in range(3)]
        else:
            ins = [inp(G.normal(lshape), view=view) for _ in range(3)]
        cases.append(make_case(name, 'scaledDotProductAttention', ins, o, k=k,
                               grad_fill=seed_of(name + '/g') if fill else None))

    att('attention/B2 H2 L17 D16', (2, 2, 17, 16))
    att('attention/L1: B2 H2 L1 D16', (2, 2, 1, 16))
    att('attention/L1: B1 H1 L1 D64', (1, 1, 1, 64))
    att('attention/B1 H1 L17 D24', (1, 1, 17, 24))
    att('attention/B1 H1 L17 D32', (1, 1, 17, 32))
    att('attention/B1 H1 L9 D64', (1, 1, 9, 64))
    att('attention/B1 H1 L170 D16', (1, 1, 170, 16), fill=True)
    att('attention/B1 H1 L273 D16', (1, 1, 273, 16), fill=True)
    att('attention/custom scale 0.5: B1 H2 L9 D16', (1, 2, 9, 16), scale=0.5)
    att('attention/custom scale 0.05: B2 H1 L7 D32', (2, 1, 7, 32), scale=0.05)
    att('attention/qkv split from one [B, L, 3, H, D] tensor: B2 H2 L9 D16', (2, 2, 9, 16), qkv=True)
    att('attention/qkv split, L1: B2 H3 L1 D32', (2, 3, 1, 32), qkv=True)
    att('attention/misaligned views (offset 1, stride 17): B1 H2 L9 D16', (1, 2, 9, 16), misaligned=True)
    return cases


def gather_cases():
    cases = []

    def gt(name, x_shape, index=None, host=None, x_view=None):
        G = Gen(name)
        x = inp(G.normal(x_shape), view=x_view)
        ins = [x]
        o = {}
        if host is not None:
            o['hostIndex'] = host
            per = [row for row in host] if isinstance(host[0], list) else [host]
        else:
            ins.append(int_inp(index))
            per = [row for row in index] if isinstance(index[0], list) else [index]
        # Longest accumulation in the backward: how often one row of x is gathered (across samples if shared).
        xb = apply_view(x[1], x_view).shape[0]
        rows = per if len(per) > 1 else per * xb
        counts = {}
        for b, row in enumerate(rows):
            for v in row:
                key = (0 if xb == 1 else b, v)
                counts[key] = counts.get(key, 0) + 1
        k = max(counts.values())
        cases.append(make_case(name, 'gatherTokens', ins, o, k=k))

    gt('gatherTokens/x 2x7x5, index [4] (int32)', (2, 7, 5), index=[6, 0, 3, 2])
    gt('gatherTokens/x 2x7x5, index [2, 3] per sample (int32)', (2, 7, 5), index=[[1, 6, 4], [0, 0, 5]])
    gt('gatherTokens/shared x 1x7x5, index [3, 4] with repeats (int32)', (1, 7, 5),
       index=[[3, 3, 0, 6], [3, 1, 3, 6], [2, 3, 3, 3]])
    gt('gatherTokens/shared x 1x9x3, index [5] (int32)', (1, 9, 3), index=[8, 0, 4, 4, 1])
    gt('gatherTokens/host flat list with repeats: x 2x9x3', (2, 9, 3), host=[8, 0, 8, 8, 3])
    gt('gatherTokens/host lists per sample: x 3x9x5', (3, 9, 5), host=[[0, 8, 2], [4, 4, 4], [7, 1, 0]])
    gt('gatherTokens/host lists, shared x 1x7x3', (1, 7, 3), host=[[6, 2], [2, 6]])
    gt('gatherTokens/transposed view x [N, B, D] -> [B, N, D]: 2x7x5', (7, 2, 5), index=[[3, 6], [0, 3]],
       x_view=[['transpose', 0, 1]])
    gt('gatherTokens/K=1, N=1: x 2x1x13', (2, 1, 13), index=[0])
    gt('gatherTokens/big: x 2x33x21, index [2, 17]', (2, 33, 21),
       index=[[(7 * i + 3) % 33 for i in range(17)], [(5 * i) % 33 for i in range(17)]])
    return cases


def upsample_cases():
    cases = []

    def up(name, shape, factor, view=None):
        G = Gen(name)
        cases.append(make_case(name, 'upsampleNearest', [inp(G.normal(shape), view=view)], {'factor': factor},
                               k=factor * factor))

    up('upsampleNearest/factor 1: 2x3x7x5', (2, 3, 7, 5), 1)
    up('upsampleNearest/factor 2: 2x3x7x5', (2, 3, 7, 5), 2)
    up('upsampleNearest/factor 4: 1x3x5x3', (1, 3, 5, 3), 4)
    up('upsampleNearest/factor 3: 1x2x3x5', (1, 2, 3, 5), 3)
    up('upsampleNearest/factor 2: 1x1x1x1', (1, 1, 1, 1), 2)
    up('upsampleNearest/factor 4: 1x17x1x3', (1, 17, 1, 3), 4)
    up('upsampleNearest/factor 2, permuted NHWC view: 1x3x7x5', (1, 7, 5, 3), 2, view=[['permute', [0, 3, 1, 2]]])
    up('upsampleNearest/factor 2, sliced view (offset): 1x3x7x5', (2, 3, 7, 5), 2, view=[['slice', 0, 1, 2]])
    return cases


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    cases = conv_cases() + bn_cases() + attention_cases() + gather_cases() + upsample_cases()
    names = [c['name'] for c in cases]
    assert len(names) == len(set(names)), 'duplicate case names'
    doc = {'generator': 'scripts/gen_kernel_fixtures.py', 'torch': torch.__version__.split('+')[0], 'cases': cases}
    text = json.dumps(doc, separators=(',', ':'))
    with open(os.path.join(OUT_DIR, 'kernels.json'), 'w') as f:
        f.write(text + '\n')
    sizes = {}
    for c in cases:
        sizes[c['op']] = sizes.get(c['op'], 0) + len(json.dumps(c, separators=(',', ':')))
    for op, s in sizes.items():
        print(f'  {op}: {s / 1024:.0f} KiB')
    print(f'kernels.json: {len(cases)} cases, {len(text) / 1024:.0f} KiB')


if __name__ == '__main__':
    sys.exit(main())
