// Where the tokens the Transformer kept lie in the picture. The crop is a similarity without rotation
// (`getAffineTransform` with rot 0), so a patch of the crop is an axis-aligned rectangle of the
// picture: its corners mapped back with the inverse crop affine. Crop pixel x samples the picture at
// the inverse map of x, so pixel x covers [x − ½, x + ½] of the crop: a patch's corners are at
// col·pw − ½ and (col + 1)·pw − ½.
import { affinePoint, getAffineTransform } from '../affine.js';
import type { PoseResult, TokenGrid } from './estimate.js';
import type { Graphic } from './graphics.js';

export interface TokenRect {
  /** The token id (row · cols + col). */
  token: number;
  x: number;
  y: number;
  width: number;
  height: number;
}

/** What locates a person's crop: `Person`'s centre and scale. */
export interface CropOf {
  center: readonly [number, number];
  scale: readonly [number, number];
}

/**
 * The picture rectangles of the `kept` token ids of a person's crop (`center`, `scale`), for a model
 * whose input is `inputSize` = [height, width] (`PoseResult.inputSize`) cut into `grid`.
 */
export function keptTokenRects(
  person: CropOf,
  grid: TokenGrid,
  kept: readonly number[],
  inputSize: readonly [number, number],
): TokenRect[] {
  const [H, W] = inputSize;
  const back = getAffineTransform(person.center, person.scale, 0, [W, H], { inv: true });
  const [ph, pw] = grid.patch;
  return kept.map((token) => {
    if (!Number.isInteger(token) || token < 0 || token >= grid.rows * grid.cols) {
      throw new Error(`keptTokenRects: token ${token} is outside the ${grid.rows}×${grid.cols} grid`);
    }
    const row = Math.floor(token / grid.cols);
    const col = token % grid.cols;
    const [x1, y1] = affinePoint(back, col * pw - 0.5, row * ph - 0.5);
    const [x2, y2] = affinePoint(back, (col + 1) * pw - 0.5, (row + 1) * ph - 0.5);
    return { token, x: Math.min(x1, x2), y: Math.min(y1, y2), width: Math.abs(x2 - x1), height: Math.abs(y2 - y1) };
  });
}

export interface TokenGraphicsOptions {
  /** Outline colour (default a translucent cyan). */
  color?: string;
  /** Fill colour (default a fainter cyan; null for none). */
  fill?: string | null;
  /** Outline width in pixels (default 1). */
  lineWidth?: number;
}

/** The kept tokens' rectangles as graphics. */
export function tokenGraphics(rects: readonly TokenRect[], options: TokenGraphicsOptions = {}): Graphic[] {
  const stroke = options.color ?? 'rgba(66, 212, 244, 0.9)';
  const fill = options.fill === undefined ? 'rgba(66, 212, 244, 0.18)' : options.fill;
  return rects.map((r) => ({ kind: 'rect', x: r.x, y: r.y, width: r.width, height: r.height, stroke, strokeWidth: options.lineWidth ?? 1, fill }));
}

/** The rectangles of every person's kept tokens in an `estimatePoses` result (none when it kept all). */
export function resultTokenRects(result: Pick<PoseResult, 'keptTokens' | 'tokenGrid' | 'inputSize'> & { people: readonly CropOf[] }): TokenRect[] {
  const kept = result.keptTokens;
  if (!kept) return [];
  return result.people.flatMap((p, i) => keptTokenRects(p, result.tokenGrid, kept[i]!, result.inputSize));
}
