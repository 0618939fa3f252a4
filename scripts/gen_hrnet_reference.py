"""PyTorch reference for the HRNet-s backbone of TokenPose / TMPose (docs/model-spec.md §1), written
from the spec, with HRNet's module names (so that its state-dict keys are the official ones without
the `pre_feature.` prefix). Fixtures for packages/model/test/hrnet.test.ts.

Run with Debian's PyTorch:  /usr/bin/python3 scripts/gen_hrnet_reference.py
CI never needs PyTorch: the tests read only what this writes to packages/model/test/fixtures/:

  hrnet_keys.json      {"w32": [[key, shape], ...], "w48": [...], "params": {"w32": n, "w48": n}}: every
                       state-dict entry in order (parameters and buffers), from the full-size models
  hrnet_narrow.pth     weights of a narrow variant (width 6, stem 8, layer1 planes 8), every value
                       rounded to float16 and stored as float16 (so the fixture stays small while both
                       sides compute with the very same float32 values)
  hrnet_narrow_io.pth  (reference values computed in float64, stored as float32)
                       'input' [1, 3, 64, 48]; 'eval' (the output in eval mode, running statistics);
                       'train' (the output in train mode, batch statistics, from the same weights); and
                       'after_train.running_mean' / 'after_train.running_var': every BN's running
                       statistics after that one training-mode forward, concatenated in state-dict order
"""
import copy
import json
import os

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'packages', 'model', 'test', 'fixtures')
GAIN = float(os.environ.get('GAIN', '0.6'))
SPEC_PARAMS = {32: 7_685_632, 48: 16_705_824}


def bn(c):
    return nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)


def conv3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class Bottleneck(nn.Module):
    def __init__(self, cin, planes, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = bn(planes)
        self.conv2 = conv3(planes, planes)
        self.bn2 = bn(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = bn(planes * 4)
        if downsample:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, bias=False), bn(planes * 4))
        else:
            self.downsample = None

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return torch.relu(y + (self.downsample(x) if self.downsample is not None else x))


class BasicBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = conv3(c, c)
        self.bn1 = bn(c)
        self.conv2 = conv3(c, c)
        self.bn2 = bn(c)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + x)


class Module(nn.Module):
    """One multi-resolution module: per-branch BasicBlocks, then the fuse layers (summed, then ReLU)."""

    def __init__(self, channels, blocks=4, multi_scale_output=True):
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(nn.Sequential(*[BasicBlock(c) for _ in range(blocks)]) for c in channels)
        fuse = []
        for i in range(n if multi_scale_output else 1):
            row = []
            for j in range(n):
                if j > i:
                    row.append(nn.Sequential(nn.Conv2d(channels[j], channels[i], 1, bias=False), bn(channels[i]),
                                             nn.Upsample(scale_factor=2 ** (j - i), mode='nearest')))
                elif j == i:
                    row.append(None)
                else:
                    steps = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        cout = channels[i] if last else channels[j]
                        layers = [conv3(channels[j], cout, 2), bn(cout)] + ([] if last else [nn.ReLU()])
                        steps.append(nn.Sequential(*layers))
                    row.append(nn.Sequential(*steps))
            fuse.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(fuse)

    def forward(self, xs):
        xs = [b(x) for b, x in zip(self.branches, xs)]
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, len(xs)):
                y = y + (xs[j] if i == j else row[j](xs[j]))
            out.append(torch.relu(y))
        return out


def transition(c_in, c_out):
    return nn.Sequential(conv3(c_in, c_out), bn(c_out), nn.ReLU())


def new_branch(c_in, c_out):
    return nn.Sequential(nn.Sequential(conv3(c_in, c_out, 2), bn(c_out), nn.ReLU()))


class HRNetS(nn.Module):
    def __init__(self, width, stem=64, planes=64):
        super().__init__()
        C = width
        self.conv1 = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1 = bn(stem)
        self.conv2 = nn.Conv2d(stem, stem, 3, 2, 1, bias=False)
        self.bn2 = bn(stem)
        self.layer1 = nn.Sequential(Bottleneck(stem, planes, True), *[Bottleneck(planes * 4, planes, False) for _ in range(3)])
        self.transition1 = nn.ModuleList([transition(planes * 4, C), new_branch(planes * 4, 2 * C)])
        self.stage2 = nn.Sequential(Module([C, 2 * C]))
        self.transition2 = nn.ModuleList([None, None, new_branch(2 * C, 4 * C)])
        self.stage3 = nn.Sequential(*[Module([C, 2 * C, 4 * C], multi_scale_output=m < 3) for m in range(4)])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        ys = self.stage2([self.transition1[0](x), self.transition1[1](x)])
        ys = self.stage3([ys[0], ys[1], self.transition2[2](ys[-1])])
        return ys[0]


def count(model, prefix):
    return sum(p.numel() for n, p in model.named_parameters() if n.startswith(prefix))


def main():
    os.makedirs(OUT, exist_ok=True)
    keys = {'params': {}}
    for width in (32, 48):
        m = HRNetS(width)
        n = sum(p.numel() for p in m.parameters())
        assert n == SPEC_PARAMS[width], (width, n)
        bns = sum(isinstance(x, nn.BatchNorm2d) for x in m.modules())
        assert bns == 155, bns
        sd = m.state_dict()
        if width == 32:
            assert len(sd) == 930, len(sd)
            breakdown = {'conv1': 1728, 'bn1': 128, 'conv2': 36864, 'bn2': 128, 'layer1': 286208, 'transition1': 221376,
                         'stage2': 390848, 'transition2': 73984, 'stage3': 6674368}
            for k, v in breakdown.items():
                assert count(m, k + '.') == v, (k, count(m, k + '.'))
            assert count(m, 'stage3.0.branches.') == 1551872
            assert count(m, 'stage3.0.fuse_layers.') == 153536 and count(m, 'stage3.3.fuse_layers.') == 6272
        else:
            for k, v in {'layer1': 286208, 'transition1': 332064, 'stage2': 878112, 'transition2': 166272, 'stage3': 15004320}.items():
                assert count(m, k + '.') == v, (k, count(m, k + '.'))
        keys[f'w{width}'] = [[k, list(t.shape)] for k, t in sd.items()]
        keys['params'][f'w{width}'] = n
        print(f'W{width}: {n} parameters, {len(sd)} state-dict entries, {bns} BatchNorm2d')
    with open(os.path.join(OUT, 'hrnet_keys.json'), 'w') as f:
        json.dump(keys, f, separators=(',', ':'))
        f.write('\n')

    # The narrow variant, with weights that keep activations O(1) (the official N(0, 0.001) init would
    # make every output almost 0 and the comparison meaningless).
    torch.manual_seed(2024)
    m = HRNetS(6, stem=8, planes=8)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.weight[0].numel()
                mod.weight.normal_(0, GAIN * (1.0 / fan_in) ** 0.5)
            elif isinstance(mod, nn.BatchNorm2d):
                mod.weight.uniform_(0.5, 1.2)
                mod.bias.normal_(0, 0.2)
                mod.running_mean.normal_(0, 0.2)
                mod.running_var.uniform_(0.5, 2.0)
                mod.num_batches_tracked.fill_(5)
        for t in m.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())  # exactly representable in float16
    weights = {k: (t.half() if t.is_floating_point() else t) for k, t in m.state_dict().items()}
    torch.save(weights, os.path.join(OUT, 'hrnet_narrow.pth'))

    x = (torch.randn(1, 3, 64, 48) * 1.5).half().float()
    # The reference is computed in float64 from these exact float32 inputs and weights, and stored as
    # float32: train mode with batch 1 is ill-conditioned (BN statistics over the 4×3 maps of branch 2),
    # so that PyTorch's own float32 forward is ~1e-4 away from it, and the test measures our error
    # against the exact result rather than against another float32 rounding.
    m32 = m
    m = copy.deepcopy(m32).double()
    m.eval()
    with torch.no_grad():
        y_eval = m(x.double())
        m32.eval()
        print(f'PyTorch float32 vs float64, eval: max |diff| {(m32(x).double() - y_eval).abs().max():.2e}')
    m.train()
    m32.train()
    with torch.no_grad():
        y_train = m(x.double())
        print(f'PyTorch float32 vs float64, train: max |diff| {(m32(x).double() - y_train).abs().max():.2e}')
    io = {'input': x, 'eval': y_eval.float(), 'train': y_train.float()}
    sd = m.state_dict()
    for stat in ('running_mean', 'running_var'):
        io['after_train.' + stat] = torch.cat([t for k, t in sd.items() if k.endswith('.' + stat)]).float()
    assert all(int(t) == 6 for k, t in sd.items() if k.endswith('num_batches_tracked'))
    torch.save(io, os.path.join(OUT, 'hrnet_narrow_io.pth'))
    n = sum(p.numel() for p in m.parameters())
    print(f'narrow: {n} parameters; eval output {tuple(y_eval.shape)} |max| {y_eval.abs().max():.3f} mean {y_eval.mean():.3f};'
          f' train |max| {y_train.abs().max():.3f} mean {y_train.mean():.3f}')
    for name in ('hrnet_keys.json', 'hrnet_narrow.pth', 'hrnet_narrow_io.pth'):
        print(f'{name}: {os.path.getsize(os.path.join(OUT, name))} bytes')


if __name__ == '__main__':
    main()
