// The drawing primitives shared by canvas and SVG: the lines and circles of a known person, and the
// picture rectangles of kept tokens on a known crop.
import { describe, expect, it } from 'vitest';
import { COCO_SKELETON, MPII_SKELETON, type Graphic, keptTokenRects, poseGraphics, resultTokenRects, tokenGraphics, xywhToCenterScale } from '@tmpose/model';

/** A COCO person: every joint at (10·j, 5·j), score 0.9 except joint 3 (0.1, under the threshold). */
const keypoints = Array.from({ length: 17 }, (_, j) => [10 * j, 5 * j, j === 3 ? 0.1 : 0.9] as [number, number, number]);

describe('poseGraphics', () => {
  it("draws a known person's limbs, joints and score", () => {
    const g = poseGraphics([{ keypoints, score: 0.75 }], { width: 640, height: 480 });
    const lines = g.filter((x): x is Extract<Graphic, { kind: 'line' }> => x.kind === 'line');
    const circles = g.filter((x): x is Extract<Graphic, { kind: 'circle' }> => x.kind === 'circle');
    // COCO's 19 limbs less the two that touch joint 3 ([1, 3] and [3, 5]).
    expect(lines).toHaveLength(COCO_SKELETON.length - 2);
    expect(lines[0]).toEqual({ kind: 'line', x1: 150, y1: 75, x2: 130, y2: 65, color: '#e6194b', width: 2 });
    expect(circles).toHaveLength(16);
    expect(circles.map((c) => c.cx)).toEqual(keypoints.filter((_, j) => j !== 3).map((k) => k[0]));
    expect(circles[0]).toMatchObject({ r: 3.2, fill: 'white', stroke: '#e6194b', strokeWidth: 1 });
    expect(g.at(-1)).toEqual({ kind: 'label', x: 0, y: -8, text: '0.75', color: '#e6194b', fontSize: 12 });
  });

  it('colours people in turn, scales with the picture, picks the MPII skeleton for 16 joints, draws boxes when asked', () => {
    const mpii = { keypoints: keypoints.slice(0, 16).map(([x, y]) => [x, y, 1] as [number, number, number]), box: [1, 2, 3, 4] as [number, number, number, number] };
    const g = poseGraphics([{ keypoints }, mpii], { width: 2000, height: 1600, threshold: 0, boxes: true });
    const second = g.filter((x) => x.kind === 'line' && x.color === '#3cb44b');
    expect(second).toHaveLength(MPII_SKELETON.length);
    expect(second[0]).toMatchObject({ width: 8 });
    expect(g.filter((x) => x.kind === 'rect')).toEqual([{ kind: 'rect', x: 1, y: 2, width: 3, height: 4, stroke: '#3cb44b', strokeWidth: 4, fill: null }]);
    expect(g.some((x) => x.kind === 'label')).toBe(false);
  });
});

describe('keptTokenRects', () => {
  // A 192×256 box at (100, 50) fills a 256×192 crop after the ×1.25 padding: the crop spans 240×320
  // picture pixels centred on (195.5, 177.5); the map is a similarity with scale (192 − 1)/(240 − 1).
  const person = xywhToCenterScale(100, 50, 192, 256, 192 / 256);
  const grid = { rows: 16, cols: 16, patch: [16, 12] as [number, number] };

  it('maps patch corners back to the picture with the inverse crop affine', () => {
    const s = (240 - 1) / (192 - 1);
    const [first, last, middle] = keptTokenRects(person, grid, [0, 255, 16 * 5 + 7], [256, 192]);
    // Crop pixel (x, y) shows picture point centre + s·(x − 95.5, y − 127.5); a patch spans pixel edges.
    const at = (x: number, y: number) => [195.5 + s * (x - 95.5), 177.5 + s * (y - 127.5)];
    const expectRect = (r: typeof first, col: number, row: number) => {
      const [x0, y0] = at(col * 12 - 0.5, row * 16 - 0.5);
      const [x1, y1] = at(col * 12 + 11.5, row * 16 + 15.5);
      expect(r!.x).toBeCloseTo(x0!, 3);
      expect(r!.y).toBeCloseTo(y0!, 3);
      expect(r!.width).toBeCloseTo(x1! - x0!, 3);
      expect(r!.height).toBeCloseTo(y1! - y0!, 3);
    };
    expectRect(first, 0, 0);
    expectRect(last, 15, 15);
    expectRect(middle, 7, 5);
    expect([first!.token, last!.token, middle!.token]).toEqual([0, 255, 87]);
    // The grid tiles the crop: the last patch ends where the crop's last pixel ends.
    expect(last!.x + last!.width).toBeCloseTo(195.5 + s * 96, 3);
  });

  it('an id outside the grid is an error; results map every person; rectangles become graphics', () => {
    expect(() => keptTokenRects(person, grid, [256], [256, 192])).toThrow(/token 256 is outside the 16×16 grid/);
    const people = [person, xywhToCenterScale(0, 0, 50, 50, 0.75)];
    const rects = resultTokenRects({ people, keptTokens: [[1, 2], [3]], tokenGrid: grid, inputSize: [256, 192] });
    expect(rects.map((r) => r.token)).toEqual([1, 2, 3]);
    expect(resultTokenRects({ people, keptTokens: null, tokenGrid: grid, inputSize: [256, 192] })).toEqual([]);
    const { x, y, width, height } = rects[0]!;
    expect(tokenGraphics(rects.slice(0, 1), { color: 'red', fill: null })).toEqual([{ kind: 'rect', x, y, width, height, stroke: 'red', strokeWidth: 1, fill: null }]);
  });
});
