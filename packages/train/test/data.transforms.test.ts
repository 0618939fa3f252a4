// The training augmentation: flip pairs, half-body, the order and probabilities of the draws, the
// seeded PRNG.
import { describe, expect, it } from 'vitest';
import {
  augment,
  COCO_AUGMENT,
  COCO_FLIP_PAIRS,
  fliplrJoints,
  halfBodyTransform,
  hashKeys,
  MPII_AUGMENT,
  MPII_FLIP_PAIRS,
  permutation,
  Rng,
  type SampleState,
} from '@tmpose/train';

const f = Math.fround;

function cocoState(): SampleState {
  const joints = new Float64Array(34);
  for (let j = 0; j < 17; j++) {
    joints[2 * j] = 100 + j;
    joints[2 * j + 1] = 200 + 10 * j;
  }
  return { center: [f(110.5), f(280.25)], scale: [f(1.2), f(1.6)], rotation: 0, flipped: false, halfBody: false, joints, jointsVis: new Uint8Array(17).fill(1) };
}

describe('flip', () => {
  it('mirrors x about the image width and swaps the COCO pairs', () => {
    expect(COCO_FLIP_PAIRS).toEqual([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]);
    expect(MPII_FLIP_PAIRS).toEqual([[0, 5], [1, 4], [2, 3], [10, 15], [11, 14], [12, 13]]);
    const s = cocoState();
    s.jointsVis[2] = 0; // right eye invisible
    fliplrJoints(s.joints, s.jointsVis, 640, COCO_FLIP_PAIRS);
    // nose stays nose: x → 640 − 1 − 100
    expect([s.joints[0], s.joints[1]]).toEqual([539, 200]);
    // left eye (1) now holds the mirrored right eye, which was invisible: zeroed, visibility swapped.
    expect([s.joints[2], s.joints[3], s.jointsVis[1]]).toEqual([0, 0, 0]);
    // right eye (2) holds the mirrored left eye.
    expect([s.joints[4], s.joints[5], s.jointsVis[2]]).toEqual([639 - 101, 210, 1]);
    // left ankle (15) ↔ right ankle (16)
    expect([s.joints[30], s.joints[31]]).toEqual([639 - 116, 360]);
    expect([s.joints[32], s.joints[33]]).toEqual([639 - 115, 350]);
  });

  it('flipping twice restores the joints (visible ones)', () => {
    const s = cocoState();
    const before = Float64Array.from(s.joints);
    fliplrJoints(s.joints, s.jointsVis, 500, COCO_FLIP_PAIRS);
    fliplrJoints(s.joints, s.jointsVis, 500, COCO_FLIP_PAIRS);
    expect(Array.from(s.joints)).toEqual(Array.from(before));
  });
});

describe('half-body', () => {
  it('chooses the upper body when randn() < 0.5 and it has > 2 joints; box = extent + 1, aspect-fitted, ×1.5', () => {
    const s = cocoState();
    // Find a stream whose first randn() is below 0.5, and one above.
    let lowSeed = -1;
    let highSeed = -1;
    for (let k = 0; k < 100 && (lowSeed < 0 || highSeed < 0); k++) {
      const v = new Rng(k).randn();
      if (v < 0.5 && lowSeed < 0) lowSeed = k;
      if (v >= 0.5 && highSeed < 0) highSeed = k;
    }
    const up = halfBodyTransform(s.joints, s.jointsVis, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.75, new Rng(lowSeed))!;
    // Upper joints 0..10: x 100..110, y 200..300. Centre = mean.
    expect(up.center).toEqual([105, 250]);
    // w = 10 + 1 = 11, h = 100 + 1 = 101 → w = 0.75·101 = 75.75; ×1.5 / 200.
    expect(up.scale).toEqual([f(f(75.75 / 200) * 1.5), f(f(101 / 200) * 1.5)]);
    const low = halfBodyTransform(s.joints, s.jointsVis, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.75, new Rng(highSeed))!;
    // Lower joints 11..16: x 111..116, y 310..360.
    expect(low.center).toEqual([113.5, 335]);
    // Too few lower joints: the upper set even when randn() ≥ 0.5.
    const vis = new Uint8Array(17).fill(1);
    vis.fill(0, 12);
    const fallback = halfBodyTransform(s.joints, vis, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.75, new Rng(highSeed))!;
    expect(fallback.center).toEqual([105, 250]);
    // Fewer than 2 joints in the chosen set: no change.
    const one = new Uint8Array(17);
    one[3] = 1;
    expect(halfBodyTransform(s.joints, one, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.75, new Rng(0))).toBeNull();
  });

  it('picks the upper body ≈ 69 % of the time (P(N(0,1) < 0.5))', () => {
    const s = cocoState();
    let upper = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const hb = halfBodyTransform(s.joints, s.jointsVis, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.75, new Rng(7, i))!;
      if (hb.center[1] === 250) upper++;
    }
    expect(upper / n).toBeGreaterThan(0.68);
    expect(upper / n).toBeLessThan(0.705); // Φ(0.5) = 0.6915
  });
});

describe('augment (order, probabilities, ranges)', () => {
  it('matches the COCO recipe statistically and respects the clips', () => {
    const n = 20000;
    let halfBody = 0;
    let rotated = 0;
    let flipped = 0;
    let minK = Infinity;
    let maxK = -Infinity;
    let maxR = 0;
    let atClip = 0;
    for (let i = 0; i < n; i++) {
      const s = cocoState();
      augment(s, COCO_AUGMENT, COCO_FLIP_PAIRS, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 640, new Rng(11, 'aug', i));
      if (s.halfBody) halfBody++;
      if (s.rotation !== 0) rotated++;
      if (s.flipped) flipped++;
      if (!s.halfBody) {
        const k = s.scale[0] / f(1.2);
        minK = Math.min(minK, k);
        maxK = Math.max(maxK, k);
        if (Math.abs(k - 1.35) < 1e-6) atClip++;
      }
      maxR = Math.max(maxR, Math.abs(s.rotation));
      if (s.flipped && !s.halfBody) expect(s.center[0]).toBe(f(640 - f(110.5) - 1));
    }
    expect(halfBody / n).toBeGreaterThan(0.28);
    expect(halfBody / n).toBeLessThan(0.32);
    expect(rotated / n).toBeGreaterThan(0.58);
    expect(rotated / n).toBeLessThan(0.62);
    expect(flipped / n).toBeGreaterThan(0.48);
    expect(flipped / n).toBeLessThan(0.52);
    expect(minK).toBeGreaterThanOrEqual(0.65 - 1e-6);
    expect(maxK).toBeLessThanOrEqual(1.35 + 1e-6);
    expect(atClip).toBeGreaterThan(0); // P(N·0.35 > 0.35) ≈ 16 %
    expect(maxR).toBe(90); // clip at 2·45
  });

  it('does no half-body with 8 or fewer visible joints, and none for MPII', () => {
    for (let i = 0; i < 500; i++) {
      const s = cocoState();
      s.jointsVis.fill(0, 8);
      augment(s, COCO_AUGMENT, COCO_FLIP_PAIRS, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 640, new Rng(3, i));
      expect(s.halfBody).toBe(false);
    }
    expect(MPII_AUGMENT.halfBodyProb).toBeLessThan(0);
    expect([MPII_AUGMENT.rotationFactor, MPII_AUGMENT.scaleFactor]).toEqual([30, 0.25]);
    expect([COCO_AUGMENT.rotationFactor, COCO_AUGMENT.scaleFactor, COCO_AUGMENT.halfBodyProb]).toEqual([45, 0.35, 0.3]);
  });

  it('is a pure function of the seed', () => {
    const a = cocoState();
    const b = cocoState();
    augment(a, COCO_AUGMENT, COCO_FLIP_PAIRS, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 640, new Rng(5, 'sample', 2, 17));
    augment(b, COCO_AUGMENT, COCO_FLIP_PAIRS, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 640, new Rng(5, 'sample', 2, 17));
    expect(a).toEqual(b);
  });
});

describe('Rng', () => {
  it('is deterministic per (seed, keys), independent across keys, and well distributed', () => {
    const a = new Rng(42, 'x', 1);
    const b = new Rng(42, 'x', 1);
    const seqA = Array.from({ length: 8 }, () => a.random());
    expect(Array.from({ length: 8 }, () => b.random())).toEqual(seqA);
    expect(new Rng(42, 'x', 2).random()).not.toBe(seqA[0]);
    expect(new Rng(43, 'x', 1).random()).not.toBe(seqA[0]);
    expect(hashKeys(1, 'shuffle', 0)).not.toBe(hashKeys(1, 'sample', 0));
    const r = new Rng(9);
    let sum = 0;
    let sq = 0;
    const n = 50000;
    for (let i = 0; i < n; i++) {
      const z = r.randn();
      sum += z;
      sq += z * z;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.02);
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.03);
    const p = permutation(100, new Rng(1));
    expect(Array.from(p).sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(p)).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
