"""Writes the safetensors files read by packages/tensor/test/io.test.ts with the reference writer itself:
the `safetensors` Python package (huggingface/safetensors, whose Rust core does the serialising), through
`safetensors.torch.save`. CI reads only the outputs.

Run with Debian's PyTorch:  /usr/bin/python3 scripts/gen_safetensors_fixtures.py
It needs the `safetensors` package (0.8.0 wrote the files here). Without PyPI access, install its wheel:
  /usr/bin/python3 -m pip install --no-index --break-system-packages \
      /opt/pypi/files/safetensors-0.8.0-cp310-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
or unzip the wheel into a folder and put that folder on PYTHONPATH (elsewhere: `pip install safetensors`).

What the reference writes (found by running it; io.test.ts depends on each point):
  [u64 little-endian N][N-byte JSON header, compact, padded with spaces to a multiple of 8][data]
  "__metadata__" first, then the tensors sorted by dtype (largest enum value first: ... I64, F64, F32,
  I32, BF16, F16 ...) and, within a dtype, by the UTF-8 bytes of the name; names written as UTF-8
  (not \\u escapes), with JSON's short escapes for '"', '\\' and control characters. The data follows in
  that order, with no gaps.
  The metadata is a Rust HashMap: with two or more entries their order changes from run to run (its
  hasher is randomly seeded). So the files compared byte for byte with our writer have at most one
  metadata entry, and `metadata.safetensors` (three entries) is compared with it up to that order.
"""
import json
import os
import struct
import sys

import torch

try:
    from safetensors.torch import load, save
except ImportError:
    sys.exit(__doc__ + '\nerror: the safetensors package is not installed (see above)')

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'packages', 'tensor', 'test', 'fixtures')


def header(data):
    (n,) = struct.unpack('<Q', data[:8])
    return data[8:8 + n]


def write(name, tensors, metadata=None, deterministic=True):
    data = save(tensors, metadata=metadata)
    if deterministic:
        # The bytes must not depend on the run, or a byte-for-byte comparison with them means nothing.
        assert all(save(tensors, metadata=metadata) == data for _ in range(5)), f'{name}: output varies'
    back = load(data)
    assert back.keys() == tensors.keys() and all(torch.equal(back[k], tensors[k]) for k in tensors), name
    assert len(header(data)) % 8 == 0
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)
    print(f'{name}: {len(data)} bytes; header {header(data).decode()}')


def main():
    os.makedirs(OUT, exist_ok=True)
    f32 = lambda v: torch.tensor(v, dtype=torch.float32)
    i32 = lambda v: torch.tensor(v, dtype=torch.int32)
    # What our writer must reproduce exactly: F32 and I32 only, an integer-like name, a scalar, an empty tensor.
    write('written.safetensors', {
        'weight': f32([[1.5, -2.0, 3.25], [0.0, 0.001, -7.0]]),
        'bias': f32([0.5, -0.25, 8.0]),
        '0': f32(42.0),
        'empty': torch.zeros(0, dtype=torch.float32),
        'step': i32([7, -3]),
    }, metadata={'format': 'pt'})
    # Names whose orders differ: UTF-8 bytes (the reference) vs UTF-16 code units (JavaScript's string
    # compare: the astral U+1F600 is a surrogate pair D83D DE00, below U+FF21, but F0.. in UTF-8, above
    # EF BC A1) vs a JavaScript object's key order (integer-like keys first, numerically); names that need
    # JSON escapes; one non-ASCII metadata value.
    names = ['10', '9', '0', 'Z', 'a', 'b10', 'b9', 'é', '\U0001F600', '\uff21', 'tab\tquote"back\\slash', 'ctl\x01']
    tensors = {n: f32([float(i), -0.5 * i]) for i, n in enumerate(names)}
    tensors.update({'i.' + n: i32([i]) for i, n in enumerate(['b', 'a', '2', '10'])})
    write('names.safetensors', tensors, metadata={'note': 'é ✓ "quoted"'})
    # Several metadata entries: their order in the file is the HashMap's (this run's).
    write('metadata.safetensors', {'w': f32([[1.0, 2.0]]), 'n': i32([3])},
          metadata={'format': 'pt', 'epoch': '12', 'config': 'tmpose-b', 'note': 'ünïcode'}, deterministic=False)
    # Every dtype we read; values chosen to be exact in their dtype.
    write('mixed.safetensors', {
        'f32': f32([0.5, -1.25]),
        'i32': i32([-2147483648]),
        'f16': torch.tensor([[1.0, -2.5], [65504.0, 2.0 ** -24]], dtype=torch.float16),
        'bf16': torch.tensor([1.0, -3.140625, 262144.0], dtype=torch.bfloat16),
        'f64': torch.tensor([0.1, -1e30], dtype=torch.float64),
        'i64': torch.tensor([1, -2, 2 ** 31 - 1], dtype=torch.int64),
    })


if __name__ == '__main__':
    main()
