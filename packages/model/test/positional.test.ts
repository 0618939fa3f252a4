// The sine-full position embedding (model-spec §2): the spec's check values and the official float32 formula.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sinePositionTable } from '@tmpose/model';

const ref = JSON.parse(readFileSync(new URL('./fixtures/tmpose_reference.json', import.meta.url), 'utf8')) as {
  pe_16x16x192: [number, number, number][];
  pe_16x16x32_row37: number[];
  pe_4x6x16: number[];
};

describe('sine position embedding', () => {
  const pe = sinePositionTable(16, 16, 192);
  const at = (t: number, k: number) => pe[t * 192 + k]!;

  it('has the spec check values', () => {
    const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThan(1e-6);
    [0.382683, 0.92388, 0.318489, 0.947926].forEach((v, k) => {
      close(at(0, k), v);
      close(at(0, 96 + k), v);
    });
    close(at(1, 96), 0.707107);
    close(at(1, 97), 0.707107);
    close(at(17, 0), 0.707107);
    close(at(17, 1), 0.707107);
    // Not 0: the 1e-6 in (i+1)/(h+1e-6), in float32 arithmetic.
    expect(at(255, 0)).toBeCloseTo(-7.79e-7, 9);
    expect(pe.length).toBe(256 * 192);
  });

  it('matches the official float32 formula (PyTorch) within 2e-7', () => {
    let worst = 0;
    for (const [t, k, v] of ref.pe_16x16x192) worst = Math.max(worst, Math.abs(at(t, k) - v));
    const small = sinePositionTable(16, 16, 32);
    ref.pe_16x16x32_row37.forEach((v, k) => (worst = Math.max(worst, Math.abs(small[37 * 32 + k]! - v))));
    // A non-square grid: x uses the column count, y the row count.
    const rect = sinePositionTable(4, 6, 16);
    ref.pe_4x6x16.forEach((v, i) => (worst = Math.max(worst, Math.abs(rect[i]! - v))));
    expect(worst).toBeLessThan(2e-7);
  });
});
