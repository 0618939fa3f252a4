// `tmpose predict` over many images: a folder, or a COCO image list (.json), with person boxes from a
// detection file or the whole image; COCO keypoint results out, and the pictures when asked for.
import type { TMPose } from '@tmpose/model';
import { io } from '@tmpose/tensor';
import { type ImageEntry, Progress, type Person, drawPosesToFile, listCocoImages, listImageFolder, predictImages, readDetections } from '@tmpose/train';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';

export interface PredictManyOptions {
  /** A folder of images, or a COCO annotation / image-info .json. */
  source: string;
  /** Where a .json list's images are (default: beside the .json). */
  imageRoot?: string;
  /** A detection file in the COCO results format. */
  boxes?: string;
  boxScore: number;
  flip: boolean;
  /** COCO keypoint results .json to write. */
  results: string;
  /** A folder for the pictures with skeletons drawn. */
  draw?: string;
  batchSize?: number;
}

/** Whether `path` names many images (a folder or an image list) rather than one image. */
export const isImageCollection = (path: string) => path.endsWith('.json') || (existsSync(path) && statSync(path).isDirectory());

export async function predictMany(model: TMPose, options: PredictManyOptions): Promise<void> {
  const images: ImageEntry[] = options.source.endsWith('.json')
    ? await listCocoImages(options.source, options.imageRoot ?? dirname(options.source))
    : listImageFolder(options.source);
  const boxes = options.boxes ? await readDetections(options.boxes, options.boxScore) : undefined;
  const progress = new Progress('predict', images.length);
  let people = 0;
  const { results, failed } = await predictImages(model, images, {
    boxes,
    flip: options.flip,
    batchSize: options.batchSize,
    onImage(done, _total, found) {
      people += found;
      progress.update(done, { people: String(people) }, done);
    },
  });
  progress.end();
  for (const f of failed) console.error(`skipped ${f.image.path}: ${f.message}`);
  await io.writeFileAtomic(options.results, new TextEncoder().encode(JSON.stringify(results)));
  if (options.draw) {
    mkdirSync(options.draw, { recursive: true });
    const skipped = new Set(failed.map((f) => f.image));
    for (const image of images) {
      if (skipped.has(image)) continue;
      const drawn: Person[] = results
        .filter((r) => r.image_id === image.imageId)
        .map((r) => ({ score: r.score, keypoints: Array.from({ length: r.keypoints.length / 3 }, (_, j) => r.keypoints.slice(3 * j, 3 * j + 3) as [number, number, number]) }));
      await drawPosesToFile(image.path, drawn, join(options.draw, `${basename(image.path, extname(image.path))}.png`));
    }
  }
  const bad = failed.length ? `; ${failed.length} of ${images.length} images could not be read and were skipped` : '';
  console.log(`${results.length} people in ${images.length - failed.length} images to ${options.results}${options.draw ? `, pictures in ${options.draw}` : ''}${bad}`);
}
