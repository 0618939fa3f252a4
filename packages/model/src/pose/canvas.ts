// Drawing pose graphics on a 2D canvas (a page's or an OffscreenCanvas in a worker).
import { type DrawnPerson, type Graphic, type PoseGraphicsOptions, poseGraphics } from './graphics.js';
import { type TokenGraphicsOptions, type TokenRect, tokenGraphics } from './tokens.js';

export type Canvas2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

/** Draws `graphics` in order onto `ctx` (its transform and state are restored afterwards). */
export function drawGraphics(ctx: Canvas2D, graphics: readonly Graphic[]): void {
  ctx.save();
  try {
    for (const g of graphics) {
      if (g.kind === 'line') {
        ctx.strokeStyle = g.color;
        ctx.lineWidth = g.width;
        ctx.lineCap = 'round';
        ctx.beginPath();
        ctx.moveTo(g.x1, g.y1);
        ctx.lineTo(g.x2, g.y2);
        ctx.stroke();
      } else if (g.kind === 'circle') {
        ctx.beginPath();
        ctx.arc(g.cx, g.cy, g.r, 0, 2 * Math.PI);
        ctx.fillStyle = g.fill;
        ctx.fill();
        ctx.strokeStyle = g.stroke;
        ctx.lineWidth = g.strokeWidth;
        ctx.stroke();
      } else if (g.kind === 'label') {
        ctx.fillStyle = g.color;
        ctx.font = `${g.fontSize}px sans-serif`;
        ctx.fillText(g.text, g.x, g.y);
      } else {
        if (g.fill) {
          ctx.fillStyle = g.fill;
          ctx.fillRect(g.x, g.y, g.width, g.height);
        }
        ctx.strokeStyle = g.stroke;
        ctx.lineWidth = g.strokeWidth;
        ctx.strokeRect(g.x, g.y, g.width, g.height);
      }
    }
  } finally {
    ctx.restore();
  }
}

/** Draws the people's skeletons (`poseGraphics`); width and height default to the canvas's. */
export function drawPoses(ctx: Canvas2D, people: readonly DrawnPerson[], options: Partial<PoseGraphicsOptions> = {}): void {
  drawGraphics(ctx, poseGraphics(people, { width: ctx.canvas.width, height: ctx.canvas.height, ...options }));
}

/** Draws kept-token rectangles (`keptTokenRects`). */
export function drawKeptTokens(ctx: Canvas2D, rects: readonly TokenRect[], options: TokenGraphicsOptions = {}): void {
  drawGraphics(ctx, tokenGraphics(rects, options));
}
