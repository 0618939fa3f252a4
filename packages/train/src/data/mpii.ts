// MPII in the HRNet/TokenPose JSON format (`TM tools/lib/dataset/mpii.py` `_get_db`; model-spec §5):
// a list of {image, center, scale, joints[16][2], joints_vis[16]}, 1-based (MATLAB) coordinates.
//
//   c = center, s = (scale, scale)
//   if c.x ≠ −1: c.y += 15·s, s ·= 1.25      (move the centre down and pad, "to avoid cropping limbs")
//   c −= 1, joints −= 1                       (1-based → 0-based)
//
// Head boxes are not part of this format (they live in `gt_valid.mat`); pass them per record as
// `headbox: [x1, y1, x2, y2]` (or `[[x1, y1], [x2, y2]]`) or through `options.headBoxes`, in the order of
// the records. They are kept as given (PCKh uses only their size).

import type { ImageInfo, PoseDataset } from './dataset.js';
import { SampleTableBuilder } from './dataset.js';

export const MPII_FLIP_PAIRS: readonly (readonly [number, number])[] = [
  [0, 5], [1, 4], [2, 3], [10, 15], [11, 14], [12, 13],
];
export const MPII_UPPER_BODY_IDS: readonly number[] = [7, 8, 9, 10, 11, 12, 13, 14, 15];
export interface MpiiOptions {
  /** Folder holding the images (joined with each record's `image`). */
  imageRoot: string;
  /** Number of joints. Default 16. */
  numJoints?: number;
  /** Head boxes per record, [x1, y1, x2, y2] each; overrides any `headbox` in the records. */
  headBoxes?: readonly (readonly number[])[];
}

export interface LoadMpiiOptions extends MpiiOptions {
  annotationFile: string;
}

class MpiiFormatError extends Error {
  override name = 'MpiiFormatError';
}

function fail(where: string, what: string, got: unknown): never {
  let g: string;
  try {
    g = JSON.stringify(got) ?? String(got);
    if (g.length > 80) g = `${g.slice(0, 77)}...`;
  } catch {
    g = String(got);
  }
  throw new MpiiFormatError(`${where}: expected ${what}, got ${g}`);
}

function num(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(where, 'a finite number', v);
  return v;
}

function headBox(v: unknown, where: string): [number, number, number, number] {
  if (Array.isArray(v) && v.length === 4) return v.map((x, k) => num(x, `${where}[${k}]`)) as [number, number, number, number];
  if (Array.isArray(v) && v.length === 2 && Array.isArray(v[0]) && Array.isArray(v[1])) {
    const a = v[0] as unknown[];
    const b = v[1] as unknown[];
    return [num(a[0], `${where}[0][0]`), num(a[1], `${where}[0][1]`), num(b[0], `${where}[1][0]`), num(b[1], `${where}[1][1]`)];
  }
  fail(where, '[x1, y1, x2, y2] or [[x1, y1], [x2, y2]]', v);
}

/** Top-down samples from the parsed MPII JSON (a list of records). */
export function mpiiFromJson(json: unknown, options: MpiiOptions, source = 'mpii'): PoseDataset {
  const J = options.numJoints ?? 16;
  if (!Array.isArray(json)) fail(source, 'a list of records', json);
  const recs = json as unknown[];
  const hasHead =
    options.headBoxes !== undefined ||
    recs.some((r) => typeof r === 'object' && r !== null && ('headbox' in r || 'head_box' in r));
  if (options.headBoxes && options.headBoxes.length !== recs.length) {
    throw new MpiiFormatError(`headBoxes: ${options.headBoxes.length} boxes for ${recs.length} records`);
  }
  const b = new SampleTableBuilder(J, hasHead);
  const images: ImageInfo[] = [];
  const byName = new Map<string, number>();
  const root = options.imageRoot;
  for (let i = 0; i < recs.length; i++) {
    const where = `${source}[${i}]`;
    const r = recs[i];
    if (typeof r !== 'object' || r === null || Array.isArray(r)) fail(where, 'a record object', r);
    const a = r as Record<string, unknown>;
    if (typeof a.image !== 'string' || !a.image) fail(`${where}.image`, 'an image file name', a.image);
    const name = a.image;
    let ii = byName.get(name);
    if (ii === undefined) {
      ii = images.length;
      images.push({ path: root ? (root.endsWith('/') ? root + name : `${root}/${name}`) : name, id: ii, width: 0, height: 0 });
      byName.set(name, ii);
    }
    const c = a.center;
    if (!Array.isArray(c) || c.length !== 2) fail(`${where}.center`, '[x, y]', c);
    let cx = num(c[0], `${where}.center[0]`);
    let cy = num(c[1], `${where}.center[1]`);
    let s = num(a.scale, `${where}.scale`);
    if (cx !== -1) {
      cy = cy + 15 * s;
      s = s * 1.25;
    }
    cx -= 1;
    cy -= 1;
    const k = b.push(ii, cx, cy, s, s, 1, -1, 0);
    if (a.joints !== undefined) {
      const jts = a.joints;
      if (!Array.isArray(jts) || jts.length !== J) fail(`${where}.joints`, `${J} [x, y] pairs`, jts);
      const vis = a.joints_vis;
      if (!Array.isArray(vis) || vis.length !== J) fail(`${where}.joints_vis`, `${J} visibility flags`, vis);
      for (let j = 0; j < J; j++) {
        const p = jts[j];
        if (!Array.isArray(p) || p.length < 2) fail(`${where}.joints[${j}]`, '[x, y]', p);
        b.joints[(k * J + j) * 2] = num(p[0], `${where}.joints[${j}][0]`) - 1;
        b.joints[(k * J + j) * 2 + 1] = num(p[1], `${where}.joints[${j}][1]`) - 1;
        const v = num(vis[j], `${where}.joints_vis[${j}]`);
        b.jointsVis[k * J + j] = v > 0 ? 1 : 0;
      }
    }
    if (hasHead) {
      const hb = options.headBoxes
        ? headBox(options.headBoxes[i], `headBoxes[${i}]`)
        : a.headbox !== undefined
          ? headBox(a.headbox, `${where}.headbox`)
          : a.head_box !== undefined
            ? headBox(a.head_box, `${where}.head_box`)
            : undefined;
      if (hb) b.headBoxes!.set(hb, 4 * k);
    }
  }
  return b.build('mpii', images, MPII_FLIP_PAIRS, MPII_UPPER_BODY_IDS);
}

/** Reads an MPII annotation file (HRNet/TokenPose JSON format) into top-down samples. */
export async function loadMpii(options: LoadMpiiOptions): Promise<PoseDataset> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(options.annotationFile, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${options.annotationFile}: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${options.annotationFile} is not valid JSON: ${(e as Error).message}`);
  }
  return mpiiFromJson(json, options, options.annotationFile);
}
