// COCO keypoint AP/AR, a line-by-line reproduction of pycocotools' COCOeval with iouType 'keypoints'
// (PythonAPI/pycocotools/coco.py `loadRes`, cocoeval.py `Params.setKpParams`, `_prepare`, `computeOks`,
// `evaluateImg`, `accumulate`, `summarize`/`_summarizeKps`), default parameters.
//
// Faithfully reproduced details (each one changes numbers somewhere):
// - loadRes: result ids are 1 + the index in the results list; the detection area is
//   (max x − min x)·(max y − min y) over ALL its keypoints, unless the first result has a non-empty
//   `bbox`, in which case every result's area is bbox w·h (pycocotools picks the branch from results[0]).
// - _prepare: gt.ignore = iscrowd || num_keypoints == 0 (a GT's own `ignore` field is overwritten).
// - computeOks: detections sorted by score with a stable sort and cut to maxDets (20); vars = (2σ)²;
//   e = (dx² + dy²) / vars / (gt.area + np.spacing(1)) / 2, averaged over the GT's labelled keypoints
//   (v > 0); a GT with no labelled keypoint measures the distance to the box [x−w, x+2w]×[y−h, y+2h]
//   and averages over all K. Sums use numpy's pairwise summation.
// - evaluateImg: per image, category and area range; GTs sorted non-ignored first (stable); greedy
//   matching per IoU threshold with min(t, 1−1e-10); a detection matched to an ignored GT is ignored;
//   unmatched detections whose area lies outside the range are ignored. A (image, category) with no GT
//   and no detection is skipped. As in pycocotools, matches are stored as the GT's id and "matched"
//   means id ≠ 0, so a GT whose id is 0 makes its matches count as false positives (a pycocotools quirk).
// - accumulate: detections of all images merged and sorted by score (stable mergesort), cumulative
//   TP/FP, rc = tp/npig, pr = tp/(tp+fp+np.spacing(1)), the precision envelope, 101 recall points
//   read with searchsorted(side='left'), missing → 0; -1 where a setting has no non-ignored GT.
// - summarize: mean over the entries > -1 (numpy's pairwise sum), -1 when there is none.
//
// Departures, all on inputs pycocotools cannot take: an empty results list evaluates as "no detections"
// (pycocotools raises IndexError on it); malformed input raises a CocoFormatError naming the field
// instead of a KeyError/broadcast error deep inside; an annotation whose image or category is not in
// the file is an error (pycocotools silently leaves it out); duplicate annotation ids are an error
// (pycocotools silently evaluates the last one twice). Results whose category is not evaluated are
// left out, as in pycocotools, and counted in `droppedResults`.

import { NP_SPACING_1, formatFixed, npLinspace, npMean, npSum } from './numeric.js';
import { CocoFormatError, describe, id, isRecord, makeFail, num, numbers, type Fail } from './validate.js';

export { CocoFormatError };

/** COCO's 17 per-keypoint OKS sigmas (pycocotools `kpt_oks_sigmas`), in COCO keypoint order. */
export const COCO_KEYPOINT_SIGMAS: readonly number[] = [
  0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89,
].map((s) => s / 10.0);

/** pycocotools keypoint area ranges: all [0, 1e5²], medium [32², 96²], large [96², 1e5²]. */
export const COCO_KEYPOINT_AREA_RANGES: readonly (readonly [number, number])[] = [
  [0, 1e10],
  [32 * 32, 96 * 96],
  [96 * 96, 1e10],
];
export const COCO_KEYPOINT_AREA_LABELS = ['all', 'medium', 'large'] as const;

/** Names of the ten keypoint summary numbers, in pycocotools' `stats` order. */
export const COCO_KEYPOINT_STAT_NAMES = ['AP', 'AP50', 'AP75', 'APm', 'APl', 'AR', 'AR50', 'AR75', 'ARm', 'ARl'] as const;
export type CocoKeypointStatName = (typeof COCO_KEYPOINT_STAT_NAMES)[number];
export type CocoKeypointStats = Record<CocoKeypointStatName, number>;

// ---- input types ----------------------------------------------------------------------------------

export interface CocoKeypointAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  /** K×3 numbers x, y, v (v = 0 unlabelled, 1 labelled but not visible, 2 visible). */
  keypoints: ArrayLike<number>;
  num_keypoints: number;
  /** The segmentation area; OKS uses it as the object scale s². */
  area: number;
  /** [x, y, w, h] */
  bbox: ArrayLike<number>;
  iscrowd: number | boolean;
  [key: string]: unknown;
}

export interface CocoKeypointDataset {
  images: { id: number; [key: string]: unknown }[];
  annotations: CocoKeypointAnnotation[];
  categories: { id: number; [key: string]: unknown }[];
  [key: string]: unknown;
}

/** One entry of a COCO keypoint results file. */
export interface CocoKeypointResult {
  image_id: number;
  category_id: number;
  /** K×3 numbers x, y, score. */
  keypoints: ArrayLike<number>;
  score: number;
  /** Optional. If the FIRST result has a non-empty bbox, pycocotools takes every area from bbox w·h. */
  bbox?: ArrayLike<number>;
  [key: string]: unknown;
}

export interface CocoEvalOptions {
  /** Per-keypoint OKS sigmas (default COCO's 17). Their count K fixes the keypoint count (3K numbers). */
  sigmas?: readonly number[];
  /** Images to evaluate (pycocotools `params.imgIds`); default every image of the ground truth. */
  imgIds?: readonly number[];
  /** Categories to evaluate (pycocotools `params.catIds`); default every category of the ground truth. */
  catIds?: readonly number[];
}

export interface CocoKeypointEvalParams {
  imgIds: number[];
  catIds: number[];
  iouThrs: Float64Array;
  recThrs: Float64Array;
  maxDets: number[];
  areaRng: (readonly [number, number])[];
  areaRngLbl: string[];
  sigmas: number[];
}

export interface CocoKeypointEvaluation {
  /** The ten summary numbers by name (pycocotools `stats`). -1 where pycocotools gives -1. */
  stats: CocoKeypointStats;
  /** The same ten numbers in pycocotools' order. */
  statsArray: number[];
  /** [T, R, K, A, M] */
  counts: [number, number, number, number, number];
  /** precision[t][r][k][a][m], C order, shape `counts`; -1 where a setting has no GT. */
  precision: Float64Array;
  /** recall[t][k][a][m], C order; -1 where a setting has no GT. */
  recall: Float64Array;
  /** scores[t][r][k][a][m]: the detection score at each recall point (pycocotools `eval['scores']`). */
  scores: Float64Array;
  params: CocoKeypointEvalParams;
  /** How many results were given, and how many were left out because their category is not evaluated. */
  numResults: number;
  droppedResults: number;
}

// ---- parsing (COCO.createIndex / loadRes semantics plus validation) --------------------------------

interface Gt {
  id: number;
  imageId: number;
  categoryId: number;
  kpts: Float64Array;
  area: number;
  bbox: Float64Array;
  crowdFlag: boolean; // int(iscrowd) for matching
  ignore: boolean; // iscrowd or num_keypoints == 0
}

interface Dt {
  id: number;
  imageId: number;
  categoryId: number;
  kpts: Float64Array;
  area: number;
  score: number;
}

interface ParsedGt {
  imageIds: number[];
  imageIdSet: Set<number>;
  categoryIds: number[];
  annotations: Gt[];
}

function list(v: unknown, path: string, fail: Fail): unknown[] {
  if (!Array.isArray(v)) fail(path, `expected a list, got ${describe(v)}`);
  return v as unknown[];
}

/** Validates a COCO keypoint ground-truth file (already JSON-parsed) for K keypoints. */
export function parseCocoKeypointGroundTruth(data: unknown, numKeypoints = 17): ParsedGt {
  const fail = makeFail('ground truth');
  if (!isRecord(data)) fail('(file)', `expected an object with images, annotations and categories, got ${describe(data)}`);
  const d = data as Record<string, unknown>;
  const images = list(d.images, 'images', fail);
  const anns = list(d.annotations, 'annotations', fail);
  const cats = list(d.categories, 'categories', fail);

  const imageIds: number[] = [];
  images.forEach((img, i) => {
    if (!isRecord(img)) fail(`images[${i}]`, `expected an object, got ${describe(img)}`);
    imageIds.push(id((img as Record<string, unknown>).id, `images[${i}].id`, fail));
  });
  const categoryIds: number[] = [];
  cats.forEach((c, i) => {
    if (!isRecord(c)) fail(`categories[${i}]`, `expected an object, got ${describe(c)}`);
    categoryIds.push(id((c as Record<string, unknown>).id, `categories[${i}].id`, fail));
  });
  const imageIdSet = new Set(imageIds);
  const categoryIdSet = new Set(categoryIds);

  const seen = new Map<number, number>();
  const annotations: Gt[] = anns.map((a, i) => {
    const p = `annotations[${i}]`;
    if (!isRecord(a)) fail(p, `expected an object, got ${describe(a)}`);
    const r = a as Record<string, unknown>;
    const annId = id(r.id, `${p}.id`, fail);
    const prev = seen.get(annId);
    if (prev !== undefined) fail(`${p}.id`, `duplicate annotation id ${annId} (also annotations[${prev}])`);
    seen.set(annId, i);
    const imageId = id(r.image_id, `${p}.image_id`, fail);
    if (!imageIdSet.has(imageId)) fail(`${p}.image_id`, `${imageId} is not the id of any entry of images`);
    const categoryId = id(r.category_id, `${p}.category_id`, fail);
    if (!categoryIdSet.has(categoryId)) fail(`${p}.category_id`, `${categoryId} is not the id of any entry of categories`);
    const kpts = numbers(r.keypoints, `${p}.keypoints`, fail, 3 * numKeypoints);
    const numKp = num(r.num_keypoints, `${p}.num_keypoints`, fail);
    const area = num(r.area, `${p}.area`, fail);
    const bbox = numbers(r.bbox, `${p}.bbox`, fail, 4);
    const c = r.iscrowd;
    if (typeof c !== 'boolean' && (typeof c !== 'number' || !Number.isFinite(c))) {
      fail(`${p}.iscrowd`, `expected 0, 1 or a boolean, got ${describe(c)}`);
    }
    const crowdTruthy = c === true || (typeof c === 'number' && c !== 0);
    const crowdInt = c === true || (typeof c === 'number' && Math.trunc(c) !== 0);
    return {
      id: annId,
      imageId,
      categoryId,
      kpts,
      area,
      bbox,
      crowdFlag: crowdInt,
      ignore: numKp === 0 || crowdTruthy,
    };
  });
  return { imageIds, imageIdSet, categoryIds, annotations };
}

/** Validates a COCO keypoint results list and applies pycocotools `loadRes` (ids, areas). */
export function parseCocoKeypointResults(data: unknown, imageIds: Set<number>, numKeypoints = 17): Dt[] {
  const fail = makeFail('results');
  if (!Array.isArray(data)) fail('(file)', `expected a list of results, got ${describe(data)}`);
  const res = data as unknown[];
  if (res.length === 0) return [];
  const first = res[0];
  if (!isRecord(first)) fail('results[0]', `expected an object, got ${describe(first)}`);
  const f = first as Record<string, unknown>;
  // pycocotools decides the kind of every result from results[0].
  let mode: 'bbox' | 'keypoints';
  if ('caption' in f) fail('results[0].caption', 'caption results cannot be evaluated as keypoints');
  if ('bbox' in f && !(Array.isArray(f.bbox) && f.bbox.length === 0)) mode = 'bbox';
  else if ('segmentation' in f) fail('results[0].segmentation', 'segmentation results are not supported (give keypoints, without segmentation)');
  else mode = 'keypoints';

  return res.map((r0, i) => {
    const p = `results[${i}]`;
    if (!isRecord(r0)) fail(p, `expected an object, got ${describe(r0)}`);
    const r = r0 as Record<string, unknown>;
    const imageId = id(r.image_id, `${p}.image_id`, fail);
    if (!imageIds.has(imageId)) fail(`${p}.image_id`, `${imageId} is not an image of the ground truth`);
    const categoryId = id(r.category_id, `${p}.category_id`, fail);
    const kpts = numbers(r.keypoints, `${p}.keypoints`, fail, 3 * numKeypoints);
    const score = num(r.score, `${p}.score`, fail);
    let area: number;
    if (mode === 'bbox') {
      const bb = numbers(r.bbox, `${p}.bbox`, fail, 4);
      area = bb[2]! * bb[3]!;
    } else {
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (let k = 0; k < numKeypoints; k++) {
        const x = kpts[3 * k]!, y = kpts[3 * k + 1]!;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
      area = (x1 - x0) * (y1 - y0);
    }
    return { id: i + 1, imageId, categoryId, kpts, area, score };
  });
}

// ---- evaluation ------------------------------------------------------------------------------------

/** Indices of `keys` sorted ascending, stable (numpy argsort kind='mergesort'). */
function stableArgsort(keys: ArrayLike<number>): number[] {
  const idx = Array.from({ length: keys.length }, (_, i) => i);
  idx.sort((a, b) => (keys[a]! < keys[b]! ? -1 : keys[a]! > keys[b]! ? 1 : 0));
  return idx;
}

function sortedUnique(ids: readonly number[]): number[] {
  return [...new Set(ids)].sort((a, b) => a - b);
}

interface EvalImg {
  dtScores: Float64Array; // D
  dtMatches: Float64Array; // T×D, matched gt id (0 = none)
  dtIgnore: Uint8Array; // T×D
  gtIgnore: Uint8Array; // G
}

/** OKS between every detection (rows) and ground truth (columns), pycocotools `computeOks`. */
function computeOks(dts: Dt[], gts: Gt[], vars: Float64Array): Float64Array {
  const D = dts.length, G = gts.length, K = vars.length;
  const ious = new Float64Array(D * G);
  const e = new Float64Array(K);
  for (let j = 0; j < G; j++) {
    const gt = gts[j]!;
    const g = gt.kpts;
    let k1 = 0;
    for (let k = 0; k < K; k++) if (g[3 * k + 2]! > 0) k1++;
    const bb = gt.bbox;
    const x0 = bb[0]! - bb[2]!, x1 = bb[0]! + bb[2]! * 2;
    const y0 = bb[1]! - bb[3]!, y1 = bb[1]! + bb[3]! * 2;
    const denom = gt.area + NP_SPACING_1;
    for (let i = 0; i < D; i++) {
      const d = dts[i]!.kpts;
      let n = 0;
      for (let k = 0; k < K; k++) {
        const xd = d[3 * k]!, yd = d[3 * k + 1]!;
        let dx: number, dy: number;
        if (k1 > 0) {
          if (!(g[3 * k + 2]! > 0)) continue;
          dx = xd - g[3 * k]!;
          dy = yd - g[3 * k + 1]!;
        } else {
          dx = Math.max(0, x0 - xd) + Math.max(0, xd - x1);
          dy = Math.max(0, y0 - yd) + Math.max(0, yd - y1);
        }
        e[n++] = Math.exp(-((dx * dx + dy * dy) / vars[k]! / denom / 2));
      }
      ious[i * G + j] = npSum(e, 0, n) / n;
    }
  }
  return ious;
}

/**
 * Evaluates COCO keypoint results against a COCO keypoint ground truth exactly as pycocotools'
 * `COCOeval(gt, gt.loadRes(results), 'keypoints')` followed by evaluate(), accumulate(), summarize().
 * Both inputs are the parsed JSON (unknown-typed: they are validated, see CocoFormatError).
 */
export function evaluateCocoKeypoints(
  annotations: unknown,
  results: unknown,
  options: CocoEvalOptions = {},
): CocoKeypointEvaluation {
  const sigmas = [...(options.sigmas ?? COCO_KEYPOINT_SIGMAS)];
  const K = sigmas.length;
  const vars = Float64Array.from(sigmas, (s) => (s * 2) * (s * 2));
  const gt = parseCocoKeypointGroundTruth(annotations, K);
  const dtsAll = parseCocoKeypointResults(results, gt.imageIdSet, K);

  const imgIds = sortedUnique(options.imgIds ?? gt.imageIds);
  const catIds = sortedUnique(options.catIds ?? gt.categoryIds);
  const iouThrs = npLinspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1);
  const recThrs = npLinspace(0.0, 1.0, Math.round((1.0 - 0.0) / 0.01) + 1);
  const maxDets = [20];
  const maxDet = maxDets[maxDets.length - 1]!;
  const areaRng = COCO_KEYPOINT_AREA_RANGES.map((r) => r);
  const areaRngLbl = [...COCO_KEYPOINT_AREA_LABELS] as string[];
  const params: CocoKeypointEvalParams = { imgIds, catIds, iouThrs, recThrs, maxDets, areaRng, areaRngLbl, sigmas };

  // _prepare: group by (image, category), keeping file order; only evaluated images and categories.
  const imgSet = new Set(imgIds), catSet = new Set(catIds);
  const key = (img: number, cat: number) => `${img}\u0000${cat}`;
  const gtsBy = new Map<string, Gt[]>();
  const dtsBy = new Map<string, Dt[]>();
  for (const g of gt.annotations) {
    if (!imgSet.has(g.imageId) || !catSet.has(g.categoryId)) continue;
    const k = key(g.imageId, g.categoryId);
    let l = gtsBy.get(k);
    if (!l) gtsBy.set(k, (l = []));
    l.push(g);
  }
  let droppedResults = 0;
  for (const d of dtsAll) {
    if (!imgSet.has(d.imageId) || !catSet.has(d.categoryId)) {
      droppedResults++;
      continue;
    }
    const k = key(d.imageId, d.categoryId);
    let l = dtsBy.get(k);
    if (!l) dtsBy.set(k, (l = []));
    l.push(d);
  }

  const T = iouThrs.length, R = recThrs.length, Kc = catIds.length, A = areaRng.length, M = maxDets.length;
  const I = imgIds.length;
  // evalImgs[(k*A + a)*I + i]
  const evalImgs: (EvalImg | null)[] = new Array(Kc * A * I).fill(null);

  for (let kc = 0; kc < Kc; kc++) {
    for (let i = 0; i < I; i++) {
      const k = key(imgIds[i]!, catIds[kc]!);
      const gts = gtsBy.get(k) ?? [];
      const dtsRaw = dtsBy.get(k) ?? [];
      if (gts.length === 0 && dtsRaw.length === 0) continue;
      // Sort detections by score, highest first (stable), and keep maxDet.
      const order = stableArgsort(dtsRaw.map((d) => -d.score));
      const dts = order.slice(0, maxDet).map((o) => dtsRaw[o]!);
      const D = dts.length, G = gts.length;
      const ious = D > 0 && G > 0 ? computeOks(dts, gts, vars) : null;
      for (let a = 0; a < A; a++) {
        const [lo, hi] = areaRng[a]!;
        const gIgnAll = gts.map((g) => (g.ignore || g.area < lo || g.area > hi ? 1 : 0));
        const gtind = stableArgsort(gIgnAll);
        const gIg = Uint8Array.from(gtind, (o) => gIgnAll[o]!);
        const gSorted = gtind.map((o) => gts[o]!);
        const gtm = new Float64Array(T * G);
        const dtm = new Float64Array(T * D);
        const dtIg = new Uint8Array(T * D);
        if (ious) {
          for (let t = 0; t < T; t++) {
            for (let di = 0; di < D; di++) {
              let iou = Math.min(iouThrs[t]!, 1 - 1e-10);
              let m = -1;
              for (let gi = 0; gi < G; gi++) {
                if (gtm[t * G + gi]! > 0 && !gSorted[gi]!.crowdFlag) continue;
                if (m > -1 && gIg[m] === 0 && gIg[gi] === 1) break;
                const v = ious[di * G + gtind[gi]!]!;
                if (v < iou) continue;
                iou = v;
                m = gi;
              }
              if (m === -1) continue;
              dtIg[t * D + di] = gIg[m]!;
              dtm[t * D + di] = gSorted[m]!.id;
              gtm[t * G + m] = dts[di]!.id;
            }
          }
        }
        for (let di = 0; di < D; di++) {
          const ar = dts[di]!.area;
          const out = ar < lo || ar > hi;
          if (!out) continue;
          for (let t = 0; t < T; t++) if (dtm[t * D + di] === 0) dtIg[t * D + di] = 1;
        }
        evalImgs[(kc * A + a) * I + i] = {
          dtScores: Float64Array.from(dts, (d) => d.score),
          dtMatches: dtm,
          dtIgnore: dtIg,
          gtIgnore: gIg,
        };
      }
    }
  }

  // accumulate
  const precision = new Float64Array(T * R * Kc * A * M).fill(-1);
  const recall = new Float64Array(T * Kc * A * M).fill(-1);
  const scores = new Float64Array(T * R * Kc * A * M).fill(-1);
  for (let kc = 0; kc < Kc; kc++) {
    for (let a = 0; a < A; a++) {
      for (let m = 0; m < M; m++) {
        const md = maxDets[m]!;
        const E: EvalImg[] = [];
        for (let i = 0; i < I; i++) {
          const e = evalImgs[(kc * A + a) * I + i];
          if (e) E.push(e);
        }
        if (E.length === 0) continue;
        // Concatenate the first md detections of every image.
        const parts = E.map((e) => Math.min(md, e.dtScores.length));
        const nd = parts.reduce((s, n) => s + n, 0);
        const dtScores = new Float64Array(nd);
        const src: [number, number][] = []; // (image slot, detection index) per concatenated column
        let c = 0;
        E.forEach((e, ei) => {
          for (let j = 0; j < parts[ei]!; j++) {
            dtScores[c++] = e.dtScores[j]!;
            src.push([ei, j]);
          }
        });
        const inds = stableArgsort(Array.from(dtScores, (s) => -s));
        const dtScoresSorted = Float64Array.from(inds, (o) => dtScores[o]!);
        let npig = 0;
        for (const e of E) for (const gI of e.gtIgnore) if (gI === 0) npig++;
        if (npig === 0) continue;
        const rc = new Float64Array(nd);
        const pr = new Float64Array(nd);
        for (let t = 0; t < T; t++) {
          let tp = 0, fp = 0;
          for (let j = 0; j < nd; j++) {
            const [ei, di] = src[inds[j]!]!;
            const e = E[ei]!;
            const D = e.dtScores.length;
            const matched = e.dtMatches[t * D + di] !== 0;
            const ignored = e.dtIgnore[t * D + di] !== 0;
            if (!ignored) {
              if (matched) tp++;
              else fp++;
            }
            rc[j] = tp / npig;
            pr[j] = tp / (fp + tp + NP_SPACING_1);
          }
          const rIdx = (kc * A + a) * M + m;
          recall[t * Kc * A * M + rIdx] = nd ? rc[nd - 1]! : 0;
          for (let j = nd - 1; j > 0; j--) if (pr[j]! > pr[j - 1]!) pr[j - 1] = pr[j]!;
          // searchsorted(rc, recThrs, side='left'); values past the end stay 0.
          let pi = 0;
          for (let ri = 0; ri < R; ri++) {
            const thr = recThrs[ri]!;
            while (pi < nd && rc[pi]! < thr) pi++;
            const out = ((t * R + ri) * Kc * A + (kc * A + a)) * M + m;
            if (pi < nd) {
              precision[out] = pr[pi]!;
              scores[out] = dtScoresSorted[pi]!;
            } else {
              precision[out] = 0;
              scores[out] = 0;
            }
          }
        }
      }
    }
  }

  const counts: [number, number, number, number, number] = [T, R, Kc, A, M];
  const statsArray = summarizeKeypoints(precision, recall, params, counts);
  const stats = Object.fromEntries(COCO_KEYPOINT_STAT_NAMES.map((n, i) => [n, statsArray[i]!])) as CocoKeypointStats;
  return { stats, statsArray, counts, precision, recall, scores, params, numResults: dtsAll.length, droppedResults };
}

interface SummaryLine {
  ap: boolean;
  iouThr?: number;
  areaRng: string;
  maxDets: number;
}

const KEYPOINT_SUMMARY: SummaryLine[] = [
  { ap: true, areaRng: 'all', maxDets: 20 },
  { ap: true, iouThr: 0.5, areaRng: 'all', maxDets: 20 },
  { ap: true, iouThr: 0.75, areaRng: 'all', maxDets: 20 },
  { ap: true, areaRng: 'medium', maxDets: 20 },
  { ap: true, areaRng: 'large', maxDets: 20 },
  { ap: false, areaRng: 'all', maxDets: 20 },
  { ap: false, iouThr: 0.5, areaRng: 'all', maxDets: 20 },
  { ap: false, iouThr: 0.75, areaRng: 'all', maxDets: 20 },
  { ap: false, areaRng: 'medium', maxDets: 20 },
  { ap: false, areaRng: 'large', maxDets: 20 },
];

function summarizeKeypoints(
  precision: Float64Array,
  recall: Float64Array,
  p: CocoKeypointEvalParams,
  counts: [number, number, number, number, number],
): number[] {
  const [T, R, K, A, M] = counts;
  return KEYPOINT_SUMMARY.map((line) => {
    const ts = [];
    for (let t = 0; t < T; t++) if (line.iouThr === undefined || p.iouThrs[t] === line.iouThr) ts.push(t);
    const aind = p.areaRngLbl.flatMap((l, i) => (l === line.areaRng ? [i] : []));
    const mind = p.maxDets.flatMap((d, i) => (d === line.maxDets ? [i] : []));
    const vals: number[] = [];
    // numpy pairs the two index lists (aind[j], mind[j]); both have length 1 with default params.
    const pairs = aind.length === mind.length ? aind.map((a, j) => [a, mind[j]!] as const) : [];
    for (const t of ts) {
      if (line.ap) {
        for (let r = 0; r < R; r++)
          for (let k = 0; k < K; k++)
            for (const [a, m] of pairs) {
              const v = precision[(((t * R + r) * K + k) * A + a) * M + m]!;
              if (v > -1) vals.push(v);
            }
      } else {
        for (let k = 0; k < K; k++)
          for (const [a, m] of pairs) {
            const v = recall[((t * K + k) * A + a) * M + m]!;
            if (v > -1) vals.push(v);
          }
      }
    }
    return vals.length === 0 ? -1 : npMean(vals);
  });
}

// ---- formatting ------------------------------------------------------------------------------------

function padEnd(s: string, n: number) {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}
function padStart(s: string, n: number) {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

/**
 * The ten summary lines exactly as pycocotools prints them, e.g.
 * ` Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets= 20 ] = 0.373`.
 */
export function formatCocoKeypointSummary(stats: CocoKeypointEvaluation | CocoKeypointStats | readonly number[]): string {
  const arr: readonly number[] = Array.isArray(stats)
    ? (stats as readonly number[])
    : 'statsArray' in (stats as object)
      ? (stats as CocoKeypointEvaluation).statsArray
      : COCO_KEYPOINT_STAT_NAMES.map((n) => (stats as CocoKeypointStats)[n]);
  if (arr.length !== 10) throw new Error(`formatCocoKeypointSummary: expected 10 numbers, got ${arr.length}`);
  return KEYPOINT_SUMMARY.map((line, i) => {
    const title = line.ap ? 'Average Precision' : 'Average Recall';
    const type = line.ap ? '(AP)' : '(AR)';
    const iou = line.iouThr === undefined ? '0.50:0.95' : formatFixed(line.iouThr, 2);
    return ` ${padEnd(title, 18)} ${type} @[ IoU=${padEnd(iou, 9)} | area=${padStart(line.areaRng, 6)} | maxDets=${padStart(
      String(line.maxDets),
      3,
    )} ] = ${formatFixed(arr[i]!, 3)}`;
  }).join('\n');
}

/** The ten stats as a JSON object {AP, AP50, …, ARl} (full precision). */
export function cocoKeypointStatsJson(stats: CocoKeypointEvaluation | CocoKeypointStats, indent = 1): string {
  const s = 'stats' in stats && typeof (stats as CocoKeypointEvaluation).stats === 'object' ? (stats as CocoKeypointEvaluation).stats : (stats as CocoKeypointStats);
  const o: Record<string, number> = {};
  for (const n of COCO_KEYPOINT_STAT_NAMES) o[n] = s[n];
  return JSON.stringify(o, null, indent);
}

