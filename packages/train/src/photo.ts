// Pose estimation on one photo: a crop per person box (or the whole image as one person), the model,
// DARK decoding back to image pixels, and the skeletons drawn onto the photo.
import { COCO_FLIP_PAIRS, MPII_FLIP_PAIRS, type TMPose, flipTestAverage, getAffineTransform, getFinalPreds } from '@tmpose/model';
import { noGrad, tensor, tidy } from '@tmpose/tensor';
import { warpAffine } from './data/affine.js';
import { xywhToCenterScale } from './data/coco.js';
import { type DecodedImage, readImage } from './data/image.js';
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
  const boxes = options.boxes?.length ? options.boxes : [[0, 0, image.width, image.height] as [number, number, number, number]];
  const crops = await predictBoxes(model, image, boxes, { flip: options.flip });
  const J = model.config.numJoints;
  return crops.map(({ keypoints }) => {
    const joints = Array.from({ length: J }, (_, j) => [keypoints[3 * j]!, keypoints[3 * j + 1]!, keypoints[3 * j + 2]!] as [number, number, number]);
    return { keypoints: joints, score: joints.reduce((s, k) => s + k[2], 0) / J };
  });
}

/** One person box's crop and its keypoints in image pixels. */
export interface BoxPrediction {
  center: [number, number];
  scale: [number, number];
  /** J×3 numbers x, y, score (the heatmap peak), flat. */
  keypoints: number[];
}

/**
 * Top-down prediction for person boxes [x, y, w, h] on a decoded image: each box to a crop (the
 * official centre/scale, aspect-fixed, ×1.25), the model in eval mode (flip-averaged with `flip`), in
 * batches of at most `batchSize` crops, DARK decoding and the inverse affine back to image pixels.
 */
export async function predictBoxes(
  model: TMPose,
  image: DecodedImage,
  boxes: readonly (readonly [number, number, number, number])[],
  options: { flip?: boolean; batchSize?: number } = {},
): Promise<BoxPrediction[]> {
  const [H, W] = model.config.imageSize;
  const pairs = model.config.numJoints === 16 ? MPII_FLIP_PAIRS : COCO_FLIP_PAIRS;
  const chunk = options.batchSize ?? 32;
  const out: BoxPrediction[] = [];
  const wasTraining = model.training;
  model.eval();
  try {
    for (let first = 0; first < boxes.length; first += chunk) {
      const crops = boxes.slice(first, first + chunk).map(([x, y, w, h]) => xywhToCenterScale(x, y, w, h, W / H));
      const batch = new Float32Array(crops.length * 3 * H * W);
      crops.forEach((c, i) => {
        const m = getAffineTransform(c.center, c.scale, 0, [W, H]);
        warpAffine(image.data, image.width, image.height, m, W, H, { out: batch, outOffset: i * 3 * H * W });
      });
      const run = async (x: Float32Array) => {
        const y = noGrad(() => tidy(() => model.forward(tensor(x, [crops.length, 3, H, W]))));
        const data = await y.data();
        const shape = y.shape as [number, number, number, number];
        y.dispose();
        return { data, shape };
      };
      const plain = await run(batch);
      const hm = options.flip ? flipTestAverage(plain.data, (await run(flipImages(batch, [crops.length, 3, H, W]))).data, plain.shape, pairs) : plain.data;
      const { preds, maxvals } = getFinalPreds(hm, plain.shape, crops.map((c) => c.center), crops.map((c) => c.scale));
      const J = plain.shape[1];
      crops.forEach((c, b) => {
        const keypoints: number[] = [];
        for (let j = 0; j < J; j++) keypoints.push(preds[(b * J + j) * 2]!, preds[(b * J + j) * 2 + 1]!, maxvals[b * J + j]!);
        out.push({ center: c.center, scale: c.scale, keypoints });
      });
    }
  } finally {
    if (wasTraining) model.train();
  }
  return out;
}

/** Writes `imagePath` with the people's skeletons drawn on it to `outPath` (PNG). */
export async function drawPoses(model: TMPose, imagePath: string, people: Person[], outPath: string): Promise<void> {
  const image = await readImage(imagePath);
  const skeleton = model.config.numJoints === 16 ? MPII_SKELETON : COCO_SKELETON;
  await saveOverlay(imagePath, skeletonSvg(image.width, image.height, people, skeleton), outPath);
}
