"""Writes small safetensors files for packages/tensor/test/io.test.ts, byte for byte as the reference
writer (huggingface/safetensors, Rust) lays them out. The `safetensors` Python package is not installed
here, so the bytes are built from the format spec:

  [u64 little-endian N][N-byte JSON header, compact, padded with spaces to a multiple of 8][data]

Tensors are ordered as the reference `prepare` does: by dtype, largest enum value first
(... I64, F64, F32, I32, BF16, F16 ...), then by name; "__metadata__" comes first in the header.

Run with /usr/bin/python3 (needs torch for the F16 / BF16 bit patterns). CI reads only the outputs.
"""
import json
import os
import struct

import torch

OUT = os.path.join(os.path.dirname(__file__), '..', 'packages', 'tensor', 'test', 'fixtures')

# Reference dtype enum order (safetensors/src/tensor.rs); the writer sorts by it, descending.
ENUM = ['BOOL', 'F4', 'F6_E2M3', 'F6_E3M2', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'I16', 'U16',
        'F16', 'BF16', 'I32', 'U32', 'F32', 'C64', 'F64', 'I64', 'U64']
TORCH = {'F32': torch.float32, 'I32': torch.int32, 'F16': torch.float16, 'BF16': torch.bfloat16,
         'F64': torch.float64, 'I64': torch.int64}


def to_bytes(dtype, values):
    t = torch.tensor(values, dtype=TORCH[dtype]).contiguous()
    if dtype in ('F16', 'BF16'):
        t = t.view(torch.int16)  # numpy has no bfloat16; the bits are what we want
    return t.numpy().astype(t.numpy().dtype.newbyteorder('<')).tobytes()


def build(tensors, metadata=None):
    """tensors: {name: (dtype, shape, flat values)}."""
    order = sorted(tensors, key=lambda n: (-ENUM.index(tensors[n][0]), n.encode('utf-8')))
    header = {}
    if metadata is not None:
        header['__metadata__'] = metadata
    data = b''
    for name in order:
        dtype, shape, values = tensors[name]
        raw = to_bytes(dtype, values)
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(',', ':'), ensure_ascii=False).encode('utf-8')
    text += b' ' * ((8 - len(text) % 8) % 8)
    return struct.pack('<Q', len(text)) + text + data


def main():
    os.makedirs(OUT, exist_ok=True)
    # What our writer must reproduce exactly: F32 and I32 only, an integer-like name, a scalar, an empty tensor.
    written = build({
        'weight': ('F32', [2, 3], [1.5, -2.0, 3.25, 0.0, 0.001, -7.0]),
        'bias': ('F32', [3], [0.5, -0.25, 8.0]),
        '0': ('F32', [], 42.0),
        'empty': ('F32', [0], []),
        'step': ('I32', [2], [7, -3]),
    }, metadata={'format': 'pt'})
    # Every dtype we read; values chosen to be exact in their dtype.
    mixed = build({
        'f32': ('F32', [2], [0.5, -1.25]),
        'i32': ('I32', [1], [-2147483648]),
        'f16': ('F16', [2, 2], [1.0, -2.5, 65504.0, 2.0 ** -24]),
        'bf16': ('BF16', [3], [1.0, -3.140625, 262144.0]),
        'f64': ('F64', [2], [0.1, -1e30]),
        'i64': ('I64', [3], [1, -2, 2 ** 31 - 1]),
    })
    for name, data in (('written.safetensors', written), ('mixed.safetensors', mixed)):
        with open(os.path.join(OUT, name), 'wb') as f:
            f.write(data)
        print(name, len(data), 'bytes')


if __name__ == '__main__':
    main()
