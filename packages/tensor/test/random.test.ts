// Seeded rand/randn: the same bits on every machine (fixtures/random.json, written by an independent
// Python implementation, scripts/gen_random_fixtures.py), element i fixed by (seed, i) alone, the
// distributions right over 1e6 samples, and exactmath's ln and cos/sin as accurate as Math's.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { init, rand, randn } from '@tmpose/tensor';
import { cosSin2Pi, ln } from '../src/runtime/exactmath.js';

interface RandomCase {
  op: 'rand' | 'randn';
  seed: number;
  options: { mean?: number; std?: number; low?: number; high?: number };
  bits: string[];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/random.json', import.meta.url), 'utf8')) as { n: number; cases: RandomCase[] };

const N = 1_000_000;
const make = (op: 'rand' | 'randn', n: number, options: RandomCase['options'] & { seed: number }) =>
  op === 'rand' ? rand([n], options) : randn([n], options);

async function values(op: 'rand' | 'randn', n: number, options: RandomCase['options'] & { seed: number }): Promise<Float32Array> {
  const t = make(op, n, options);
  const v = await t.data();
  t.dispose();
  return v;
}

const hex = (v: Float32Array) => Array.from(new Uint32Array(v.buffer, v.byteOffset, v.length), (b) => b.toString(16).padStart(8, '0'));

/** Φ(x) through erfc (Numerical Recipes' erfcc, relative error < 1.2e-7: far below the KS bound). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const erfc =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

/** Kolmogorov–Smirnov distance between the sample and a CDF. */
function ksDistance(sample: Float32Array, cdf: (x: number) => number): number {
  const sorted = Float64Array.from(sample).sort();
  let d = 0;
  for (let i = 0; i < sorted.length; i++) {
    const f = cdf(sorted[i]!);
    d = Math.max(d, f - i / sorted.length, (i + 1) / sorted.length - f);
  }
  return d;
}

function moments(v: Float32Array) {
  let m = 0;
  for (const x of v) m += x;
  m /= v.length;
  let m2 = 0;
  let m3 = 0;
  let m4 = 0;
  for (const x of v) {
    const d = x - m;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= v.length;
  return { mean: m, variance: m2, skew: m3 / v.length / m2 ** 1.5, kurtosis: m4 / v.length / (m2 * m2) - 3 };
}

/** Pearson correlation of a[i] and b[i]. */
function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let sa = 0;
  let sb = 0;
  for (let i = 0; i < n; i++) {
    sa += a[i]!;
    sb += b[i]!;
  }
  const ma = sa / n;
  const mb = sb / n;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

const strided = (v: Float32Array, start: number) => v.filter((_, i) => i % 2 === start);

beforeAll(async () => {
  await init();
});

describe('seeded random numbers', () => {
  it('give the fixture bits of scripts/gen_random_fixtures.py (any adapter, any JS engine)', async () => {
    for (const c of fixture.cases) {
      expect(hex(await values(c.op, fixture.n, { ...c.options, seed: c.seed })), `${c.op} seed ${c.seed} ${JSON.stringify(c.options)}`).toEqual(c.bits);
    }
  });

  it('fix element i by (seed, i) alone: a shorter tensor is a prefix, whatever its shape (empty too)', async () => {
    for (const op of ['rand', 'randn'] as const) {
      const long = await values(op, 1001, { seed: 9 });
      for (const n of [1, 2, 7, 64]) expect(hex(await values(op, n, { seed: 9 })), `${op} [${n}]`).toEqual(hex(long.subarray(0, n)));
      expect(await values(op, 0, { seed: 9 })).toHaveLength(0);
      const grid = op === 'rand' ? rand([7, 11, 13], { seed: 9 }) : randn([7, 11, 13], { seed: 9 });
      expect(hex(await grid.data()), `${op} [7, 11, 13]`).toEqual(hex(long));
      grid.dispose();
      expect(hex(await values(op, 64, { seed: 10 }))).not.toEqual(hex(long.subarray(0, 64)));
    }
  });

  it('randn is standard normal over 1e6 samples: moments, tails, KS, no correlation', async () => {
    const v = await values('randn', N, { seed: 1 });
    const m = moments(v);
    // Bounds at about 5 standard errors of each statistic for n = 1e6.
    expect(Math.abs(m.mean)).toBeLessThan(0.005);
    expect(Math.abs(m.variance - 1)).toBeLessThan(0.007);
    expect(Math.abs(m.skew)).toBeLessThan(0.012);
    expect(Math.abs(m.kurtosis)).toBeLessThan(0.05);
    for (const [k, p] of [[2, 0.0455003], [3, 0.0026998], [4, 6.3342e-5]] as const) {
      const count = v.filter((x) => Math.abs(x) > k).length;
      const sd = Math.sqrt(N * p);
      expect(Math.abs(count - N * p), `|z| > ${k}: ${count}, expected ${(N * p).toFixed(1)}`).toBeLessThan(5 * sd);
    }
    const max = v.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
    expect(max).toBeGreaterThan(4.2);
    expect(max).toBeLessThan(8.6);
    // 1.95/√n: the KS test's critical value at the 0.1 % level.
    expect(ksDistance(v, normalCdf)).toBeLessThan(1.95 / Math.sqrt(N));
    // The two values of one Box–Muller pair, neighbours across pairs, and their magnitudes.
    const even = strided(v, 0);
    const odd = strided(v, 1);
    expect(Math.abs(correlation(even, odd))).toBeLessThan(5 / Math.sqrt(N / 2));
    expect(Math.abs(correlation(odd.subarray(0, -1), even.subarray(1)))).toBeLessThan(5 / Math.sqrt(N / 2));
    expect(Math.abs(correlation(even.map(Math.abs), odd.map(Math.abs)))).toBeLessThan(5 / Math.sqrt(N / 2));
    // Neighbouring seeds are independent streams.
    expect(Math.abs(correlation(v, await values('randn', N, { seed: 2 })))).toBeLessThan(5 / Math.sqrt(N));
  });

  it('rand is uniform on [low, high) over 1e6 samples', async () => {
    const v = await values('rand', N, { seed: 3 });
    const m = moments(v);
    expect(Math.abs(m.mean - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / N));
    expect(Math.abs(m.variance - 1 / 12)).toBeLessThan(0.0015);
    expect(v.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(ksDistance(v, (x) => Math.min(1, Math.max(0, x)))).toBeLessThan(1.95 / Math.sqrt(N));
    expect(Math.abs(correlation(v.subarray(0, -1), v.subarray(1)))).toBeLessThan(5 / Math.sqrt(N));
    const scaled = await values('rand', 1000, { seed: 3, low: -2, high: 6 });
    expect(scaled.every((x) => x >= -2 && x < 6)).toBe(true);
    expect(Array.from(scaled)).toEqual(Array.from(v.subarray(0, 1000), (u) => Math.fround(-2 + 8 * u)));
  });
});

describe('exactmath', () => {
  it('ln agrees with Math.log to 2 ulp from 1e-300 to 1e300', () => {
    let worst = { x: 0, excess: -Infinity };
    const check = (x: number, ulps: number) => {
      const want = Math.log(x);
      const excess = Math.abs(ln(x) - want) - ulps * 2.23e-16 * Math.max(1, Math.abs(want));
      if (excess > worst.excess) worst = { x, excess };
    };
    for (let i = 0; i < 100_000; i++) check(Math.exp(-690 + (1380 * i) / 100_000 + 1e-3 * Math.sin(i)), 2);
    for (const x of [1, 2, 0.5, 2 ** -53, 1 - 2 ** -53, 1 + 2 ** -52]) check(x, 1);
    expect(worst.excess, `worst at ln(${worst.x})`).toBeLessThanOrEqual(0);
  });

  it('cosSin2Pi agrees with Math.cos/sin(2πt) to 1e-15 over [0, 1), exactly at the quarter turns', () => {
    const out = { cos: 0, sin: 0 };
    let worst = { t: 0, error: 0 };
    for (let i = 0; i < 100_000; i++) {
      const t = i / 100_000 + 1e-6 * Math.abs(Math.sin(i));
      cosSin2Pi(t, out);
      const error = Math.max(Math.abs(out.cos - Math.cos(2 * Math.PI * t)), Math.abs(out.sin - Math.sin(2 * Math.PI * t)));
      if (error > worst.error) worst = { t, error };
    }
    expect(worst.error, `worst at t = ${worst.t}`).toBeLessThan(1e-15);
    const quarter = [[1, 0], [0, 1], [-1, 0], [0, -1]];
    for (let q = 0; q < 4; q++) {
      cosSin2Pi(q / 4, out);
      expect([out.cos + 0, out.sin + 0]).toEqual(quarter[q]);
    }
  });
});
