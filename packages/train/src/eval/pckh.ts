// MPII PCKh, as the official TokenPose/TMPose (= HRNet) `MPIIDataset.evaluate` computes it
// (TM tools/lib/dataset/mpii.py; model spec §7, trap T16):
// - predictions + 1 (back to MPII's 1-based coordinates), compared with gt_valid.mat `pos_gt_src`;
// - head size = ‖headbox_br − headbox_tl‖₂ × SC_BIAS 0.6;
// - a joint is correct if ‖pred − gt‖ / head size ≤ 0.5, over visible joints (1 − jnt_missing) only;
// - per joint PCKh (in %), table groups (l + r)/2; Mean = Σ_j PCKh_j · count_j / Σ count, excluding
//   pelvis (6) and thorax (7) (numpy masked arrays, pairwise sum);
// - "Mean@0.1" is read from row 11 of the thresholds np.arange(0, 0.51, 0.01), i.e. at 0.11.
//
// The bundled MPII sample (data/mpii-mini) has no head boxes, so true PCKh cannot be computed on
// it. `evaluatePckProxy` runs the same computation with a caller-given per-person normaliser (e.g. the
// person scale·200, times a factor) instead of the head size, and labels the result as NOT PCKh.
//
// Precision: the official predictions are a float32 array, so `preds + 1.0` is a float32 operation
// (precision 'float32', the default); the rest is float64.
//
// Departure: a joint with no visible instance has PCKh NaN (0/0) as in the official code, but it
// contributes 0 to the means instead of turning them into NaN (its weight is 0 either way).

import { formatFixed, npArange, npSum } from './numeric.js';

/** MPII joint order (gt_valid.mat `dataset_joints`). */
export const MPII_JOINT_NAMES = [
  'r_ankle', 'r_knee', 'r_hip', 'l_hip', 'l_knee', 'l_ankle', 'pelvis', 'thorax',
  'upper_neck', 'head_top', 'r_wrist', 'r_elbow', 'r_shoulder', 'l_shoulder', 'l_elbow', 'l_wrist',
] as const;

/** SC_BIAS: the head size is 0.6 × the head-box diagonal. */
export const MPII_SC_BIAS = 0.6;

/** The names of the summary table, in the official order. */
export const PCKH_TABLE_NAMES = ['Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle', 'Mean', 'Mean@0.1'] as const;
export type PckhTable = Record<(typeof PCKH_TABLE_NAMES)[number], number>;

type Point = ArrayLike<number>;

export interface PckInputBase {
  /** N persons × 16 joints × (x, y): predictions in 0-based pixel coordinates (as the model outputs). */
  preds: readonly (readonly Point[])[];
  /** N × 16 × (x, y): ground truth in MPII's 1-based coordinates (`pos_gt_src`, or `joints` of the HR/TM json). */
  joints: readonly (readonly Point[])[];
  /** N × 16: 1 for a visible (annotated) joint, 0 for a missing one (1 − jnt_missing, or `joints_vis`). */
  visible: readonly ArrayLike<number>[];
}

export interface PckhInput extends PckInputBase {
  /** N × [x1, y1, x2, y2]: the head boxes (`headboxes_src`). */
  headBoxes: readonly ArrayLike<number>[];
}

export interface PckProxyInput extends PckInputBase {
  /** N normalising lengths in pixels, e.g. the person scale·200 (MPII scale = person height / 200). */
  sizes: ArrayLike<number>;
}

export interface PckOptions {
  /** The main threshold (0.5). */
  threshold?: number;
  /** Added to the predictions before comparing (1: 0-based → MPII's 1-based). */
  predOffset?: number;
  precision?: 'float32' | 'float64';
}

export interface PckProxyOptions extends PckOptions {
  /** The normaliser is sizes[i] × sizeFactor (default 1). */
  sizeFactor?: number;
  /** Words for the normaliser, for the label (default 'the given size'). */
  sizeLabel?: string;
}

export interface PckhResult {
  /** 'PCKh' for the MPII metric, 'PCK-proxy' when normalised by something other than the head size. */
  kind: 'PCKh' | 'PCK-proxy';
  /** A human-readable name of what was computed, e.g. 'PCKh@0.5' or 'PCK@0.5 normalised by …, NOT PCKh'. */
  label: string;
  threshold: number;
  /** Per joint (MPII order), in %: correct / visible at `threshold`. NaN where no joint is visible. */
  perJoint: number[];
  /** Per joint: the number of visible joints. */
  jointCount: number[];
  /** The official summary: Head, Shoulder, …, Mean (pelvis and thorax excluded), Mean@0.1 (at 0.11). */
  table: PckhTable;
  /** Rows: thresholds np.arange(0, 0.51, 0.01); columns: joints; in %. */
  pckAll: number[][];
  thresholds: number[];
}

function check(input: PckInputBase, n: number, what: string) {
  const N = input.preds.length;
  if (input.joints.length !== N || input.visible.length !== N) {
    throw new Error(`${what}: preds, joints and visible must list the same persons (got ${N}, ${input.joints.length}, ${input.visible.length})`);
  }
  for (let i = 0; i < N; i++) {
    for (const [name, arr] of [['preds', input.preds[i]!], ['joints', input.joints[i]!]] as const) {
      if (arr.length !== 16) throw new Error(`${what}: ${name}[${i}]: expected 16 joints, got ${arr.length}`);
      arr.forEach((p, j) => {
        if (p.length < 2 || !Number.isFinite(p[0]!) || !Number.isFinite(p[1]!)) {
          throw new Error(`${what}: ${name}[${i}][${j}]: expected (x, y) finite numbers`);
        }
      });
    }
    if (input.visible[i]!.length !== 16) throw new Error(`${what}: visible[${i}]: expected 16 flags, got ${input.visible[i]!.length}`);
  }
  if (n !== N) throw new Error(`${what}: expected ${N} normalisers, got ${n}`);
}

function pckCore(input: PckInputBase, norms: Float64Array, opts: PckOptions, kind: PckhResult['kind'], label: string): PckhResult {
  const threshold = opts.threshold ?? 0.5;
  const offset = opts.predOffset ?? 1.0;
  const fp32 = (opts.precision ?? 'float32') === 'float32';
  const N = input.preds.length;
  const J = 16;
  // scaled_uv_err[j][i] and visibility
  const scaled = new Float64Array(J * N);
  const vis = new Uint8Array(J * N);
  const count = new Array<number>(J).fill(0);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < J; j++) {
      const p = input.preds[i]![j]!, g = input.joints[i]![j]!;
      const px = fp32 ? Math.fround(Math.fround(p[0]!) + offset) : p[0]! + offset;
      const py = fp32 ? Math.fround(Math.fround(p[1]!) + offset) : p[1]! + offset;
      const dx = px - g[0]!, dy = py - g[1]!;
      const v = input.visible[i]![j]! ? 1 : 0;
      vis[j * N + i] = v;
      count[j]! += v;
      scaled[j * N + i] = Math.sqrt(dx * dx + dy * dy) / norms[i]!;
    }
  }
  const pckAt = (thr: number) => {
    const out: number[] = [];
    for (let j = 0; j < J; j++) {
      let hits = 0;
      for (let i = 0; i < N; i++) if (vis[j * N + i] && scaled[j * N + i]! <= thr) hits++;
      out.push((100.0 * hits) / count[j]!);
    }
    return out;
  };
  const perJoint = pckAt(threshold);
  const thresholds = Array.from(npArange(0, 0.5 + 0.01, 0.01));
  const pckAll = thresholds.map(pckAt);

  // Masked mean: pelvis (6) and thorax (7) excluded, weights count_j / Σ count.
  let total = 0;
  for (let j = 0; j < J; j++) if (j !== 6 && j !== 7) total += count[j]!;
  const ratio = count.map((c, j) => (j === 6 || j === 7 ? 0 : c / total));
  const weighted = (vals: number[]) =>
    npSum(vals.map((v, j) => (j === 6 || j === 7 || count[j] === 0 ? 0 : v * ratio[j]!)));
  const P = perJoint;
  const table: PckhTable = {
    Head: P[9]!,
    Shoulder: 0.5 * (P[13]! + P[12]!),
    Elbow: 0.5 * (P[14]! + P[11]!),
    Wrist: 0.5 * (P[15]! + P[10]!),
    Hip: 0.5 * (P[3]! + P[2]!),
    Knee: 0.5 * (P[4]! + P[1]!),
    Ankle: 0.5 * (P[5]! + P[0]!),
    Mean: weighted(P),
    'Mean@0.1': weighted(pckAll[11]!),
  };
  return { kind, label, threshold, perJoint, jointCount: count, table, pckAll, thresholds };
}

/** MPII PCKh (official): head size = 0.6 × head-box diagonal. */
export function evaluatePckh(input: PckhInput, options: PckOptions = {}): PckhResult {
  check(input, input.headBoxes.length, 'evaluatePckh');
  const norms = Float64Array.from(input.headBoxes, (b, i) => {
    if (b.length !== 4) throw new Error(`evaluatePckh: headBoxes[${i}]: expected [x1, y1, x2, y2], got ${b.length} numbers`);
    const w = b[2]! - b[0]!, h = b[3]! - b[1]!;
    return Math.sqrt(w * w + h * h) * MPII_SC_BIAS;
  });
  const thr = options.threshold ?? 0.5;
  return pckCore(input, norms, options, 'PCKh', `PCKh@${thr}`);
}

/**
 * A PCK proxy for data without head boxes: the same computation with the normaliser sizes[i] × sizeFactor
 * in place of the head size. NOT PCKh: its numbers are not comparable with published MPII results.
 */
export function evaluatePckProxy(input: PckProxyInput, options: PckProxyOptions = {}): PckhResult {
  check(input, input.sizes.length, 'evaluatePckProxy');
  const f = options.sizeFactor ?? 1;
  const norms = Float64Array.from(input.sizes, (s) => s * f);
  const thr = options.threshold ?? 0.5;
  const what = options.sizeLabel ?? 'the given size';
  const label = `PCK@${thr} normalised by ${what}${f !== 1 ? ` × ${f}` : ''} (a proxy, NOT PCKh: no head boxes)`;
  return pckCore(input, norms, options, 'PCK-proxy', label);
}

/**
 * The summary as the official code logs it (HRNet `_print_name_value`), after a line naming the metric:
 *   # PCKh@0.5
 *   | Arch | Head | Shoulder | Elbow | Wrist | Hip | Knee | Ankle | Mean | Mean@0.1 |
 *   |---|---|---|---|---|---|---|---|---|---|
 *   | tmpose | 97.101 | … |
 */
export function formatPckhTable(result: PckhResult, arch = 'TMPose'): string {
  const name = arch.length > 15 ? arch.slice(0, 8) + '...' : arch;
  const vals = PCKH_TABLE_NAMES.map((n) => result.table[n]);
  return [
    `# ${result.label}`,
    '| Arch ' + PCKH_TABLE_NAMES.map((n) => `| ${n}`).join(' ') + ' |',
    '|---'.repeat(PCKH_TABLE_NAMES.length + 1) + '|',
    `| ${name} ` + vals.map((v) => `| ${formatFixed(v, 3)}`).join(' ') + ' |',
  ].join('\n');
}

/** Per-joint lines: name, visible count, PCK at the main threshold (%). */
export function formatPckhJoints(result: PckhResult): string {
  const lines = [`# ${result.label}, per joint`];
  MPII_JOINT_NAMES.forEach((n, j) => {
    lines.push(`${n.padEnd(11)} n=${String(result.jointCount[j]).padStart(5)}  ${formatFixed(result.perJoint[j]!, 3).padStart(7)}`);
  });
  return lines.join('\n');
}
