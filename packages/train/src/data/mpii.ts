// MPII in the HRNet/TokenPose JSON format (`TM tools/lib/dataset/mpii.py` `_get_db`; model-spec §5):
// a list of {image, center, scale, joints[16][2], joints_vis[16]}, 1-based (MATLAB) coordinates.
//
//   c = center, s = (scale, scale)
//   if c.x ≠ −1: c.y += 15·s, s ·= 1.25      (move the centre down and pad, "to avoid cropping limbs")
//   c −= 1, joints −= 1                       (1-based → 0-based)
//
// Head boxes are not part of this format: the official evaluation takes them, with the ground truth,
// from `annot/gt_valid.mat` (`loadMpiiGroundTruth`). They can also be passed per record as
// `headbox: [x1, y1, x2, y2]` (or `[[x1, y1], [x2, y2]]`) or through `options.headBoxes`, in the order of
// the records. They are kept as given (PCKh uses only their size).

import type { ImageInfo, PoseDataset } from './dataset.js';
import { SampleTableBuilder } from './dataset.js';
import { readFile } from '../node.js';
import { loadMat } from './mat.js';

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

/** gt_valid.mat `dataset_joints`: the MPII joint order, by the names the official evaluation looks up. */
export const MPII_GT_JOINT_NAMES = ['rank', 'rkne', 'rhip', 'lhip', 'lkne', 'lank', 'pelv', 'thor', 'neck', 'head', 'rwri', 'relb', 'rsho', 'lsho', 'lelb', 'lwri'] as const;

/** The MPII validation ground truth of `annot/gt_valid.mat`, per person (in the order of `annot/valid.json`). */
export interface MpiiGroundTruth {
  /** `pos_gt_src`: N × 16 × (x, y), MPII's 1-based pixel coordinates. */
  joints: [number, number][][];
  /** 1 − `jnt_missing`: N × 16. */
  visible: number[][];
  /** `headboxes_src`: N × [x1, y1, x2, y2]. */
  headBoxes: [number, number, number, number][];
}

/**
 * Reads the official `annot/gt_valid.mat` (HRNet / TokenPose MPII layout): `dataset_joints` (checked to
 * be the MPII order), `jnt_missing` [16, N], `pos_gt_src` [16, 2, N] and `headboxes_src` [2, 2, N]
 * (corner, x/y, person), as the official `MPIIDataset.evaluate` uses them.
 */
export async function loadMpiiGroundTruth(path: string): Promise<MpiiGroundTruth> {
  const vars = await loadMat(path);
  const numeric = (name: string, dims: (n: number) => number[]) => {
    const v = vars[name];
    if (!v) throw new Error(`${path}: no variable '${name}' (has ${Object.keys(vars).join(', ') || 'none'})`);
    if (v.kind !== 'numeric') throw new Error(`${path}: '${name}' is a ${v.kind} array, expected numbers`);
    const n = v.dims[v.dims.length - 1]!;
    const want = dims(n);
    if (v.dims.length !== want.length || v.dims.some((d, i) => d !== want[i])) {
      throw new Error(`${path}: '${name}' is [${v.dims.join(', ')}], expected [${want.join(', ')}]`);
    }
    return v;
  };
  const names = vars.dataset_joints;
  const found = names?.kind === 'cell' ? names.cells.map((c) => (c.kind === 'char' ? c.rows.join('') : '?')) : [];
  if (found.join() !== MPII_GT_JOINT_NAMES.join()) {
    throw new Error(`${path}: dataset_joints is [${found.join(', ')}], expected the MPII order [${MPII_GT_JOINT_NAMES.join(', ')}]`);
  }
  const missing = numeric('jnt_missing', (n) => [16, n]);
  const N = missing.dims[1]!;
  const pos = numeric('pos_gt_src', () => [16, 2, N]);
  const boxes = numeric('headboxes_src', () => [2, 2, N]);
  // Column-major: element (a, b, c) of dims [A, B, C] sits at a + A·(b + B·c).
  return {
    joints: Array.from({ length: N }, (_, i) => Array.from({ length: 16 }, (_, j) => [pos.data[j + 16 * (0 + 2 * i)]!, pos.data[j + 16 * (1 + 2 * i)]!] as [number, number])),
    visible: Array.from({ length: N }, (_, i) => Array.from({ length: 16 }, (_, j) => 1 - missing.data[j + 16 * i]!)),
    headBoxes: Array.from({ length: N }, (_, i) => {
      const at = (corner: number, xy: number) => boxes.data[corner + 2 * (xy + 2 * i)]!;
      return [at(0, 0), at(0, 1), at(1, 0), at(1, 1)] as [number, number, number, number];
    }),
  };
}
