// Pose estimation on one photo: a crop per person box (or the whole image as one person), the model,
// DARK decoding back to image pixels, and the skeletons drawn onto the photo.
import { COCO_FLIP_PAIRS, type TMPose, flipTestAverage, getAffineTransform, getFinalPreds } from '@tmpose/model';
import { noGrad, tensor, tidy } from '@tmpose/tensor';
import { warpAffine } from './data/affine.js';
import { xywhToCenterScale } from './data/coco.js';
import { readImage } from './data/image.js';
import { COCO_SKELETON, MPII_SKELETON, type Person, skeletonSvg } from './report/draw.js';
import { saveOverlay } from './report/image.js';
import { flipImages } from './predict.js';

export interface PhotoOptions {
  /** Person boxes [x, y, w, h] in pixels; default the whole image. */
  boxes?: [number, number, number, number][];
  flip?: boolean;
}

export async function estimatePoses(model: TMPose, imagePath: string, options: PhotoOptions = {}): Promise<Person[]> {
  const image = await readImage(imagePath);
  const [H, W] = model.config.imageSize;
  const boxes = options.boxes?.length ? options.boxes : [[0, 0, image.width, image.height] as [number, number, number, number]];
  const crops = boxes.map(([x, y, w, h]) => xywhToCenterScale(x, y, w, h, W / H));
  const batch = new Float32Array(crops.length * 3 * H * W);
  crops.forEach((c, i) => {
    const m = getAffineTransform(c.center, c.scale, 0, [W, H]);
    warpAffine(image.data, image.width, image.height, m, W, H, { out: batch, outOffset: i * 3 * H * W });
  });
  const wasTraining = model.training;
  model.eval();
  try {
    const run = async (x: Float32Array) => {
      const out = noGrad(() => tidy(() => model.forward(tensor(x, [crops.length, 3, H, W]))));
      const data = await out.data();
      const shape = out.shape as [number, number, number, number];
      out.dispose();
      return { data, shape };
    };
    const plain = await run(batch);
    const hm = options.flip ? flipTestAverage(plain.data, (await run(flipImages(batch, [crops.length, 3, H, W]))).data, plain.shape, COCO_FLIP_PAIRS) : plain.data;
    const { preds, maxvals } = getFinalPreds(hm, plain.shape, crops.map((c) => c.center), crops.map((c) => c.scale));
    const J = plain.shape[1];
    return crops.map((_, b) => {
      const keypoints = Array.from({ length: J }, (_, j) => [preds[(b * J + j) * 2]!, preds[(b * J + j) * 2 + 1]!, maxvals[b * J + j]!] as [number, number, number]);
      const score = keypoints.reduce((s, k) => s + k[2], 0) / J;
      return { keypoints, score };
    });
  } finally {
    if (wasTraining) model.train();
  }
}

/** Writes `imagePath` with the people's skeletons drawn on it to `outPath` (PNG). */
export async function drawPoses(model: TMPose, imagePath: string, people: Person[], outPath: string): Promise<void> {
  const image = await readImage(imagePath);
  const skeleton = model.config.numJoints === 16 ? MPII_SKELETON : COCO_SKELETON;
  await saveOverlay(imagePath, skeletonSvg(image.width, image.height, people, skeleton), outPath);
}
