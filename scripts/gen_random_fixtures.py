"""Writes packages/tensor/test/fixtures/random.json, read by packages/tensor/test/random.test.ts.

The seeded rand/randn of @tmpose/tensor, written again in plain Python from the description in
packages/tensor/src/runtime/random.ts and exactmath.ts: Python's floats are IEEE float64 with the same
correctly rounded +, -, *, / and sqrt, so a second language gives the same bits, which is the point.
The float32 rounding is struct's (round to nearest, ties to even). Needs no packages:
  python3 scripts/gen_random_fixtures.py
"""
import json
import math
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'packages', 'tensor', 'test', 'fixtures', 'random.json')
M32 = 0xFFFFFFFF


def pcg(x):
    s = (x * 747796405 + 2891336453) & M32
    w = (((s >> ((s >> 28) + 4)) ^ s) * 277803737) & M32
    return ((w >> 22) ^ w) & M32


LN2 = 0.6931471805599453
HALF_PI = 1.5707963267948966
SQRT_HALF = 0.7071067811865476
I = {k: 1 / k for k in range(3, 24, 2)}
S = {k: 1 / (k * (k + 1)) for k in range(1, 19)}


def ln(x):
    e = 0
    while x < SQRT_HALF:
        x *= 2
        e -= 1
    while x >= 2 * SQRT_HALF:
        x *= 0.5
        e += 1
    s = (x - 1) / (x + 1)
    z = s * s
    p = I[23]
    for k in range(21, 2, -2):
        p = I[k] + z * p
    p = 1 + z * p
    return e * LN2 + 2 * s * p


def sin_small(y):
    z = y * y
    p = 1 - z * S[18]
    for k in range(16, 1, -2):
        p = 1 - z * S[k] * p
    return y * p


def cos_small(y):
    z = y * y
    p = 1 - z * S[17]
    for k in range(15, 0, -2):
        p = 1 - z * S[k] * p
    return p


def cos_sin_2pi(t):
    x = t * 4
    q = math.floor(x)
    f = x - q
    y = (f if f <= 0.5 else 1 - f) * HALF_PI
    c = cos_small(y) if f <= 0.5 else sin_small(y)
    s = sin_small(y) if f <= 0.5 else cos_small(y)
    return [(c, s), (-s, c), (-c, -s), (s, -c)][q]


def f32(x):
    return struct.unpack('<I', struct.pack('<f', x))[0]


def uniform(n, seed, low, high):
    hs = pcg(seed & M32)
    scale = (high - low) / 16777216
    return [f32(low + scale * (pcg(pcg((2 * i) & M32) ^ hs) >> 8)) for i in range(n)]


def normal(n, seed, mean, std):
    hs = pcg(seed & M32)
    out = []
    for i in range(0, n, 2):
        c = 2 * i
        hi = pcg(pcg(c & M32) ^ hs) >> 12
        lo = pcg(pcg((c + 1) & M32) ^ hs)
        u = (hi * 4294967296 + lo + 0.5) / 4503599627370496
        t = pcg(pcg((c + 2) & M32) ^ hs) / 4294967296
        r = std * math.sqrt(-2 * ln(u))
        cos, sin = cos_sin_2pi(t)
        out.append(f32(mean + r * cos))
        if i + 1 < n:
            out.append(f32(mean + r * sin))
    return out


CASES = [
    ('randn', 0, {}), ('randn', 1, {}), ('randn', 42, {}), ('randn', 0xFFFFFFFF, {}),
    ('randn', 7, {'mean': 0.5, 'std': 0.02}),
    ('rand', 0, {}), ('rand', 1, {}), ('rand', 42, {}), ('rand', 7, {'low': -0.125, 'high': 3}),
]
N = 33  # odd: the last Box-Muller pair gives one value

cases = []
for op, seed, opts in CASES:
    if op == 'randn':
        bits = normal(N, seed, opts.get('mean', 0), opts.get('std', 1))
    else:
        bits = uniform(N, seed, opts.get('low', 0), opts.get('high', 1))
    cases.append({'op': op, 'seed': seed, 'options': opts, 'bits': ['%08x' % b for b in bits]})
with open(OUT, 'w') as fh:
    # One case a line.
    fh.write('{"n": %d, "cases": [\n%s\n]}\n' % (N, ',\n'.join(json.dumps(c) for c in cases)))
print(f'wrote {OUT}: {len(cases)} cases of {N} values')
