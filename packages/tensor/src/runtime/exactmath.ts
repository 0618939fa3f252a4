// ln and (cos, sin) of 2πt built from +, −, ×, ÷ alone. Each of these is correctly rounded in IEEE
// float64, which every JS engine follows, so the same input gives the same bits in V8, SpiderMonkey
// and JavaScriptCore. Math.log and Math.cos are only approximately specified and differ between
// engines (and WGSL's log/cos between adapters), which would make seeded tensors differ too.

const LN2 = 0.6931471805599453;
const HALF_PI = 1.5707963267948966;
const SQRT_HALF = 0.7071067811865476;

// Series coefficients, each one correctly rounded division: 1/k for odd k (ln), and 1/(k(k+1)) for the
// nested Taylor series of sin and cos. Named constants, unrolled below: this runs per random number.
const [I3, I5, I7, I9, I11, I13, I15, I17, I19, I21, I23] = [3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23].map((k) => 1 / k) as [
  number, number, number, number, number, number, number, number, number, number, number,
];
const [S2, S4, S6, S8, S10, S12, S14, S16, S18] = [2, 4, 6, 8, 10, 12, 14, 16, 18].map((k) => 1 / (k * (k + 1))) as [
  number, number, number, number, number, number, number, number, number,
];
const [C1, C3, C5, C7, C9, C11, C13, C15, C17] = [1, 3, 5, 7, 9, 11, 13, 15, 17].map((k) => 1 / (k * (k + 1))) as [
  number, number, number, number, number, number, number, number, number,
];

/** Natural log of a finite x > 0, to about 1 ulp. */
export function ln(x: number): number {
  // x = m · 2^e with m in [√½, √2): doubling and halving are exact.
  let e = 0;
  while (x < SQRT_HALF) {
    x *= 2;
    e--;
  }
  while (x >= 2 * SQRT_HALF) {
    x *= 0.5;
    e++;
  }
  // ln m = 2 atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172: the odd series to s^23 is below 1e-17.
  const s = (x - 1) / (x + 1);
  const z = s * s;
  const p = 1 + z * (I3 + z * (I5 + z * (I7 + z * (I9 + z * (I11 + z * (I13 + z * (I15 + z * (I17 + z * (I19 + z * (I21 + z * I23))))))))));
  return e * LN2 + 2 * s * p;
}

// Taylor series on |y| ≤ π/4, nested: sin y = y(1 − y²/(2·3)(1 − y²/(4·5)(…))); the last terms kept
// (y^19/19!, y^18/18!) are below 1e-17.
function sinSmall(y: number): number {
  const z = y * y;
  return y * (1 - z * S2 * (1 - z * S4 * (1 - z * S6 * (1 - z * S8 * (1 - z * S10 * (1 - z * S12 * (1 - z * S14 * (1 - z * S16 * (1 - z * S18)))))))));
}

function cosSmall(y: number): number {
  const z = y * y;
  return 1 - z * C1 * (1 - z * C3 * (1 - z * C5 * (1 - z * C7 * (1 - z * C9 * (1 - z * C11 * (1 - z * C13 * (1 - z * C15 * (1 - z * C17))))))));
}

export interface CosSin {
  cos: number;
  sin: number;
}

/** Sets `out` to cos 2πt and sin 2πt, t in [0, 1) (into an object the caller reuses: no allocation per call). */
export function cosSin2Pi(t: number, out: CosSin): void {
  // Quadrant q and the fraction f within it are exact (t·4 is a power-of-two scaling); past the
  // octant, the complement 1 − f is exact too (Sterbenz), so the series only sees |y| ≤ π/4.
  const x = t * 4;
  const q = Math.floor(x);
  const f = x - q;
  const y = (f <= 0.5 ? f : 1 - f) * HALF_PI;
  const c = f <= 0.5 ? cosSmall(y) : sinSmall(y);
  const s = f <= 0.5 ? sinSmall(y) : cosSmall(y);
  // Rotate by q quarter turns.
  out.cos = q === 0 ? c : q === 1 ? -s : q === 2 ? -c : s;
  out.sin = q === 0 ? s : q === 1 ? c : q === 2 ? -s : -c;
}
