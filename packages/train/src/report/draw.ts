// Drawing predicted skeletons onto a photo: an SVG overlay of limbs and joints, composited by sharp.
import { escape } from './plot.js';

/** COCO's 17-joint skeleton (0-based pairs), as in the annotation file's category. */
export const COCO_SKELETON: [number, number][] = [
  [15, 13], [13, 11], [16, 14], [14, 12], [11, 12], [5, 11], [6, 12], [5, 6], [5, 7], [6, 8], [7, 9], [8, 10],
  [1, 2], [0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6],
];
/** MPII's 16-joint skeleton. */
export const MPII_SKELETON: [number, number][] = [
  [0, 1], [1, 2], [2, 6], [3, 6], [3, 4], [4, 5], [6, 7], [7, 8], [8, 9], [10, 11], [11, 12], [12, 7], [13, 7], [13, 14], [14, 15],
];

export interface Person {
  /** [J][x, y, score] in image pixels. */
  keypoints: [number, number, number][];
  score?: number;
}

const COLORS = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45'];

/** An SVG the size of the image with each person's limbs and joints whose score exceeds `threshold`. */
export function skeletonSvg(width: number, height: number, people: Person[], skeleton: [number, number][], threshold = 0.2): string {
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 200));
  const parts = people.map((p, i) => {
    const color = COLORS[i % COLORS.length]!;
    const ok = (j: number) => (p.keypoints[j]?.[2] ?? 0) > threshold;
    const limbs = skeleton
      .filter(([a, b]) => ok(a) && ok(b))
      .map(([a, b]) => {
        const [ax, ay] = p.keypoints[a]!;
        const [bx, by] = p.keypoints[b]!;
        return `<line x1="${ax.toFixed(1)}" y1="${ay.toFixed(1)}" x2="${bx.toFixed(1)}" y2="${by.toFixed(1)}" stroke="${color}" stroke-width="${stroke}" stroke-linecap="round"/>`;
      });
    const joints = p.keypoints
      .map((k, j) => (ok(j) ? `<circle cx="${k[0].toFixed(1)}" cy="${k[1].toFixed(1)}" r="${stroke * 1.6}" fill="white" stroke="${color}" stroke-width="${stroke / 2}"/>` : ''))
      .filter(Boolean);
    const label = p.score === undefined ? '' : `<text x="${p.keypoints[0]![0].toFixed(1)}" y="${(p.keypoints[0]![1] - 8).toFixed(1)}" fill="${color}" font-size="${stroke * 6}" font-family="sans-serif">${escape(p.score.toFixed(2))}</text>`;
    return [...limbs, ...joints, label].join('');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}
