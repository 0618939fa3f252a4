// Heatmap decoding (model-spec §5): argmax + DARK, flip test, the inverse affine — against DarkPose's
// get_final_preds run with cv2 (fixtures/decode_reference.safetensors) and on synthetic Gaussians.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { io } from '@tmpose/tensor';
import {
  type HeatmapShape,
  decodeHeatmaps,
  flipBack,
  flipTestAverage,
  gaussianBlur,
  gaussianKernel,
  getAffineTransform,
  getFinalPreds,
  getMaxPreds,
} from '@tmpose/model';

const parsed = io.parseHost(new Uint8Array(readFileSync(new URL('./fixtures/decode_reference.safetensors', import.meta.url))));
const ref = parsed.tensors;
const arr = (name: string) => ref[name]!.data as Float32Array;
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

/** A float32 Gaussian (σ = 2) at a sub-pixel location, as the training targets. */
function gaussianMap(H: number, W: number, mx: number, my: number, amp = 1): Float32Array {
  const out = new Float32Array(H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[y * W + x] = amp * Math.exp(-((x - mx) ** 2 + (y - my) ** 2) / 8);
  return out;
}

describe('decode against DarkPose (numpy + cv2)', () => {
  const shape = ref.heatmaps!.shape as unknown as HeatmapShape;
  const hm = arr('heatmaps');
  const [B, J] = shape;
  const centers = Array.from({ length: B }, (_, b) => Array.from(arr('center').subarray(2 * b, 2 * b + 2)));
  const scales = Array.from({ length: B }, (_, b) => Array.from(arr('scale').subarray(2 * b, 2 * b + 2)));

  it('has the cv2 Gaussian kernel (11, σ 0 → 2)', () => {
    expect(maxAbsDiff(gaussianKernel(11), arr('kernel11'))).toBeLessThan(1e-7);
  });

  it('blurs as zero-pad + cv2.GaussianBlur + rescale', () => {
    expect(maxAbsDiff(gaussianBlur(hm, shape), arr('blurred'))).toBeLessThan(1e-6);
  });

  it('reproduces get_final_preds: heatmap coords, image coords and scores', () => {
    const { coords, maxvals } = decodeHeatmaps(hm, shape);
    expect(maxAbsDiff(maxvals, arr('maxvals'))).toBe(0);
    expect(maxAbsDiff(coords, arr('coords'))).toBeLessThan(1e-4);
    const { preds } = getFinalPreds(hm, shape, centers, scales);
    expect(maxAbsDiff(preds, arr('preds'))).toBeLessThan(5e-4); // image pixels (×~6 the heatmap scale)
    // The all-negative map (sample 1, joint 1): coords zeroed, score < 0.
    expect(maxvals[1 * J + 1]).toBeLessThan(0);
    expect([coords[2 * (J + 1)], coords[2 * (J + 1) + 1]]).toEqual([0, 0]);
    // The map near the left edge (sample 0, joint 3): no Taylor step, integer coords.
    expect(Number.isInteger(coords[6]!) && Number.isInteger(coords[7]!)).toBe(true);
  });

  it('recovers clean Gaussians to ~0.01 px and noisy ones to ~0.1 px', () => {
    const { coords } = decodeHeatmaps(hm, shape);
    const mu = arr('mu');
    for (let m = 0; m < B * J; m++) {
      if (m === 3 || m === J + 1) continue; // edge and negative maps
      const err = Math.hypot(coords[2 * m]! - mu[2 * m]!, coords[2 * m + 1]! - mu[2 * m + 1]!);
      expect(err, `map ${m}`).toBeLessThan(m % J === 2 ? 0.15 : 0.01);
    }
  });

  it('flips back and averages as flip_back + (a + b)·0.5', () => {
    const pairs: [number, number][] = JSON.parse(parsed.metadata!.flip_pairs!);
    // The fixture's average is (hm + flip_back(hm))·0.5, i.e. hm used as its own flipped pass.
    const back = flipBack(hm, shape, pairs);
    const avg = flipTestAverage(hm, hm, shape, pairs);
    expect(maxAbsDiff(avg, arr('flip_average'))).toBe(0);
    // flip_back is an involution.
    expect(maxAbsDiff(flipBack(back, shape, pairs), hm)).toBe(0);
  });

  it('builds the DarkPose affine (inverse, and rotated) as cv2.getAffineTransform', () => {
    const inv = getAffineTransform(centers[0]!, scales[0]!, 0, [shape[3], shape[2]], { inv: true });
    expect(maxAbsDiff(inv, arr('affine_inv0'))).toBeLessThan(1e-4);
    const rot = getAffineTransform(centers[1]!, scales[1]!, 25, [192, 256]);
    expect(maxAbsDiff(rot, arr('affine_rot25'))).toBeLessThan(1e-5);
  });
});

describe('decode on synthetic heatmaps', () => {
  it('recovers a sub-pixel Gaussian peak to 0.01 px (DARK), 0.5 px without', () => {
    const H = 64;
    const W = 48;
    const spots: [number, number][] = [[20.3, 31.7], [10.55, 12.25], [37.9, 50.05], [24.5, 32.5]];
    const hm = new Float32Array(spots.length * H * W);
    spots.forEach(([x, y], j) => hm.set(gaussianMap(H, W, x, y), j * H * W));
    const shape: HeatmapShape = [1, spots.length, H, W];
    const { coords, maxvals } = decodeHeatmaps(hm, shape);
    spots.forEach(([x, y], j) => {
      expect(Math.abs(coords[2 * j]! - x), `x of ${j}`).toBeLessThan(0.01);
      expect(Math.abs(coords[2 * j + 1]! - y), `y of ${j}`).toBeLessThan(0.01);
      expect(maxvals[j]).toBeGreaterThan(0.9);
    });
    const plain = getMaxPreds(hm, shape).coords;
    spots.forEach(([x, y], j) => {
      expect(Math.abs(plain[2 * j]! - x)).toBeLessThanOrEqual(0.5);
      expect(Math.abs(plain[2 * j + 1]! - y)).toBeLessThanOrEqual(0.5);
    });
    const noDark = decodeHeatmaps(hm, shape, { dark: false }).coords;
    expect(Array.from(noDark)).toEqual(Array.from(plain));
  });

  it('maps heatmap coords to the image through the inverse crop, and flip test keeps a symmetric peak', () => {
    // A box centred at (100, 200) with scale (0.6, 0.8) (120×160 px) onto a 48×64 heatmap: the centre
    // pixel ((W−1)/2, (H−1)/2) maps to the box centre, and one heatmap pixel is (120−1)/(48−1) px.
    const H = 64;
    const W = 48;
    const hm = gaussianMap(H, W, 23.5, 31.5);
    const { preds } = getFinalPreds(hm, [1, 1, H, W], [[100, 200]], [[0.6, 0.8]]);
    expect(preds[0]).toBeCloseTo(100, 2);
    expect(preds[1]).toBeCloseTo(200, 2);
    const off = gaussianMap(H, W, 33.5, 31.5);
    const p2 = getFinalPreds(off, [1, 1, H, W], [[100, 200]], [[0.6, 0.8]]).preds;
    expect(p2[0]! - 100).toBeCloseTo((10 * (120 - 1)) / (W - 1), 2);
    // flip: a map whose mirror is itself survives the average unchanged
    const sym = gaussianMap(H, W, 23.5, 20);
    const avg = flipTestAverage(sym, sym, [1, 1, H, W], []);
    expect(maxAbsDiff(avg, sym)).toBeLessThan(1e-6);
  });
});
