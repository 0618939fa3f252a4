// Training augmentation of `TM tools/lib/dataset/JointsDataset.py` `__getitem__` (l.114–165) and
// `half_body_transform`; model-spec §5 and Trap T13. In this order:
//   1. half-body: if more than `numJointsHalfBody` (8) joints are visible and rand() < p (0.3):
//      upper set = the dataset's upper-body ids, lower = the rest; take the upper set if randn() < 0.5
//      (≈ 69 %, not 50 %) and it has > 2 visible joints, else the lower set if it has > 2, else the upper;
//      if the chosen set has < 2 joints, nothing changes; centre = mean of the set, box = extent + 1,
//      fitted to the aspect ratio, scale = box/200 · 1.5;
//   2. scale: s ·= clip(randn()·sf + 1, 1 − sf, 1 + sf)                   (COCO sf 0.35, MPII 0.25);
//   3. rotation: r = clip(randn()·rf, −2rf, 2rf) if random() ≤ 0.6, else 0 (COCO rf 45, MPII 30);
//   4. flip, if random() ≤ 0.5: x → W_img − 1 − x for the joints (then the left/right pairs swap and
//      invisible joints are zeroed, `fliplr_joints`), centre x → W_img − 1 − cx, and the image is read
//      mirrored.
// Every random number comes from the `Rng` passed in; the draws happen in the official order, and only
// when the official code makes them (rand() for half-body only with enough visible joints, randn() for
// the rotation only when the rotation fires).
//
// COCO keeps centre and scale as float32 arrays in the official code, MPII as float64; `float32`
// reproduces that rounding.

import type { Rng } from './rng.js';

export interface AugmentConfig {
  /** Scale factor sf: s ·= clip(N·sf + 1, 1 − sf, 1 + sf). */
  scaleFactor: number;
  /** Rotation factor rf in degrees: r = clip(N·rf, −2rf, 2rf). */
  rotationFactor: number;
  /** Probability of a rotation (official: `random.random() <= 0.6`). */
  rotationProb: number;
  flip: boolean;
  /** Probability of a flip (official: `random.random() <= 0.5`). */
  flipProb: number;
  /** `PROB_HALF_BODY`; ≤ 0 disables the half-body transform. */
  halfBodyProb: number;
  /** `NUM_JOINTS_HALF_BODY`: half-body needs more than this many visible joints. */
  numJointsHalfBody: number;
  /** Input aspect ratio width/height, for the half-body box. */
  aspectRatio: number;
  /** Store centre/scale as float32 (COCO) or float64 (MPII), as the official arrays are. */
  float32: boolean;
}

/** The COCO yaml values (TokenPose/TMPose 256×192). */
export const COCO_AUGMENT: Readonly<AugmentConfig> = Object.freeze({
  scaleFactor: 0.35,
  rotationFactor: 45,
  rotationProb: 0.6,
  flip: true,
  flipProb: 0.5,
  halfBodyProb: 0.3,
  numJointsHalfBody: 8,
  aspectRatio: 192 / 256,
  float32: true,
});

/** The MPII yaml values (256×256): rot 30, scale 0.25, no half-body. */
export const MPII_AUGMENT: Readonly<AugmentConfig> = Object.freeze({
  scaleFactor: 0.25,
  rotationFactor: 30,
  rotationProb: 0.6,
  flip: true,
  flipProb: 0.5,
  halfBodyProb: -1,
  numJointsHalfBody: 8,
  aspectRatio: 1,
  float32: false,
});

/** The per-sample state the augmentation changes. Joints [J, 2] and visibility [J] are modified in place. */
export interface SampleState {
  center: [number, number];
  scale: [number, number];
  rotation: number;
  flipped: boolean;
  halfBody: boolean;
  joints: Float64Array;
  jointsVis: Uint8Array | Float64Array;
}

const id = (x: number): number => x;

/**
 * `half_body_transform(joints, joints_vis)`: the centre and scale of the upper or lower body, or null
 * when the chosen set has fewer than 2 visible joints. Draws one randn().
 */
export function halfBodyTransform(
  joints: ArrayLike<number>,
  vis: ArrayLike<number>,
  upperBodyIds: readonly number[],
  aspectRatio: number,
  rng: Rng,
): { center: [number, number]; scale: [number, number] } | null {
  const J = vis.length;
  const upper: number[] = [];
  const lower: number[] = [];
  const isUpper = new Uint8Array(J);
  for (const u of upperBodyIds) if (u < J) isUpper[u] = 1;
  for (let j = 0; j < J; j++) {
    if (vis[j]! > 0) (isUpper[j] ? upper : lower).push(j);
  }
  let sel: number[];
  if (rng.randn() < 0.5 && upper.length > 2) sel = upper;
  else sel = lower.length > 2 ? lower : upper;
  if (sel.length < 2) return null;
  // np.array(selected_joints, dtype=np.float32): the mean, min and max are float32.
  const f = Math.fround;
  let sx = 0;
  let sy = 0;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const j of sel) {
    const x = f(joints[2 * j]!);
    const y = f(joints[2 * j + 1]!);
    sx += x;
    sy += y;
    if (x < minX) minX = x;
    if (y < minY) minY = y;
    if (x > maxX) maxX = x;
    if (y > maxY) maxY = y;
  }
  const center: [number, number] = [f(sx / sel.length), f(sy / sel.length)];
  let w = f(maxX - minX) + 1;
  let h = f(maxY - minY) + 1;
  if (w > aspectRatio * h) h = (w * 1.0) / aspectRatio;
  else if (w < aspectRatio * h) w = h * aspectRatio;
  const scale: [number, number] = [f(f(w / 200) * 1.5), f(f(h / 200) * 1.5)];
  return { center, scale };
}

/**
 * `fliplr_joints`: x → width − 1 − x, swap the pairs (coordinates and visibility), then zero the
 * coordinates of invisible joints (the official function returns joints·joints_vis).
 */
export function fliplrJoints(
  joints: Float64Array,
  vis: Uint8Array | Float64Array,
  width: number,
  pairs: readonly (readonly [number, number])[],
): void {
  const J = vis.length;
  for (let j = 0; j < J; j++) joints[2 * j] = width - joints[2 * j]! - 1;
  for (const [a, b] of pairs) {
    for (let k = 0; k < 2; k++) {
      const t = joints[2 * a + k]!;
      joints[2 * a + k] = joints[2 * b + k]!;
      joints[2 * b + k] = t;
    }
    const t = vis[a]!;
    vis[a] = vis[b]!;
    vis[b] = t;
  }
  for (let j = 0; j < J; j++) {
    joints[2 * j] = joints[2 * j]! * vis[j]!;
    joints[2 * j + 1] = joints[2 * j + 1]! * vis[j]!;
  }
}

/**
 * Applies the training augmentation to `state` in place (see the file comment for the order).
 * `imageWidth` is the width of the decoded image (the flip mirrors about it).
 */
export function augment(
  state: SampleState,
  cfg: AugmentConfig,
  flipPairs: readonly (readonly [number, number])[],
  upperBodyIds: readonly number[],
  imageWidth: number,
  rng: Rng,
): SampleState {
  const f = cfg.float32 ? Math.fround : id;
  const vis = state.jointsVis;
  let nVis = 0;
  for (let j = 0; j < vis.length; j++) nVis += vis[j]!;
  // 1. half-body
  if (cfg.halfBodyProb > 0 && nVis > cfg.numJointsHalfBody && rng.random() < cfg.halfBodyProb) {
    const hb = halfBodyTransform(state.joints, vis, upperBodyIds, cfg.aspectRatio, rng);
    if (hb) {
      state.center = hb.center;
      state.scale = hb.scale;
      state.halfBody = true;
    }
  }
  // 2. scale
  const sf = cfg.scaleFactor;
  // float32 array × float64 scalar: numpy casts the scalar to float32 first.
  const k = f(Math.min(Math.max(rng.randn() * sf + 1, 1 - sf), 1 + sf));
  state.scale = [f(state.scale[0] * k), f(state.scale[1] * k)];
  // 3. rotation
  const rf = cfg.rotationFactor;
  state.rotation = rng.random() <= cfg.rotationProb ? Math.min(Math.max(rng.randn() * rf, -rf * 2), rf * 2) : 0;
  // 4. flip
  if (cfg.flip && rng.random() <= cfg.flipProb) {
    fliplrJoints(state.joints, vis, imageWidth, flipPairs);
    state.center = [f(imageWidth - state.center[0] - 1), state.center[1]];
    state.flipped = true;
  }
  return state;
}
