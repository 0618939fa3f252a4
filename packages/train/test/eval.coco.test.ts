import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  COCO_KEYPOINT_STAT_NAMES,
  CocoFormatError,
  cocoKeypointStatsJson,
  evaluateCocoKeypoints,
  formatCocoKeypointSummary,
  type CocoKeypointStats,
} from '@tmpose/train';
import { formatFixed, npLinspace, npSum } from '../src/eval/numeric.js';

// The bundled sample data (a copy of the shared coco-mini set, shipped in the repo's data/).
const shared = fileURLToPath(new URL('../../../data/coco-mini/', import.meta.url));
const fixtures = fileURLToPath(new URL('./fixtures/coco-eval/', import.meta.url));
const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));

function expectStats(got: CocoKeypointStats, want: CocoKeypointStats) {
  for (const n of COCO_KEYPOINT_STAT_NAMES) {
    expect(Math.abs(got[n] - want[n]), `${n}: got ${got[n]}, want ${want[n]}`).toBeLessThanOrEqual(1e-9);
  }
}

describe('COCO keypoint AP: shared pycocotools cases (coco-mini/eval-cases)', () => {
  const gt = readJson(`${shared}test_coco.json`);
  const cases = readdirSync(`${shared}eval-cases`)
    .filter((f) => f.endsWith('.results.json'))
    .map((f) => f.slice(0, -'.results.json'.length));
  const summaries = readJson(`${fixtures}shared-cases.summary.json`) as Record<string, { summary: string }>;

  it('finds the cases', () => {
    expect(cases.sort()).toEqual(['gt_exact', 'noise_mixed', 'noise_small']);
  });

  for (const name of cases) {
    it(`${name}: the ten numbers match pycocotools to 1e-9, and the printed summary matches`, () => {
      const res = readJson(`${shared}eval-cases/${name}.results.json`);
      const want = readJson(`${shared}eval-cases/${name}.expected.json`) as CocoKeypointStats;
      const ev = evaluateCocoKeypoints(gt, res);
      expectStats(ev.stats, want);
      expect(formatCocoKeypointSummary(ev) + '\n').toBe(summaries[name]!.summary);
    });
  }
});

describe('COCO keypoint AP: hand-made cases checked against pycocotools (fixtures/coco-eval, generate.py)', () => {
  const names = readdirSync(fixtures)
    .filter((f) => f.endsWith('.expected.json'))
    .map((f) => f.slice(0, -'.expected.json'.length));

  it('has the edge cases', () => {
    for (const n of ['edge_ignored', 'many_dets', 'ties', 'bbox_results', 'gt_id_zero', 'multi_category', 'large_only']) {
      expect(names).toContain(n);
    }
  });

  for (const name of names) {
    it(name, () => {
      const gt = readJson(`${fixtures}${name}.gt.json`);
      const res = readJson(`${fixtures}${name}.results.json`);
      const want = readJson(`${fixtures}${name}.expected.json`) as { stats: CocoKeypointStats; summary: string };
      const ev = evaluateCocoKeypoints(gt, res);
      expectStats(ev.stats, want.stats);
      expect(formatCocoKeypointSummary(ev) + '\n').toBe(want.summary);
    });
  }

  it('multi_category: results of a category that is not in the ground truth are left out', () => {
    const ev = evaluateCocoKeypoints(readJson(`${fixtures}multi_category.gt.json`), readJson(`${fixtures}multi_category.results.json`));
    expect(ev.numResults).toBe(5);
    expect(ev.droppedResults).toBe(1);
    expect(ev.counts).toEqual([10, 101, 2, 3, 1]);
  });
});

// ---- small hand-made cases with numbers derived by hand -------------------------------------------

const SIG = [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89];

function kps(x: number, y: number, v = 2): number[] {
  return Array.from({ length: 17 }, (_, k) => [x + 10 * k, y + 5 * k, v]).flat();
}
function ann(id: number, imageId: number, x: number, y: number, area: number, extra: Record<string, unknown> = {}) {
  return { id, image_id: imageId, category_id: 1, keypoints: kps(x, y), num_keypoints: 17, area, bbox: [x, y, 170, 85], iscrowd: 0, ...extra };
}
function gtFile(imageIds: number[], annotations: unknown[]) {
  return { images: imageIds.map((id) => ({ id })), annotations, categories: [{ id: 1, name: 'person' }] };
}
function res(imageId: number, x: number, y: number, score: number) {
  return { image_id: imageId, category_id: 1, keypoints: kps(x, y, 0.9), score };
}

// pycocotools' precision is tp / (tp + fp + np.spacing(1)): one true detection has precision
// 1/(1 + 2^-52) = 0.9999999999999998, not 1. The cases below compare to 12 decimals.
const closeTo = (got: readonly number[], want: readonly number[]) => {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(g, `entry ${i}`).toBeCloseTo(want[i]!, 12));
};

describe('COCO keypoint AP: hand-computed cases', () => {
  it('perfect detections give 1 everywhere their area range has GT, -1 elsewhere', () => {
    // area 5000 is medium (32² ≤ a ≤ 96²): APl/ARl have no GT → -1
    const ev = evaluateCocoKeypoints(gtFile([1], [ann(1, 1, 10, 10, 5000)]), [res(1, 10, 10, 0.9)]);
    closeTo(ev.statsArray, [1, 1, 1, 1, -1, 1, 1, 1, 1, -1]);
    expect(ev.stats.AP).toBe(1 / (1 + 2 ** -52));
  });

  it('a detection matched to an ignored (crowd) GT is neither a TP nor an FP', () => {
    const gt = gtFile([1], [ann(1, 1, 10, 10, 5000), ann(2, 1, 300, 10, 5000, { iscrowd: 1 })]);
    const ev = evaluateCocoKeypoints(gt, [res(1, 300, 10, 0.95), res(1, 10, 10, 0.5)]);
    expect(ev.stats.AP).toBeCloseTo(1, 12);
    // without the crowd flag the first detection is a TP on GT 2 as well
    const ev2 = evaluateCocoKeypoints(gtFile([1], [ann(1, 1, 10, 10, 5000)]), [res(1, 300, 10, 0.95), res(1, 10, 10, 0.5)]);
    // an FP ranked first: precision 1/2 at recall 1 → AP = 0.5 (within numpy's eps)
    expect(ev2.stats.AP).toBeCloseTo(0.5, 12);
  });

  it('an image with no GT: its detections are false positives', () => {
    const ev = evaluateCocoKeypoints(gtFile([1, 2], [ann(1, 1, 10, 10, 5000)]), [res(2, 10, 10, 0.9), res(1, 10, 10, 0.8)]);
    expect(ev.stats.AP).toBeCloseTo(0.5, 12);
    expect(ev.stats.AR).toBe(1);
  });

  it('more than 20 detections per image: only the 20 best count', () => {
    const r = Array.from({ length: 20 }, (_, i) => res(1, 1000 + 300 * i, 500, 0.9 - i * 0.01));
    r.push(res(1, 10, 10, 0.1)); // the 21st by score is the only true detection
    const ev = evaluateCocoKeypoints(gtFile([1], [ann(1, 1, 10, 10, 5000)]), r);
    expect(ev.stats.AP).toBe(0);
    expect(ev.stats.AR).toBe(0);
    const ev2 = evaluateCocoKeypoints(gtFile([1], [ann(1, 1, 10, 10, 5000)]), r.slice(1));
    expect(ev2.stats.AR).toBe(1);
    expect(ev2.stats.AP).toBeCloseTo(1 / 20, 12);
  });

  it('ties in score: image order first, then the results-file order within an image (stable sorts)', () => {
    const gt = gtFile([1, 2], [ann(1, 1, 10, 10, 5000), ann(2, 2, 10, 10, 5000)]);
    const tp1 = res(1, 10, 10, 0.5), tp2 = res(2, 10, 10, 0.5), fp2 = res(2, 900, 900, 0.5);
    // TP, TP, FP: precision 1 up to recall 1
    const a = evaluateCocoKeypoints(gt, [tp1, tp2, fp2]);
    expect(a.stats.AP50).toBeCloseTo(1, 12);
    // TP, FP, TP: envelope 1 for r ≤ .5 (51 points), 2/3 for the other 50 → (51 + 50·2/3)/101
    const b = evaluateCocoKeypoints(gt, [tp1, fp2, tp2]);
    expect(b.stats.AP50).toBeCloseTo((51 + (50 * 2) / 3) / 101, 12);
    // the detections of all images are merged image by image (sorted ids), so the file position of
    // image 2's results before image 1's changes nothing
    const c = evaluateCocoKeypoints(gt, [fp2, tp2, tp1]);
    expect(c.stats.AP50).toBe(b.stats.AP50);
  });

  it('OKS: one keypoint off by d gives exp(-d²/(2·area·(2σ)²)) for that joint', () => {
    const gt = gtFile([1], [ann(1, 1, 10, 10, 5000)]);
    const r = res(1, 10, 10, 0.9);
    // move the right ankle (σ .089) by 5 px in x
    r.keypoints[16 * 3] += 5;
    const s = 0.089;
    const oks = (16 + Math.exp(-(5 * 5) / ((2 * s) ** 2) / 5000 / 2)) / 17;
    // oks ≈ 0.9955: matched at every threshold ≤ 0.95 → AP 1
    expect(oks).toBeGreaterThan(0.95);
    expect(evaluateCocoKeypoints(gt, [r]).stats.AP).toBeCloseTo(1, 12);
    // 40 px: oks ≈ 0.9416 → misses only the 0.95 threshold → AP .9
    r.keypoints[16 * 3] += 35;
    const oks2 = (16 + Math.exp(-(40 * 40) / ((2 * s) ** 2) / 5000 / 2)) / 17;
    expect(oks2).toBeLessThan(0.95);
    expect(oks2).toBeGreaterThan(0.9);
    expect(evaluateCocoKeypoints(gt, [r]).stats.AP).toBeCloseTo(0.9, 12);
  });

  it('no results at all: AP 0 where there is GT, -1 where there is none', () => {
    const ev = evaluateCocoKeypoints(gtFile([1], [ann(1, 1, 10, 10, 5000)]), []);
    expect(ev.statsArray).toEqual([0, 0, 0, 0, -1, 0, 0, 0, 0, -1]);
  });

  it('an unlabelled (num_keypoints 0) GT is ignored: a detection on it counts as nothing', () => {
    const unl = { ...ann(2, 1, 300, 10, 5000), keypoints: new Array(51).fill(0), num_keypoints: 0 };
    const ev = evaluateCocoKeypoints(gtFile([1], [ann(1, 1, 10, 10, 5000), unl]), [res(1, 10, 10, 0.5), res(1, 320, 20, 0.9)]);
    expect(ev.stats.AP).toBeCloseTo(1, 12);
  });

  it('uses the given sigmas', () => {
    expect(SIG.length).toBe(17);
    const gt = gtFile([1], [ann(1, 1, 10, 10, 5000)]);
    const r = res(1, 10, 10, 0.9);
    r.keypoints[0] += 30;
    expect(evaluateCocoKeypoints(gt, [r]).stats.AP).toBeCloseTo(0.9, 12); // nose lost: oks 16/17
    const wide = evaluateCocoKeypoints(gt, [r], { sigmas: SIG.map(() => 1) });
    expect(wide.stats.AP).toBeCloseTo(1, 12);
  });
});

describe('COCO keypoint AP: input validation', () => {
  const gt = gtFile([1], [ann(1, 1, 10, 10, 5000)]);
  const ok = () => [res(1, 10, 10, 0.9), res(1, 10, 10, 0.8), res(1, 10, 10, 0.7), res(1, 10, 10, 0.6)];

  it('names the field and the entry of a bad result', () => {
    const r = ok();
    r[3]!.keypoints = r[3]!.keypoints.slice(0, 48);
    expect(() => evaluateCocoKeypoints(gt, r)).toThrow('results[3].keypoints: expected 51 numbers, got 48');
    const r2: unknown[] = ok();
    (r2[1] as Record<string, unknown>).score = 'high';
    expect(() => evaluateCocoKeypoints(gt, r2)).toThrow(/results\[1\]\.score: expected a finite number, got the string "high"/);
    const r3: unknown[] = ok();
    delete (r3[2] as Record<string, unknown>).image_id;
    expect(() => evaluateCocoKeypoints(gt, r3)).toThrow(/results\[2\]\.image_id: expected a numeric id, got nothing/);
    const r4 = ok();
    r4[0]!.image_id = 7;
    expect(() => evaluateCocoKeypoints(gt, r4)).toThrow('results[0].image_id: 7 is not an image of the ground truth');
    const r5 = ok();
    r5[2]!.keypoints[5] = Number.NaN;
    expect(() => evaluateCocoKeypoints(gt, r5)).toThrow('results[2].keypoints[5]: expected a finite number, got NaN');
    expect(() => evaluateCocoKeypoints(gt, { results: [] })).toThrow(CocoFormatError);
  });

  it('names the field and the entry of a bad ground truth', () => {
    const bad = gtFile([1], [ann(1, 1, 10, 10, 5000), { ...ann(2, 1, 10, 10, 5000), keypoints: [1, 2, 3] }]);
    expect(() => evaluateCocoKeypoints(bad, [])).toThrow('COCO ground truth: annotations[1].keypoints: expected 51 numbers, got 3');
    const noArea = gtFile([1], [{ ...ann(1, 1, 10, 10, 5000), area: undefined }]);
    expect(() => evaluateCocoKeypoints(noArea, [])).toThrow('annotations[0].area: expected a finite number, got nothing (field missing)');
    const dup = gtFile([1], [ann(4, 1, 10, 10, 5000), ann(4, 1, 10, 10, 5000)]);
    expect(() => evaluateCocoKeypoints(dup, [])).toThrow('annotations[1].id: duplicate annotation id 4 (also annotations[0])');
    const badImg = gtFile([1], [ann(1, 2, 10, 10, 5000)]);
    expect(() => evaluateCocoKeypoints(badImg, [])).toThrow('annotations[0].image_id: 2 is not the id of any entry of images');
    expect(() => evaluateCocoKeypoints({ images: [], annotations: [] }, [])).toThrow('COCO ground truth: categories: expected a list');
    const err = (() => {
      try {
        evaluateCocoKeypoints(gt, [{ ...res(1, 0, 0, 1), bbox: [1, 2, 3] }]);
      } catch (e) {
        return e as CocoFormatError;
      }
      return null;
    })();
    expect(err?.path).toBe('results[0].bbox');
  });
});

describe('numeric helpers reproduce numpy', () => {
  it('linspace thresholds', () => {
    const iou = npLinspace(0.5, 0.95, 10);
    expect(Array.from(iou).map(String)).toEqual([
      '0.5', '0.55', '0.6', '0.65', '0.7', '0.75', '0.8', '0.85', '0.8999999999999999', '0.95',
    ]);
    const rec = npLinspace(0, 1, 101);
    expect(rec[3]).toBe(0.03);
    expect(rec[7]).toBe(0.07);
    expect(rec[100]).toBe(1);
  });

  it('pairwise sum differs from naive summation exactly as numpy does', () => {
    // numpy: np.sum of [1e16, 1×8] == 1.0000000000000008e16 (8 lanes, then the tail), naive gives 1e16
    expect(npSum([1e16, 1, 1, 1, 1, 1, 1, 1, 1])).toBe(1.0000000000000008e16);
    expect(npSum([1e16, 1, 1, 1, 1, 1, 1, 1])).toBe(1.0000000000000006e16);
    expect(npSum([1e16, ...new Array(199).fill(1)])).toBe(1.0000000000000188e16);
    expect(npSum([1e16, 1, 1, 1, 1, 1, 1])).toBe(1e16);
  });

  it('formats like Python, ties to even', () => {
    expect(formatFixed(0.0625, 3)).toBe('0.062');
    expect(formatFixed(0.1875, 3)).toBe('0.188');
    expect(formatFixed(0.37316716287013313, 3)).toBe('0.373');
    expect(formatFixed(-1, 3)).toBe('-1.000');
    expect(formatFixed(0.9995, 3)).toBe('1.000'); // 0.9995 is above the tie in binary
    expect(formatFixed(0.3125, 3)).toBe('0.312');
  });

  it('stats JSON', () => {
    const ev = evaluateCocoKeypoints(gtFile([1], [ann(1, 1, 10, 10, 5000)]), [res(1, 10, 10, 0.9)]);
    const o = JSON.parse(cocoKeypointStatsJson(ev)) as Record<string, number>;
    expect(Object.keys(o)).toEqual([...COCO_KEYPOINT_STAT_NAMES]);
    closeTo(Object.values(o), [1, 1, 1, 1, -1, 1, 1, 1, 1, -1]);
    expect(o.AP).toBe(ev.stats.AP);
  });
});
