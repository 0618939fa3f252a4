"""Small torch.save checkpoints for packages/tensor/test/pth.test.ts (the reader in
packages/tensor/src/io/pth.ts).

Run with Debian's PyTorch:  /usr/bin/python3 scripts/gen_pth_fixtures.py
CI never needs PyTorch: the tests read the .pth files and expected.json written here.

Files (packages/tensor/test/fixtures/pth/):
  basic.pth        a real module state dict (Conv2d + BatchNorm2d: int64 0-d num_batches_tracked, the
                   _metadata attribute) plus: a transposed view of a larger storage, a strided slice with
                   a storage offset, two tensors sharing one storage, 0-d float, float16, bfloat16,
                   float64, int32, int64, bool, uint8, an empty tensor
  prefixed.pth     nn.DataParallel(module).state_dict(): every key starts with 'module.'
  wrapped.pth      {'epoch', 'state_dict', 'optimizer' (Adam state), 'perf' (a numpy float64), 'best'}
  deflate.pth      a state dict with its zip entries deflated (fixed, dynamic and stored deflate blocks)
  overflow.pth     an int64 value outside int32
  whole_module.pth torch.save(nn.Linear(2, 2)): a pickled module, which the reader refuses
  legacy.pth       the pre-1.6 (non-zip) format: a module state dict, views sharing a storage, float16
  expected.json    {file: {key: {dtype, torchDtype, shape, values}}} with the values row-major (null for
                   deflate.pth's 8192-element 'pattern', which is (i % 37) / 8)
"""
import collections
import io
import json
import os
import zipfile

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'packages', 'tensor', 'test', 'fixtures', 'pth')
os.makedirs(OUT, exist_ok=True)

TORCH_NAMES = {
    torch.float32: 'float32', torch.float64: 'float64', torch.float16: 'float16', torch.bfloat16: 'bfloat16',
    torch.int64: 'int64', torch.int32: 'int32', torch.int16: 'int16', torch.int8: 'int8', torch.uint8: 'uint8',
    torch.bool: 'bool',
}


def expected(sd):
    out = {}
    for k, t in sd.items():
        float_like = t.is_floating_point()
        vals = t.detach().to(torch.float32 if float_like else torch.int64).reshape(-1).tolist()
        if float_like:
            vals = [float(v) for v in vals]
        else:
            vals = [int(v) for v in vals]
        if len(vals) > 1000:
            vals = None  # large tensors are checked by formula in the test (keeps this file small)
        out[k] = {'dtype': 'float32' if float_like else 'int32', 'torchDtype': TORCH_NAMES[t.dtype],
                  'shape': list(t.shape), 'values': vals}
    return out


def module(seed):
    torch.manual_seed(seed)
    m = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, bias=False), torch.nn.BatchNorm2d(3), torch.nn.ReLU())
    m.train()
    m(torch.randn(2, 2, 5, 5))  # moves running stats, num_batches_tracked = 1
    return m


def save(name, obj, **kw):
    path = os.path.join(OUT, name)
    torch.save(obj, path, **kw)
    return path


def main():
    exp = {}
    g = torch.Generator().manual_seed(1234)

    # basic.pth
    sd = module(1).state_dict()
    big = torch.randn(4, 6, generator=g)
    sd['views.transposed'] = big.t()                     # [6, 4], strides (1, 6)
    sd['views.sliced'] = big[1:4, ::2]                   # offset 6, strides (6, 2)
    base = torch.arange(10, dtype=torch.float32) / 4
    sd['shared.a'] = base[2:8].view(2, 3)
    sd['shared.b'] = base                                # same storage as shared.a
    sd['scalar'] = torch.tensor(2.5)
    sd['half'] = torch.tensor([1.0, -2.5, 65504.0, 6.1e-5, 1e-7, 0.333], dtype=torch.float16)
    sd['bf16'] = torch.tensor([1.0, -3.14159, 1e30, 2.0 ** -100], dtype=torch.bfloat16)
    sd['double'] = torch.tensor([[0.1, -1e-40], [3.0, 1e20]], dtype=torch.float64)
    sd['int32'] = torch.tensor([-7, 0, 2 ** 31 - 1], dtype=torch.int32)
    sd['int64'] = torch.tensor([[-(2 ** 31), 5], [2 ** 31 - 1, -1]], dtype=torch.int64)
    sd['bool'] = torch.tensor([True, False, True])
    sd['uint8'] = torch.tensor([0, 200, 255], dtype=torch.uint8)
    sd['empty'] = torch.zeros(0, 3)
    save('basic.pth', sd)
    exp['basic.pth'] = expected(sd)

    # prefixed.pth
    m = module(2)
    dp = torch.nn.DataParallel(m).state_dict()
    save('prefixed.pth', dp)
    exp['prefixed.pth'] = expected(m.state_dict())

    # wrapped.pth
    m = module(3)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m(torch.randn(1, 2, 4, 4)).sum().backward()
    opt.step()
    ck = {'epoch': 3, 'state_dict': m.state_dict(), 'optimizer': opt.state_dict(), 'perf': np.float64(0.731),
          'best': 0.5, 'name': 'tmpose', 'flags': (True, None, -12345678901234)}
    save('wrapped.pth', ck)
    exp['wrapped.pth'] = expected(m.state_dict())

    # deflate.pth: re-pack a state dict's archive with deflated entries.
    sd = collections.OrderedDict()
    sd['pattern'] = (torch.arange(8192, dtype=torch.float32) % 37) / 8  # compresses well: dynamic blocks
    sd['noise'] = torch.randn(64, generator=g)
    sd['counter'] = torch.tensor(12)
    buf = io.BytesIO()
    torch.save(sd, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(os.path.join(OUT, 'deflate.pth'), 'w') as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            # The noise storage goes through deflate's stored blocks (level 0); everything else is compressed.
            level = 0 if info.filename.endswith('/data/1') else 9
            dst.writestr(zipfile.ZipInfo(info.filename), data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=level)
    exp['deflate.pth'] = expected(sd)

    # overflow.pth
    save('overflow.pth', {'big': torch.tensor([1, 2 ** 40], dtype=torch.int64)})

    # whole_module.pth: a pickled nn.Module instead of its state dict
    torch.manual_seed(0)
    save('whole_module.pth', torch.nn.Linear(2, 2))

    # legacy.pth: the pre-1.6 format, as the ImageNet HRNet checkpoints were saved: a module's state dict
    # (int64 0-d num_batches_tracked), views sharing one storage (transposed, one row at an offset), float16
    sd = module(4).state_dict()
    big = torch.randn(3, 4, generator=g)
    sd['views.transposed'] = big.t()
    sd['views.row'] = big[1]
    sd['half'] = torch.tensor([1.0, -2.5, 0.333], dtype=torch.float16)
    save('legacy.pth', sd, _use_new_zipfile_serialization=False)
    exp['legacy.pth'] = expected(sd)

    # Every file must load back in PyTorch as what expected.json says.
    for name, keys in exp.items():
        obj = torch.load(os.path.join(OUT, name)) if name != 'deflate.pth' else None
        if obj is not None:
            if 'state_dict' in obj and not isinstance(obj.get('state_dict'), torch.Tensor):
                obj = obj['state_dict']
            assert [k.replace('module.', '', 1) for k in obj] == list(keys), name

    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(exp, f, indent=None, separators=(',', ':'))
        f.write('\n')
    for name in sorted(os.listdir(OUT)):
        print(f'{name}: {os.path.getsize(os.path.join(OUT, name))} bytes')


if __name__ == '__main__':
    main()
