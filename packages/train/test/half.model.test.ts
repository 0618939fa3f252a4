// float16 inference and weights: `Module.to` converts parameters and buffers in place (the layers keep
// their tensors); a seeded tmpose-b forward in float16 against float32 on a crop of a bundled photo;
// the bundled trained tiny (data/weights/tiny-coco-mini.safetensors) in float16 gives the same argmax
// keypoints as in float32 on every annotated person of the photo (an untrained model's flat heatmaps
// make argmax ill-conditioned), and captured and replayed gives its eager heatmaps; an f16 export is about
// half the f32 one and loads into a float32 model.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, init, nn, noGrad, tensor, tidy } from '@tmpose/tensor';
import { CapturedForwards, type TMPose, createModel, getAffineTransform, loadModel, warpAffine, xywhToCenterScale } from '@tmpose/model';
import { type DecodedImage, exportWeights, readImage } from '@tmpose/train';

const photo = fileURLToPath(new URL('../../../data/coco-mini/000000197388.jpg', import.meta.url));
const trainedTiny = fileURLToPath(new URL('../../../data/weights/tiny-coco-mini.safetensors', import.meta.url));
const BOXES: [number, number, number, number][] = [
  [139.41, 102.25, 222.39, 241.57], [287.17, 61.52, 74.88, 165.61], [540.04, 48.81, 99.96, 223.36], [372.58, 170.84, 266.63, 217.19], [0.5, 43.74, 90.1, 220.09],
];

let image: DecodedImage;
let dir: string;
beforeAll(async () => {
  await init();
  image = await readImage(photo);
  dir = mkdtempSync(join(tmpdir(), 'tmpose-half-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The crops of `boxes` as the model's input [B, 3, H, W] (float32 on the host). */
function crops(model: TMPose, boxes: [number, number, number, number][]): { data: Float32Array; shape: number[] } {
  const [H, W] = model.config.imageSize;
  const data = new Float32Array(boxes.length * 3 * H * W);
  boxes.forEach(([x, y, w, h], i) => {
    const c = xywhToCenterScale(x, y, w, h, W / H);
    warpAffine(image.data, image.width, image.height, getAffineTransform(c.center, c.scale, 0, [W, H]), W, H, { out: data, outOffset: i * 3 * H * W });
  });
  return { data, shape: [boxes.length, 3, H, W] };
}

/** Heatmaps (widened to float32) and their dtype on the GPU. */
async function heatmaps(model: TMPose, input: { data: Float32Array; shape: number[] }): Promise<{ data: Float32Array; dtype: string }> {
  model.eval();
  const y: Tensor = noGrad(() => tidy(() => model.forward(tensor(input.data, input.shape))));
  try {
    return { data: (await y.data()) as Float32Array, dtype: y.dtype };
  } finally {
    y.dispose();
  }
}

const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
/** The argmax of each [H·W] heatmap. */
const argmaxes = (hm: Float32Array, size: number) =>
  Array.from({ length: hm.length / size }, (_, j) => {
    let best = 0;
    for (let i = 1; i < size; i++) if (hm[j * size + i]! > hm[j * size + best]!) best = i;
    return best;
  });

describe('Module.to', () => {
  it('converts parameters and buffers in place, keeps int32 buffers, and converts back', async () => {
    const bn = new nn.BatchNorm2d(3);
    const fc = new nn.Linear(4, 2, { seed: 1 });
    const weight = fc.weight;
    const before = await weight.data();
    fc.to('float16');
    bn.to('float16');
    expect(fc.weight).toBe(weight);
    expect([...fc.parameters(), ...bn.parameters(), bn.running_mean!, bn.running_var!].map((t) => t.dtype)).toEqual(Array(6).fill('float16'));
    expect(bn.num_batches_tracked!.dtype).toBe('int32');
    const half = await weight.data();
    half.forEach((v, i) => expect(Math.abs(v - before[i]!)).toBeLessThanOrEqual(Math.abs(before[i]!) * 2 ** -11));
    fc.to('float32');
    expect(fc.weight.dtype).toBe('float32');
    expect(await fc.weight.data()).toEqual(half);
    fc.dispose();
    bn.dispose();
  });
});

describe('float16 inference', () => {
  it('a seeded tmpose-b forward in float16 matches float32 heatmaps (one crop of a bundled photo)', async () => {
    const model = createModel('tmpose-b', { seed: 1 });
    try {
      const input = crops(model, BOXES.slice(0, 1));
      const f32 = await heatmaps(model, input);
      const f16 = await heatmaps(model.to('float16'), input);
      expect([f32.dtype, f16.dtype]).toEqual(['float32', 'float16']);
      const diff = maxDiff(f16.data, f32.data);
      const scale = maxAbs(f32.data);
      console.log(`tmpose-b float16 vs float32 heatmaps: max |diff| ${diff.toExponential(3)}, max |heatmap| ${scale.toExponential(3)}`);
      // 2.3e-3 of 1.57 on lavapipe (0.14%): float16's 2^-11 rounding through HRNet's ~50 layers and the
      // Transformer's 12; the bound is 0.5% of the heatmaps' largest value.
      expect(diff).toBeLessThanOrEqual(5e-3 * scale);
    } finally {
      model.dispose();
    }
  }, 120_000);

  it('the trained tiny gives the same argmax keypoints in float16 as in float32 for every person of the photo', async () => {
    const model = await loadModel(trainedTiny);
    try {
      const input = crops(model, BOXES);
      const [hmH, hmW] = model.config.heatmapSize;
      const f32 = await heatmaps(model, input);
      const f16 = await heatmaps(model.to('float16'), input);
      const diff = maxDiff(f16.data, f32.data);
      console.log(`trained tiny float16 vs float32 heatmaps: max |diff| ${diff.toExponential(3)}, max |heatmap| ${maxAbs(f32.data).toExponential(3)}`);
      // float32's keypoint is float16's: its argmax, or tied with it (two peaks less than a float16 ulp
      // apart round to one value, and the first of them is the argmax).
      const size = hmH * hmW;
      const atF32Argmax = argmaxes(f32.data, size).map((i, j) => f16.data[j * size + i]);
      expect(atF32Argmax).toEqual(argmaxes(f16.data, size).map((i, j) => f16.data[j * size + i]));
    } finally {
      model.dispose();
    }
  }, 60_000);

  it('the float16 trained tiny through CapturedForwards (captured at the second call, then replayed) gives its eager heatmaps, bit for bit', async () => {
    const model = (await loadModel(trainedTiny)).to('float16');
    const forwards = new CapturedForwards(model);
    try {
      model.eval();
      for (const boxes of [BOXES.slice(0, 2), BOXES.slice(2, 4), BOXES.slice(3, 5)]) {
        const input = crops(model, boxes);
        const eager = await heatmaps(model, input);
        const captured = await forwards.heatmaps(input.data, input.shape);
        expect(captured.data).toEqual(eager.data);
      }
      expect(forwards.size).toBe(1);
    } finally {
      forwards.dispose();
      model.dispose();
    }
  });

  it('an f16 export is about half the f32 one and loads into a float32 model', async () => {
    const model = await loadModel(trainedTiny);
    const f32Path = join(dir, 'tiny-f32.safetensors');
    const f16Path = join(dir, 'tiny-f16.safetensors');
    let loaded: TMPose | null = null;
    try {
      expect(await exportWeights(model, f16Path, { dtype: 'float16' })).toBe(await exportWeights(model, f32Path));
      const [big, small] = [statSync(f32Path).size, statSync(f16Path).size];
      console.log(`tiny weights: ${big} bytes in float32, ${small} in float16 (${(small / big).toFixed(3)})`);
      // Half, plus the header (names, shapes, configuration), which does not shrink.
      expect(small / big).toBeGreaterThan(0.5);
      expect(small / big).toBeLessThan(0.52);
      loaded = await loadModel(f16Path);
      expect(loaded.parameters().every((p) => p.dtype === 'float32')).toBe(true);
      // The loaded weights are the float32 ones rounded to float16.
      const original = model.transformer.patch_to_embedding.weight;
      const rounded = tidy(() => original.to('float16').to('float32'));
      expect(await loaded.transformer.patch_to_embedding.weight.data()).toEqual(await rounded.data());
      rounded.dispose();
    } finally {
      model.dispose();
      loaded?.dispose();
    }
  }, 60_000);
});
