// Pose estimation on a photo file (Node): the file decoded as training decodes it (sharp), then
// @tmpose/model's `estimatePoses` — the GPU crops and decoding the browser app runs too — and the
// skeletons (with the kept tokens, when asked) drawn onto the photo as a PNG.
import { type DrawnPerson, type EstimateOptions, type Graphic, type PoseResult, type TMPose, estimatePoses, poseGraphics } from '@tmpose/model';
import { readImage } from './data/image.js';
import { graphicsSvg } from './report/draw.js';
import { imageSize, saveOverlay } from './report/image.js';

/** `estimatePoses` on the image file at `imagePath`. */
export async function estimatePosesInFile(model: TMPose, imagePath: string, options: EstimateOptions = {}): Promise<PoseResult> {
  return estimatePoses(model, await readImage(imagePath), options);
}

/**
 * Writes `imagePath` with the people's skeletons drawn on it to `outPath` (PNG); `under` are drawn
 * first (e.g. the kept tokens' `tokenGraphics`).
 */
export async function drawPosesToFile(imagePath: string, people: readonly DrawnPerson[], outPath: string, under: readonly Graphic[] = []): Promise<void> {
  const { width, height } = await imageSize(imagePath);
  const graphics = [...under, ...poseGraphics(people, { width, height })];
  await saveOverlay(imagePath, graphicsSvg(width, height, graphics), outPath);
}
