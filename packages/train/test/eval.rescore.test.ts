import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { evaluateCocoKeypoints, oksIou, oksNms, rescoreAndOksNms, rescorePerson, scaleArea, type TopDownPrediction } from '@tmpose/train';

const fixtures = fileURLToPath(new URL('./fixtures/rescore/', import.meta.url));

interface Case {
  inputs: TopDownPrediction[];
  expected: { index: number; image_id: number; score: number }[];
}

describe('rescoring and OKS-NMS (model spec §5)', () => {
  it('person score = box score × mean of joint scores > 0.2', () => {
    const k = new Array(51).fill(0);
    [0.9, 0.1, 0.5, 0.2, 0.3].forEach((s, j) => (k[3 * j + 2] = s)); // 0.1 and 0.2 are not > 0.2
    expect(rescorePerson(k, 0.8)).toBeCloseTo(((0.9 + 0.5 + 0.3) / 3) * 0.8, 15);
    expect(rescorePerson(new Array(51).fill(0.1), 0.9)).toBe(0); // no joint passes → 0
    expect(rescorePerson(k, 1, { inVisThr: 0 })).toBeCloseTo((0.9 + 0.1 + 0.5 + 0.2 + 0.3) / 5, 15);
  });

  it('area = prod(scale·200), float32 arithmetic by default', () => {
    expect(scaleArea([0.5, 2 / 3], 'float64')).toBe(100 * ((2 / 3) * 200));
    expect(scaleArea([0.5, 2 / 3])).toBe(Math.fround(100 * Math.fround(Math.fround(2 / 3) * 200)));
  });

  it('OKS of identical persons is 1; one joint moved by d gives (16 + exp(-d²/(2·vars·a)))/17', () => {
    const g = Array.from({ length: 51 }, (_, i) => (i % 3 === 2 ? 1 : 10 + i));
    const d = g.slice();
    d[0] += 3; // nose, σ = .026
    const vars = 0.052 * 0.052;
    const [same, moved] = oksIou(g, [g, d], 400, [400, 400], { precision: 'float64' });
    expect(same).toBe(1);
    // numpy pairwise sum of the 17 terms vs this closed form: equal to 1e-15
    expect(moved).toBeCloseTo((16 + Math.exp(-9 / vars / (400 + 2 ** -52) / 2)) / 17, 14);
  });

  it('NMS keeps the best, drops OKS > thr, keeps OKS ≤ thr', () => {
    const person = (x: number) => Array.from({ length: 51 }, (_, i) => (i % 3 === 2 ? 0.9 : i % 3 === 0 ? x + i : 50 + i));
    const items = [
      { keypoints: person(0), area: 10000, score: 0.5 },
      { keypoints: person(0.5), area: 10000, score: 0.9 }, // best; item 0 overlaps it (OKS ≈ 1)
      { keypoints: person(400), area: 10000, score: 0.7 }, // far away: kept
    ];
    expect(oksNms(items, 0.9)).toEqual([1, 2]);
    expect(oksNms(items, 1.0)).toEqual([1, 2, 0]); // OKS ≤ 1 always kept
    // equal scores: the later index goes first (numpy argsort()[::-1])
    expect(oksNms([{ ...items[0]!, score: 0.5 }, { ...items[1]!, score: 0.5 }], 0.9)).toEqual([1]);
    expect(oksNms([], 0.9)).toEqual([]);
  });

  it('reproduces the official post-processing (numpy reference, fixtures/rescore/generate.py)', () => {
    const cases = JSON.parse(readFileSync(`${fixtures}cases.json`, 'utf8')) as Case[];
    expect(cases.length).toBeGreaterThan(0);
    for (const c of cases) {
      const out = rescoreAndOksNms(c.inputs);
      expect(out.length).toBe(c.expected.length);
      out.forEach((r, i) => {
        const e = c.expected[i]!;
        expect(r.image_id).toBe(e.image_id);
        expect(r.score).toBe(e.score);
        expect(r.keypoints).toEqual(Array.from(c.inputs[e.index]!.keypoints, Math.fround));
        expect(r.category_id).toBe(1);
      });
    }
  });

  it('its output is a valid COCO results list for the evaluator', () => {
    const c = (JSON.parse(readFileSync(`${fixtures}cases.json`, 'utf8')) as Case[])[0]!;
    const out = rescoreAndOksNms(c.inputs);
    const imageIds = [...new Set(out.map((r) => r.image_id))];
    const gt = { images: imageIds.map((id) => ({ id })), annotations: [], categories: [{ id: 1 }] };
    expect(evaluateCocoKeypoints(gt, out).statsArray.every((v) => v === -1)).toBe(true);
  });

  it('rejects a prediction with the wrong keypoint count', () => {
    const p: TopDownPrediction = { imageId: 1, keypoints: new Array(48).fill(0), center: [0, 0], scale: [1, 1], boxScore: 1 };
    expect(() => rescoreAndOksNms([p])).toThrow('preds[0].keypoints: expected 51 numbers, got 48');
  });
});
