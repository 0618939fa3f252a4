// COCO person-keypoint annotations → top-down samples (`TM tools/lib/dataset/coco.py`; model-spec §5).
//
// Ground-truth boxes (`_load_coco_keypoint_annotation_kernal`), per image in the order of `images`,
// per annotation in file order:
//   - skip iscrowd = 1 (pycocotools `getAnnIds(iscrowd=False)`) and non-person categories;
//   - sanitise the box: x1 = max(0, x), y1 = max(0, y), x2 = min(W−1, x1 + max(0, w−1)),
//     y2 = min(H−1, y1 + max(0, h−1)); keep if area > 0 and x2 ≥ x1 and y2 ≥ y1; box = [x1, y1, x2−x1+1,
//     y2−y1+1] (x2 is measured from the clipped x1, as the official code does);
//   - skip annotations whose keypoints are all 0;
//   - visibility = min(v, 1); centre/scale from `_xywh2cs` (below), stored as float32 values as numpy
//     does there.
// Detections (`_load_coco_person_detection_results`, the `COCO_val2017_detections_AP_H_56_person.json`
// format: [{image_id, category_id, bbox, score}]): category 1 only, score ≥ `imageThreshold` (default 0),
// centre/scale from the raw box, joints 0 and visibility 1 (as the official code), score kept.
//
// `_xywh2cs`: c = (x + (w−1)/2, y + (h−1)/2); widen or heighten the box to the aspect ratio (192/256);
// s = (w, h)/200 · 1.25.
//
// Memory: the file is read into one Buffer, the values of every "segmentation" key are blanked in
// place (polygons and RLE counts are most of the file and the loader never needs them), then the text
// is parsed with JSON.parse and walked once into the columnar table of `dataset.ts`; the parsed tree is
// dropped when `loadCoco` returns. Measured here (Node 20) on a synthetic 207 MB file shaped like
// train2017 (64k images, 262k annotations, 167k kept samples): peak RSS 0.83 GB and 4.6 s with the
// segmentations blanked, 0.99 GB and 6.0 s without (`dropSegmentation: false`). What stays is the sample
// table, 341 bytes per sample (≈ 51 MB for the 149,813 train2017 samples), and one path string per image.

import { xywhToCenterScale } from '@tmpose/model';
import type { ImageInfo, PoseDataset } from './dataset.js';
import { SampleTableBuilder } from './dataset.js';
import { readFile } from '../node.js';

// The box → centre/scale of the crop is shared with inference in browsers (@tmpose/model).
export { PIXEL_STD, xywhToCenterScale } from '@tmpose/model';

export const COCO_FLIP_PAIRS: readonly (readonly [number, number])[] = [
  [1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16],
];
export const COCO_UPPER_BODY_IDS: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
export const COCO_KEYPOINT_NAMES: readonly string[] = [
  'nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder',
  'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
  'right_knee', 'left_ankle', 'right_ankle',
];

/**
 * The official box sanitisation: clip to the image, returns [x1, y1, w, h] or null when the box is
 * empty (x2 < x1 or y2 < y1) or `area` ≤ 0.
 */
export function sanitizeBox(
  bbox: readonly number[],
  imageWidth: number,
  imageHeight: number,
  area = 1,
): [number, number, number, number] | null {
  const [x, y, w, h] = bbox as [number, number, number, number];
  const x1 = Math.max(0, x);
  const y1 = Math.max(0, y);
  const x2 = Math.min(imageWidth - 1, x1 + Math.max(0, w - 1));
  const y2 = Math.min(imageHeight - 1, y1 + Math.max(0, h - 1));
  if (area > 0 && x2 >= x1 && y2 >= y1) return [x1, y1, x2 - x1 + 1, y2 - y1 + 1];
  return null;
}

export interface CocoOptions {
  /** Folder holding the image files (joined with each image's `file_name`). */
  imageRoot: string;
  /** Input aspect ratio width/height. Default 192/256. */
  aspectRatio?: number;
  /** Detection boxes instead of ground truth: the parsed detection file. */
  detections?: unknown;
  /** Minimum detection score (`TEST.IMAGE_THRE`). Default 0. */
  imageThreshold?: number;
}

export interface LoadCocoOptions extends Omit<CocoOptions, 'detections'> {
  /** `person_keypoints_*.json`. Optional when `detectionFile` is given (images are then named %012d.jpg). */
  annotationFile?: string;
  /** A detection file in the `COCO_val2017_detections_AP_H_56_person.json` format. */
  detectionFile?: string;
  /** Blank "segmentation" values before parsing (less memory, faster). Default true. */
  dropSegmentation?: boolean;
}

class CocoFormatError extends Error {
  override name = 'CocoFormatError';
}

function fail(where: string, what: string, got: unknown): never {
  let g: string;
  try {
    g = JSON.stringify(got);
    if (g === undefined) g = String(got);
    if (g.length > 80) g = `${g.slice(0, 77)}...`;
  } catch {
    g = String(got);
  }
  throw new CocoFormatError(`${where}: expected ${what}, got ${g}`);
}

function num(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(where, 'a finite number', v);
  return v;
}

function obj(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(where, 'an object', v);
  return v as Record<string, unknown>;
}

function arr(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) fail(where, 'an array', v);
  return v;
}

function numArray(v: unknown, n: number, where: string): number[] {
  const a = arr(v, where);
  if (a.length !== n) fail(where, `an array of ${n} numbers (has ${a.length})`, v);
  for (let i = 0; i < n; i++) if (typeof a[i] !== 'number' || !Number.isFinite(a[i])) fail(`${where}[${i}]`, 'a finite number', a[i]);
  return a as number[];
}

function join(root: string, name: string): string {
  if (!root) return name;
  return root.endsWith('/') ? root + name : `${root}/${name}`;
}

function cocoFileName(id: number): string {
  return `${String(id).padStart(12, '0')}.jpg`;
}

interface CocoImages {
  images: ImageInfo[];
  byId: Map<number, number>;
}

function readImages(json: Record<string, unknown>, imageRoot: string, src: string): CocoImages {
  const list = arr(json.images, `${src}: images`);
  const images: ImageInfo[] = new Array(list.length);
  const byId = new Map<number, number>();
  for (let i = 0; i < list.length; i++) {
    const where = `${src}: images[${i}]`;
    const im = obj(list[i], where);
    const id = num(im.id, `${where}.id`);
    const width = num(im.width, `${where}.width`);
    const height = num(im.height, `${where}.height`);
    let file = im.file_name;
    if (file === undefined) file = cocoFileName(id);
    else if (typeof file !== 'string' || file.length === 0) fail(`${where}.file_name`, 'a file name', file);
    if (byId.has(id)) fail(`${where}.id`, 'a unique image id', id);
    byId.set(id, i);
    images[i] = { path: join(imageRoot, file as string), id, width, height };
  }
  return { images, byId };
}

function personCategory(json: Record<string, unknown>, src: string): { id: number; numJoints: number } {
  if (json.categories === undefined) return { id: 1, numJoints: 17 };
  const cats = arr(json.categories, `${src}: categories`);
  for (let i = 0; i < cats.length; i++) {
    const c = obj(cats[i], `${src}: categories[${i}]`);
    if (c.name === 'person' || (cats.length === 1 && c.name === undefined)) {
      const id = num(c.id, `${src}: categories[${i}].id`);
      const kps = c.keypoints === undefined ? COCO_KEYPOINT_NAMES : arr(c.keypoints, `${src}: categories[${i}].keypoints`);
      return { id, numJoints: kps.length };
    }
  }
  throw new CocoFormatError(`${src}: categories: no "person" category`);
}

/**
 * Top-down samples from a parsed `person_keypoints_*.json` (ground-truth boxes), or from `detections`
 * when given (then `json` only supplies the image table and may be undefined).
 */
export function cocoFromJson(json: unknown, options: CocoOptions, source = 'annotations'): PoseDataset {
  const aspect = options.aspectRatio ?? 192 / 256;
  let images: ImageInfo[] = [];
  let byId = new Map<number, number>();
  let cat = { id: 1, numJoints: 17 };
  let root: Record<string, unknown> | undefined;
  if (json !== undefined) {
    root = obj(json, source);
    ({ images, byId } = readImages(root, options.imageRoot, source));
    cat = personCategory(root, source);
  }
  const J = cat.numJoints;
  const b = new SampleTableBuilder(J);

  if (options.detections !== undefined) {
    const src = 'detections';
    const dets = arr(options.detections, src);
    const thr = options.imageThreshold ?? 0;
    for (let i = 0; i < dets.length; i++) {
      const where = `${src}[${i}]`;
      const d = obj(dets[i], where);
      const catId = num(d.category_id, `${where}.category_id`);
      const imageId = num(d.image_id, `${where}.image_id`);
      const box = numArray(d.bbox, 4, `${where}.bbox`);
      // A box without area has no crop to warp (its affine transform is singular).
      if (!(box[2]! > 0 && box[3]! > 0)) fail(`${where}.bbox`, 'a box with positive width and height', box);
      const score = num(d.score, `${where}.score`);
      if (catId !== 1) continue;
      if (score < thr) continue;
      let ii = byId.get(imageId);
      if (ii === undefined) {
        if (root !== undefined) fail(`${where}.image_id`, 'an id listed in the annotation file\'s images', imageId);
        ii = images.length;
        images.push({ path: join(options.imageRoot, cocoFileName(imageId)), id: imageId, width: 0, height: 0 });
        byId.set(imageId, ii);
      }
      const { center, scale } = xywhToCenterScale(box[0]!, box[1]!, box[2]!, box[3]!, aspect);
      const k = b.push(ii, center[0], center[1], scale[0], scale[1], score, -1, 0);
      b.jointsVis.fill(1, k * J, (k + 1) * J);
    }
    return b.build('coco', images, COCO_FLIP_PAIRS, COCO_UPPER_BODY_IDS);
  }

  if (root === undefined) throw new Error('cocoFromJson: neither annotations nor detections given');
  const anns = arr(root.annotations, `${source}: annotations`);
  // Group annotation indices by image, keeping file order (pycocotools imgToAnns).
  const perImage: number[][] = images.map(() => []);
  const annotationIds = new Map<number, number>();
  for (let i = 0; i < anns.length; i++) {
    const where = `${source}: annotations[${i}]`;
    const a = obj(anns[i], where);
    if (a.id !== undefined) {
      // Annotations are keyed by id in evaluation (pycocotools' anns): a duplicate fails here, at start.
      const id = num(a.id, `${where}.id`);
      const first = annotationIds.get(id);
      if (first !== undefined) throw new CocoFormatError(`${where}.id: duplicate annotation id ${id} (also annotations[${first}])`);
      annotationIds.set(id, i);
    }
    const imageId = num(a.image_id, `${where}.image_id`);
    const ii = byId.get(imageId);
    if (ii === undefined) fail(`${where}.image_id`, 'an id listed in images', imageId);
    perImage[ii]!.push(i);
  }
  for (let ii = 0; ii < images.length; ii++) {
    const im = images[ii]!;
    for (const i of perImage[ii]!) {
      const where = `${source}: annotations[${i}]`;
      const a = anns[i] as Record<string, unknown>;
      const crowd = a.iscrowd === undefined ? 0 : num(a.iscrowd, `${where}.iscrowd`);
      if (crowd) continue;
      const catId = num(a.category_id, `${where}.category_id`);
      if (catId !== cat.id) continue;
      const box = numArray(a.bbox, 4, `${where}.bbox`);
      const area = num(a.area, `${where}.area`);
      const kp = numArray(a.keypoints, 3 * J, `${where}.keypoints`);
      const clean = sanitizeBox(box, im.width, im.height, area);
      if (clean === null) continue;
      let max = -Infinity;
      for (const v of kp) if (v > max) max = v;
      if (max === 0) continue;
      const { center, scale } = xywhToCenterScale(clean[0], clean[1], clean[2], clean[3], aspect);
      const id = a.id === undefined ? -1 : num(a.id, `${where}.id`);
      const k = b.push(ii, center[0], center[1], scale[0], scale[1], 1, id, area);
      for (let j = 0; j < J; j++) {
        b.joints[(k * J + j) * 2] = kp[3 * j]!;
        b.joints[(k * J + j) * 2 + 1] = kp[3 * j + 1]!;
        const v = kp[3 * j + 2]!;
        b.jointsVis[k * J + j] = v > 1 ? 1 : v > 0 ? v : 0;
      }
    }
  }
  return b.build('coco', images, COCO_FLIP_PAIRS, COCO_UPPER_BODY_IDS);
}

/**
 * Overwrites, in place, the value of every `"key": value` member named in `keys` with `null` and
 * spaces, so that JSON.parse skips it. Values shorter than 4 bytes are left alone. A key is recognised
 * only where it follows `{` or `,` (inside a JSON string a quote is always escaped).
 */
export function blankJsonValues(buf: Uint8Array, keys: readonly string[]): number {
  let blanked = 0;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  for (const key of keys) {
    const needle = Buffer.from(`"${key}"`);
    let pos = 0;
    for (;;) {
      const at = b.indexOf(needle, pos);
      if (at < 0) break;
      pos = at + needle.length;
      let p = at - 1;
      while (p >= 0 && isWs(b[p]!)) p--;
      if (p < 0 || (b[p] !== 0x7b && b[p] !== 0x2c)) continue; // '{' or ','
      let q = pos;
      while (q < b.length && isWs(b[q]!)) q++;
      if (b[q] !== 0x3a) continue; // ':'
      q++;
      while (q < b.length && isWs(b[q]!)) q++;
      const start = q;
      const end = skipValue(b, start);
      if (end - start >= 4) {
        b[start] = 0x6e; // n
        b[start + 1] = 0x75; // u
        b[start + 2] = 0x6c; // l
        b[start + 3] = 0x6c; // l
        b.fill(0x20, start + 4, end);
        blanked++;
      }
      pos = end;
    }
  }
  return blanked;
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The end (exclusive) of the JSON value starting at `i`. */
function skipValue(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c === 0x22) return skipString(b, i);
  if (c === 0x5b || c === 0x7b) {
    let depth = 0;
    let p = i;
    while (p < b.length) {
      const d = b[p]!;
      if (d === 0x22) {
        p = skipString(b, p);
        continue;
      }
      if (d === 0x5b || d === 0x7b) depth++;
      else if (d === 0x5d || d === 0x7d) {
        depth--;
        if (depth === 0) return p + 1;
      }
      p++;
    }
    return p;
  }
  let p = i;
  while (p < b.length) {
    const d = b[p]!;
    if (d === 0x2c || d === 0x7d || d === 0x5d || isWs(d)) break;
    p++;
  }
  return p;
}

function skipString(b: Uint8Array, i: number): number {
  let p = i + 1;
  while (p < b.length) {
    const d = b[p]!;
    if (d === 0x5c) p += 2;
    else if (d === 0x22) return p + 1;
    else p++;
  }
  return p;
}

async function readJson(path: string, blank: readonly string[]): Promise<unknown> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (blank.length) blankJsonValues(buf, blank);
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new Error(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Reads a COCO keypoint annotation file (and/or a detection file) into top-down samples.
 * Errors name the file, the entry and the field (`.../person_keypoints_val2017.json: annotations[12].bbox:
 * expected an array of 4 numbers (has 3), got [1,2,3]`).
 */
export async function loadCoco(options: LoadCocoOptions): Promise<PoseDataset> {
  const blank = options.dropSegmentation === false ? [] : ['segmentation'];
  const json = options.annotationFile ? await readJson(options.annotationFile, blank) : undefined;
  const detections = options.detectionFile ? await readJson(options.detectionFile, []) : undefined;
  if (json === undefined && detections === undefined) {
    throw new Error('loadCoco: give annotationFile, detectionFile or both');
  }
  try {
    return cocoFromJson(json, { ...options, detections }, options.annotationFile ?? 'annotations');
  } catch (e) {
    if (e instanceof CocoFormatError && detections !== undefined && e.message.startsWith('detections')) {
      throw new CocoFormatError(`${options.detectionFile}: ${e.message}`);
    }
    throw e;
  }
}
