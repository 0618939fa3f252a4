#!/usr/bin/env python3
"""MATLAB v5 .mat files written by scipy.io.savemat, for packages/train/test/mat.test.ts (the reader in
packages/train/src/data/mat.ts).

Run:  /usr/bin/python3 scripts/gen_mat_fixtures.py     (numpy and scipy, as Debian packages them)
CI never runs this; the test reads what it writes to packages/train/test/fixtures/mat/:

  types.mat             one variable of each kind the reader handles: double, single and every integer
                        class, 3-D and 4-D arrays (column-major in the file), logical, complex, empty, char
                        row, char matrix, non-ASCII chars, a cell array of strings, a nested cell, a struct
                        (read over as unsupported), as scipy writes them (uncompressed)
  types_compressed.mat  the same, zlib-compressed (miCOMPRESSED)
  expected.json         per variable: kind, class, dims, values in MATLAB's column-major order (real and
                        imaginary), char rows, cell contents, read back with scipy.io.loadmat
"""
import json
import os

import numpy as np
import scipy.io

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'packages', 'train', 'test', 'fixtures', 'mat')

CLASSES = {np.float64: 'double', np.float32: 'single', np.int8: 'int8', np.uint8: 'uint8', np.int16: 'int16',
           np.uint16: 'uint16', np.int32: 'int32', np.uint32: 'uint32', np.int64: 'int64', np.uint64: 'uint64'}


def variables():
    rng = np.random.default_rng(7)
    nested = np.empty((1, 2), dtype=object)  # a cell holding a numeric row and a cell of two strings
    nested[0, 0] = np.array([[1.0, 2.0]])
    nested[0, 1] = np.array([['x', 'yz']], dtype=object)
    v = {
        'a_double': rng.normal(size=(3, 4)),
        'a_3d': np.arange(24, dtype=np.float64).reshape(2, 3, 4) * 0.5 - 3,
        'a_4d': rng.normal(size=(2, 1, 3, 2)),
        'a_single': rng.normal(size=(2, 5)).astype(np.float32),
        'a_logical': np.array([[True, False, True]]),
        'a_complex': np.array([[1 + 2j, -3.5 + 0.25j]]),
        'a_empty': np.zeros((0, 3)),
        'a_scalar': 2.5,
        'a_char': 'head top',
        'a_charmat': np.array(['abc', 'def']),
        'a_unicode': 'Kopf \u00fcber',
        'a_cell': np.array([['rank', 'rkne', 'pelv']], dtype=object),
        'a_nested': nested,
        'a_struct': {'field': np.array([[1.0]])},
    }
    for t in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64):
        info = np.iinfo(t)
        lo, hi = max(int(info.min), -(2 ** 40)), min(int(info.max), 2 ** 40)
        v['a_' + CLASSES[t]] = np.array([[lo, 0, hi], [1, 2, 3]], dtype=t)
    return v


def describe(x):
    """What the reader must return for a value read back by scipy.io.loadmat."""
    if isinstance(x, np.ndarray) and x.dtype.kind == 'U':
        return {'kind': 'char', 'dims': [len(x), len(x[0]) if len(x) else 0] if x.ndim else [1, len(str(x))],
                'rows': [str(r) for r in x] if x.ndim else [str(x)]}
    if isinstance(x, np.ndarray) and x.dtype == object and x.dtype.names is None:
        return {'kind': 'cell', 'dims': list(x.shape), 'cells': [describe(c) for c in x.flatten(order='F')]}
    if isinstance(x, np.ndarray) and x.dtype.names is not None:
        return {'kind': 'unsupported', 'class': 'struct', 'dims': list(x.shape)}
    x = np.asarray(x)
    out = {'kind': 'numeric', 'dims': list(x.shape),
           'class': 'logical' if x.dtype == bool else CLASSES[x.dtype.type if x.dtype.kind != 'c' else np.float64],
           'data': [float(d) for d in np.real(x).flatten(order='F')]}
    if x.dtype.kind == 'c':
        out['imag'] = [float(d) for d in np.imag(x).flatten(order='F')]
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    v = variables()
    for name, compress in (('types.mat', False), ('types_compressed.mat', True)):
        scipy.io.savemat(os.path.join(OUT, name), v, do_compression=compress)
    back = scipy.io.loadmat(os.path.join(OUT, 'types.mat'), mat_dtype=False, chars_as_strings=True)
    expected = {k: describe(back[k]) for k in v}
    # loadmat reads logical arrays back as uint8; the file says logical.
    expected['a_logical']['class'] = 'logical'
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        json.dump(expected, f, indent=1)
        f.write('\n')
    for name in ('types.mat', 'types_compressed.mat', 'expected.json'):
        print(name, os.path.getsize(os.path.join(OUT, name)), 'bytes')


if __name__ == '__main__':
    main()
