// Checks every image a dataset uses before training starts, so that a bad file fails the run at once
// (naming it) rather than hours in, at the first epoch that draws it or at the first validation.
import { parseCocoKeypointGroundTruth } from '../eval/coco.js';
import type { PoseDataset } from './dataset.js';
import { readFile } from '../node.js';
import { inspectImageFile } from './image.js';

export interface ImageCheck {
  /** Images checked (those that some sample uses). */
  checked: number;
  /** JPEGs cut short: they decode with their missing part grey. */
  truncated: string[];
  /** Images whose real size differs from the annotation's width/height. */
  resized: { path: string; actual: [number, number]; annotated: [number, number] }[];
}

/**
 * Reads the header (and a JPEG's end) of every image that a sample uses, `concurrency` at a time.
 * Throws, naming the file, for one that is missing, empty or not an image.
 */
export async function checkDatasetImages(dataset: PoseDataset, concurrency = 16): Promise<ImageCheck> {
  const used = [...new Set(dataset.imageIndex)].sort((a, b) => a - b);
  const result: ImageCheck = { checked: used.length, truncated: [], resized: [] };
  let next = 0;
  const work = async (): Promise<void> => {
    while (next < used.length) {
      const image = dataset.images[used[next++]!]!;
      const info = await inspectImageFile(image.path);
      if (info.truncated) result.truncated.push(image.path);
      // A width/height of 0 means the annotations do not say (detections, MPII).
      if (image.width > 0 && image.height > 0 && (image.width !== info.width || image.height !== info.height)) {
        result.resized.push({ path: image.path, actual: [info.width, info.height], annotated: [image.width, image.height] });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, used.length) }, work));
  // In file order, whatever order the reads finished in.
  result.truncated.sort();
  result.resized.sort((a, b) => (a.path < b.path ? -1 : 1));
  return result;
}

/** The warnings of a check, one line each (none when all is well). */
export function imageCheckWarnings(check: ImageCheck, what: string): string[] {
  const lines: string[] = [];
  const t = check.truncated;
  if (t.length) {
    lines.push(`warning: ${t.length} of ${check.checked} ${what} images are cut short (first: ${t[0]}); their missing part is filled grey`);
  }
  const r = check.resized[0];
  if (r) {
    lines.push(
      `warning: ${check.resized.length} of ${check.checked} ${what} images differ in size from their annotation ` +
        `(first: ${r.path} is ${r.actual.join('x')}, annotated ${r.annotated.join('x')}); their keypoints may be misplaced`,
    );
  }
  return lines;
}

/** Checks a COCO ground-truth file as the evaluator will read it at the first validation; errors name the file. */
export async function checkCocoGroundTruth(annotationFile: string, numJoints: number): Promise<void> {
  try {
    parseCocoKeypointGroundTruth(JSON.parse(await readFile(annotationFile, 'utf8')), numJoints);
  } catch (err) {
    throw new Error(`${annotationFile}: ${(err as Error).message}`);
  }
}
