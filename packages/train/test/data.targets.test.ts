// DARK targets against the official generate_target/adjust_target_weight run in numpy
// (scripts/gen_data_fixtures.py), plus hand checks.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateTarget } from '@tmpose/train';

interface Fixture {
  targets: { size: [number, number]; joints: number[]; vis: number[]; target: string; weight: number[] }[];
}
const fx = JSON.parse(readFileSync(new URL('./fixtures/data-pipeline.json', import.meta.url), 'utf8')) as Fixture;
const f32 = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

describe('generateTarget (DARK, σ = 2, full map, float centre)', () => {
  it('matches the numpy reference, weights included (window test with int() truncation)', () => {
    for (const c of fx.targets) {
      const J = c.vis.length;
      const [W, H] = c.size;
      const target = new Float32Array(J * W * H).fill(7); // stale values must be overwritten
      const weight = new Float32Array(J).fill(7);
      generateTarget(c.joints, c.vis, { heatmapSize: c.size }, target, 0, weight, 0);
      expect(Array.from(weight)).toEqual(c.weight);
      const want = f32(c.target);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(target[i]! - want[i]!));
      // numpy evaluates exp of the sum in float32; we multiply two double exps and round once.
      expect(worst).toBeLessThan(1e-6); // a few float32 ulps near the peak
    }
  });

  it('puts the peak at the float centre and nothing for invisible or far joints (hand check)', () => {
    const W = 48;
    const H = 64;
    const target = new Float32Array(3 * W * H);
    const weight = new Float32Array(3);
    generateTarget([10, 20, 23.5, 31.25, 100, 100], [1, 1, 1], { heatmapSize: [W, H], sigma: 2 }, target, 0, weight, 0);
    expect(Array.from(weight)).toEqual([1, 1, 0]);
    expect(target[20 * W + 10]).toBe(1);
    expect(target[20 * W + 11]).toBeCloseTo(Math.exp(-1 / 8), 7);
    expect(target[W * H + 31 * W + 23]).toBeCloseTo(Math.exp(-(0.25 + 0.0625) / 8), 7);
    // Not truncated at 3σ: a pixel 10 px away still has exp(−100/8).
    expect(target[20 * W + 20]).toBeCloseTo(Math.exp(-100 / 8), 12);
    expect(target.subarray(2 * W * H).every((v) => v === 0)).toBe(true);
    // Offsets: sample 1's slot of a batch.
    const t2 = new Float32Array(2 * W * H);
    const w2 = new Float32Array(2);
    generateTarget([5, 5], [1], { heatmapSize: [W, H] }, t2, W * H, w2, 1);
    expect(w2[1]).toBe(1);
    expect(t2[W * H + 5 * W + 5]).toBe(1);
    expect(t2.subarray(0, W * H).every((v) => v === 0)).toBe(true);
  });
});
