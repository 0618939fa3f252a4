// What a pose picture is made of, independent of where it is drawn: lines, circles, labels and
// rectangles in picture pixels, with their colours. The canvas (`drawPoses`, `drawKeptTokens`) and
// @tmpose/train's SVG (the CLI's PNG) render the same list, so both pictures look the same.

/** COCO's 17-joint skeleton (0-based pairs), as in the annotation file's category. */
export const COCO_SKELETON: readonly (readonly [number, number])[] = [
  [15, 13], [13, 11], [16, 14], [14, 12], [11, 12], [5, 11], [6, 12], [5, 6], [5, 7], [6, 8], [7, 9], [8, 10],
  [1, 2], [0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6],
];
/** MPII's 16-joint skeleton. */
export const MPII_SKELETON: readonly (readonly [number, number])[] = [
  [0, 1], [1, 2], [2, 6], [3, 6], [3, 4], [4, 5], [6, 7], [7, 8], [8, 9], [10, 11], [11, 12], [12, 7], [13, 7], [13, 14], [14, 15],
];

export type Graphic =
  | { kind: 'line'; x1: number; y1: number; x2: number; y2: number; color: string; width: number }
  | { kind: 'circle'; cx: number; cy: number; r: number; fill: string; stroke: string; strokeWidth: number }
  | { kind: 'label'; x: number; y: number; text: string; color: string; fontSize: number }
  | { kind: 'rect'; x: number; y: number; width: number; height: number; stroke: string; strokeWidth: number; fill: string | null };

/** What `poseGraphics` needs of a person: keypoints [x, y, score] in picture pixels, and optionally a score and box. */
export interface DrawnPerson {
  keypoints: readonly (readonly [number, number, number])[];
  score?: number;
  box?: readonly [number, number, number, number];
}

export interface PoseGraphicsOptions {
  /** Joint pairs to connect; default MPII's for 16 keypoints, else COCO's. */
  skeleton?: readonly (readonly [number, number])[];
  /** Joints whose score is not above this are left out (default 0.2). */
  threshold?: number;
  /** The picture's size: line widths and text scale with it. */
  width: number;
  height: number;
  /** Also draw each person's box (default false). */
  boxes?: boolean;
}

/** One colour per person, in turn. */
export const PERSON_COLORS: readonly string[] = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45'];

/** The line width for a picture of this size (the joints' radius and the text scale with it). */
export function strokeWidth(width: number, height: number): number {
  return Math.max(2, Math.round(Math.min(width, height) / 200));
}

/** Each person's limbs and joints whose scores exceed the threshold, and the person's score above the nose. */
export function poseGraphics(people: readonly DrawnPerson[], options: PoseGraphicsOptions): Graphic[] {
  const threshold = options.threshold ?? 0.2;
  const stroke = strokeWidth(options.width, options.height);
  const out: Graphic[] = [];
  people.forEach((p, i) => {
    const color = PERSON_COLORS[i % PERSON_COLORS.length]!;
    const skeleton = options.skeleton ?? (p.keypoints.length === 16 ? MPII_SKELETON : COCO_SKELETON);
    const ok = (j: number) => (p.keypoints[j]?.[2] ?? 0) > threshold;
    if (options.boxes && p.box) {
      const [x, y, width, height] = p.box;
      out.push({ kind: 'rect', x, y, width, height, stroke: color, strokeWidth: stroke / 2, fill: null });
    }
    for (const [a, b] of skeleton) {
      if (!ok(a) || !ok(b)) continue;
      const [x1, y1] = p.keypoints[a]!;
      const [x2, y2] = p.keypoints[b]!;
      out.push({ kind: 'line', x1, y1, x2, y2, color, width: stroke });
    }
    p.keypoints.forEach(([cx, cy], j) => {
      if (ok(j)) out.push({ kind: 'circle', cx, cy, r: stroke * 1.6, fill: 'white', stroke: color, strokeWidth: stroke / 2 });
    });
    const nose = p.keypoints[0];
    if (p.score !== undefined && nose) out.push({ kind: 'label', x: nose[0], y: nose[1] - 8, text: p.score.toFixed(2), color, fontSize: stroke * 6 });
  });
  return out;
}
