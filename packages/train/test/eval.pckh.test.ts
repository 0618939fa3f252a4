import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MPII_JOINT_NAMES, evaluatePckProxy, evaluatePckh, formatPckhJoints, formatPckhTable } from '@tmpose/train';

// Two persons, head box [0, 0, 30, 40]: diagonal 50, head size 0.6·50 = 30 px, so 0.5 ↔ 15 px and
// 0.11 ↔ 3.3 px. Ground truth is 1-based (as gt_valid.mat); predictions are 0-based, so pred = gt − 1 + error.
// Errors (along x, so distances are exact):
//   person 0: joint j off by j px, except joint 3 off by 3.2 px (correct at 0.11, wrong at 0.10);
//             joint 15 off by exactly 15 px (= 0.5: counts as correct, ≤)
//   person 1: joint j off by 2j px (correct for j ≤ 7), pelvis and thorax off by 20 px; joint 0 missing.
const gtJoint = (j: number): [number, number] => [100 + 10 * j, 200 + 5 * j];
const err0 = (j: number) => (j === 3 ? 3.2 : j);
const err1 = (j: number) => (j === 6 || j === 7 ? 20 : 2 * j);
const joints = [0, 1].map(() => Array.from({ length: 16 }, (_, j) => gtJoint(j)));
const preds = [err0, err1].map((e) => Array.from({ length: 16 }, (_, j) => [gtJoint(j)[0] - 1 + e(j), gtJoint(j)[1] - 1]));
const visible = [new Array(16).fill(1), [0, ...new Array(15).fill(1)]];
const headBoxes = [
  [0, 0, 30, 40],
  [10, 10, 40, 50],
];

describe('MPII PCKh (official evaluation, hand-computed)', () => {
  const r = evaluatePckh({ preds, joints, visible, headBoxes });

  it('per joint, at 0.5', () => {
    expect(r.kind).toBe('PCKh');
    expect(r.label).toBe('PCKh@0.5');
    expect(r.jointCount).toEqual([1, ...new Array(15).fill(2)]);
    // j0: 1/1; j1..5: 2/2; j6, j7: person 1 off by 20 > 15 → 1/2; j8..15: person 1 wrong → 1/2
    expect(r.perJoint).toEqual([100, 100, 100, 100, 100, 100, 50, 50, 50, 50, 50, 50, 50, 50, 50, 50]);
  });

  it('the table: l/r averaged, mean weighted by counts without pelvis and thorax', () => {
    const t = r.table;
    expect([t.Head, t.Shoulder, t.Elbow, t.Wrist, t.Hip, t.Knee, t.Ankle]).toEqual([50, 50, 50, 50, 100, 100, 100]);
    // counts without 6, 7: 1 + 5·2 + 8·2 = 27; correct: 1 + 10 + 8 = 19 → 1900/27
    expect(t.Mean).toBeCloseTo(1900 / 27, 12);
  });

  it('Mean@0.1 is read at threshold 0.11 (pckAll row 11), as the official code does', () => {
    expect(r.thresholds.length).toBe(51);
    expect(r.thresholds[11]).toBe(0.11);
    // at 0.11 (3.3 px): person 0 joints 0..3 (3.2 ≤ 3.3), person 1 joint 1 (2 px) → j0 1/1, j1 2/2, j2 1/2, j3 1/2
    expect(r.table['Mean@0.1']).toBeCloseTo((100 * 1 + 100 * 2 + 50 * 2 + 50 * 2) / 27, 12);
    // at exactly 0.10 (3 px) joint 3 of person 0 (3.2 px) would be wrong
    expect(r.pckAll[10]![3]).toBe(0);
    expect(r.pckAll[11]![3]).toBe(50);
    expect(r.pckAll[50]).toEqual(r.perJoint);
  });

  it('formats the official table', () => {
    const s = formatPckhTable(r, 'tmpose_b');
    expect(s.split('\n')).toEqual([
      '# PCKh@0.5',
      '| Arch | Head | Shoulder | Elbow | Wrist | Hip | Knee | Ankle | Mean | Mean@0.1 |',
      '|---|---|---|---|---|---|---|---|---|---|',
      '| tmpose_b | 50.000 | 50.000 | 50.000 | 50.000 | 100.000 | 100.000 | 100.000 | 70.370 | 18.519 |',
    ]);
    expect(formatPckhJoints(r).split('\n')[1]).toBe('r_ankle     n=    1  100.000');
    expect(MPII_JOINT_NAMES[9]).toBe('head_top');
  });

  it('the head size scales the threshold: a bigger head box accepts more', () => {
    const big = evaluatePckh({ preds, joints, visible, headBoxes: [headBoxes[0]!, [0, 0, 60, 80]] });
    // person 1's head size is 60 px: all its errors (≤ 30 px) pass at 0.5
    expect(big.perJoint.every((v) => v === 100)).toBe(true);
  });

  it('a joint never visible has PCKh NaN and weight 0', () => {
    const vis = visible.map((v) => [...v]);
    vis[0]![0] = 0;
    const r2 = evaluatePckh({ preds, joints, visible: vis, headBoxes });
    expect(r2.perJoint[0]).toBeNaN();
    expect(r2.table.Mean).toBeCloseTo(1800 / 26, 12);
  });

  it('rejects inconsistent input', () => {
    expect(() => evaluatePckh({ preds, joints, visible, headBoxes: [headBoxes[0]!] })).toThrow(/expected 2 normalisers/);
    expect(() => evaluatePckh({ preds: [preds[0]!.slice(1), preds[1]!], joints, visible, headBoxes })).toThrow(
      'evaluatePckh: preds[0]: expected 16 joints, got 15',
    );
  });
});

describe('PCK proxy (no head boxes): clearly not PCKh', () => {
  it('with sizes = head size it gives the same numbers, labelled as a proxy', () => {
    const r = evaluatePckProxy({ preds, joints, visible, sizes: [50, 50] }, { sizeFactor: 0.6, sizeLabel: 'the head-box diagonal' });
    const ref = evaluatePckh({ preds, joints, visible, headBoxes });
    expect(r.kind).toBe('PCK-proxy');
    expect(r.label).toBe('PCK@0.5 normalised by the head-box diagonal × 0.6 (a proxy, NOT PCKh: no head boxes)');
    expect(r.perJoint).toEqual(ref.perJoint);
    expect(r.table).toEqual(ref.table);
    expect(formatPckhTable(r).split('\n')[0]).toContain('NOT PCKh');
  });

  const mpii = fileURLToPath(new URL('../../../data/mpii-mini/test_mpii.json', import.meta.url));
  it('on the bundled MPII sample, normalised by scale·200: ground truth scores 100', () => {
    const recs = JSON.parse(readFileSync(mpii, 'utf8')) as { joints: number[][]; joints_vis: number[]; scale: number }[];
    // the sample's joints are 1-based; a perfect 0-based prediction is joints − 1
    const r = evaluatePckProxy(
      {
        preds: recs.map((x) => x.joints.map(([u, v]) => [u! - 1, v! - 1])),
        joints: recs.map((x) => x.joints),
        visible: recs.map((x) => x.joints_vis),
        sizes: recs.map((x) => x.scale * 200),
      },
      { sizeLabel: 'the person scale·200' },
    );
    expect(r.jointCount.reduce((a, b) => a + b, 0)).toBe(76);
    expect(r.table.Mean).toBeCloseTo(100, 12);
    expect(r.label).toContain('NOT PCKh');
  });
});
