// Element-wise comparisons for the model tests, written so that a NaN (or ±Infinity) on either side
// fails: every test is phrased as "ok only if the difference is provably within the tolerance"
// (`!(d <= tol)` fails), never as "fail if it exceeds" (`d > tol` is false for NaN and would let it through).
import { expect } from 'vitest';

/**
 * The first element where `actual` differs from `expected` by more than the gradient tolerance
 * |Δ| ≤ rel·max|expected| + elem·|expected| (or where either value is not finite), or null when all pass.
 */
export function firstGradMismatch(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rel = 2e-4,
  elem = 1e-3,
): { at: number; actual: number; expected: number; scale: number } | null {
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    if (!Number.isFinite(e)) return { at: i, actual: actual[i]!, expected: e, scale: NaN };
    scale = Math.max(scale, Math.abs(e));
  }
  let worst = -Infinity;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!Number.isFinite(a)) return { at: i, actual: a, expected: e, scale };
    const excess = Math.abs(a - e) - (rel * scale + elem * Math.abs(e));
    if (excess > 0 && excess > worst) {
      worst = excess;
      at = i;
    }
  }
  return at < 0 ? null : { at, actual: actual[at]!, expected: expected[at]!, scale };
}

/** Fails the test when `firstGradMismatch` finds an element out of tolerance (or non-finite). */
export function expectGradClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  const bad = firstGradMismatch(actual, expected);
  if (bad) expect.fail(`${what}: element ${bad.at} is ${bad.actual}, expected ${bad.expected} (max |g| ${bad.scale})`);
}

/** max |a − b|, NaN when any element of either is NaN (so `expect(maxAbsDiff(...)).toBeLessThan(t)` fails on it). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return NaN;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return NaN;
    if (d > m) m = d;
  }
  return m;
}
