// COCO and MPII readers: box → centre/scale by hand, the official sanitisation, the coco-mini and
// mpii-mini files against the official code's numbers (scripts/gen_data_fixtures.py), error messages.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  blankJsonValues,
  cocoFromJson,
  getSample,
  loadCoco,
  loadMpii,
  mpiiFromJson,
  sanitizeBox,
  subsetDataset,
  xywhToCenterScale,
} from '@tmpose/train';

const shared = (p: string) => fileURLToPath(new URL(`../../../data/${p}`, import.meta.url));
const fx = JSON.parse(readFileSync(new URL('./fixtures/data-pipeline.json', import.meta.url), 'utf8')) as {
  cocoGt: { imageId: number; annId: number; center: number[]; scale: number[]; vis: number[] }[];
  cocoDet: { imageId: number; score: number; center: number[]; scale: number[] }[];
  mpii: { image: string; center: number[]; scale: number[]; joints: number[]; vis: number[] }[];
};
const f = Math.fround;

describe('box → centre/scale (_xywh2cs, DarkPose)', () => {
  it('uses x + (w−1)/2, aspect 0.75, ×1.25 (hand cases)', () => {
    // Exactly 3:4 already.
    expect(xywhToCenterScale(10, 20, 30, 40)).toEqual({ center: [24.5, 39.5], scale: [f(0.15 * 1.25), f(0.2 * 1.25)] });
    // Wide: the height grows to w / 0.75.
    const wide = xywhToCenterScale(0, 0, 100, 50);
    expect(wide.center).toEqual([49.5, 24.5]);
    expect(wide.scale[0]).toBe(f(f(0.5) * 1.25));
    expect(wide.scale[1]).toBe(f(f(100 / 0.75 / 200) * 1.25));
    // Tall: the width grows to 0.75·h.
    expect(xywhToCenterScale(0, 0, 30, 100).scale).toEqual([f(0.375 * 1.25), f(0.5 * 1.25)]);
    // MPII-style square input.
    expect(xywhToCenterScale(0, 0, 30, 100, 1).scale).toEqual([f(0.5 * 1.25), f(0.5 * 1.25)]);
  });

  it('sanitises boxes as the official code (clip, x2 from the clipped x1, area > 0)', () => {
    expect(sanitizeBox([5, 6, 20, 10], 100, 100)).toEqual([5, 6, 20, 10]);
    expect(sanitizeBox([-5, -5, 20, 20], 10, 10)).toEqual([0, 0, 10, 10]);
    // The official quirk: x2 = x1 + w − 1 after clipping x1, so a box sticking out on the left keeps its width.
    expect(sanitizeBox([-5, 3, 20, 10], 100, 100)).toEqual([0, 3, 20, 10]);
    expect(sanitizeBox([95, 3, 20, 10], 100, 100)).toEqual([95, 3, 5, 10]);
    expect(sanitizeBox([5, 6, 20, 10], 100, 100, 0)).toBeNull(); // area 0
    expect(sanitizeBox([120, 6, 20, 10], 100, 100)).toBeNull(); // x2 < x1
  });
});

describe('COCO reader on coco-mini', () => {
  it('GT boxes: the 12 samples, centres and scales of the official code, visibility min(v, 1)', async () => {
    const ds = await loadCoco({ annotationFile: shared('coco-mini/test_coco.json'), imageRoot: shared('coco-mini') });
    expect(ds.kind).toBe('coco');
    expect(ds.numJoints).toBe(17);
    expect(ds.length).toBe(fx.cocoGt.length);
    expect(ds.length).toBe(12);
    for (let i = 0; i < ds.length; i++) {
      const s = getSample(ds, i);
      const e = fx.cocoGt[i]!;
      expect(s.image.id).toBe(e.imageId);
      expect(s.annId).toBe(e.annId);
      expect(s.center).toEqual(e.center);
      expect(s.scale).toEqual(e.scale);
      expect(Array.from(s.jointsVis)).toEqual(e.vis);
      expect(s.score).toBe(1);
      expect(s.image.path).toBe(shared(`coco-mini/${String(e.imageId).padStart(12, '0')}.jpg`));
    }
    // Joints are the raw keypoints.
    const s0 = getSample(ds, 0);
    expect(Array.from(s0.joints.subarray(0, 4))).toEqual([367, 81, 374, 73]);
    const sub = subsetDataset(ds, [3, 1]);
    expect(sub.length).toBe(2);
    expect(getSample(sub, 0).annId).toBe(getSample(ds, 3).annId);
  });

  it('detections: 118 boxes with scores, joints 0 and visibility 1', async () => {
    const ds = await loadCoco({
      annotationFile: shared('coco-mini/test_coco.json'),
      detectionFile: shared('coco-mini/test_coco_det_AP_H_56.json'),
      imageRoot: shared('coco-mini'),
    });
    expect(ds.length).toBe(fx.cocoDet.length);
    for (let i = 0; i < ds.length; i++) {
      const s = getSample(ds, i);
      const e = fx.cocoDet[i]!;
      expect(s.image.id).toBe(e.imageId);
      expect(s.center).toEqual(e.center);
      expect(s.scale).toEqual(e.scale);
      expect(s.score).toBe(f(e.score));
      expect(s.jointsVis.every((v) => v === 1)).toBe(true);
      expect(s.joints.every((v) => v === 0)).toBe(true);
    }
    // Without the annotation file, images are named %012d.jpg under the root.
    const bare = await loadCoco({ detectionFile: shared('coco-mini/test_coco_det_AP_H_56.json'), imageRoot: '/x', imageThreshold: 0.5 });
    expect(bare.length).toBe(fx.cocoDet.filter((d) => d.score >= 0.5).length);
    expect(bare.images[0]!.path).toBe('/x/000000000785.jpg');
  });

  it('skips crowd, empty-keypoint and empty-box annotations', () => {
    const kp = (v: number) => Array.from({ length: 51 }, (_, i) => (i % 3 === 2 ? v : 10));
    const json = {
      images: [{ id: 1, file_name: 'a.jpg', width: 100, height: 80 }],
      annotations: [
        { id: 1, image_id: 1, category_id: 1, iscrowd: 0, area: 10, bbox: [1, 2, 30, 40], keypoints: kp(2) },
        { id: 2, image_id: 1, category_id: 1, iscrowd: 1, area: 10, bbox: [1, 2, 30, 40], keypoints: kp(2) },
        { id: 3, image_id: 1, category_id: 1, iscrowd: 0, area: 10, bbox: [1, 2, 30, 40], keypoints: new Array(51).fill(0) },
        { id: 4, image_id: 1, category_id: 1, iscrowd: 0, area: 0, bbox: [1, 2, 30, 40], keypoints: kp(1) },
        { id: 5, image_id: 1, category_id: 1, iscrowd: 0, area: 10, bbox: [200, 2, 30, 40], keypoints: kp(1) },
        { id: 6, image_id: 1, category_id: 1, iscrowd: 0, area: 10, bbox: [1, 2, 30, 40], keypoints: kp(0) },
      ],
      categories: [{ id: 1, name: 'person', keypoints: new Array(17).fill('k') }],
    };
    const ds = cocoFromJson(json, { imageRoot: 'r' });
    // id 6 has x, y ≠ 0 with v = 0 everywhere: max(keypoints) ≠ 0, so the official code keeps it.
    expect(Array.from(ds.annIds)).toEqual([1, 6]);
    expect(Array.from(ds.jointsVis.subarray(0, 17)).every((v) => v === 1)).toBe(true);
    expect(Array.from(ds.jointsVis.subarray(17)).every((v) => v === 0)).toBe(true);
  });

  it('names the field and entry of malformed input', async () => {
    const base = () => ({
      images: [{ id: 1, file_name: 'a.jpg', width: 100, height: 80 }, { id: 2, file_name: 'b.jpg', width: 100, height: 80 }],
      annotations: [
        { id: 1, image_id: 1, category_id: 1, iscrowd: 0, area: 10, bbox: [1, 2, 30, 40], keypoints: new Array(51).fill(1) },
        { id: 2, image_id: 2, category_id: 1, iscrowd: 0, area: 10, bbox: [1, 2, 30, 40], keypoints: new Array(51).fill(1) },
      ],
    });
    const bad1 = base();
    (bad1.annotations[1] as { bbox: unknown }).bbox = [1, 2, 3];
    expect(() => cocoFromJson(bad1, { imageRoot: '' })).toThrow(/annotations\[1\]\.bbox: expected an array of 4 numbers \(has 3\)/);
    const bad2 = base();
    (bad2.images[1] as { width: unknown }).width = '100';
    expect(() => cocoFromJson(bad2, { imageRoot: '' })).toThrow(/images\[1\]\.width: expected a finite number, got "100"/);
    const bad3 = base();
    bad3.annotations[0]!.keypoints = new Array(50).fill(1);
    expect(() => cocoFromJson(bad3, { imageRoot: '' })).toThrow(/annotations\[0\]\.keypoints: expected an array of 51 numbers/);
    const bad4 = base();
    bad4.annotations[1]!.image_id = 9;
    expect(() => cocoFromJson(bad4, { imageRoot: '' })).toThrow(/annotations\[1\]\.image_id: expected an id listed in images, got 9/);
    expect(() => cocoFromJson({ images: [] }, { imageRoot: '' })).toThrow(/annotations: expected an array/);
    expect(() => cocoFromJson(undefined, { imageRoot: '', detections: [{ image_id: 1, category_id: 1, bbox: [1, 2, 3, 4] }] })).toThrow(
      /detections\[0\]\.score: expected a finite number, got undefined/,
    );
    await expect(loadCoco({ annotationFile: '/nonexistent/person_keypoints_x.json', imageRoot: '' })).rejects.toThrow(
      /cannot read \/nonexistent\/person_keypoints_x\.json/,
    );
  });

  it('blanks "segmentation" values without touching anything else', () => {
    const doc = {
      info: { note: 'a "segmentation": [1, 2] inside a string, and {"segmentation": 5}' },
      annotations: [
        { segmentation: [[1.5, 2, 3, 4], [5, 6]], id: 1, name: 'x\\"y' },
        { id: 2, segmentation: { counts: [1, 2, 3], size: [4, 5] }, tag: ']}' },
        { segmentation: [], id: 3 },
      ],
    };
    const buf = Buffer.from(JSON.stringify(doc, null, 1));
    const n = blankJsonValues(buf, ['segmentation']);
    expect(n).toBe(2); // "[]" is shorter than "null" and stays
    const back = JSON.parse(buf.toString()) as typeof doc;
    expect(back.info).toEqual(doc.info);
    expect(back.annotations[0]).toEqual({ segmentation: null, id: 1, name: 'x\\"y' });
    expect(back.annotations[1]).toEqual({ id: 2, segmentation: null, tag: ']}' });
    expect(back.annotations[2]).toEqual({ segmentation: [], id: 3 });
  });
});

describe('MPII reader on mpii-mini', () => {
  it('moves the centre down 15·s, pads ×1.25 and converts to 0-based, as the official code', async () => {
    const ds = await loadMpii({ annotationFile: shared('mpii-mini/test_mpii.json'), imageRoot: shared('mpii-mini') });
    expect(ds.kind).toBe('mpii');
    expect(ds.numJoints).toBe(16);
    expect(ds.length).toBe(5);
    expect(ds.headBoxes).toBeUndefined();
    for (let i = 0; i < ds.length; i++) {
      const s = getSample(ds, i);
      const e = fx.mpii[i]!;
      expect(s.image.path).toBe(shared(`mpii-mini/${e.image}`));
      for (let k = 0; k < 2; k++) {
        expect(s.center[k]).toBeCloseTo(e.center[k]!, 10);
        expect(s.scale[k]).toBeCloseTo(e.scale[k]!, 10);
      }
      for (let k = 0; k < 32; k++) expect(s.joints[k]).toBeCloseTo(e.joints[k]!, 10);
      expect(Array.from(s.jointsVis)).toEqual(e.vis);
    }
    // Hand check of record 0 of the file: centre (966, 340), scale 4.718488.
    const s0 = getSample(ds, 0);
    expect(s0.center[0]).toBeCloseTo(965, 10);
    expect(s0.center[1]).toBeCloseTo(340 + 15 * 4.718488 - 1, 10);
    expect(s0.scale[0]).toBeCloseTo(4.718488 * 1.25, 12);
  });

  it('keeps head boxes when given, and names malformed fields', () => {
    const rec = (over: Record<string, unknown> = {}) => ({
      image: 'a.jpg',
      center: [100, 100],
      scale: 1,
      joints: Array.from({ length: 16 }, () => [10, 20]),
      joints_vis: new Array(16).fill(1),
      ...over,
    });
    const ds = mpiiFromJson([rec({ headbox: [1, 2, 31, 42] }), rec({ image: 'b.jpg', headbox: [[5, 6], [7, 8]] })], { imageRoot: '' });
    expect(Array.from(ds.headBoxes!)).toEqual([1, 2, 31, 42, 5, 6, 7, 8]);
    expect(ds.images.map((i) => i.path)).toEqual(['a.jpg', 'b.jpg']);
    const viaOption = mpiiFromJson([rec()], { imageRoot: 'r', headBoxes: [[0, 0, 10, 10]] });
    expect(Array.from(viaOption.headBoxes!)).toEqual([0, 0, 10, 10]);
    expect(() => mpiiFromJson([rec(), rec({ joints: [[1, 2]] })], { imageRoot: '' })).toThrow(/mpii\[1\]\.joints: expected 16 \[x, y\] pairs/);
    expect(() => mpiiFromJson([rec({ scale: 'big' })], { imageRoot: '' })).toThrow(/mpii\[0\]\.scale: expected a finite number, got "big"/);
    expect(() => mpiiFromJson([rec({ center: [1] })], { imageRoot: '' })).toThrow(/mpii\[0\]\.center: expected \[x, y\]/);
    expect(() => mpiiFromJson({}, { imageRoot: '' })).toThrow(/mpii: expected a list of records/);
  });
});
