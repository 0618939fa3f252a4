"""Writes the float16 fixtures read by packages/tensor/test/float16.test.ts. CI reads only the outputs.

Run with Debian's PyTorch and the `safetensors` package (see gen_safetensors_fixtures.py):
  /usr/bin/python3 scripts/gen_half_fixtures.py

  half.json         numbers and their float16 bits by numpy: `np.float16(x)` of float64 values (one
                    rounding, ties to even) and `np.float32(x).astype(np.float16)` of float32 values
                    (ties, subnormals, overflow to Inf, Inf, NaN, signed zero)
  half.safetensors  F16 tensors (odd length, 2-d, 0-d, one beside an F32) by the reference writer
"""
import json
import os
import sys

import numpy as np
import torch

try:
    from safetensors.torch import load, save
except ImportError:
    sys.exit(__doc__ + '\nerror: the safetensors package is not installed (see gen_safetensors_fixtures.py)')

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'packages', 'tensor', 'test', 'fixtures')


def number(x):
    # JSON has no NaN or Infinity: those travel as strings.
    x = float(x)
    return x if np.isfinite(x) else repr(x)


def main():
    rng = np.random.default_rng(11)
    ulp = lambda e: 2.0 ** (e - 10)  # the float16 step in binade 2^e
    special = [
        0.0, -0.0, 1.0, -2.5, 65504.0, 65519.99, 65520.0, -65520.0, 1e6, float('inf'), float('-inf'), float('nan'),
        2.0 ** -14, 2.0 ** -24, -(2.0 ** -24), 2.0 ** -25, 2.0 ** -25 * 1.0000001, 3 * 2.0 ** -26, 2.0 ** -26, 1e-9,
        2.0 ** -14 - 2.0 ** -25,  # a tie between the largest subnormal and the smallest normal
        1.0 + ulp(0) / 2, 1.0 + 3 * ulp(0) / 2, 1.0 + ulp(0) / 2 + 2.0 ** -30,  # ties to even, and just past a tie
        2048.0 + 1.0, 2048.0 + 3.0, 0.1, 0.333, 1 / 3, 6.1e-5, 1e-7,
    ]
    f64 = np.array(special + list(rng.normal(0, 100, 40)) + list(np.exp(rng.uniform(-20, 12, 40))), dtype=np.float64)
    f32 = np.concatenate([f64.astype(np.float32), rng.normal(0, 3, 40).astype(np.float32)])
    bits = lambda a: [int(b) for b in a.astype(np.float16).view(np.uint16)]
    cases = {
        'float64': {'values': [number(x) for x in f64], 'halves': bits(f64)},
        'float32': {'values': [number(x) for x in f32], 'halves': bits(f32)},
    }
    with open(os.path.join(OUT, 'half.json'), 'w') as f:
        json.dump(cases, f)
    print(f'half.json: {len(f64)} float64 and {len(f32)} float32 values')

    tensors = {
        'odd': torch.tensor([1.0, -2.5, 65504.0, 2.0 ** -24, float('inf')], dtype=torch.float16),
        'grid': torch.tensor([[0.1, 0.2, 0.3], [-0.0, 1e-5, 3.0]], dtype=torch.float16),
        'scalar': torch.tensor(0.333, dtype=torch.float16),
        'f32': torch.tensor([0.5, -1.25], dtype=torch.float32),
    }
    data = save(tensors)
    back = load(data)
    assert all(torch.equal(back[k], tensors[k]) for k in tensors)
    with open(os.path.join(OUT, 'half.safetensors'), 'wb') as f:
        f.write(data)
    halves = {k: [int(b) for b in t.reshape(-1).view(torch.int16).numpy().astype(np.uint16)] for k, t in tensors.items() if t.dtype == torch.float16}
    with open(os.path.join(OUT, 'half.safetensors.json'), 'w') as f:
        json.dump(halves, f)
    print(f'half.safetensors: {len(data)} bytes')


if __name__ == '__main__':
    main()
