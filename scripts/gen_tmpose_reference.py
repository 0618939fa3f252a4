#!/usr/bin/env python3
"""PyTorch / numpy / cv2 reference fixtures for packages/model/test (the Transformer part of TokenPose /
TMPose, the maskers, the position embedding and DARK decoding).

Run with Debian's PyTorch:  /usr/bin/python3 scripts/gen_tmpose_reference.py
CI never needs PyTorch: the tests read only the files written here (packages/model/test/fixtures/):

  tmpose_reference.json        maskers (numpy), position-embedding samples, parity-case metadata
  tmpose_parity_b.safetensors  narrow B model: weights, input features, outputs and gradients (slot + gathered)
  tmpose_parity_l.safetensors  narrow L model (3 sub-transformers): the same
  decode_reference.safetensors synthetic heatmaps + DarkPose get_final_preds outputs (cv2)

The model below is this project's own PyTorch implementation of docs/model-spec.md §2–§4 (pre-norm
blocks, sine-full position embedding re-added to the visual tokens of the residual stream before every
layer but the first of each sub-transformer, token masking with `slot` or `gathered` position
embeddings, B and L heads). Its module names equal the official state-dict keys (§9). It is checked
against the spec's parameter counts at full size before any fixture is written.

Numerics: weights are drawn in float64, rounded to float32 and stored as float32; the reference forward
and backward run in float64 from those values; outputs and gradients are stored as float32.
"""
import json
import math
import os
import struct

import cv2
import numpy as np
import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'packages', 'model', 'test', 'fixtures')


# ----------------------------------------------------------------------------------------------------
# safetensors writer (F32 / I32 only), per the format spec: [u64 N][N-byte JSON header][data]

def write_safetensors(path, tensors, metadata=None):
    header = {}
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    data = b''
    for name in sorted(tensors):
        t = tensors[name]
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().numpy()
        t = np.ascontiguousarray(t)
        if t.dtype.kind == 'f':
            raw, dt = t.astype('<f4').tobytes(), 'F32'
        else:
            raw, dt = t.astype('<i4').tobytes(), 'I32'
        header[name] = {'dtype': dt, 'shape': list(t.shape), 'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + data)
    return len(text) + 8 + len(data)


# ----------------------------------------------------------------------------------------------------
# The model (spec §2–§4)

def sine_table(h, w, d, dtype=torch.float64):
    """The official _make_sine_position_embedding, in `dtype`: [1, h*w, d], y half then x half."""
    area = torch.ones(1, h, w, dtype=dtype)
    y = area.cumsum(1)
    x = area.cumsum(2)
    eps, scale = 1e-6, 2 * math.pi
    y = y / (y[:, -1:, :] + eps) * scale
    x = x / (x[:, :, -1:] + eps) * scale
    F_ = d // 2
    dim_t = torch.arange(F_, dtype=dtype)
    dim_t = 10000 ** (2 * torch.div(dim_t, 2, rounding_mode='floor') / F_)
    px = x[:, :, :, None] / dim_t
    py = y[:, :, :, None] / dim_t
    px = torch.stack((px[:, :, :, 0::2].sin(), px[:, :, :, 1::2].cos()), dim=4).flatten(3)
    py = torch.stack((py[:, :, :, 0::2].sin(), py[:, :, :, 1::2].cos()), dim=4).flatten(3)
    pos = torch.cat((py, px), dim=3).permute(0, 3, 1, 2)
    return pos.flatten(2).permute(0, 2, 1)


class Residual(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x) + x


class PreNorm(nn.Module):
    def __init__(self, dim, fn):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x):
        return self.fn(self.norm(x))


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim), nn.Dropout(0.0))

    def forward(self, x):
        return self.net(x)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.to_qkv = nn.Linear(dim, dim * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(0.0))

    def forward(self, x):
        b, n, d = x.shape
        h = self.heads
        q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        q, k, v = (t.reshape(b, n, h, d // h).transpose(1, 2) for t in (q, k, v))  # 'b n (h d) -> b h n d'
        attn = (torch.einsum('bhid,bhjd->bhij', q, k) * self.scale).softmax(dim=-1)
        out = torch.einsum('bhij,bhjd->bhid', attn, v).transpose(1, 2).reshape(b, n, d)
        return self.to_out(out)


class Transformer(nn.Module):
    def __init__(self, dim, depth, heads, mlp_dim, num_keypoints):
        super().__init__()
        self.num_keypoints = num_keypoints
        self.layers = nn.ModuleList([
            nn.ModuleList([Residual(PreNorm(dim, Attention(dim, heads))), Residual(PreNorm(dim, FeedForward(dim, mlp_dim)))])
            for _ in range(depth)
        ])

    def forward(self, x, pos):
        for idx, (attn, ff) in enumerate(self.layers):
            if idx > 0:
                x = torch.cat((x[:, :self.num_keypoints], x[:, self.num_keypoints:] + pos), dim=1)  # sine-full re-add
            x = attn(x)
            x = ff(x)
        return x


class PoseTransformer(nn.Module):
    """TokenPose_TB_base (stacks=1, B head) / TokenPose_L_base (stacks=3, L head) with TMPose masking."""

    def __init__(self, *, feature_size, channels, patch_size, num_keypoints, dim, depth, heads, mlp_dim,
                 stacks, head, heatmap_size, head_hidden=None):
        super().__init__()
        fh, fw = feature_size
        ph, pw = patch_size
        self.patch_size = patch_size
        self.heatmap_size = heatmap_size
        self.num_keypoints = num_keypoints
        self.gh, self.gw = fh // ph, fw // pw
        self.keypoint_token = nn.Parameter(torch.zeros(1, num_keypoints, dim))
        self.pos_embedding = nn.Parameter(sine_table(self.gh, self.gw, dim, torch.float32).double(), requires_grad=False)
        self.patch_to_embedding = nn.Linear(ph * pw * channels, dim)
        self.stacks = stacks
        if stacks == 1:
            self.transformer = Transformer(dim, depth, heads, mlp_dim, num_keypoints)
        else:
            for i in range(stacks):
                setattr(self, f'transformer{i + 1}', Transformer(dim, depth, heads, mlp_dim, num_keypoints))
        hm = heatmap_size[0] * heatmap_size[1]
        hidden = hm // 8 if head_hidden is None else head_hidden  # the official code: H*W // 8
        in_dim = dim * stacks
        if head == 'B' and in_dim <= hidden * 0.5:
            self.mlp_head = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.LayerNorm(hidden), nn.Linear(hidden, hm))
        else:
            self.mlp_head = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hm))

    def forward(self, feature, indices=None, pe='gathered'):
        b, c, H, W = feature.shape
        ph, pw = self.patch_size
        K = self.num_keypoints
        # einops 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)'
        x = feature.reshape(b, c, H // ph, ph, W // pw, pw).permute(0, 2, 4, 3, 5, 1).reshape(b, -1, ph * pw * c)
        x = self.patch_to_embedding(x)  # all P tokens, as the official code
        pos = self.pos_embedding
        if indices is not None:
            idx = torch.as_tensor(indices, dtype=torch.long)
            if idx.dim() == 1:
                x = x[:, idx]
                pos = pos[:, :idx.shape[0]] if pe == 'slot' else pos[:, idx]
            else:
                x = torch.stack([x[i, idx[i]] for i in range(b)])
                pos = pos[:, :idx.shape[1]] if pe == 'slot' else torch.stack([pos[0, idx[i]] for i in range(b)])
        x = x + pos
        x = torch.cat((self.keypoint_token.expand(b, -1, -1), x), dim=1)
        if self.stacks == 1:
            x = self.transformer(x, pos)
            out = x[:, :K]
        else:
            outs = []
            for i in range(self.stacks):
                x = getattr(self, f'transformer{i + 1}')(x, pos)
                outs.append(x[:, :K])
            out = torch.cat(outs, dim=2)
        y = self.mlp_head(out)
        return y.reshape(b, K, self.heatmap_size[0], self.heatmap_size[1])


def count_params(m, paper=False):
    if paper:
        return sum(p.numel() for mod in m.modules() if isinstance(mod, (nn.Linear, nn.Conv2d, nn.BatchNorm2d)) for p in mod.parameters(recurse=False))
    return sum(p.numel() for p in m.parameters())


def check_full_size_counts():
    """The Transformer part at full size + the spec's backbone counts = the spec's totals (§6)."""
    full = {
        'B': (dict(feature_size=(64, 48), channels=32, patch_size=(4, 3), num_keypoints=17, dim=192, depth=12, heads=8,
                   mlp_dim=576, stacks=1, head='B', heatmap_size=(64, 48)), 7_685_632, 13_514_368, 13_451_584),
        'L/D24': (dict(feature_size=(64, 48), channels=48, patch_size=(4, 3), num_keypoints=17, dim=192, depth=8, heads=12,
                       mlp_dim=576, stacks=3, head='L', heatmap_size=(64, 48)), 16_705_824, 27_531_552, 27_459_552),
        'L/D6': (dict(feature_size=(64, 48), channels=48, patch_size=(4, 3), num_keypoints=17, dim=192, depth=2, heads=8,
                      mlp_dim=576, stacks=3, head='L', heatmap_size=(64, 48)), 16_705_824, 20_864_928, 20_806_752),
        'L/D6-MPII': (dict(feature_size=(64, 64), channels=48, patch_size=(4, 4), num_keypoints=16, dim=192, depth=2, heads=8,
                           mlp_dim=576, stacks=3, head='L', heatmap_size=(64, 64)), 16_705_824, 21_492_448, 21_434_464),
    }
    for name, (kw, backbone, total, paper) in full.items():
        m = PoseTransformer(**kw)
        got = count_params(m) + backbone
        # The backbone's paper count equals its full count (only Conv/BN parameters).
        got_paper = count_params(m, paper=True) + backbone
        assert got == total, f'{name}: {got} != {total}'
        assert got_paper == paper, f'{name} paper: {got_paper} != {paper}'
        print(f'  {name}: all {got:,}  paper {got_paper:,}  (transformer part {count_params(m):,})')
    b = PoseTransformer(**full['B'][0])
    keys = list(b.state_dict().keys())
    assert 'transformer.layers.0.0.fn.fn.to_qkv.weight' in keys and 'mlp_head.3.weight' in keys, keys[:10]


# ----------------------------------------------------------------------------------------------------
# Parity fixtures

def init_weights(m, g):
    """Values with healthy activations (not the N(0, .02) init, which makes every output tiny)."""
    with torch.no_grad():
        for name, p in m.named_parameters():
            if not p.requires_grad:
                continue
            if name.endswith('norm.weight') or (name.startswith('mlp_head') and p.dim() == 1 and name.endswith('weight') and isinstance(dict(m.named_modules())[name.rsplit('.', 1)[0]], nn.LayerNorm)):
                v = 1 + 0.2 * torch.randn(p.shape, generator=g)
            elif p.dim() == 1:
                v = 0.2 * torch.randn(p.shape, generator=g)
            elif name == 'keypoint_token':
                v = torch.randn(p.shape, generator=g)
            else:
                v = torch.randn(p.shape, generator=g) / math.sqrt(p.shape[-1])
            p.copy_(v.float().double())


def grad_output(n):
    """The upstream gradient of the fixed loss sum(out * G): G[i] = float32(sin(0.37 i + 0.1)), reproducible in JS."""
    i = np.arange(n, dtype=np.float64)
    return torch.from_numpy(np.sin(0.37 * i + 0.1).astype(np.float32).astype(np.float64))


def parity_case(tag, kw, seed, shared_idx, per_sample_idx, batch=2):
    g = torch.Generator().manual_seed(seed)
    m = PoseTransformer(**kw)
    init_weights(m, g)
    feature = torch.randn(batch, kw['channels'], *kw['feature_size'], generator=g).float().double()
    tensors = {f'weight.{k}': v.float() for k, v in m.state_dict().items()}
    tensors['input.feature'] = feature.float()
    tensors['indices.shared'] = torch.tensor(shared_idx, dtype=torch.int32)
    tensors['indices.per_sample'] = torch.tensor(per_sample_idx, dtype=torch.int32)
    runs = {'slot': shared_idx, 'gathered': per_sample_idx, 'full': None}
    for pe, idx in runs.items():  # gradients for slot and gathered; outputs only for full
        m.zero_grad()
        f = feature.clone().requires_grad_(True)
        out = m(f, idx, pe='slot' if pe == 'slot' else 'gathered')
        G = grad_output(out.numel()).reshape(out.shape)
        (out * G).sum().backward()
        tensors[f'{pe}.output'] = out.detach().float()
        if pe == 'full':
            continue
        tensors[f'{pe}.grad.input.feature'] = f.grad.float()
        for k, p in m.named_parameters():
            if p.requires_grad:
                tensors[f'{pe}.grad.{k}'] = p.grad.float()
    meta = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}
    size = write_safetensors(os.path.join(OUT, f'tmpose_parity_{tag}.safetensors'), tensors, {'config': json.dumps(meta)})
    print(f'  tmpose_parity_{tag}.safetensors: {size:,} bytes, {len(tensors)} tensors')
    return meta


# ----------------------------------------------------------------------------------------------------
# DARK decoding reference (TokenPose / TMPose core/inference.py + utils/transforms.py, DarkPose variants)

def get_max_preds(batch_heatmaps):
    batch_size, num_joints, _, width = batch_heatmaps.shape
    hr = batch_heatmaps.reshape((batch_size, num_joints, -1))
    idx = np.argmax(hr, 2).reshape((batch_size, num_joints, 1))
    maxvals = np.amax(hr, 2).reshape((batch_size, num_joints, 1))
    preds = np.tile(idx, (1, 1, 2)).astype(np.float32)
    preds[:, :, 0] = (preds[:, :, 0]) % width
    preds[:, :, 1] = np.floor((preds[:, :, 1]) / width)
    pred_mask = np.tile(np.greater(maxvals, 0.0), (1, 1, 2)).astype(np.float32)
    preds *= pred_mask
    return preds, maxvals


def taylor(hm, coord):
    heatmap_height, heatmap_width = hm.shape
    px, py = int(coord[0]), int(coord[1])
    if 1 < px < heatmap_width - 2 and 1 < py < heatmap_height - 2:
        dx = 0.5 * (hm[py][px + 1] - hm[py][px - 1])
        dy = 0.5 * (hm[py + 1][px] - hm[py - 1][px])
        dxx = 0.25 * (hm[py][px + 2] - 2 * hm[py][px] + hm[py][px - 2])
        dxy = 0.25 * (hm[py + 1][px + 1] - hm[py - 1][px + 1] - hm[py + 1][px - 1] + hm[py - 1][px - 1])
        dyy = 0.25 * (hm[py + 2 * 1][px] - 2 * hm[py][px] + hm[py - 2 * 1][px])
        derivative = np.matrix([[dx], [dy]])
        hessian = np.matrix([[dxx, dxy], [dxy, dyy]])
        if dxx * dyy - dxy ** 2 != 0:
            hessianinv = hessian.I
            offset = -hessianinv * derivative
            offset = np.squeeze(np.array(offset.T), axis=0)
            coord += offset
    return coord


def gaussian_blur(hm, kernel):
    border = (kernel - 1) // 2
    batch_size, num_joints, height, width = hm.shape
    for i in range(batch_size):
        for j in range(num_joints):
            origin_max = np.max(hm[i, j])
            dr = np.zeros((height + 2 * border, width + 2 * border))
            dr[border: -border, border: -border] = hm[i, j].copy()
            dr = cv2.GaussianBlur(dr, (kernel, kernel), 0)
            hm[i, j] = dr[border: -border, border: -border].copy()
            hm[i, j] *= origin_max / np.max(hm[i, j])
    return hm


def get_dir(src_point, rot_rad):
    sn, cs = np.sin(rot_rad), np.cos(rot_rad)
    return [src_point[0] * cs - src_point[1] * sn, src_point[0] * sn + src_point[1] * cs]


def get_3rd_point(a, b):
    direct = a - b
    return b + np.array([-direct[1], direct[0]], dtype=np.float32)


def get_affine_transform(center, scale, rot, output_size, shift=np.array([0, 0], dtype=np.float32), inv=0):
    if not isinstance(scale, np.ndarray) and not isinstance(scale, list):
        scale = np.array([scale, scale])
    scale_tmp = scale * 200.0
    src_w = scale_tmp[0]
    dst_w, dst_h = output_size[0], output_size[1]
    rot_rad = np.pi * rot / 180
    src_dir = get_dir([0, (src_w - 1) * -0.5], rot_rad)
    dst_dir = np.array([0, (dst_w - 1) * -0.5], np.float32)
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0, :] = center + scale_tmp * shift
    src[1, :] = center + src_dir + scale_tmp * shift
    dst[0, :] = [(dst_w - 1) * 0.5, (dst_h - 1) * 0.5]
    dst[1, :] = np.array([(dst_w - 1) * 0.5, (dst_h - 1) * 0.5]) + dst_dir
    src[2:, :] = get_3rd_point(src[0, :], src[1, :])
    dst[2:, :] = get_3rd_point(dst[0, :], dst[1, :])
    if inv:
        return cv2.getAffineTransform(np.float32(dst), np.float32(src))
    return cv2.getAffineTransform(np.float32(src), np.float32(dst))


def affine_transform(pt, t):
    return np.dot(t, np.array([pt[0], pt[1], 1.]).T)[:2]


def transform_preds(coords, center, scale, output_size):
    target = np.zeros(coords.shape)
    trans = get_affine_transform(center, scale, 0, output_size, inv=1)
    for p in range(coords.shape[0]):
        target[p, 0:2] = affine_transform(coords[p, 0:2], trans)
    return target


def get_final_preds(hm, center, scale, kernel=11):
    coords, maxvals = get_max_preds(hm)
    H, W = hm.shape[2], hm.shape[3]
    hm = gaussian_blur(hm, kernel)
    hm = np.maximum(hm, 1e-10)
    hm = np.log(hm)
    for n in range(coords.shape[0]):
        for p in range(coords.shape[1]):
            coords[n, p] = taylor(hm[n][p], coords[n][p])
    preds = coords.copy()
    for i in range(coords.shape[0]):
        preds[i] = transform_preds(coords[i], center[i], scale[i], [W, H])
    return preds, maxvals, coords


def decode_fixture():
    rng = np.random.RandomState(3)
    B, J, H, W = 2, 4, 64, 48
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    hm = np.zeros((B, J, H, W), dtype=np.float32)
    mus = []
    for b in range(B):
        for j in range(J):
            mx, my = rng.uniform(4, W - 5), rng.uniform(4, H - 5)
            if (b, j) == (0, 3):
                mx, my = 0.7, 30.2  # near the left edge: no Taylor step
            amp = rng.uniform(0.5, 1.0)
            g = amp * np.exp(-((xs - mx) ** 2 + (ys - my) ** 2) / (2 * 2.0 ** 2))
            if j == 2:
                g = g + 0.02 * rng.randn(H, W)  # noisy, as a network's output
            hm[b, j] = g.astype(np.float32)
            mus.append((mx, my))
    hm[1, 1] = -np.abs(hm[1, 1]) - 0.05  # all < 0: coords zeroed, score < 0
    center = np.array([[200.5, 150.25], [320.0, 240.0]], dtype=np.float32)
    scale = np.array([[1.2, 1.6], [0.9, 1.2]], dtype=np.float32)
    preds, maxvals, coords = get_final_preds(hm.copy(), center, scale)
    # Flip test pieces: flip_back of a map, and the average.
    pairs = [[0, 3], [1, 2]]
    flipped = hm[:, :, :, ::-1].copy()
    for a, b in pairs:
        flipped[:, [a, b]] = flipped[:, [b, a]]
    avg = ((torch.from_numpy(hm) + torch.from_numpy(flipped)) * 0.5).numpy()
    blurred = gaussian_blur(hm.copy(), 11)
    trans = get_affine_transform(center[0], scale[0], 0, [W, H], inv=1)
    trans_fwd = get_affine_transform(center[1], scale[1], 25.0, [192, 256])
    tensors = {
        'heatmaps': hm, 'center': center, 'scale': scale, 'preds': preds.astype(np.float32),
        'coords': coords.astype(np.float32), 'maxvals': maxvals.reshape(B, J).astype(np.float32),
        'mu': np.array(mus, dtype=np.float32).reshape(B, J, 2), 'flip_average': avg,
        'blurred': blurred.astype(np.float32), 'kernel11': cv2.getGaussianKernel(11, 0).reshape(-1).astype(np.float32),
        'affine_inv0': trans.astype(np.float32), 'affine_rot25': trans_fwd.astype(np.float32),
    }
    size = write_safetensors(os.path.join(OUT, 'decode_reference.safetensors'), tensors,
                             {'flip_pairs': json.dumps(pairs), 'note': 'DarkPose get_final_preds with cv2 ' + cv2.__version__})
    print(f'  decode_reference.safetensors: {size:,} bytes')


# ----------------------------------------------------------------------------------------------------

def main():
    os.makedirs(OUT, exist_ok=True)
    print('full-size parameter counts (spec §6):')
    check_full_size_counts()

    ref = {'generator': 'scripts/gen_tmpose_reference.py', 'torch': torch.__version__, 'numpy': np.__version__}
    # Maskers (spec §3): numpy.random.choice after numpy.random.seed(s), and floor(linspace).
    rnd = []
    for seed in (0, 1, 42, 12345, 4294967295):
        for keep in (0.8, 0.6, 0.4, 1.0):
            np.random.seed(seed)
            n = int(256 * keep)
            rnd.append({'seed': seed, 'keep': keep, 'indices': np.random.choice(256, n, replace=False).tolist()})
    np.random.seed(5)
    seq = [np.random.choice(256, 153, replace=False).tolist() for _ in range(3)]
    ref['random'] = rnd
    ref['random_sequence_seed5'] = seq
    ref['uniform'] = [{'keep': k, 'indices': np.floor(np.linspace(0, 255, int(256 * k))).astype(int).tolist()}
                      for k in (0.8, 0.6, 0.4, 0.33, 0.5, 0.75, 0.9, 0.95, 1.0)]
    ref['block'] = [{'keep': k, 'count': 4 * int(256 * k / 4)} for k in (0.8, 0.6, 0.4, 0.33, 0.5, 0.75, 0.9, 1.0)]
    # Position embedding (official float32 formula) samples.
    pe32 = sine_table(16, 16, 192, torch.float32)[0]
    g = torch.Generator().manual_seed(11)
    ts = torch.randint(0, 256, (300,), generator=g).tolist()
    ks = torch.randint(0, 192, (300,), generator=g).tolist()
    ref['pe_16x16x192'] = [[t, k, float(pe32[t, k])] for t, k in zip(ts, ks)] + \
        [[0, k, float(pe32[0, k])] for k in range(4)] + [[0, 96 + k, float(pe32[0, 96 + k])] for k in range(4)] + \
        [[1, 96, float(pe32[1, 96])], [1, 97, float(pe32[1, 97])], [17, 0, float(pe32[17, 0])], [17, 1, float(pe32[17, 1])],
         [255, 0, float(pe32[255, 0])]]
    pe_mpii = sine_table(16, 16, 32, torch.float32)[0]
    ref['pe_16x16x32_row37'] = pe_mpii[37].tolist()
    pe_rect = sine_table(4, 6, 16, torch.float32)[0]
    ref['pe_4x6x16'] = pe_rect.reshape(-1).tolist()

    print('parity fixtures:')
    # B: dim 32, 2 heads (head dim 16), 2 layers, two-LN head with hidden 64 (given explicitly: H*W/8 would
    # need a 512-pixel heatmap for the multi head). L: dim 16, 2 heads (head dim 8), 3 stacks of 2 layers.
    b_kw = dict(feature_size=(16, 12), channels=4, patch_size=(4, 3), num_keypoints=17, dim=32, depth=2, heads=2,
                mlp_dim=96, stacks=1, head='B', heatmap_size=(8, 8), head_hidden=64)
    l_kw = dict(feature_size=(16, 12), channels=4, patch_size=(4, 3), num_keypoints=17, dim=16, depth=2, heads=2,
                mlp_dim=48, stacks=3, head='L', heatmap_size=(8, 6))
    shared = [9, 2, 14, 0, 7, 11, 5, 3, 12, 15]  # 10 of 16, unsorted (as numpy.random.choice)
    per_sample = [[9, 2, 14, 0, 7, 11, 5, 3, 12, 15], [1, 4, 6, 8, 10, 13, 15, 0, 2, 3]]
    ref['parity'] = {'b': parity_case('b', b_kw, 1234, shared, per_sample), 'l': parity_case('l', l_kw, 4321, shared, per_sample)}
    ref['parity']['note'] = ('runs: slot = indices.shared with slot PE; gathered = indices.per_sample with gathered PE; '
                             'full = all tokens. Loss = sum(out * G), G[i] = float32(sin(0.37 i + 0.1)) over the flat output.')

    decode_fixture()
    path = os.path.join(OUT, 'tmpose_reference.json')
    with open(path, 'w') as f:
        json.dump(ref, f, separators=(',', ':'))
    print(f'  tmpose_reference.json: {os.path.getsize(path):,} bytes')


if __name__ == '__main__':
    main()
