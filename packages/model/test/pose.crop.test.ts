// The GPU crop (`warpAffineCrops` of @tmpose/tensor) against the CPU warp (`warpAffine`, the cv2-exact
// reference) bit for bit, on shapes chosen to break a kernel: a 1×1 image, sizes that are no multiple
// of 4, 8 or 64, boxes half and wholly outside the picture, both flips, RGB and RGBA, several crops
// per call, tiny and full-size outputs.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, memory, warpAffineCrops } from '@tmpose/tensor';
import { getAffineTransform, warpAffine, xywhToCenterScale } from '@tmpose/model';

beforeAll(async () => {
  await init();
});

/** A deterministic RGB image with every byte value in use. */
function rgbImage(width: number, height: number, seed: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  return data;
}

function toRgba(rgb: Uint8Array): Uint8ClampedArray {
  const out = new Uint8ClampedArray((rgb.length / 3) * 4);
  for (let p = 0; p < rgb.length / 3; p++) {
    out.set(rgb.subarray(3 * p, 3 * p + 3), 4 * p);
    out[4 * p + 3] = 255 - (p % 256);
  }
  return out;
}

type Box = [number, number, number, number];

/** Checks one call of the GPU crop against the CPU warp of each box, bit for bit. */
async function expectSameAsCpu(width: number, height: number, boxes: Box[], [H, W]: [number, number], options: { flip?: boolean; rgba?: boolean; mirror?: boolean } = {}) {
  const rgb = rgbImage(width, height, width * 31 + height);
  const matrices = boxes.map(([x, y, w, h]) => {
    const { center, scale } = xywhToCenterScale(x, y, w, h, W / H);
    return getAffineTransform(center, scale, 0, [W, H]);
  });
  const image = options.rgba ? { data: toRgba(rgb), width, height } : { data: rgb, width, height };
  const gpu = warpAffineCrops(image, matrices, [H, W], { flip: options.flip, mirror: options.mirror });
  expect(gpu.shape).toEqual([boxes.length, 3, H, W]);
  const got = new Uint32Array((await gpu.data()).buffer);
  gpu.dispose();
  const plane = 3 * H * W;
  matrices.forEach((m, b) => {
    const cpu = warpAffine(rgb, width, height, m, W, H, { flip: options.flip });
    if (options.mirror) {
      for (let row = 0; row < 3 * H; row++) cpu.subarray(row * W, (row + 1) * W).reverse();
    }
    const want = new Uint32Array(cpu.buffer);
    const mine = got.subarray(b * plane, (b + 1) * plane);
    let differ = 0;
    for (let i = 0; i < plane; i++) if (mine[i] !== want[i]) differ++;
    expect(differ, `crop ${b} of ${width}×${height} → ${W}×${H} ${JSON.stringify(options)}: ${differ} values differ`).toBe(0);
  });
}

describe('warpAffineCrops equals the CPU warp bit for bit', () => {
  it('a 1×1 image, RGB and RGBA, flipped or not', async () => {
    for (const rgba of [false, true]) for (const flip of [false, true]) await expectSameAsCpu(1, 1, [[0, 0, 1, 1]], [5, 3], { rgba, flip });
  });

  it('37×23 with boxes inside, half outside and wholly outside, several crops per call', async () => {
    const boxes: Box[] = [[0, 0, 37, 23], [3.5, 2.25, 11, 17], [-10, -6, 20, 12], [30, 18, 15, 9], [100, 100, 8, 8], [-50, 5, 10, 10]];
    for (const flip of [false, true]) for (const rgba of [false, true]) await expectSameAsCpu(37, 23, boxes, [7, 5], { flip, rgba });
  });

  it('odd sizes to the model input 256×192, flipped and mirrored', async () => {
    const boxes: Box[] = [[5, 7, 50, 90], [-20, 40, 70, 35]];
    await expectSameAsCpu(101, 67, boxes, [256, 192]);
    await expectSameAsCpu(101, 67, boxes, [256, 192], { flip: true, rgba: true });
    await expectSameAsCpu(101, 67, boxes, [256, 192], { mirror: true });
    await expectSameAsCpu(65, 129, [[0, 0, 65, 129]], [13, 9], { mirror: true, flip: true, rgba: true });
  });

  it('a tiny 5×3 output of a large picture, and leaves nothing allocated', async () => {
    const before = memory().liveTensors;
    await expectSameAsCpu(643, 481, [[100, 50, 300, 400], [0, 0, 643, 481]], [3, 5]);
    expect(memory().liveTensors).toBe(before);
  });
});
