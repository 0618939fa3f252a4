// Top-down rescoring and OKS-NMS, as the official TokenPose/TMPose COCO evaluation does before it writes
// the results file (TM tools/lib/dataset/coco.py `evaluate`, tools/lib/nms/nms.py `oks_iou`/`oks_nms`;
// the same code as HRNet's). Model spec §5.
//
// - Person score = box score × mean of the joint scores (heatmap maxvals) that are > in_vis_thre 0.2;
//   if no joint passes, the score is 0. The box score is 1 with ground-truth boxes.
// - Per image, OKS-NMS with threshold 0.9: repeatedly keep the highest-scored person and drop the ones
//   whose OKS with it is > 0.9 (keep OKS ≤ thr). OKS uses all K joints, vars = (2σ)², and the mean of
//   the two areas, area = prod(scale·200), the padded, aspect-fixed box:
//   e = (dx² + dy²) / vars / ((a_g + a_d)/2 + np.spacing(1)) / 2.
//
// Precision: the official pipeline holds predicted keypoints in float32 arrays and computes the area
// from float32 scales, so dx, dx², dx²+dy² in oks_iou and prod(s·200) are float32 operations; the rest
// (the rescoring sums, which numpy promotes to float64 scalars, and e) is float64. `precision: 'float32'`
// (the default) reproduces that; 'float64' keeps everything in doubles.
//
// Ties: numpy `scores.argsort()[::-1]` orders equal scores by descending index for up to 16 persons in
// an image (insertion sort), and arbitrarily above; here equal scores always go by descending index.

import { NP_SPACING_1, npSum } from './numeric.js';
import { COCO_KEYPOINT_SIGMAS } from './coco.js';

const f32 = Math.fround;

export type KeypointPrecision = 'float32' | 'float64';

/** One person predicted by the top-down model: keypoints in image coordinates plus its crop box. */
export interface TopDownPrediction {
  imageId: number;
  /** K×3 numbers x, y, score (the heatmap maxval), flat. */
  keypoints: ArrayLike<number>;
  /** The crop centre (x, y) in pixels. */
  center: ArrayLike<number>;
  /** The crop scale (w, h)/200, aspect-fixed and padded ×1.25. */
  scale: ArrayLike<number>;
  /** The detector's box score; 1 with ground-truth boxes. */
  boxScore: number;
  /** Defaults to prod(scale·200). */
  area?: number;
}

export interface RescoreOptions {
  /** Joint scores must be > this to count in the mean (IN_VIS_THRE, 0.2). */
  inVisThr?: number;
}

export interface OksOptions {
  /** Per-keypoint sigmas, default COCO's 17. */
  sigmas?: readonly number[];
  /**
   * If set, OKS averages only joints whose DETECTION-side score is > this. (The official
   * `list(vg > t) and list(vd > t)` evaluates to the second list.) The official NMS call leaves it unset.
   */
  inVisThr?: number;
  precision?: KeypointPrecision;
}

export interface RescoreNmsOptions {
  inVisThr?: number;
  /** OKS-NMS threshold (OKS_THRE, 0.9). */
  oksThr?: number;
  sigmas?: readonly number[];
  precision?: KeypointPrecision;
  /** category_id written in the results (1, person). */
  categoryId?: number;
}

/** A COCO keypoint result as the official code writes it (with center and scale). */
export interface TopDownCocoResult {
  image_id: number;
  category_id: number;
  keypoints: number[];
  score: number;
  center: number[];
  scale: number[];
}

/** The rescored person score: boxScore × mean(joint scores > inVisThr), 0 if none passes. */
export function rescorePerson(keypoints: ArrayLike<number>, boxScore: number, options: RescoreOptions = {}): number {
  const thr = options.inVisThr ?? 0.2;
  if (keypoints.length % 3 !== 0) throw new Error(`rescorePerson: keypoints must hold K×3 numbers, got ${keypoints.length}`);
  let kptScore = 0;
  let valid = 0;
  for (let j = 0; j < keypoints.length / 3; j++) {
    const s = keypoints[3 * j + 2]!;
    if (s > thr) {
      kptScore = kptScore + s;
      valid++;
    }
  }
  if (valid !== 0) kptScore = kptScore / valid;
  return kptScore * boxScore;
}

/** The box area used by OKS-NMS: prod(scale·200) (float32 arithmetic by default, as the official code). */
export function scaleArea(scale: ArrayLike<number>, precision: KeypointPrecision = 'float32'): number {
  if (precision === 'float32') return f32(f32(f32(scale[0]!) * 200) * f32(f32(scale[1]!) * 200));
  return scale[0]! * 200 * (scale[1]! * 200);
}

/** OKS of one person `g` (area aG) with each of `ds` (areas aDs), the official `oks_iou`. */
export function oksIou(
  g: ArrayLike<number>,
  ds: readonly ArrayLike<number>[],
  aG: number,
  aDs: ArrayLike<number>,
  options: OksOptions = {},
): Float64Array {
  const sigmas = options.sigmas ?? COCO_KEYPOINT_SIGMAS;
  const K = sigmas.length;
  const fp32 = (options.precision ?? 'float32') === 'float32';
  const thr = options.inVisThr;
  const out = new Float64Array(ds.length);
  const e = new Float64Array(K);
  for (let n = 0; n < ds.length; n++) {
    const d = ds[n]!;
    const denom = (aG + aDs[n]!) / 2 + NP_SPACING_1;
    let m = 0;
    for (let k = 0; k < K; k++) {
      if (thr !== undefined && !(d[3 * k + 2]! > thr)) continue;
      const v = (sigmas[k]! * 2) * (sigmas[k]! * 2);
      let ss: number;
      if (fp32) {
        const dx = f32(f32(d[3 * k]!) - f32(g[3 * k]!));
        const dy = f32(f32(d[3 * k + 1]!) - f32(g[3 * k + 1]!));
        ss = f32(f32(dx * dx) + f32(dy * dy));
      } else {
        const dx = d[3 * k]! - g[3 * k]!;
        const dy = d[3 * k + 1]! - g[3 * k + 1]!;
        ss = dx * dx + dy * dy;
      }
      e[m++] = Math.exp(-(ss / v / denom / 2));
    }
    out[n] = m !== 0 ? npSum(e, 0, m) / m : 0;
  }
  return out;
}

/**
 * Greedy OKS-NMS (the official `oks_nms`): returns the indices kept, highest score first. A person is
 * dropped when its OKS with an already kept, higher-scored person is > thr.
 */
export function oksNms(
  items: readonly { keypoints: ArrayLike<number>; area: number; score: number }[],
  thr = 0.9,
  options: OksOptions = {},
): number[] {
  if (items.length === 0) return [];
  // argsort ascending (stable) then reversed: descending score, equal scores by descending index.
  let order = items.map((_, i) => i).sort((a, b) => items[a]!.score - items[b]!.score || a - b).reverse();
  const keep: number[] = [];
  while (order.length > 0) {
    const i = order[0]!;
    keep.push(i);
    const rest = order.slice(1);
    const ovr = oksIou(
      items[i]!.keypoints,
      rest.map((r) => items[r]!.keypoints),
      items[i]!.area,
      rest.map((r) => items[r]!.area),
      options,
    );
    order = rest.filter((_, j) => ovr[j]! <= thr);
  }
  return keep;
}

/**
 * The official post-processing of top-down predictions into a COCO results list: rescoring, then
 * per-image OKS-NMS. Images come in order of first appearance, persons in NMS keep order.
 */
export function rescoreAndOksNms(preds: readonly TopDownPrediction[], options: RescoreNmsOptions = {}): TopDownCocoResult[] {
  const precision = options.precision ?? 'float32';
  const oksThr = options.oksThr ?? 0.9;
  const categoryId = options.categoryId ?? 1;
  const K = (options.sigmas ?? COCO_KEYPOINT_SIGMAS).length;
  const byImage = new Map<number, number[]>();
  preds.forEach((p, i) => {
    if (p.keypoints.length !== 3 * K) {
      throw new Error(`rescoreAndOksNms: preds[${i}].keypoints: expected ${3 * K} numbers, got ${p.keypoints.length}`);
    }
    let l = byImage.get(p.imageId);
    if (!l) byImage.set(p.imageId, (l = []));
    l.push(i);
  });
  const cast = (v: number) => (precision === 'float32' ? f32(v) : v);
  const out: TopDownCocoResult[] = [];
  for (const [imageId, idx] of byImage) {
    const items = idx.map((i) => {
      const p = preds[i]!;
      const kp = Array.from(p.keypoints, cast);
      return {
        keypoints: kp,
        area: p.area ?? scaleArea(p.scale, precision),
        score: rescorePerson(kp, p.boxScore, { inVisThr: options.inVisThr ?? 0.2 }),
        center: Array.from(p.center, cast),
        scale: Array.from(p.scale, cast),
      };
    });
    let keep = oksNms(items, oksThr, { sigmas: options.sigmas, precision });
    if (keep.length === 0) keep = items.map((_, i) => i);
    for (const k of keep) {
      const it = items[k]!;
      out.push({ image_id: imageId, category_id: categoryId, keypoints: it.keypoints, score: it.score, center: it.center, scale: it.scale });
    }
  }
  return out;
}
