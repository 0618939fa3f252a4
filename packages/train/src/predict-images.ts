// Prediction at scale: the top-down model over many images (a folder, or a COCO image list), with person
// boxes from a detection file in the COCO results format (the official
// `COCO_val2017_detections_AP_H_56_person.json` pipeline: category 1, score ≥ a threshold) or the whole
// image as one person; rescored and OKS-NMSed as the official evaluation does, so the results file is
// what `tmpose score` (pycocotools) reads. An image that cannot be read is reported and skipped.
import { CapturedForwards, type TMPose, estimatePoses } from '@tmpose/model';
import { basename, existsSync, extname, join, readFile, readdirSync, statSync } from './node.js';
import { readImage } from './data/image.js';
import { type TopDownCocoResult, type TopDownPrediction, rescoreAndOksNms } from './eval/rescore.js';

export interface ImageEntry {
  path: string;
  /** The COCO image id: from the image list, or the file name's number (000000000785.jpg → 785). */
  imageId: number;
}

export interface PersonBox {
  /** [x, y, w, h] in pixels. */
  bbox: [number, number, number, number];
  score: number;
}

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff']);

/**
 * The images of a folder, by name. Ids are the numbers the names hold (COCO's 000000000785.jpg → 785)
 * when every name is a number, else 1, 2, … in name order (such ids cannot match a detection file).
 */
export function listImageFolder(dir: string): ImageEntry[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dir}: no such image folder`);
  const names = readdirSync(dir).filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase())).sort();
  if (!names.length) throw new Error(`${dir}: no images (${[...IMAGE_EXTENSIONS].join(', ')})`);
  const numeric = names.every((n) => /^\d+$/.test(basename(n, extname(n))));
  return names.map((n, i) => ({ path: join(dir, n), imageId: numeric ? Number(basename(n, extname(n))) : i + 1 }));
}

/** The images of a COCO annotation or image-info file (`images: [{id, file_name}]`), found in `imageRoot`. */
export async function listCocoImages(file: string, imageRoot: string): Promise<ImageEntry[]> {
  const json = await readJson(file, 'image list');
  const images = (json as { images?: unknown } | null)?.images;
  if (!Array.isArray(images)) throw new Error(`${file}: expected a COCO file with an "images" list`);
  return images.map((im: unknown, i) => {
    const { id, file_name } = (im ?? {}) as { id?: unknown; file_name?: unknown };
    if (typeof id !== 'number' || typeof file_name !== 'string') throw new Error(`${file}: images[${i}] needs a numeric "id" and a "file_name"`);
    return { path: join(imageRoot, file_name), imageId: id };
  });
}

/** Person boxes of a COCO detection results file (category 1, score ≥ `threshold`), by image id. */
export async function readDetections(file: string, threshold = 0): Promise<Map<number, PersonBox[]>> {
  const json = await readJson(file, 'detection');
  if (!Array.isArray(json)) throw new Error(`${file}: expected a list of detections [{image_id, category_id, bbox, score}]`);
  const byImage = new Map<number, PersonBox[]>();
  json.forEach((d: unknown, i) => {
    const { image_id, category_id, bbox, score } = (d ?? {}) as Record<string, unknown>;
    if (typeof image_id !== 'number' || typeof score !== 'number' || !Array.isArray(bbox) || bbox.length !== 4 || !bbox.every((v) => typeof v === 'number')) {
      throw new Error(`${file}: entry ${i} must be {image_id, category_id, bbox: [x, y, w, h], score}`);
    }
    if ((category_id ?? 1) !== 1 || score < threshold) return;
    const list = byImage.get(image_id) ?? [];
    list.push({ bbox: bbox as [number, number, number, number], score });
    byImage.set(image_id, list);
  });
  return byImage;
}

export interface PredictImagesOptions {
  /** Person boxes by image id; an image without any gets none. Default: the whole image, score 1. */
  boxes?: Map<number, PersonBox[]>;
  flip?: boolean;
  batchSize?: number;
  /** After each image (read or not). */
  onImage?: (done: number, total: number, people: number) => void;
}

export interface PredictImagesResult {
  /** COCO keypoint results after rescoring and OKS-NMS, as the official evaluation writes them. */
  results: TopDownCocoResult[];
  /** Images that could not be read, with the reason. */
  failed: { image: ImageEntry; message: string }[];
}

/** Runs the model over `images` (see the file's header). */
export async function predictImages(model: TMPose, images: readonly ImageEntry[], options: PredictImagesOptions = {}): Promise<PredictImagesResult> {
  // OKS-NMS and the results format are COCO's (its 17 keypoint sigmas).
  if (model.config.numJoints !== 17) throw new Error(`COCO keypoint results need a 17-joint COCO model; ${model.config.name} has ${model.config.numJoints} joints`);
  const preds: TopDownPrediction[] = [];
  const failed: PredictImagesResult['failed'] = [];
  // Images with as many people run one captured forward, replayed (see CapturedForwards).
  const forwards = new CapturedForwards(model);
  try {
    for (const [i, entry] of images.entries()) {
      let people = 0;
      try {
        const image = await readImage(entry.path);
        const boxes = options.boxes ? (options.boxes.get(entry.imageId) ?? []) : [{ bbox: [0, 0, image.width, image.height], score: 1 } as PersonBox];
        const found = (await estimatePoses(model, image, { boxes: boxes.map((b) => b.bbox), flip: options.flip, batchSize: options.batchSize, forwards })).people;
        found.forEach((p, b) => preds.push({ imageId: entry.imageId, keypoints: p.keypoints.flat(), center: p.center, scale: p.scale, boxScore: boxes[b]!.score }));
        people = found.length;
      } catch (err) {
        failed.push({ image: entry, message: (err as Error).message });
      }
      options.onImage?.(i + 1, images.length, people);
    }
  } finally {
    forwards.dispose();
  }
  return { results: rescoreAndOksNms(preds), failed };
}

async function readJson(file: string, what: string): Promise<unknown> {
  if (!existsSync(file)) throw new Error(`${file}: no such ${what} file`);
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
}
