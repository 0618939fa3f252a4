// @tmpose/model's estimatePoses (GPU crops) against the CPU-crop path the CLI ran before it (the
// cv2-exact CPU warp, the flip test on the host-mirrored crops, DARK decoding): the same keypoints
// exactly, on a bundled photo with a seeded `tiny` model — whole picture, boxes, flip, masking — and
// RGBA input equal to RGB.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, init, memory, noGrad, tensor, tidy } from '@tmpose/tensor';
import {
  COCO_FLIP_PAIRS,
  CapturedForwards,
  type EstimateOptions,
  type TMPose,
  createModel,
  estimatePoses,
  flipTestAverage,
  getAffineTransform,
  getFinalPreds,
  nKeep,
  warpAffine,
  xywhToCenterScale,
} from '@tmpose/model';
import { type DecodedImage, flipImages, readImage } from '@tmpose/train';

const photo = fileURLToPath(new URL('../../../data/coco-mini/000000197388.jpg', import.meta.url));
const BOXES: [number, number, number, number][] = [
  [139.41, 102.25, 222.39, 241.57], [287.17, 61.52, 74.88, 165.61], [540.04, 48.81, 99.96, 223.36], [372.58, 170.84, 266.63, 217.19], [0.5, 43.74, 90.1, 220.09],
];

let model: TMPose;
let image: DecodedImage;

beforeAll(async () => {
  await init();
  model = createModel('tiny', { seed: 3 });
  image = await readImage(photo);
});

afterAll(() => model.dispose());

/** The previous path: CPU crops, the model, the host-mirrored crops for the flip test, DARK decoding. */
async function cpuPath(boxes: [number, number, number, number][], options: { flip?: boolean; keep?: number; seed?: number } = {}) {
  const [H, W] = model.config.imageSize;
  const crops = boxes.map(([x, y, w, h]) => xywhToCenterScale(x, y, w, h, W / H));
  const shape = [crops.length, 3, H, W];
  const batch = new Float32Array(crops.length * 3 * H * W);
  crops.forEach((c, i) => warpAffine(image.data, image.width, image.height, getAffineTransform(c.center, c.scale, 0, [W, H]), W, H, { out: batch, outOffset: i * 3 * H * W }));
  model.eval();
  const run = async (x: Float32Array) => {
    const y: Tensor = noGrad(() => tidy(() => model.forward(tensor(x, shape), { keep: options.keep, seed: options.seed })));
    const data = (await y.data()) as Float32Array;
    const hmShape = y.shape as [number, number, number, number];
    y.dispose();
    return { data, shape: hmShape };
  };
  const plain = await run(batch);
  const hm = options.flip ? flipTestAverage(plain.data, (await run(flipImages(batch, shape))).data, plain.shape, COCO_FLIP_PAIRS) : plain.data;
  const { preds, maxvals } = getFinalPreds(hm, plain.shape, crops.map((c) => c.center), crops.map((c) => c.scale));
  const J = plain.shape[1];
  return crops.map((_, b) => Array.from({ length: J }, (_, j) => [preds[(b * J + j) * 2]!, preds[(b * J + j) * 2 + 1]!, maxvals[b * J + j]!]));
}

describe('estimatePoses equals the CPU-crop path exactly', () => {
  it('the whole picture as one person', async () => {
    const result = await estimatePoses(model, image);
    expect(result.people).toHaveLength(1);
    expect(result.people[0]!.box).toEqual([0, 0, image.width, image.height]);
    expect(result.people.map((p) => p.keypoints)).toEqual(await cpuPath([[0, 0, image.width, image.height]]));
    expect(result.keptTokens).toBeNull();
    expect(result.tokenGrid).toEqual({ rows: 8, cols: 8, patch: [16, 12] });
    expect(result.inputSize).toEqual([128, 96]);
    for (const v of Object.values(result.timings)) expect(v).toBeGreaterThanOrEqual(0);
  });

  it('five person boxes, in batches of two, with and without the flip test', async () => {
    for (const flip of [false, true]) {
      const result = await estimatePoses(model, image, { boxes: BOXES, flip, batchSize: 2 });
      expect(result.people.map((p) => p.keypoints)).toEqual(await cpuPath(BOXES, { flip }));
      const { center, scale } = xywhToCenterScale(...BOXES[3]!, 96 / 128);
      expect(result.people[3]).toMatchObject({ box: BOXES[3], center, scale });
      expect(result.people[3]!.score).toBeCloseTo(result.people[3]!.keypoints.reduce((s, k) => s + k[2], 0) / 17, 6);
    }
  });

  it('keep < 1 masks tokens and reports the kept ids per person', async () => {
    const result = await estimatePoses(model, image, { boxes: BOXES.slice(0, 3), keep: 0.5, seed: 9 });
    expect(result.people.map((p) => p.keypoints)).toEqual(await cpuPath(BOXES.slice(0, 3), { keep: 0.5, seed: 9 }));
    expect(result.keptTokens).toHaveLength(3);
    for (const ids of result.keptTokens!) {
      expect(ids).toHaveLength(nKeep(64, 0.5));
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.every((t) => t >= 0 && t < 64)).toBe(true);
    }
  });

  it('RGBA pixels (as ImageData holds them) give the RGB result; scoreThreshold leaves people out; nothing leaks', async () => {
    const before = memory().liveTensors;
    const rgba = new Uint8ClampedArray(image.width * image.height * 4);
    for (let p = 0; p < image.width * image.height; p++) {
      rgba.set(image.data.subarray(3 * p, 3 * p + 3), 4 * p);
      rgba[4 * p + 3] = 255;
    }
    const fromRgb = await estimatePoses(model, image, { boxes: BOXES, flip: true });
    const fromRgba = await estimatePoses(model, { data: rgba, width: image.width, height: image.height }, { boxes: BOXES, flip: true });
    expect(fromRgba.people).toEqual(fromRgb.people);
    const scores = fromRgb.people.map((p) => p.score).sort((a, b) => a - b);
    const some = await estimatePoses(model, image, { boxes: BOXES, flip: true, scoreThreshold: scores[2] });
    expect(some.people.map((p) => p.score)).toEqual(fromRgb.people.map((p) => p.score).filter((s) => s >= scores[2]!));
    expect(memory().liveTensors).toBe(before);
  });

  it('through CapturedForwards (a camera stream: each shape captured at its second call, then replayed) the results of eager calls; freed on dispose', async () => {
    const before = memory().liveTensors;
    const forwards = new CapturedForwards(model);
    // Two frames of one shape with the flip test (the second call captures), then masked calls whose
    // options make more captured forwards than are kept (4): the least recently used go.
    const calls: EstimateOptions[] = [
      { boxes: BOXES, flip: true, batchSize: 2 },
      { boxes: BOXES, flip: true, batchSize: 2 },
      ...[0.3, 0.4, 0.5, 0.6, 0.3].flatMap((keep) => [{ boxes: BOXES.slice(0, 2), keep, seed: 4 }, { boxes: BOXES.slice(0, 2), keep, seed: 4 }]),
    ];
    for (const options of calls) {
      const eager = await estimatePoses(model, image, options);
      const captured = await estimatePoses(model, image, { ...options, forwards });
      expect(captured.people).toEqual(eager.people);
      expect(captured.keptTokens).toEqual(eager.keptTokens);
    }
    expect(forwards.size).toBe(4);
    forwards.dispose();
    expect(forwards.size).toBe(0);
    expect(memory().liveTensors).toBe(before);
    const other = createModel('tiny', { seed: 4 });
    await expect(estimatePoses(model, image, { forwards: new CapturedForwards(other) })).rejects.toThrow(/options.forwards were made for another model/);
    other.dispose();
  });

  it('bad input is one clear error', async () => {
    await expect(estimatePoses(model, { data: new Uint8Array(10), width: 3, height: 2 })).rejects.toThrow(/3×2 image needs 18 \(RGB\) or 24 \(RGBA\) bytes, got 10/);
    await expect(estimatePoses(model, image, { boxes: [[0, 0, 10, Number.NaN]] })).rejects.toThrow(/box 0 must be \[x, y, width, height\]/);
    await expect(estimatePoses(model, image, { boxes: [[0, 0, 10, 10], [5, 5, 0, 20]] })).rejects.toThrow(/box 1 \[5, 5, 0, 20\] has no area/);
  });
});
