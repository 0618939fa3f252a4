// The token maskers (model-spec §3): counts, numpy-exact random draws, uniform / block layouts.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RandomState, blockIndices, keptCount, nKeep, randomIndices, sampleIndices, uniformIndices } from '@tmpose/model';

const ref = JSON.parse(readFileSync(new URL('./fixtures/tmpose_reference.json', import.meta.url), 'utf8')) as {
  random: { seed: number; keep: number; indices: number[] }[];
  random_sequence_seed5: number[][];
  uniform: { keep: number; indices: number[] }[];
  block: { keep: number; count: number }[];
};

describe('keep counts', () => {
  it('int(256·r) truncates: 0.8 → 204, 0.6 → 153, 0.4 → 102; block keeps 4·int(256r/4)', () => {
    expect([0.8, 0.6, 0.4].map((r) => nKeep(256, r))).toEqual([204, 153, 102]);
    expect(keptCount('random', 256, 0.6)).toBe(153);
    expect(keptCount('uniform', 256, 0.6)).toBe(153);
    expect([0.8, 0.6, 0.4].map((r) => keptCount('block', 256, r))).toEqual([204, 152, 100]);
    expect(nKeep(256, 1)).toBe(256);
    expect(() => nKeep(256, 0)).toThrow(/\(0, 1\]/);
    expect(() => nKeep(256, 1.2)).toThrow(/\(0, 1\]/);
  });
});

describe('random sampler', () => {
  it('reproduces numpy.random.seed(s); numpy.random.choice(256, n, replace=False) exactly', () => {
    expect(ref.random.length).toBeGreaterThan(0);
    for (const { seed, keep, indices } of ref.random) {
      expect(randomIndices(256, keep, new RandomState(seed)), `seed ${seed} keep ${keep}`).toEqual(indices);
    }
    // A continuing stream: three draws after one seed.
    const rng = new RandomState(5);
    for (const expected of ref.random_sequence_seed5) expect(randomIndices(256, 0.6, rng)).toEqual(expected);
  });

  it('is unsorted, without repeats, and deterministic per seed', () => {
    const a = sampleIndices('random', 256, 0.6, new RandomState(123));
    const b = sampleIndices('random', 256, 0.6, new RandomState(123));
    const c = sampleIndices('random', 256, 0.6, new RandomState(124));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a).toHaveLength(153);
    expect(new Set(a).size).toBe(153);
    expect(a.every((v) => v >= 0 && v < 256)).toBe(true);
    expect([...a].sort((x, y) => x - y)).not.toEqual(a);
    // numpy seed 0, first entries
    expect(randomIndices(256, 0.6, new RandomState(0)).slice(0, 8)).toEqual([158, 83, 170, 101, 150, 200, 118, 236]);
  });
});

describe('uniform sampler', () => {
  it('is floor(linspace(0, 255, n)): 0, 1, 3, 5, 6, 8, 10, 11, ... at keep 0.6', () => {
    expect(uniformIndices(256, 0.6).slice(0, 12)).toEqual([0, 1, 3, 5, 6, 8, 10, 11, 13, 15, 16, 18]);
    expect(uniformIndices(256, 0.6)).toHaveLength(153);
    for (const { keep, indices } of ref.uniform) expect(uniformIndices(256, keep), `keep ${keep}`).toEqual(indices);
  });
});

describe('block sampler', () => {
  it('keeps the prefix [0, 4·int(256r/4))', () => {
    for (const { keep, count } of ref.block) {
      expect(blockIndices(256, keep), `keep ${keep}`).toEqual(Array.from({ length: count }, (_, i) => i));
    }
    expect(blockIndices(256, 0.6)).toHaveLength(152);
  });
});
