// Pose pictures as SVG (composited onto photos by sharp): @tmpose/model's graphics — the same list a
// browser canvas draws with `drawPoses` — written as SVG elements.
import { type DrawnPerson, type Graphic, poseGraphics } from '@tmpose/model';
import { escape } from './plot.js';

export { COCO_SKELETON, MPII_SKELETON, type DrawnPerson as Person } from '@tmpose/model';

function element(g: Graphic): string {
  const n = (v: number) => v.toFixed(1);
  switch (g.kind) {
    case 'line':
      return `<line x1="${n(g.x1)}" y1="${n(g.y1)}" x2="${n(g.x2)}" y2="${n(g.y2)}" stroke="${g.color}" stroke-width="${g.width}" stroke-linecap="round"/>`;
    case 'circle':
      return `<circle cx="${n(g.cx)}" cy="${n(g.cy)}" r="${g.r}" fill="${g.fill}" stroke="${g.stroke}" stroke-width="${g.strokeWidth}"/>`;
    case 'label':
      return `<text x="${n(g.x)}" y="${n(g.y)}" fill="${g.color}" font-size="${g.fontSize}" font-family="sans-serif">${escape(g.text)}</text>`;
    case 'rect':
      return `<rect x="${n(g.x)}" y="${n(g.y)}" width="${n(g.width)}" height="${n(g.height)}" fill="${g.fill ?? 'none'}" stroke="${g.stroke}" stroke-width="${g.strokeWidth}"/>`;
  }
}

/** An SVG of `width`×`height` pixels holding `graphics`, in order. */
export function graphicsSvg(width: number, height: number, graphics: readonly Graphic[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${graphics.map(element).join('')}</svg>`;
}

/** An SVG the size of the image with each person's limbs and joints whose score exceeds `threshold`. */
export function skeletonSvg(
  width: number,
  height: number,
  people: readonly DrawnPerson[],
  skeleton?: readonly (readonly [number, number])[],
  threshold = 0.2,
): string {
  return graphicsSvg(width, height, poseGraphics(people, { skeleton, threshold, width, height }));
}
