// The comparison helpers of the model tests fail on NaN and ±Infinity, in ours or in the reference
// (`excess > worst` is false for NaN: a comparison written that way lets a NaN gradient pass).
import { describe, expect, it } from 'vitest';
import { expectGradClose, firstGradMismatch, maxAbsDiff } from './compare.js';

const ref = [0.5, -1, 2, 0.25];

describe('expectGradClose', () => {
  it('passes within |Δ| ≤ 2e-4·max|g| + 1e-3·|g| and fails just outside it', () => {
    expect(() => expectGradClose([0.5, -1, 2 + 2e-4 * 2 + 1e-3 * 2 - 1e-9, 0.25], ref, 'g')).not.toThrow();
    expect(() => expectGradClose([0.5, -1, 2 + 2e-4 * 2 + 1e-3 * 2 + 1e-6, 0.25], ref, 'g')).toThrow(/g: element 2/);
  });

  for (const bad of [NaN, Infinity, -Infinity]) {
    it(`fails on ${bad} in our gradient`, () => {
      expect(firstGradMismatch([0.5, bad, 2, 0.25], ref)).toMatchObject({ at: 1 });
      expect(() => expectGradClose([0.5, bad, 2, 0.25], ref, 'ours')).toThrow(/ours: element 1/);
    });
    it(`fails on ${bad} in the reference`, () => {
      const r = [0.5, -1, bad, 0.25];
      expect(firstGradMismatch([0.5, -1, 2, 0.25], r)).toMatchObject({ at: 2 });
      expect(() => expectGradClose([0.5, -1, 2, 0.25], r, 'theirs')).toThrow(/theirs: element 2/);
    });
    it(`fails on ${bad} on both sides`, () => {
      expect(() => expectGradClose([0.5, bad, 2, 0.25], [0.5, bad, 2, 0.25], 'both')).toThrow(/both: element 1/);
    });
  }
  it('fails on a NaN even when every other element is far out of tolerance', () => {
    expect(() => expectGradClose([9, NaN, 9, 9], ref, 'g')).toThrow(/element 1 is NaN/);
  });
});

describe('maxAbsDiff', () => {
  it('is NaN when either side has a NaN, wherever it is', () => {
    expect(maxAbsDiff([1, NaN, 5], [1, 2, 3])).toBeNaN();
    expect(maxAbsDiff([1, 2, 3], [NaN, 2, 3])).toBeNaN();
    expect(maxAbsDiff([1, 2, 30], [1, NaN, 3])).toBeNaN();
    expect(maxAbsDiff([1, 2, 3], [1.5, 2, 2])).toBe(1);
    expect(maxAbsDiff([1, Infinity], [1, 2])).toBe(Infinity);
  });
});
