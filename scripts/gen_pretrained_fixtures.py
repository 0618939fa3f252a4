#!/usr/bin/env python3
"""An ImageNet-classification HRNet checkpoint, in the layout of `hrnet_w32-36af842e.pth`, for
packages/train/test/pretrained.test.ts (`--pretrained`, `loadPretrainedBackbone`).

Run with Debian's PyTorch:  /usr/bin/python3 scripts/gen_pretrained_fixtures.py
CI never needs PyTorch: the tests read what this writes to packages/train/test/fixtures/pretrained/:

  hrnet_w8_cls.pth   torch.save(state_dict) of the classification HRNet (HRNet-Image-Classification
                     `cls_hrnet.py`: stem, layer1, transition1, stage2, transition2, stage3 with every module
                     fusing into all three branches, transition3, stage4, incre_modules, downsamp_modules,
                     final_layer, classifier) with the real key names but NARROW widths, so the file stays
                     small: branches 8/16/32/64 (W32 has 32/64/128/256), stem 16 (64), layer1 planes 8 (64),
                     head channels 4/8/16/32 (32/64/128/256), final 256 (2048), 10 classes (1000); the real
                     block and module counts except stage4, which has 1 module (3 in W32). Float values are
                     random (so every copied tensor is recognisable), rounded to and stored as float16;
                     num_batches_tracked is int64, as PyTorch writes it. Saved in the legacy (pre-1.6,
                     non-zip) torch.save format, as hrnet_w32-36af842e.pth (2019) is.
  expected.json      for two pose backbones (`full`: the real depth, 4 Bottlenecks, 4 blocks, 4 stage3
                     modules; `tiny`: the `tiny` config's 1/1/1), the keys the official
                     `HRNET_base.init_weights` loads from that file, i.e. those whose first component is in
                     PRETRAINED_LAYERS, given to `load_state_dict(strict=False)`, minus the unexpected ones
                     that PyTorch ignores; the rest of the checkpoint is listed as skipped.
"""
import json
import os

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'packages', 'train', 'test', 'fixtures', 'pretrained')
PRETRAINED_LAYERS = ['conv1', 'bn1', 'conv2', 'bn2', 'layer1', 'transition1', 'stage2', 'transition2', 'stage3']


def bn(c):
    return nn.BatchNorm2d(c, momentum=0.1)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = bn(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = bn(planes * 4)
        self.downsample = downsample


class BasicBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn1 = bn(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn2 = bn(c)


def make_layer(cin, planes, blocks):
    """cls_hrnet `_make_layer(Bottleneck, cin, planes, blocks)`: a 1x1 conv + BN downsample when channels change."""
    down = nn.Sequential(nn.Conv2d(cin, planes * 4, 1, bias=False), bn(planes * 4)) if cin != planes * 4 else None
    return nn.Sequential(Bottleneck(cin, planes, down), *[Bottleneck(planes * 4, planes) for _ in range(blocks - 1)])


class HighResolutionModule(nn.Module):
    def __init__(self, channels, blocks, multi_scale_output):
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(nn.Sequential(*[BasicBlock(c) for _ in range(blocks)]) for c in channels)
        rows = []
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
                        steps.append(nn.Sequential(nn.Conv2d(channels[j], cout, 3, 2, 1, bias=False), bn(cout),
                                                   *([] if last else [nn.ReLU()])))
                    row.append(nn.Sequential(*steps))
            rows.append(nn.ModuleList(row))
        self.fuse_layers = nn.ModuleList(rows)


def transition(pre, cur):
    """cls_hrnet `_make_transition_layer`."""
    layers = []
    for i, c in enumerate(cur):
        if i < len(pre):
            layers.append(nn.Sequential(nn.Conv2d(pre[i], c, 3, 1, 1, bias=False), bn(c), nn.ReLU()) if c != pre[i] else None)
        else:
            steps = []
            for j in range(i + 1 - len(pre)):
                cout = c if j == i - len(pre) else pre[-1]
                steps.append(nn.Sequential(nn.Conv2d(pre[-1], cout, 3, 2, 1, bias=False), bn(cout), nn.ReLU()))
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


def stage(channels, modules, blocks, multi_scale_output=True):
    return nn.Sequential(*[HighResolutionModule(channels, blocks, multi_scale_output or m < modules - 1) for m in range(modules)])


class HRNet(nn.Module):
    """classification=True: cls_hrnet's HighResolutionNet; False: the pose backbone HRNet-s (hr_base.py)."""

    def __init__(self, width, stem, planes, layer1_blocks=4, blocks=4, stage3_modules=4, classification=False,
                 stage4_modules=1, head=(4, 8, 16, 32), final=256, classes=10):
        super().__init__()
        C = [width, 2 * width, 4 * width, 8 * width]
        self.conv1 = nn.Conv2d(3, stem, 3, 2, 1, bias=False)
        self.bn1 = bn(stem)
        self.conv2 = nn.Conv2d(stem, stem, 3, 2, 1, bias=False)
        self.bn2 = bn(stem)
        self.layer1 = make_layer(stem, planes, layer1_blocks)
        self.transition1 = transition([planes * 4], C[:2])
        self.stage2 = stage(C[:2], 1, blocks)
        self.transition2 = transition(C[:2], C[:3])
        self.stage3 = stage(C[:3], stage3_modules, blocks, multi_scale_output=classification)
        if classification:
            self.transition3 = transition(C[:3], C)
            self.stage4 = stage(C, stage4_modules, blocks)
            self.incre_modules = nn.ModuleList(make_layer(c, h, 1) for c, h in zip(C, head))
            self.downsamp_modules = nn.ModuleList(
                nn.Sequential(nn.Conv2d(head[i] * 4, head[i + 1] * 4, 3, 2, 1), bn(head[i + 1] * 4), nn.ReLU()) for i in range(3))
            self.final_layer = nn.Sequential(nn.Conv2d(head[3] * 4, final, 1), bn(final), nn.ReLU())
            self.classifier = nn.Linear(final, classes)


def official_rule(pose, checkpoint):
    """HRNET_base.init_weights after the normal init: the PRETRAINED_LAYERS subset, load_state_dict(strict=False)."""
    need = {k: v for k, v in checkpoint.items() if k.split('.')[0] in PRETRAINED_LAYERS}
    result = pose.load_state_dict(need, strict=False)
    loaded = [k for k in need if k not in set(result.unexpected_keys)]
    assert not result.missing_keys or set(result.missing_keys) <= set(pose.state_dict()) - set(need)
    return loaded, result.missing_keys


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(13)
    cls = HRNet(8, 16, 8, classification=True)
    with torch.no_grad():
        for t in cls.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn_like(t).half().float())
            else:
                t.fill_(1234)
    checkpoint = {k: (t.half() if t.is_floating_point() else t) for k, t in cls.state_dict().items()}
    # The legacy (pre-1.6) format, as the 2019 ImageNet checkpoints were saved.
    torch.save(checkpoint, os.path.join(OUT, 'hrnet_w8_cls.pth'), _use_new_zipfile_serialization=False)

    expected = {'file': 'hrnet_w8_cls.pth', 'pretrained_layers': PRETRAINED_LAYERS}
    for name, arch in {'full': dict(layer1_blocks=4, blocks=4, stage3_modules=4),
                       'tiny': dict(layer1_blocks=1, blocks=1, stage3_modules=1)}.items():
        pose = HRNet(8, 16, 8, **arch)
        loaded, missing = official_rule(pose, {k: v.float() if v.is_floating_point() else v for k, v in checkpoint.items()})
        skipped = [k for k in checkpoint if k not in set(loaded)]
        expected[name] = {'arch': arch, 'loaded': loaded, 'skipped': skipped, 'missing': missing}
        print(f'{name}: {len(loaded)} loaded, {len(skipped)} skipped, {len(missing)} backbone keys left at their init')
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, separators=(',', ':'))
        f.write('\n')
    print(f"hrnet_w8_cls.pth: {os.path.getsize(os.path.join(OUT, 'hrnet_w8_cls.pth'))} bytes, {len(checkpoint)} tensors")


if __name__ == '__main__':
    main()
